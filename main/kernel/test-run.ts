import { buildAttr, PROG_TEST_RUN_ATTR, readU32 } from './attr';
import { Arena, bpfTry, errnoName } from './syscall';

export interface TestRunRequest {
  progFd: number;
  /** Packet (skb/xdp data) or nothing for syscall programs. */
  dataIn?: Uint8Array;
  /** Context (`struct __sk_buff`, `xdp_md`, the syscall program's argument). */
  ctxIn?: Uint8Array;
  /** Runs in the kernel; 0 means once, and is what syscall programs require. */
  repeat?: number;
  /** Room for data_out / ctx_out (0: none, as syscall programs require). */
  dataOutSize?: number;
  ctxOutSize?: number;
  /**
   * A syscall program's run copies the context back into ctx_in itself
   * (kernel/bpf/syscall.c's bpf_prog_test_run_syscall; ctx_out must stay
   * unset): read it from there into `ctxOut`.
   */
  ctxWriteBack?: boolean;
}

export interface TestRunResult {
  ok: boolean;
  retval?: number;
  /** Average nanoseconds per run, as the kernel reports it. */
  durationNs?: number;
  dataOut?: Uint8Array;
  ctxOut?: Uint8Array;
  errno?: number;
  errnoName?: string;
}

/** BPF_PROG_TEST_RUN once (repeated `repeat` times in the kernel). */
export function testRun(req: TestRunRequest): TestRunResult {
  const arena = new Arena();
  try {
    const dataIn = req.dataIn && req.dataIn.length > 0 ? arena.from(req.dataIn) : undefined;
    const ctxIn = req.ctxIn && req.ctxIn.length > 0 ? arena.from(req.ctxIn) : undefined;
    const dataOutSize = dataIn ? (req.dataOutSize ?? dataIn.size + 256) : 0;
    const ctxOutSize = ctxIn ? (req.ctxOutSize ?? ctxIn.size) : 0;
    const dataOut = dataOutSize > 0 ? arena.alloc(dataOutSize) : undefined;
    const ctxOut = ctxOutSize > 0 ? arena.alloc(ctxOutSize) : undefined;
    const attr = buildAttr(arena, PROG_TEST_RUN_ATTR, {
      prog_fd: req.progFd,
      data_size_in: dataIn?.size,
      data_in: dataIn,
      data_size_out: dataOut ? dataOutSize : undefined,
      data_out: dataOut,
      ctx_size_in: ctxIn?.size,
      ctx_in: ctxIn,
      ctx_size_out: ctxOut ? ctxOutSize : undefined,
      ctx_out: ctxOut,
      repeat: req.repeat ?? 1,
    });
    const r = bpfTry('PROG_TEST_RUN', attr);
    if (!r.ok) return { ok: false, errno: r.errno, errnoName: errnoName(r.errno) };
    const outLen = readU32(attr, PROG_TEST_RUN_ATTR, 'data_size_out');
    const ctxLen = readU32(attr, PROG_TEST_RUN_ATTR, 'ctx_size_out');
    return {
      ok: true,
      retval: readU32(attr, PROG_TEST_RUN_ATTR, 'retval'),
      durationNs: readU32(attr, PROG_TEST_RUN_ATTR, 'duration'),
      dataOut: dataOut ? Uint8Array.from(dataOut.bytes.subarray(0, Math.min(outLen, dataOutSize))) : undefined,
      ctxOut: ctxOut
        ? Uint8Array.from(ctxOut.bytes.subarray(0, Math.min(ctxLen, ctxOutSize)))
        : req.ctxWriteBack && ctxIn
          ? Uint8Array.from(ctxIn.bytes)
          : undefined,
    };
  } finally {
    arena.free();
  }
}

/** Program types whose test run takes a packet (data_in); the rest take only a context. */
export const PACKET_PROG_TYPES: ReadonlySet<string> = new Set([
  'socket_filter', 'sched_cls', 'sched_act', 'xdp', 'cgroup_skb', 'lwt_in', 'lwt_out', 'lwt_xmit', 'lwt_seg6local', 'flow_dissector', 'sk_skb',
]);

/**
 * What a test run of a program of this type is given, from what the user
 * gave: packet programs get DEFAULT_PACKET when no packet is given; a
 * syscall program has no packet, its argument is the context, so it gets the
 * given context, else the given data, else DEFAULT_PACKET as its context
 * (test/ref/refload does the same, so both sides run on the same bytes).
 * The recorder (--run) and the runtime (bpfscope run) both start here.
 */
export function testRunInputs(progType: string | undefined, data?: Uint8Array, ctx?: Uint8Array): { data?: Uint8Array; ctx?: Uint8Array } {
  if (progType === 'syscall') return { ctx: ctx ?? data ?? DEFAULT_PACKET };
  if (PACKET_PROG_TYPES.has(progType ?? '')) return { data: data ?? DEFAULT_PACKET, ctx };
  return { data, ctx };
}

/**
 * The packet a test run gets when the user gives none: 64 bytes of
 * Ethernet 02:00:00:00:00:01 → 02:00:00:00:00:02 / IPv4 10.0.0.1 → 10.0.0.2
 * (UDP, TTL 64, id 0x1234, DF) / UDP 12345 → 8080, payload
 * "bpfscope test packet!!" — the same bytes as test/ref/packet.h, so
 * recordings and the reference loader run programs on the same input.
 */
export const DEFAULT_PACKET: Uint8Array = buildDefaultPacket();

function buildDefaultPacket(): Uint8Array {
  const payload = Buffer.from('bpfscope test packet!!', 'latin1');
  const p = new Uint8Array(14 + 20 + 8 + payload.length);
  const v = new DataView(p.buffer);
  p.set([0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01], 0);
  v.setUint16(12, 0x0800);
  const ip = 14;
  p[ip] = 0x45;
  v.setUint16(ip + 2, 20 + 8 + payload.length);
  v.setUint16(ip + 4, 0x1234);
  v.setUint16(ip + 6, 0x4000);
  p[ip + 8] = 64;
  p[ip + 9] = 17;
  p.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += v.getUint16(ip + i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  v.setUint16(ip + 10, ~sum & 0xffff);
  const udp = ip + 20;
  v.setUint16(udp, 12345);
  v.setUint16(udp + 2, 8080);
  v.setUint16(udp + 4, 8 + payload.length);
  p.set(payload, udp + 8);
  return p;
}
