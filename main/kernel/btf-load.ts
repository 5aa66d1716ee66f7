import { BTF_LOAD_ATTR, buildAttr, readU32 } from './attr';
import { Arena, bpfTry, closeFd, errnoName } from './syscall';

export interface BtfLoadResult {
  fd?: number;
  errno?: number;
  errnoName?: string;
  /** The BTF verifier's log (only asked for when the first attempt fails). */
  log: string;
}

/**
 * BPF_BTF_LOAD of a complete BTF blob (header + types + strings). As libbpf
 * does, load silently first and only on failure load again with a log, so the
 * user sees the kernel's reason for rejecting the object's BTF.
 */
export function loadBtf(bytes: Uint8Array): BtfLoadResult {
  const arena = new Arena();
  try {
    const btf = arena.from(bytes);
    const quiet = buildAttr(arena, BTF_LOAD_ATTR, { btf, btf_size: bytes.length });
    const r = bpfTry('BTF_LOAD', quiet);
    if (r.ok) return { fd: r.ret, log: '' };
    let logSize = 1 << 20;
    for (let i = 0; i < 3; i++) {
      const logBuf = arena.alloc(logSize);
      const attr = buildAttr(arena, BTF_LOAD_ATTR, {
        btf,
        btf_size: bytes.length,
        btf_log_buf: logBuf,
        btf_log_size: logSize,
        btf_log_level: 1,
      });
      const again = bpfTry('BTF_LOAD', attr);
      const trueSize = readU32(attr, BTF_LOAD_ATTR, 'btf_log_true_size');
      if (trueSize > logSize && i < 2) {
        if (again.ok) closeFd(again.ret);
        logSize = trueSize;
        continue;
      }
      const end = logBuf.bytes.indexOf(0);
      const log = Buffer.from(logBuf.bytes.subarray(0, end < 0 ? logSize : end)).toString('utf8');
      if (again.ok) return { fd: again.ret, log };
      return { errno: again.errno, errnoName: errnoName(again.errno), log };
    }
    return { errno: r.errno, errnoName: errnoName(r.errno), log: '' };
  } finally {
    arena.free();
  }
}
