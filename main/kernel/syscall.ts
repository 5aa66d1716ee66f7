import koffi from 'koffi';
import { constants } from 'node:os';

/**
 * The raw bpf(2) call. This is the only place bpfscope crosses into native
 * code: `syscall(__NR_bpf, cmd, &attr, sizeof(attr))` through koffi, with the
 * attribute union built as bytes in native memory (see attr.ts), because the
 * kernel reads and writes pointers inside it (insns, log buffers, keys).
 */

/** bpf(2) commands (uapi `enum bpf_cmd`). */
export const BpfCmd = {
  MAP_CREATE: 0,
  MAP_LOOKUP_ELEM: 1,
  MAP_UPDATE_ELEM: 2,
  MAP_DELETE_ELEM: 3,
  MAP_GET_NEXT_KEY: 4,
  PROG_LOAD: 5,
  PROG_TEST_RUN: 10,
  BTF_GET_FD_BY_ID: 19,
  OBJ_GET_INFO_BY_FD: 15,
  BTF_LOAD: 18,
  MAP_FREEZE: 22,
  BTF_GET_NEXT_ID: 23,
} as const;
export type BpfCmdName = keyof typeof BpfCmd;

const NR_BPF: Record<string, number> = { x64: 321, arm64: 280, riscv64: 280, s390x: 351, ppc64: 361, ia32: 357 };

/** errno → name (EPERM, EINVAL, …), plus the kernel-internal ENOTSUPP the bpf syscall leaks. */
const ERRNO_NAMES = new Map<number, string>([[524, 'ENOTSUPP']]);
for (const [name, value] of Object.entries(constants.errno)) if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** A failed bpf(2) call: the command, errno and its name. */
export class BpfSyscallError extends Error {
  constructor(
    readonly cmd: BpfCmdName,
    readonly errno: number,
  ) {
    super(`bpf(BPF_${cmd}) failed: ${errnoName(errno)} (${errno}): ${strerror(errno)}`);
    this.name = 'BpfSyscallError';
  }
  get errnoName(): string {
    return errnoName(this.errno);
  }
}

interface Libc {
  syscall: koffi.KoffiFunction;
  strerror: koffi.KoffiFunction;
  close: koffi.KoffiFunction;
  calloc: koffi.KoffiFunction;
  free: koffi.KoffiFunction;
}
let libc: Libc | undefined;
function lib(): Libc {
  if (!libc) {
    const l = koffi.load('libc.so.6');
    libc = {
      syscall: l.func('long syscall(long, ...)'),
      strerror: l.func('const char *strerror(int)'),
      close: l.func('int close(int)'),
      calloc: l.func('void *calloc(size_t, size_t)'),
      free: l.func('void free(void *)'),
    };
  }
  return libc;
}

export function strerror(errno: number): string {
  if (errno === 524) return 'Operation not supported'; // kernel-internal ENOTSUPP has no libc text
  return String(lib().strerror(errno));
}

/** Native memory the kernel can read and write; freed by `free()` (Arena does it in bulk). */
/** From this size on, zeroed buffers are calloc'd (fresh zero pages) instead of filled. */
const CALLOC_MIN = 1 << 20;

export class NativeBuf {
  private ptr: unknown;
  private readonly callocd: boolean;
  readonly size: number;
  readonly addr: bigint;
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** `zero: false` skips clearing (log buffers of tens of MB the kernel writes itself). */
  constructor(size: number, zero = true) {
    // Zero-sized allocations still need a valid address for the kernel to ignore.
    this.size = size;
    // Big zeroed buffers (the 64 MB log buffer) come from calloc: glibc maps
    // them fresh, already zero, and a page costs only when the kernel writes
    // it; filling them here took ~150 ms per recording.
    this.callocd = zero && size >= CALLOC_MIN;
    const ptr: unknown = this.callocd ? lib().calloc(size, 1) : koffi.alloc('uint8_t', Math.max(size, 1));
    if (ptr === null) throw new RangeError(`cannot allocate ${size} bytes of native memory`);
    this.ptr = ptr;
    this.addr = koffi.address(ptr);
    const ab = koffi.view(ptr, Math.max(size, 1));
    this.bytes = new Uint8Array(ab, 0, size);
    if (zero && !this.callocd) this.bytes.fill(0);
    else if (!zero && size > 0) this.bytes[0] = 0;
    this.view = new DataView(ab, 0, Math.max(size, 1));
  }
  static from(data: Uint8Array): NativeBuf {
    const b = new NativeBuf(data.length);
    b.bytes.set(data);
    return b;
  }
  static cstring(s: string): NativeBuf {
    const enc = Buffer.from(s + '\0', 'utf8');
    return NativeBuf.from(enc);
  }
  get raw(): unknown {
    return this.ptr;
  }
  free(): void {
    if (this.ptr !== null) {
      if (this.callocd) lib().free(this.ptr);
      else koffi.free(this.ptr);
      this.ptr = null;
    }
  }
}

/** A set of native buffers freed together, so error paths cannot leak them. */
export class Arena {
  private bufs: NativeBuf[] = [];
  alloc(size: number, zero = true): NativeBuf {
    const b = new NativeBuf(size, zero);
    this.bufs.push(b);
    return b;
  }
  from(data: Uint8Array): NativeBuf {
    const b = NativeBuf.from(data);
    this.bufs.push(b);
    return b;
  }
  cstring(s: string): NativeBuf {
    const b = NativeBuf.cstring(s);
    this.bufs.push(b);
    return b;
  }
  free(): void {
    for (const b of this.bufs) b.free();
    this.bufs = [];
  }
}

export function nrBpf(): number {
  const nr = NR_BPF[process.arch];
  if (nr === undefined) throw new Error(`bpf(2) syscall number unknown for architecture ${process.arch}`);
  return nr;
}

/** Result of one call: the return value (an fd or 0) or the errno. */
export type BpfResult = { ok: true; ret: number } | { ok: false; errno: number };

/** Call bpf(cmd, attr, attr.size); never throws for a kernel refusal. */
export function bpfTry(cmd: BpfCmdName, attr: NativeBuf): BpfResult {
  const l = lib();
  for (let attempt = 0; ; attempt++) {
    koffi.errno(0);
    const ret = Number(l.syscall(nrBpf(), 'int', BpfCmd[cmd], 'void *', attr.raw, 'uint', attr.size));
    if (ret >= 0) return { ok: true, ret };
    const errno = koffi.errno();
    // libbpf retries PROG_LOAD on EAGAIN (a signal during verification); so do we.
    if (attempt < 5 && (errno === 4 /* EINTR */ || (errno === 11 /* EAGAIN */ && cmd === 'PROG_LOAD'))) continue;
    return { ok: false, errno };
  }
}

/** Call bpf(2), throwing BpfSyscallError on failure. */
export function bpf(cmd: BpfCmdName, attr: NativeBuf): number {
  const r = bpfTry(cmd, attr);
  if (!r.ok) throw new BpfSyscallError(cmd, r.errno);
  return r.ret;
}

/** close(2) on a raw fd from the kernel. */
export function closeFd(fd: number): void {
  lib().close(fd);
}
