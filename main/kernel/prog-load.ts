import { Worker } from 'node:worker_threads';
import { crc32 } from 'node:zlib';
import { buildAttr, PROG_LOAD_ATTR, readU32 } from './attr';
import { Arena, BpfCmd, bpfTry, closeFd, errnoName, NativeBuf, nrBpf, strerror, type BpfResult } from './syscall';

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
 * again with exactly that size; older kernels only fail with ENOSPC, and the
 * buffer doubles until the log fits. One program per call, as veristat does.
 */
export function loadProgram(req: ProgLoadRequest): ProgLoadResult {
  const arena = new Arena();
  const logSizes: number[] = [];
  try {
    const fixed = fixedParts(arena, req);
    let logSize = req.logLevel > 0 ? Math.min(req.initialLogSize ?? DEFAULT_LOG_SIZE, MAX_LOG_SIZE) : 0;
    for (;;) {
      const logBuf = logSize > 0 ? arena.alloc(logSize, false) : undefined;
      logSizes.push(logSize);
      const attr = loadAttr(arena, req, fixed, logBuf, logSize);
      const r = bpfTry('PROG_LOAD', attr);
      const trueSize = logBuf ? readU32(attr, PROG_LOAD_ATTR, 'log_true_size') : 0;
      if (logBuf && trueSize > logSize && trueSize <= MAX_LOG_SIZE) {
        // Truncated: whatever the verdict, load again so the log is whole.
        if (r.ok) closeFd(r.ret);
        logSize = trueSize;
        continue;
      }
      const grown = logBuf && trueSize === 0 ? grownLogSize(r, logSize) : undefined;
      if (grown !== undefined) {
        logSize = grown;
        continue;
      }
      const log = logBuf ? readCString(logBuf.bytes, Math.min(logSize, trueSize || logSize)) : Buffer.alloc(0);
      return result(r, log, logSizes);
    }
  } finally {
    arena.free();
  }
}

interface FixedParts {
  insns: NativeBuf;
  license: NativeBuf;
  fi?: NativeBuf;
  li?: NativeBuf;
  fdArray?: NativeBuf;
}

/** The parts of the attribute block that stay the same across attempts. */
function fixedParts(arena: Arena, req: ProgLoadRequest): FixedParts {
  const out: FixedParts = { insns: arena.from(req.insns), license: arena.cstring(req.license) };
  if (req.funcInfo && req.funcInfo.count > 0) out.fi = arena.from(req.funcInfo.bytes);
  if (req.lineInfo && req.lineInfo.count > 0) out.li = arena.from(req.lineInfo.bytes);
  if (req.fdArray && req.fdArray.length > 0) {
    const fa = arena.alloc(req.fdArray.length * 4);
    req.fdArray.forEach((fd, i) => fa.view.setInt32(i * 4, fd, true));
    out.fdArray = fa;
  }
  return out;
}

function loadAttr(arena: Arena, req: ProgLoadRequest, f: FixedParts, logBuf: NativeBuf | undefined, logSize: number): NativeBuf {
  return buildAttr(arena, PROG_LOAD_ATTR, {
    prog_type: req.progType,
    insn_cnt: req.insns.length / 8,
    insns: f.insns,
    license: f.license,
    log_level: req.logLevel,
    log_size: logBuf ? logSize : 0,
    log_buf: logBuf,
    kern_version: req.kernVersion,
    prog_flags: req.progFlags,
    prog_name: req.name.replace(/[^A-Za-z0-9_.]/g, '_'),
    expected_attach_type: req.expectedAttachType,
    prog_btf_fd: req.btfFd,
    func_info_rec_size: f.fi ? req.funcInfo!.recSize : undefined,
    func_info: f.fi,
    func_info_cnt: f.fi ? req.funcInfo!.count : undefined,
    line_info_rec_size: f.li ? req.lineInfo!.recSize : undefined,
    line_info: f.li,
    line_info_cnt: f.li ? req.lineInfo!.count : undefined,
    attach_btf_id: req.attachBtfId,
    attach_prog_fd: req.attachBtfObjFd,
    fd_array: f.fdArray,
  });
}

const ENOSPC = 28;

/**
 * Kernels before 6.4 do not write log_true_size: a log that does not fit
 * fails the load with ENOSPC, keeping only the log's beginning, and says
 * nothing of the size it needs. Then, as libbpf does, the buffer doubles
 * (up to the kernel's cap) and the program is loaded again. undefined when
 * the load is final.
 */
function grownLogSize(r: BpfResult, logSize: number): number | undefined {
  if (r.ok || r.errno !== ENOSPC || logSize >= MAX_LOG_SIZE) return undefined;
  return Math.min(logSize * 2, MAX_LOG_SIZE);
}

function result(r: BpfResult, log: Buffer, logSizes: number[]): ProgLoadResult {
  if (r.ok) return { fd: r.ret, log, logSizes };
  return { errno: r.errno, errnoName: errnoName(r.errno), errnoText: strerror(r.errno), log, logSizes };
}

/**
 * A line the kernel has written may still change: to put an instruction's
 * state on the instruction's own line the verifier steps back over the last
 * newline (bpf_vlog_reset). Lines this far behind the write position are final.
 */
const STREAM_MARGIN = 64 * 1024;
/**
 * Chunks handed to the analysis are at least this big and the log is looked
 * at this often: fewer, bigger hand-overs (was every 2 ms, ~80 KB) cost the
 * main thread ~50 ms less on a 41 MB log, and the tail left for after the
 * load stays under half a megabyte.
 */
const MIN_CHUNK = 256 * 1024;
const POLL_MS = 10;
/** How far before the last write position the next look for it starts (bpf_vlog_reset steps back a line or so). */
const HEAD_BACKOFF = 4096;

/**
 * BPF_PROG_LOAD on a worker thread while this thread reads the log as the
 * kernel writes it into the (zeroed) buffer, so that the analysis of a long
 * log runs alongside the verifier instead of after it. `consume` gets the log
 * as chunks of whole lines; when what it got turns out not to be the final
 * log (the buffer was too small and the kernel rotated it, or an earlier line
 * was rewritten) `streamed` is false and the caller analyses `log` again.
 */
export class StreamingProgLoader {
  private worker?: Worker;
  private nextId = 0;
  private waiting = new Map<number, { resolve: (r: BpfResult) => void; reject: (e: unknown) => void }>();
  private logBuf?: NativeBuf;

  /**
   * Start the load thread now (it loads koffi and libc: tens of ms) so that
   * it is ready by the time the first program is relocated.
   */
  warm(): void {
    this.thread();
  }

  private call(attr: NativeBuf): Promise<BpfResult> {
    const w = this.thread();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ id, nr: nrBpf(), cmd: BpfCmd.PROG_LOAD, attr: attr.addr, size: attr.size });
    });
  }

  private thread(): Worker {
    if (!this.worker) {
      const w = new Worker(new URL('./prog-load-worker.mjs', import.meta.url));
      w.on('message', (m: { id: number; ret: number; errno: number }) => {
        const done = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        done?.resolve(m.ret >= 0 ? { ok: true, ret: m.ret } : { ok: false, errno: m.errno });
      });
      w.on('error', (err) => {
        for (const p of this.waiting.values()) p.reject(err);
        this.waiting.clear();
      });
      this.worker = w;
    }
    return this.worker;
  }

  /** One zeroed log buffer for every load of the recording; only what a load wrote is cleared again. */
  private logBuffer(size: number): NativeBuf {
    if (!this.logBuf || this.logBuf.size !== size) {
      this.logBuf?.free();
      this.logBuf = new NativeBuf(size, true);
    }
    return this.logBuf;
  }

  async load(
    req: ProgLoadRequest,
    consume: (chunks: AsyncIterable<Uint8Array>) => Promise<void>,
  ): Promise<ProgLoadResult & { streamed: boolean; kernelMs: number }> {
    if (req.logLevel === 0) {
      const t = performance.now();
      const r = loadProgram(req);
      return { ...r, streamed: false, kernelMs: performance.now() - t };
    }
    const arena = new Arena();
    try {
      const fixed = fixedParts(arena, req);
      const logSize = Math.min(req.initialLogSize ?? DEFAULT_LOG_SIZE, MAX_LOG_SIZE);
      const logBuf = this.logBuffer(logSize);
      const attr = loadAttr(arena, req, fixed, logBuf, logSize);
      let finished: BpfResult | undefined;
      const t0 = performance.now();
      let kernelMs = 0;
      const loading = this.call(attr).then((r) => {
        kernelMs = performance.now() - t0;
        finished = r;
      });
      const bytes = logBuf.bytes;
      // What was handed out, kept as a CRC rather than a copy: holding 40 MB of
      // copies until the end cost more in garbage collection than the copies.
      const chunks: { off: number; len: number; crc: number }[] = [];
      let pos = 0;
      /** Where the kernel's write position (the first NUL) was at the last look. */
      let head = 0;
      let streamOk = true;
      let streamDone = false;
      let final: Buffer | undefined;
      let trueSize = 0;
      async function* stream(): AsyncGenerator<Uint8Array> {
        for (;;) {
          if (finished) break;
          // Look for the write position from a little before where it last was, not
          // from what we consumed: that rescanned the 64 KB margin on every
          // poll (a third of the recorder's own CPU time). A rewind of more than
          // HEAD_BACKOFF only makes the final check below fail, never a wrong log.
          const nul = bytes.indexOf(0, Math.max(pos, head - HEAD_BACKOFF));
          const end = nul < 0 ? logSize : nul;
          head = end;
          const safe = end - STREAM_MARGIN > pos + MIN_CHUNK ? bytes.lastIndexOf(10, end - STREAM_MARGIN) : -1;
          if (safe >= pos) {
            const data = Buffer.from(bytes.subarray(pos, safe + 1));
            chunks.push({ off: pos, len: data.length, crc: crc32(data) });
            pos = safe + 1;
            yield data;
          } else {
            await Promise.race([loading, new Promise((r) => setTimeout(r, POLL_MS))]);
          }
        }
        trueSize = readU32(attr, PROG_LOAD_ATTR, 'log_true_size');
        if (trueSize > logSize) {
          streamOk = false; // rotated: what we read is not the log's beginning
          streamDone = true;
          return;
        }
        final = readCString(bytes, Math.min(logSize, trueSize || logSize));
        for (const c of chunks) {
          if (c.off + c.len > final.length || crc32(final.subarray(c.off, c.off + c.len)) !== c.crc) {
            streamOk = false;
            streamDone = true;
            return;
          }
        }
        if (pos < final.length) yield final.subarray(pos);
        streamDone = true;
      }
      try {
        await consume(stream());
      } finally {
        await loading;
        trueSize = readU32(attr, PROG_LOAD_ATTR, 'log_true_size');
        if (!streamDone) {
          // The consumer stopped early: what it saw is not the whole log.
          streamOk = false;
          if (trueSize <= logSize) final = readCString(bytes, Math.min(logSize, trueSize || logSize));
        }
        // Leave the buffer zeroed for the next load: clear what this one wrote.
        bytes.fill(0, 0, trueSize > logSize ? logSize : Math.min(logSize, trueSize + 1));
      }
      const r = finished!;
      const grown = trueSize === 0 ? grownLogSize(r, logSize) : undefined;
      if ((trueSize > logSize && trueSize <= MAX_LOG_SIZE) || grown !== undefined) {
        if (r.ok) closeFd(r.ret);
        const t1 = performance.now();
        const again = loadProgram({ ...req, initialLogSize: grown ?? trueSize });
        return { ...again, logSizes: [logSize, ...again.logSizes], streamed: false, kernelMs: kernelMs + performance.now() - t1 };
      }
      const log = final ?? readCString(bytes, Math.min(logSize, trueSize || logSize));
      return { ...result(r, log, [logSize]), streamed: streamOk, kernelMs };
    } finally {
      arena.free();
    }
  }

  /** Stop the worker thread (the end of a recording). */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.logBuf?.free();
    this.logBuf = undefined;
    if (w) await w.terminate();
  }
}

function readCString(bytes: Uint8Array, limit: number): Buffer {
  // The log ends at the first NUL. log_true_size (the limit) is the most the log
  // ever held, NUL included, not where it ends: at level 1 the verifier throws
  // away what it printed for a subprogram it accepted (bpf_vlog_reset to 0 in
  // do_check_common) and writes a NUL there, so the summary is followed by a NUL
  // and the discarded text. memchr over a Buffer view: ~1.5 ms for 41 MB.
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(limit, bytes.length));
  const end = view.indexOf(0);
  return Buffer.from(end < 0 ? view : view.subarray(0, end));
}
