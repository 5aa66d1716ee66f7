import { closeSync, openSync, readSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
export { verifierSchema } from './verifierSchema';
import type { TraceDb } from './db';
import { LogAnalyzer, type AnalysisSink, type LogMessage, type PathInfo, type RefInfo, type StepRecord } from '../verifier/analyze';
import { splitLines, type LineBatch } from '../verifier/lines';
import { STEP_KINDS } from '../verifier/reconstruct';
import { forgetProgram } from './verifierCache';

export const LOG_BLOCK = 512;
export const STEP_BLOCK = 1024;
export const STEP_FIELDS = 5;
export const CHECKPOINT_EVERY = 64;
/** Rows are written in one transaction per this many log lines. */
const FLUSH_LINES = 32768;
/** Rows per INSERT statement for paths (12 values each, under SQLite's 32766-variable limit). */
const PATH_ROWS = 64;

export interface LogSummary {
  programId: number;
  lines: number;
  steps: number;
  paths: number;
  refs: number;
  errors: string[];
  warnings: number;
  mismatches: number;
  unknownLines: number;
  unknownItems: number;
  cutLines: number;
  verdict: 'accepted' | 'rejected' | null;
  /** The program name a libbpf/bpftool wrapper gave, when there was one. */
  wrappedProgram: string | null;
}

export interface WriteLogOptions {
  /** In a wrapped log with several programs, the one to take. */
  program?: string;
  checkpointEvery?: number;
}

/** Delete what an earlier import stored for this program (re-import replaces). */
function clearProgram(db: TraceDb, programId: number): void {
  for (const t of [
    'verifier_logs', 'verifier_log_blocks', 'verifier_step_blocks', 'verifier_checkpoints', 'verifier_insn_steps',
    'verifier_paths', 'verifier_refs', 'verifier_ref_events', 'verifier_messages', 'verifier_live_regs',
  ]) {
    db.prepare(`DELETE FROM ${t} WHERE program_id = ?`).run(programId);
  }
}

/** The worker's code: plain CommonJS, so it runs the same under tsx, node and Electron. */
const COMPRESS_WORKER = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', (m) => {
  const all = new Uint8Array(m.data);
  const parts = [];
  const sizes = [];
  let at = 0;
  for (const n of m.sizes) {
    const z = zlib.brotliCompressSync(all.subarray(at, at + n), { params: {
      [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: n } });
    parts.push(z);
    sizes.push(z.length);
    at += n;
  }
  const out = Buffer.concat(parts);
  const ab = out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  // The input goes back too, to be filled again (fresh memory costs a page fault per 4 kB).
  parentPort.postMessage({ id: m.id, data: ab, sizes, input: m.data }, [ab, m.data]);
});`;

/** Buffers at least this big come back from the worker to be used again. */
const RECYCLE_MIN = 1 << 20;
/** The size of a flush's log buffer (a flush of 32768 lines of a level-2 log is about 2.4 MB). */
const FLUSH_BUFFER = 1 << 22;

/**
 * Blocks are brotli at quality 1: on the loop benchmark's log it is twice as
 * fast as DEFLATE level 1 (about 100 vs 230 ms of CPU for 111 MB) and packs
 * tighter (33x vs 24x). Traces written before hold raw DEFLATE; the readers
 * take both (verifierRead.ts).
 */
function compressBlock(b: Uint8Array): Buffer {
  return zlib.brotliCompressSync(b, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 1, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: b.length } });
}

/** Compressed blocks of one flush: their bytes back to back, and each one's size. */
interface Packed {
  data: Buffer;
  sizes: number[];
}

/**
 * Compression of log and step blocks on a worker thread. The blocks of one
 * flush are already back to back in one buffer, which is transferred (not
 * copied) and comes back as one (a message, or a copy, per block costs more
 * than compressing it); falls back to compressing here when a worker cannot start.
 */
class Compressor {
  private worker: Worker | null = null;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (d: Packed) => void; reject: (e: Error) => void }>();
  private spare: ArrayBuffer[] = [];

  constructor() {
    try {
      // BPFSCOPE_SYNC_DEFLATE=1 (the name from when blocks were DEFLATE) compresses on the main
      // thread (to compare, or where workers are unwelcome).
      if (process.env.BPFSCOPE_SYNC_DEFLATE) throw new Error('compress on the main thread');
      this.worker = new Worker(COMPRESS_WORKER, { eval: true });
      this.worker.unref();
      this.worker.on('message', (m: { id: number; data: ArrayBuffer; sizes: number[]; input: ArrayBuffer }) => {
        this.recycle(m.input);
        const w = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        w?.resolve({ data: Buffer.from(m.data), sizes: m.sizes });
      });
      this.worker.on('error', (e: Error) => {
        for (const w of this.waiting.values()) w.reject(e);
        this.waiting.clear();
        this.worker = null;
      });
    } catch {
      this.worker = null;
    }
  }

  /** A buffer of at least `size` bytes for a flush, one that came back from the worker when there is one. */
  take(size: number): Buffer {
    const i = this.spare.findIndex((ab) => ab.byteLength >= size);
    if (i >= 0) return Buffer.from(this.spare.splice(i, 1)[0]);
    return Buffer.allocUnsafeSlow(Math.max(size, FLUSH_BUFFER));
  }

  private recycle(ab: ArrayBuffer | undefined): void {
    if (ab && ab.byteLength >= RECYCLE_MIN && this.spare.length < 4) this.spare.push(ab);
  }

  /**
   * Compress each of `sizes` consecutive blocks of `buf`, which must start at
   * offset 0 of its own ArrayBuffer (take() or allocUnsafeSlow) and is handed
   * over: the caller must not touch it again.
   */
  compress(buf: Uint8Array, sizes: number[]): Packed | Promise<Packed> {
    if (!this.worker) {
      const parts: Buffer[] = [];
      let at = 0;
      for (const n of sizes) {
        parts.push(compressBlock(buf.subarray(at, at + n)));
        at += n;
      }
      this.recycle(buf.buffer as ArrayBuffer);
      return { data: Buffer.concat(parts), sizes: parts.map((x) => x.length) };
    }
    const id = this.next++;
    const worker = this.worker;
    return new Promise<Packed>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, data: buf.buffer, sizes }, [buf.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }
}

/** A flush's log or step blocks: [block, first line or step, count] each, and their compressed bytes. */
interface LogBlocksOut {
  meta: [number, number, number][];
  data: Packed | Promise<Packed>;
}

/** The rows of blocks whose compressed bytes have come back. */
async function landed(outs: (LogBlocksOut | null)[]): Promise<[number, number, number, Buffer][]> {
  const rows: [number, number, number, Buffer][] = [];
  for (const r of outs) {
    if (!r) continue;
    const d = await r.data;
    let at = 0;
    r.meta.forEach((m, i) => {
      rows.push([m[0], m[1], m[2], d.data.subarray(at, at + d.sizes[i])]);
      at += d.sizes[i];
    });
  }
  return rows;
}

class TraceSink implements AnalysisSink {
  private inFlight: LogBlocksOut | null = null;
  private stepsInFlight: LogBlocksOut | null = null;
  /**
   * The log bytes of this flush's whole blocks and of the open block, back to
   * back, in a buffer of its own (it is transferred to the compressing worker).
   */
  private buf: Uint8Array;
  private len = 0;
  /** Where the open block starts in `buf`. */
  private blockStart = 0;
  private blockSizes: number[] = [];
  private blockMeta: [number, number, number][] = [];
  private blockLines = 0;
  private logFirst = 1;
  private logBlock = 0;
  private stepData = new Int32Array(STEP_BLOCK * STEP_FIELDS);
  private stepN = 0;
  private stepBlock = 0;
  private pend = {
    stepMeta: [] as [number, number, number][],
    stepBytes: [] as Uint8Array[],
    checkpoints: [] as [number, number, string][],
    messages: [] as LogMessage[],
    live: [] as [number, string][],
  };
  private readonly stmts;

  constructor(private readonly db: TraceDb, private readonly pid: number, private readonly compressor: Compressor) {
    this.buf = compressor.take(FLUSH_BUFFER);
    this.stmts = {
      log: db.prepare('INSERT INTO verifier_log_blocks(program_id, block, first_line, line_count, data) VALUES (?, ?, ?, ?, ?)'),
      steps: db.prepare('INSERT INTO verifier_step_blocks(program_id, block, first_step, step_count, data) VALUES (?, ?, ?, ?, ?)'),
      ckpt: db.prepare('INSERT INTO verifier_checkpoints(program_id, step, line, state) VALUES (?, ?, ?, ?)'),
      msg: db.prepare('INSERT INTO verifier_messages(program_id, severity, step, line, text) VALUES (?, ?, ?, ?, ?)'),
      live: db.prepare('INSERT OR REPLACE INTO verifier_live_regs(program_id, insn, live) VALUES (?, ?, ?)'),
    };
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = this.compressor.take(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len), 0);
    this.buf = grown;
  }

  /** Lines in log order, with their bytes when the splitter has them (copied once, not re-encoded). */
  rawBatch(b: LineBatch): void {
    const raw = b.raw;
    const texts = b.texts;
    if (raw) {
      this.reserve(raw.length);
      this.buf.set(raw, this.len);
    }
    let at = this.len;
    for (let i = 0; i < texts.length; i++) {
      const text = texts[i];
      if (this.blockLines === 0) this.logFirst = b.firstNo + i;
      if (raw) {
        // ASCII-exact bytes (the splitter checked): the line is text.length + 1 bytes.
        at += text.length + 1;
      } else {
        const n = Buffer.byteLength(text) + 1;
        this.reserve(n);
        at += (this.buf as Buffer).write(text, at);
        this.buf[at++] = 10;
        this.len = at;
      }
      if (++this.blockLines === LOG_BLOCK) this.endLogBlock(at);
    }
    this.len = at;
  }

  private endLogBlock(end: number): void {
    if (this.blockLines === 0) return;
    this.blockSizes.push(end - this.blockStart);
    this.blockMeta.push([this.logBlock++, this.logFirst, this.blockLines]);
    this.blockStart = end;
    this.blockLines = 0;
  }

  /** Hand this flush's whole blocks to the compressor; the open block's bytes move to a new buffer. */
  private takeLogBlocks(): LogBlocksOut | null {
    if (this.blockMeta.length === 0) return null;
    const whole = this.blockStart;
    const next = this.compressor.take(Math.max(FLUSH_BUFFER, (this.len - whole) * 2));
    next.set(this.buf.subarray(whole, this.len), 0);
    const out = { meta: this.blockMeta, data: this.compressor.compress(this.buf, this.blockSizes) };
    this.buf = next;
    this.len -= whole;
    this.blockStart = 0;
    this.blockMeta = [];
    this.blockSizes = [];
    return out;
  }

  /** This flush's step blocks, compressed on the worker too (packed Int32 fields compress about 10x). */
  private takeStepBlocks(): LogBlocksOut | null {
    const p = this.pend;
    if (p.stepMeta.length === 0) return null;
    let size = 0;
    for (const b of p.stepBytes) size += b.length;
    const buf = Buffer.allocUnsafeSlow(size);
    let at = 0;
    for (const b of p.stepBytes) {
      buf.set(b, at);
      at += b.length;
    }
    const out = { meta: p.stepMeta, data: this.compressor.compress(buf, p.stepBytes.map((b) => b.length)) };
    p.stepMeta = [];
    p.stepBytes = [];
    return out;
  }

  step(s: StepRecord): void {
    const o = this.stepN * STEP_FIELDS;
    const d = this.stepData;
    d[o] = s.line;
    d[o + 1] = s.insn;
    d[o + 2] = s.frame;
    d[o + 3] = STEP_KINDS.indexOf(s.kind);
    d[o + 4] = s.path;
    if (++this.stepN === STEP_BLOCK) this.endStepBlock();
  }

  private endStepBlock(): void {
    if (this.stepN === 0) return;
    this.pend.stepMeta.push([this.stepBlock, this.stepBlock * STEP_BLOCK, this.stepN]);
    this.pend.stepBytes.push(new Uint8Array(this.stepData.buffer.slice(0, this.stepN * STEP_FIELDS * 4)));
    this.stepBlock++;
    this.stepN = 0;
  }

  checkpoint(step: number, line: number, stateJson: string): void {
    this.pend.checkpoints.push([step, line, stateJson]);
  }

  message(msg: LogMessage): void {
    this.pend.messages.push(msg);
  }

  /**
   * mark_precise lines are most of a big level-2 log (1.1 M of 1.5 M lines in
   * the loop benchmark): they are not copied into rows; markPreciseEvents()
   * decodes them from the stored raw lines of the steps asked for.
   */
  markPrecise(_line: number, _step: number): void {
    this.preciseCount++;
  }

  preciseCount = 0;

  liveRegs(insn: number, live: string): void {
    this.pend.live.push([insn, live]);
  }

  /** Write what is pending, in one transaction. `final` also writes the partial blocks. */
  async flush(final: boolean): Promise<void> {
    if (final) {
      this.endLogBlock(this.len);
      this.endStepBlock();
    }
    const p = this.pend;
    // Pipelined: the blocks sent at the previous flush were compressed while
    // this one's lines were parsed; this flush's go out now and land next time.
    const sent = this.takeLogBlocks();
    const ready = final ? [this.inFlight, sent] : [this.inFlight];
    this.inFlight = final ? null : sent;
    const stepsSent = this.takeStepBlocks();
    const stepsReady = final ? [this.stepsInFlight, stepsSent] : [this.stepsInFlight];
    this.stepsInFlight = final ? null : stepsSent;
    const logBlocks = await landed(ready);
    const stepBlocks = await landed(stepsReady);
    const s = this.stmts;
    const pid = this.pid;
    this.db.transaction(() => {
      for (const b of logBlocks) s.log.run(pid, ...b);
      for (const b of stepBlocks) s.steps.run(pid, ...b);
      for (const c of p.checkpoints) s.ckpt.run(pid, ...c);
      for (const m of p.messages) s.msg.run(pid, m.severity, m.step, m.line, m.text);
      for (const [insn, live] of p.live) s.live.run(pid, insn, live);
    })();
    p.checkpoints = [];
    p.messages = [];
    p.live = [];
  }
}

/**
 * A log file as chunks of `size` bytes, read synchronously. Each read is a
 * copy from the page cache on this thread: a stream would hand every chunk
 * over from the thread pool, and on a loaded machine each hand-over waits for
 * a CPU twice (the pool thread, then this one), which cost more than the
 * parsing. One buffer is filled again for every chunk (fresh memory costs a
 * page fault per 4 kB): a chunk is valid until the next one is asked for,
 * which is how splitLines uses them (it copies what it carries over).
 */
export async function* logFileChunks(path: string, size = 1 << 20): AsyncGenerator<Uint8Array> {
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafeSlow(size);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, size, null);
      if (n === 0) return;
      yield n === size ? buf : buf.subarray(0, n);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Store and analyse the verifier log of an existing `programs` row. The log is
 * streamed (a string or chunks); memory stays bounded by the batch size, not
 * the log size. Fills the program's stats and, unless the caller already set
 * them, its verdict (errors → rejected; `processed N insns` and no error →
 * accepted) and error text.
 */
export async function writeVerifierLog(
  db: TraceDb,
  programId: number,
  log: string | AsyncIterable<string | Uint8Array>,
  opts: WriteLogOptions = {},
): Promise<LogSummary> {
  const every = opts.checkpointEvery ?? CHECKPOINT_EVERY;
  forgetProgram(db, programId);
  db.transaction(() => clearProgram(db, programId))();
  // No WAL checkpoints (each one copies pages and syncs) in the middle of an
  // import: the connection checkpoints once, at the end, instead.
  const autoCheckpoint = Number(db.pragma('wal_autocheckpoint', { simple: true }));
  db.pragma('wal_autocheckpoint = 0');
  const compressor = new Compressor();
  const sink = new TraceSink(db, programId, compressor);
  const a = new LogAnalyzer(sink, { program: opts.program, checkpointEvery: every });
  try {
    let sinceFlush = 0;
    for await (const batch of splitLines(log)) {
      sink.rawBatch(batch);
      a.feedBatch(batch);
      sinceFlush += batch.texts.length;
      if (sinceFlush >= FLUSH_LINES) {
        await sink.flush(false);
        sinceFlush = 0;
      }
    }
    a.finish();
    await sink.flush(true);
  } finally {
    await compressor.close();
    db.pragma(`wal_autocheckpoint = ${Number.isFinite(autoCheckpoint) ? autoCheckpoint : 1000}`);
  }
  writeTail(db, programId, a, every);
  forgetProgram(db, programId);
  return {
    programId, lines: a.lines, steps: a.steps, paths: a.paths.length, refs: a.refs.size,
    errors: a.errors, warnings: a.warnings, mismatches: a.mismatches, unknownLines: a.unknownLines,
    unknownItems: a.unknownItems, cutLines: a.cutLines, verdict: a.verdict(), wrappedProgram: a.wrappedProgram,
  };
}

function writeTail(db: TraceDb, pid: number, a: LogAnalyzer, every: number): void {
  db.transaction(() => {
    const ins = db.prepare('INSERT INTO verifier_insn_steps(program_id, insn, visits, steps) VALUES (?, ?, ?, ?)');
    for (const [insn, steps] of a.insnSteps) {
      ins.run(pid, insn, steps.length, Buffer.from(new Int32Array(steps).buffer));
    }
    // Paths in statements of PATH_ROWS rows: a big log has tens of thousands, and one statement per row costs more than the row.
    const pathSql = (rows: number): string => `INSERT INTO verifier_paths(program_id, path, start_step, start_line, from_insn,
      to_insn, pushed_step, parent_path, end_step, end_line, end_insn, end_kind) VALUES
      ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
    const pathMany = db.prepare(pathSql(PATH_ROWS));
    const pathOne = db.prepare(pathSql(1));
    const paths = a.paths as PathInfo[];
    const vals: (number | string | null)[] = [];
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i];
      vals.push(pid, p.path, p.startStep, p.startLine, p.fromInsn, p.toInsn, p.pushedStep, p.parentPath,
        p.endStep, p.endLine, p.endInsn, p.end);
      if (vals.length === PATH_ROWS * 12) {
        pathMany.run(vals);
        vals.length = 0;
      }
    }
    for (let i = 0; i < vals.length; i += 12) pathOne.run(vals.slice(i, i + 12));
    const ref = db.prepare(`INSERT INTO verifier_refs(program_id, ref_obj_id, kind, acquire_step, acquire_line, acquire_insn, func, path)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const r of a.refs.values() as Iterable<RefInfo>) {
      ref.run(pid, r.refObjId, r.kind, r.acquireStep, r.acquireLine, r.acquireInsn, r.func, r.path);
    }
    const ev = db.prepare(`INSERT INTO verifier_ref_events(program_id, ref_obj_id, kind, step, line, insn, path, func)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
    for (const e of a.refEvents) ev.run(pid, e.refObjId, e.kind, e.step, e.line, e.insn, e.path, e.func);
    db.prepare(`INSERT INTO verifier_logs(program_id, line_count, step_count, unknown_lines, unknown_items, mismatches,
      warnings, cut_lines, checkpoint_every, wrapped_program, range_style) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(pid, a.lines, a.steps, a.unknownLines, a.unknownItems, a.mismatches, a.warnings, a.cutLines, every, a.wrappedProgram, a.rangeStyle);
    const s = a.stats;
    const level = a.sawLiveTable || a.steps > a.paths.length * 2 ? 2 : a.steps > 0 ? 1 : null;
    db.prepare(`UPDATE programs SET
        processed_insns = COALESCE(?, processed_insns), max_states_per_insn = COALESCE(?, max_states_per_insn),
        total_states = COALESCE(?, total_states), peak_states = COALESCE(?, peak_states),
        mark_read = COALESCE(?, mark_read), verification_time_us = COALESCE(?, verification_time_us),
        stack_depth = COALESCE(?, stack_depth), log_level = COALESCE(log_level, ?),
        verdict = COALESCE(verdict, ?), error = COALESCE(error, ?)
      WHERE id = ?`).run(
      s.processedInsns, s.maxStatesPerInsn, s.totalStates, s.peakStates, s.markRead, s.verificationTimeUs,
      s.stackDepth, level, a.verdict(), a.errors.length > 0 ? a.errors.join('\n') : null, pid,
    );
  })();
}
