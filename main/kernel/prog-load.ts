import { buildAttr, PROG_LOAD_ATTR, readU32 } from './attr';
import { Arena, bpfTry, closeFd, errnoName, strerror } from './syscall';

/** Everything BPF_PROG_LOAD takes for one program, as plain data. */
export interface ProgLoadRequest {
  name: string;
  progType: number;
  expectedAttachType?: number;
  /** Relocated instructions, 8 bytes per slot. */
  insns: Uint8Array;
  license: string;
  kernVersion?: number;
  progFlags?: number;
  btfFd?: number;
  /** `struct bpf_func_info` records (insn_off in instructions, type_id in the loaded BTF). */
  funcInfo?: InfoRecords;
  /** `struct bpf_line_info` records. */
  lineInfo?: InfoRecords;
  attachBtfId?: number;
  attachBtfObjFd?: number;
  /** fds a kfunc call's `off` indexes (module BTF fds); index 0 unused, as libbpf does. */
  fdArray?: readonly number[];
  /** 1 = errors, 2 = every instruction, +4 = stats. */
  logLevel: number;
  /** First log buffer size; it grows to the size the kernel reports it needs. */
  initialLogSize?: number;
}

export interface InfoRecords {
  recSize: number;
  count: number;
  bytes: Uint8Array;
}

export interface ProgLoadResult {
  /** The program fd when the verifier accepted it (the caller owns it). */
  fd?: number;
  errno?: number;
  errnoName?: string;
  /** strerror text for the errno. */
  errnoText?: string;
  /** The whole log as bytes (no trailing NUL). */
  log: Buffer;
  /** Buffer sizes tried: more than one when the first was too small. */
  logSizes: number[];
}

/** The kernel rejects log buffers at or above UINT_MAX >> 2 (kernel/bpf/log.c). */
export const MAX_LOG_SIZE = (0xffffffff >>> 2) - 1;
/** Large enough for most level-2 logs in one pass; untouched pages cost nothing. */
export const DEFAULT_LOG_SIZE = 64 << 20;

/**
 * BPF_PROG_LOAD with a log buffer that grows until the whole log fits: the
 * kernel (6.4+) writes the size the log needs into log_true_size, and with a
 * too-small buffer it keeps only the tail and fails with ENOSPC, so we load
 * again with exactly that size. One program per call, as veristat does.
 */
export function loadProgram(req: ProgLoadRequest): ProgLoadResult {
  const arena = new Arena();
  const logSizes: number[] = [];
  try {
    const insns = arena.from(req.insns);
    const license = arena.cstring(req.license);
    const fi = req.funcInfo && req.funcInfo.count > 0 ? arena.from(req.funcInfo.bytes) : undefined;
    const li = req.lineInfo && req.lineInfo.count > 0 ? arena.from(req.lineInfo.bytes) : undefined;
    let fdArray;
    if (req.fdArray && req.fdArray.length > 0) {
      fdArray = arena.alloc(req.fdArray.length * 4);
      req.fdArray.forEach((fd, i) => fdArray!.view.setInt32(i * 4, fd, true));
    }
    let logSize = req.logLevel > 0 ? Math.min(req.initialLogSize ?? DEFAULT_LOG_SIZE, MAX_LOG_SIZE) : 0;
    for (;;) {
      const logBuf = logSize > 0 ? arena.alloc(logSize, false) : undefined;
      logSizes.push(logSize);
      const attr = buildAttr(arena, PROG_LOAD_ATTR, {
        prog_type: req.progType,
        insn_cnt: req.insns.length / 8,
        insns,
        license,
        log_level: req.logLevel,
        log_size: logSize,
        log_buf: logBuf,
        kern_version: req.kernVersion,
        prog_flags: req.progFlags,
        prog_name: req.name.replace(/[^A-Za-z0-9_.]/g, '_'),
        expected_attach_type: req.expectedAttachType,
        prog_btf_fd: req.btfFd,
        func_info_rec_size: fi ? req.funcInfo!.recSize : undefined,
        func_info: fi,
        func_info_cnt: fi ? req.funcInfo!.count : undefined,
        line_info_rec_size: li ? req.lineInfo!.recSize : undefined,
        line_info: li,
        line_info_cnt: li ? req.lineInfo!.count : undefined,
        attach_btf_id: req.attachBtfId,
        attach_prog_fd: req.attachBtfObjFd,
        fd_array: fdArray,
      });
      const r = bpfTry('PROG_LOAD', attr);
      const trueSize = logBuf ? readU32(attr, PROG_LOAD_ATTR, 'log_true_size') : 0;
      if (logBuf && trueSize > logSize && trueSize <= MAX_LOG_SIZE) {
        // Truncated: whatever the verdict, load again so the log is whole.
        if (r.ok) closeFd(r.ret);
        logSize = trueSize;
        continue;
      }
      const log = logBuf ? readCString(logBuf.bytes, Math.min(logSize, trueSize || logSize)) : Buffer.alloc(0);
      if (r.ok) return { fd: r.ret, log, logSizes };
      return { errno: r.errno, errnoName: errnoName(r.errno), errnoText: strerror(r.errno), log, logSizes };
    }
  } finally {
    arena.free();
  }
}

function readCString(bytes: Uint8Array, limit: number): Buffer {
  const end = bytes.subarray(0, limit).indexOf(0);
  return Buffer.from(bytes.subarray(0, end < 0 ? limit : end));
}
