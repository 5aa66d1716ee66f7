import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeRecordedKernel } from '../trace/kernel';
import { BpfscopeError, inFile } from '../errors';
import { CORE_POISON_IMM, type CoreTarget } from '../object/core';
import { encodeRaw } from '../object/insn/raw';
import { mapTypeName } from '../object/maptypes';
import { parseObject, type BpfObject, type BpfProgram } from '../object/object';
import type { TraceDb } from '../trace/db';
import {
  insertBtf,
  insertCoreRelos,
  insertExtern,
  insertFunctions,
  insertLineInfo,
  insertMap,
  insertPackedProgramLog,
  insertProgramLog,
  insertRelocations,
  insertTestRun,
  insertWarning,
  type ExternRow,
  type RelocationRow,
  StreamingLogPacker,
} from '../trace/load';
import { writeVerifierLog } from '../trace/verifier';
import { loadBtf } from './btf-load';
import { sanitizeBtf } from './btf-sanitize';
import { moduleFdArray, resolveExterns } from './externs';
import { FdSet } from './fds';
import { hostKconfig } from './kconfig';
import { closingError, parseLogStats, type LogStats } from './log-stats';
import { runAndDump } from './map-dump';
import { slotRows } from './map-slots';
import { createObjectMaps, objectName, type CreatedMap } from './maps';
import { loadBlocker, loadRequest, prepareProgram, resolveAttach, type ProgramJob } from './prepare';
import { Companions } from './prog-array';
import { StreamingProgLoader } from './prog-load';
import { moduleBtf, moduleBtfNames, vmlinuxBtf } from './vmlinux';

export interface RecordOptions {
  /** Program names to load; all of the object's programs when empty. */
  programs?: string[];
  /** Verifier log level: 1, 2, plus 4 for stats (default 6). */
  logLevel?: number;
  /** BPF_PROG_TEST_RUN each accepted program. */
  run?: boolean;
  data?: Uint8Array;
  ctx?: Uint8Array;
  repeat?: number;
  /** First log buffer size (tests use a small one to exercise the growth). */
  initialLogSize?: number;
  /** Called with what the recording works around (a refused BTF...). */
  onWarning?: (text: string) => void;
  /** Called with each progress event (the CLI prints them as JSON lines). */
  onProgress?: (e: ProgressEvent) => void;
}

export type ProgressEvent =
  | { event: 'object'; path: string; programs: string[] }
  | { event: 'loading'; program: string; index: number; total: number }
  | { event: 'program'; program: string; index: number; total: number; verdict: 'accepted' | 'rejected'; errno: number | null; error: string | null; processedInsns: number | null; logBytes: number; retval?: number }
  | { event: 'warning'; text: string }
  | { event: 'done'; programs: number; accepted: number; rejected: number };

export interface ProgramOutcome {
  programId: number;
  program: string;
  verdict: 'accepted' | 'rejected';
  errno: number | null;
  error: string | null;
  stats: LogStats;
  logBytes: number;
  retval?: number;
  durationNs?: number;
  /** Wall time of BPF_PROG_LOAD (all attempts) and of storing + analysing the log, in ms. */
  loadMs?: number;
  storeMs?: number;
  /** The verifier analysis read the log while the kernel wrote it (false: it read the final log afterwards). */
  logStreamed?: boolean;
}

/**
 * Record one object into a trace: load its BTF, then for each program (one at
 * a time, each with freshly created maps, as veristat and a libbpf user
 * loading one program do) link, relocate, CO-RE-relocate and load it with the
 * verifier log, optionally test-run it, and store every decision. Rejected
 * programs are results, not errors. Every fd is closed before returning.
 */
export async function recordObject(db: TraceDb, path: string, opts: RecordOptions = {}): Promise<ProgramOutcome[]> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new BpfscopeError(`cannot read object: ${err instanceof Error ? err.message : String(err)}`, path);
  }
  const obj = parseObject(bytes, path);
  const logLevel = opts.logLevel ?? 6;
  const chosen = selectPrograms(obj, opts.programs ?? [], path);
  opts.onProgress?.({ event: 'object', path, programs: chosen.map((p) => p.name) });

  writeRecordedKernel(db);
  const objectId = Number(
    db
      .prepare('INSERT INTO objects(path, sha256, bytes) VALUES (?,?,?)')
      .run(path, createHash('sha256').update(bytes).digest('hex'), bytes).lastInsertRowid,
  );

  const fds = new FdSet();
  const outcomes: ProgramOutcome[] = [];
  const loader = new StreamingProgLoader();
  if (logLevel > 0) loader.warm();
  try {
    // __kconfig externs: filled from the running kernel's config into the .kconfig map.
    const kcSec = obj.data.find((d) => d.kind === 'kconfig');
    const contents = new Map<string, Uint8Array>();
    let kconfigOffsets = new Map<string, number>();
    const kconfigErrors: string[] = [];
    const kconfigRows: ExternRow[] = [];
    const filled = hostKconfig(obj);
    if (kcSec && filled) {
      contents.set(kcSec.name, filled.bytes);
      kconfigOffsets = filled.offsets;
      for (const d of filled.decisions) {
        const e = obj.externs.find((x) => x.name === d.name);
        kconfigRows.push({ objectId, name: d.name, kind: 'kconfig', weak: e?.weak ?? false, value: d.written, error: d.error });
        if (d.error) kconfigErrors.push(d.error);
      }
    }
    // BTF once per object: every program and map of it refers to the same type ids.
    let btfFd: number | undefined;
    let btfError: string | undefined;
    let staticVars = new Set<string>();
    const btfSec = obj.elf.sections.find((s) => s.name === '.BTF');
    if (btfSec && obj.btf) {
      let sanitized;
      try {
        const kc = contents.get('.kconfig');
        sanitized = sanitizeBtf(btfSec.data, obj.elf, kc ? { offsets: kconfigOffsets, size: kc.length } : undefined);
      } catch (err) {
        // Offsets from the sanitizer are inside .BTF; name the file and the file offset.
        if (err instanceof BpfscopeError && err.where && 'offset' in err.where) {
          throw new BpfscopeError(err.message, path, { offset: btfSec.offset + err.where.offset });
        }
        throw inFile(err, path);
      }
      staticVars = sanitized.staticVars;
      const r = loadBtf(sanitized.bytes);
      if (r.fd !== undefined) btfFd = fds.own(r.fd);
      else btfError = `BPF_BTF_LOAD failed: ${r.errnoName}${r.log ? `: ${lastLine(r.log)}` : ''}`;
      insertBtf(db, objectId, sanitized.bytes, sanitized.fixes, r.fd !== undefined, btfError);
    }
    const externs = resolveExterns(obj, fds);
    for (const e of externs.values()) {
      insertExtern(db, { objectId, name: e.name, kind: e.kind, weak: e.weak, btfId: e.btfId, btfObj: e.btfObj, value: e.typeless?.decision, error: e.error });
      if (e.typeless?.decision.includes('every address as 0')) {
        const text = `extern '${e.name}': ${e.typeless.decision}`;
        insertWarning(db, objectId, text);
        opts.onWarning?.(text);
        opts.onProgress?.({ event: 'warning', text });
      }
    }
    for (const row of kconfigRows) insertExtern(db, row);
    // libbpf resolves every kfunc and ksym extern of the object before it creates a map or
    // loads any program, and fails the whole object on the first strong one the kernel lacks
    // (in name order, as it sorts its externs): no program of it loads, whether it calls that
    // kfunc or not. So do we, naming each missing extern once. A typeless ksym fails it when
    // kallsyms cannot resolve it (strong and not listed, or, weak or not, listed at two addresses).
    const blocking = [...externs.values()]
      .filter((e) => (e.typeless ? e.error !== undefined : !e.weak && e.btfId === undefined))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const missingExterns = blocking.map((e) => e.error ?? `extern '${e.name}' not found in kernel BTF`);
    // libbpf 1.1 reads kallsyms, then kernel BTF (either failing: -EINVAL), and only then fails a
    // strong extern left unresolved with -ESRCH: ESRCH when that is all that is wrong.
    const missingExternsErrno = blocking.length > 0 && blocking.every((e) => e.errno === 3) ? 3 : 22;
    if (btfError) {
      insertWarning(db, objectId, `the kernel refused the object's BTF (${btfError}); programs load without it: no source lines in the log, no BTF-typed maps`);
      const text = `the kernel refused the object's BTF (${btfError}); loading without it`;
      opts.onWarning?.(text);
      opts.onProgress?.({ event: 'warning', text });
    }
    const fdArray = moduleFdArray(externs);
    const coreTargets = lazyCoreTargets();
    const objName = objectName(path);

    for (const [index, prog] of chosen.entries()) {
      opts.onProgress?.({ event: 'loading', program: prog.name, index, total: chosen.length });
      const out = await recordProgram(db, {
        obj, objectId, objName, prog, logLevel, btfFd, btfError, staticVars, externs, fdArray, coreTargets, opts, loader,
        contents, kconfigOffsets, kconfigErrors, missingExterns, missingExternsErrno,
      });
      outcomes.push(out);
      opts.onProgress?.({
        event: 'program', program: prog.name, index, total: chosen.length, verdict: out.verdict, errno: out.errno,
        error: out.error, processedInsns: out.stats.processedInsns ?? null, logBytes: out.logBytes, retval: out.retval,
      });
    }
  } finally {
    fds.closeAll();
    await loader.close();
  }
  const accepted = outcomes.filter((o) => o.verdict === 'accepted').length;
  opts.onProgress?.({ event: 'done', programs: outcomes.length, accepted, rejected: outcomes.length - accepted });
  return outcomes;
}

function selectPrograms(obj: BpfObject, names: string[], path: string): BpfProgram[] {
  if (names.length === 0) return obj.programs;
  return names.map((n) => {
    const p = obj.programs.find((x) => x.name === n);
    if (!p) throw new BpfscopeError(`no program '${n}' (programs: ${obj.programs.map((x) => x.name).join(', ') || 'none'})`, path);
    return p;
  });
}

function lazyCoreTargets(): () => CoreTarget[] {
  let t: CoreTarget[] | undefined;
  return () => (t ??= [{ name: 'vmlinux', btf: vmlinuxBtf() }, ...moduleBtfNames().map((name) => ({ name, btf: moduleBtf(name) }))]);
}

async function recordProgram(db: TraceDb, j: ProgramJob): Promise<ProgramOutcome> {
  const { prog, obj } = j;
  const programId = Number(
    db
      .prepare('INSERT INTO programs(object_id, name, section, prog_type, origin, log_level, created_at) VALUES (?,?,?,?,?,?,?)')
      .run(j.objectId, prog.name, prog.section, prog.progType ?? null, 'record', j.logLevel, new Date().toISOString()).lastInsertRowid,
  );
  const finish = (o: Omit<ProgramOutcome, 'programId' | 'program'>, insns?: Uint8Array): ProgramOutcome => {
    const s = o.stats;
    db.prepare(
      `UPDATE programs SET verdict=?, errno=?, error=?, processed_insns=?, max_states_per_insn=?, total_states=?, peak_states=?,
        mark_read=?, verification_time_us=?, stack_depth=?, insns=? WHERE id=?`,
    ).run(
      o.verdict, o.errno, o.error, s.processedInsns ?? null, s.maxStatesPerInsn ?? null, s.totalStates ?? null, s.peakStates ?? null,
      s.markRead ?? null, s.verificationTimeUs ?? null, s.stackDepth ?? null, insns ? Buffer.from(insns) : null, programId,
    );
    return { programId, program: prog.name, ...o };
  };
  const reject = (errno: number | null, error: string): ProgramOutcome =>
    finish({ verdict: 'rejected', errno, error, stats: {}, logBytes: 0 });

  if (!prog.known || prog.progTypeId === undefined) {
    return reject(22, `section '${prog.section}' names no program type libbpf knows; bpfscope cannot tell the kernel what '${prog.name}' is`);
  }
  const mapFds = new FdSet();
  try {
    // Maps, fresh for this program.
    const maps = createObjectMaps(obj, j.objName, j.btfFd, j.staticVars, mapFds, j.contents);
    for (const m of maps) recordMap(db, j.objectId, programId, m);
    const badMap = maps.find((m) => m.fd === undefined);

    const prep = prepareProgram(j, prog, maps);
    if ('error' in prep) return reject(22, prep.error);
    const { linked, decisions, reloc } = prep;
    if (decisions.length > 0) insertCoreRelos(db, programId, decisions);
    const rows: RelocationRow[] = [
      ...linked.functions.slice(1).map((f) => ({ insnIdx: f.start, kind: 'subprog', symbol: f.name, target: `appended at ${f.start} (${f.insnCount} insns)` })),
      ...reloc.applied,
      ...decisions.map((d) => ({
        insnIdx: d.insnIdx,
        kind: d.poisoned ? 'poison' : 'core',
        symbol: `${d.localType} ${d.accessStr}`,
        target: d.poisoned ? `no candidate: instruction poisoned${d.error ? ` (${d.error})` : ''}` : `${d.kind} = ${d.value}`,
        value: d.value,
      })),
      ...slotRows(maps),
    ];
    insertRelocations(db, programId, rows);
    db.transaction(() => {
      insertLineInfo(db, programId, linked.lineInfo.map((l) => ({ insnIdx: l.linkedIdx, file: l.fileName, lineNum: l.lineNum, col: l.column, line: l.line })));
      const fi = new Map(linked.funcInfo.map((f) => [f.insnIdx, f.typeId]));
      insertFunctions(db, programId, linked.functions.map((f) => ({ ...f, btfFuncId: fi.get(f.start) })));
    })();
    const insnBytes = encodeRaw(reloc.insns);
    const blocked = loadBlocker(j, linked, reloc, maps);
    if (blocked) return finish({ verdict: 'rejected', errno: blocked.errno, error: blocked.error, stats: {}, logBytes: 0 }, insnBytes);

    // Tracing, LSM and iterator programs name the kernel function they attach to by BTF id; struct_ops ones the struct and member.
    const attach = resolveAttach(prog, obj);
    if (attach.row) insertRelocations(db, programId, [attach.row]);
    if (attach.error) return finish({ verdict: 'rejected', errno: attach.errno ?? 3, error: attach.error, stats: {}, logBytes: 0 }, insnBytes);

    // The programs prog arrays' initial slots name load with this one, in the object's order
    // (see prog-array.ts): those before it first; one the kernel refuses fails the load.
    const companions = new Companions(j, prog, maps, mapFds);
    const early = companions.loadBefore();
    insertRelocations(db, programId, companions.takeRows());
    if (early) {
      return finish({ verdict: 'rejected', errno: early.errno, error: early.error, stats: {}, logBytes: 0 }, insnBytes);
    }
    const packer = new StreamingLogPacker();
    const t0 = performance.now();
    // The verifier analysis reads the log while the kernel writes it (see StreamingProgLoader).
    const res = await j.loader.load(
      { ...loadRequest(j, prog, linked, insnBytes, attach, j.logLevel), initialLogSize: j.opts.initialLogSize },
      (chunks) => analyzeLog(db, programId, packing(chunks, packer)),
    );
    const loadMs = res.kernelMs;
    if (res.fd !== undefined) mapFds.own(res.fd);
    const logTail = res.log.subarray(Math.max(0, res.log.length - 4096)).toString('utf8');
    const stats = parseLogStats(logTail);
    // The raw bytes, compressed on the thread pool; the analysis again if what it streamed was not the final log.
    const stored = storeLog(db, programId, res, packer);
    const analysis = res.streamed ? Promise.resolve() : analyzeLog(db, programId, res.log);
    await Promise.all([stored, analysis]);
    const storeMs = performance.now() - t0 - loadMs; // what the log's storage and analysis added after the kernel was done
    if (res.fd === undefined) {
      let error = closingError(logTail) ?? `BPF_PROG_LOAD failed: ${res.errnoName} (${res.errnoText})${j.btfError ? `; ${j.btfError}` : ''}`;
      if (res.errno === 11) {
        // The verifier gives up with EAGAIN when a signal is pending (a profiler's
        // SIGPROF, a terminal resize): not a verdict on the program.
        error = `BPF_PROG_LOAD was interrupted by signals (EAGAIN on every try: the verifier stops when one is pending${stats.processedInsns !== undefined ? `, last after ${stats.processedInsns} instructions` : ''}); not a verdict on the program: record again without a profiler or tracer sending signals to the recorder`;
      }
      if (res.errno === 1 && res.log.length === 0) {
        // EPERM with no log although the probe found the capabilities: a policy, not a verdict.
        error += `: this kernel refuses ${prog.progType} programs to this process (kernel lockdown, an LSM, or a sysctl); the verifier never ran`;
      }
      if (res.errno === 524 && prog.progType === 'struct_ops' && attach.attachBtfId === undefined) {
        // The kernel needs the struct and member to check a struct_ops program against (see resolveStructOps).
        error += `: no .struct_ops variable of the object points at '${prog.name}', so the load named no kernel struct for it (nor does libbpf's)`;
      }
      // The verifier reached an instruction poisoned for an unresolvable CO-RE relocation: say which.
      const poisoned = decisions.find((d) => d.poisoned && logTail.includes(`${d.insnIdx}: (85) call unknown#${CORE_POISON_IMM}`));
      if (poisoned) {
        error = `instruction ${poisoned.insnIdx}: CO-RE relocation ${poisoned.kind} of ${poisoned.localSpec} found no match in kernel BTF (${poisoned.candidates.length} candidate${poisoned.candidates.length === 1 ? '' : 's'} considered), so the instruction was poisoned and the verifier reached it: ${error}`;
      }
      return finish({ verdict: 'rejected', errno: res.errno ?? null, error, stats, logBytes: res.log.length, loadMs, storeMs, logStreamed: res.streamed }, insnBytes);
    }
    const loaded = { stats, logBytes: res.log.length, loadMs, storeMs, logStreamed: res.streamed };
    // The rest of the programs prog arrays name, then their slots (libbpf: bpf_object_init_prog_arrays).
    const late = companions.loadAfter(res.fd);
    insertRelocations(db, programId, companions.takeRows());
    if (late) return finish({ verdict: 'rejected', errno: late.errno, error: late.error, ...loaded }, insnBytes);
    const outcome: Omit<ProgramOutcome, 'programId' | 'program'> = { verdict: 'accepted', errno: null, error: null, ...loaded };
    if (j.opts.run) {
      const run = runAndDump(res.fd, prog, maps, j.opts);
      insertTestRun(db, programId, run);
      if (run.retval !== undefined) outcome.retval = run.retval;
      if (run.durationNs !== undefined) outcome.durationNs = run.durationNs;
    }
    return finish(outcome, insnBytes);
  } finally {
    mapFds.closeAll();
  }
}

/** The chunks, also fed to the packer on their way to the analysis. */
async function* packing(chunks: AsyncIterable<Uint8Array>, packer: StreamingLogPacker): AsyncGenerator<Uint8Array> {
  for await (const c of chunks) {
    packer.write(c);
    yield c;
  }
}

/** The raw log as compressed during the load when that was the whole final log, else compressed now. */
async function storeLog(db: TraceDb, programId: number, res: { log: Buffer; logSizes: number[]; streamed: boolean }, packer: StreamingLogPacker): Promise<void> {
  if (res.streamed) {
    const { size, packed } = await packer.finish();
    if (size === res.log.length) {
      insertPackedProgramLog(db, programId, size, packed, res.logSizes);
      return;
    }
  } else {
    packer.discard();
  }
  await insertProgramLog(db, programId, res.log, res.logSizes);
}

/** Hand the log to the verifier analysis; a log it cannot digest still keeps its raw bytes. */
async function analyzeLog(db: TraceDb, programId: number, log: Buffer | AsyncIterable<Uint8Array>): Promise<void> {
  try {
    await writeVerifierLog(db, programId, Buffer.isBuffer(log) ? log.toString('utf8') : log);
  } catch (err) {
    db.prepare("UPDATE programs SET error = COALESCE(error, ?) WHERE id = ?").run(
      `verifier log analysis failed: ${err instanceof Error ? err.message : String(err)}`, programId,
    );
  }
}

function recordMap(db: TraceDb, objectId: number, programId: number, m: CreatedMap): void {
  insertMap(db, {
    objectId,
    programId,
    name: m.name,
    section: m.kind === 'btf' ? '.maps' : m.source,
    kind: m.kind,
    mapType: m.attrs.mapType,
    mapTypeName: mapTypeName(m.attrs.mapType),
    keySize: m.attrs.keySize,
    valueSize: m.attrs.valueSize,
    maxEntries: m.attrs.maxEntries,
    mapFlags: m.attrs.mapFlags,
    btfKeyTypeId: m.attrs.btfKeyTypeId,
    btfValueTypeId: m.attrs.btfValueTypeId,
    initial: m.initial,
    frozen: m.frozen,
    errno: m.errno,
    error: m.error,
    note: m.note,
  });
}

function lastLine(s: string): string {
  const lines = s.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}
