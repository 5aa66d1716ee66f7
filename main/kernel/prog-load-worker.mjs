// The thread that sits in bpf(BPF_PROG_LOAD) while the main thread reads the
// verifier log the kernel is writing (see StreamingProgLoader in prog-load.ts).
// Plain JavaScript so that it starts without a TypeScript loader; it only
// makes the call: the attribute block and the buffers it points at live in
// native memory the main thread allocated, passed here by address.
import { parentPort } from 'node:worker_threads';
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const syscall = libc.func('long syscall(long, ...)');
const EINTR = 4;
const EAGAIN = 11;

parentPort.on('message', (m) => {
  let ret = -1;
  let errno = 0;
  for (let attempt = 0; attempt < 6; attempt++) {
    koffi.errno(0);
    ret = Number(syscall(m.nr, 'int', m.cmd, 'uint64_t', m.attr, 'uint', m.size));
    errno = ret < 0 ? koffi.errno() : 0;
    if (ret >= 0 || (errno !== EINTR && errno !== EAGAIN)) break;
  }
  parentPort.postMessage({ id: m.id, ret, errno });
});
