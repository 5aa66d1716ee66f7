/**
 * The reference side of bpfscope's tests: test/ref/refload.c loads one
 * program of an object with libbpf and reports the kernel's verdict, its
 * verifier log, BPF_PROG_TEST_RUN's result and the maps afterwards. Tests
 * compare what bpfscope computes with what this returns.
 *
 * refload is compiled with gcc against libbpf-dev into a cache directory
 * under os.tmpdir(), keyed by a hash of its sources, so an edit rebuilds it.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const PROGS_DIR = path.join(REPO_ROOT, 'resources/progs');
export const REF_DIR = path.join(REPO_ROOT, 'test/ref');
export const FIXTURE_LOGS_DIR = path.join(REPO_ROOT, 'test/fixtures/logs');

/**
 * The packet BPF_PROG_TEST_RUN gets when none is given: 64 bytes of
 * Ethernet/IPv4/UDP, parsed from test/ref/packet.h, the one place it is
 * defined (refload.c compiles the same array in).
 */
export const DEFAULT_PACKET: Uint8Array = parsePacketHeader(
  readFileSync(path.join(REF_DIR, 'packet.h'), 'utf8'),
);

function parsePacketHeader(text: string): Uint8Array {
  const body = /default_packet\[\d*\]\s*=\s*\{([^}]*)\}/.exec(text);
  if (!body) throw new Error('test/ref/packet.h: no default_packet array');
  const bytes = [...body[1].matchAll(/0x([0-9a-fA-F]{2})/g)].map((m) => parseInt(m[1], 16));
  return Uint8Array.from(bytes);
}

export interface RefMapEntry {
  /** Key bytes, lowercase hex. */
  key: string;
  /** Value bytes, lowercase hex (per-CPU maps: every CPU's copy, 8-byte aligned). */
  value: string;
}

export interface RefLoadOptions {
  /** Verifier log level (default 2). */
  logLevel?: number;
  /** BPF_PROG_TEST_RUN after an accepted load. */
  run?: boolean;
  /** Packet for the run (default DEFAULT_PACKET). */
  data?: Uint8Array;
  /** Repetitions for the run (default 1); duration is the average. */
  repeat?: number;
  /** Dump every map after the run (or after the load when not running). */
  dumpMaps?: boolean;
  /**
   * Write the log to this file instead of returning it in `log` (for the
   * benchmark's 100 MB logs); `log` is then ''.
   */
  logOut?: string;
  /** First log buffer size in bytes (default 16 MiB; doubles on ENOSPC). */
  logBufSize?: number;
}

export interface RefResult {
  object: string;
  program: string;
  logLevel: number;
  verdict: 'accepted' | 'rejected';
  /** errno of the load (0 when accepted): EACCES, EINVAL, ... */
  errno: number;
  /** The verifier log exactly as the kernel wrote it (unless opts.logOut). */
  log: string;
  /** Length of the log in bytes. */
  logSize: number;
  /** Loads tried: the log buffer doubles after each ENOSPC. */
  logAttempts: number;
  /** BPF_PROG_TEST_RUN's return value, as the kernel reports it (u32). */
  retval?: number;
  /** Average run time per repetition in ns. */
  duration?: number;
  /** errno of BPF_PROG_TEST_RUN when the run itself failed. */
  runErrno?: number;
  /** The packet after the run. */
  dataOut?: Uint8Array;
  /** Every iterable map, by libbpf's map name (".data.rb", "globals.bss"). */
  maps?: Record<string, RefMapEntry[]>;
  /** Maps not dumped, with the reason. */
  skippedMaps?: Record<string, string>;
}

interface RefJson {
  object: string;
  program: string;
  log_level: number;
  verdict: 'accepted' | 'rejected';
  errno: number;
  log_size: number;
  log_attempts: number;
  retval?: number;
  duration?: number;
  run_errno?: number;
  data_out?: string;
  maps?: Record<string, RefMapEntry[]>;
  skipped_maps?: Record<string, string>;
}

let built: Promise<string> | undefined;

/** Path of the refload binary, compiling it first if its sources changed. */
export function refloadPath(): Promise<string> {
  built ??= buildRefload();
  return built;
}

async function buildRefload(): Promise<string> {
  const sources = ['refload.c', 'packet.h'].map((f) => readFileSync(path.join(REF_DIR, f)));
  const hash = createHash('sha256');
  for (const s of sources) hash.update(s);
  const dir = path.join(os.tmpdir(), 'bpfscope-refload');
  const bin = path.join(dir, `refload-${hash.digest('hex').slice(0, 16)}`);
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  // Compile to a private name, then rename: parallel test workers may
  // build at the same time and must never run a half-written binary.
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    await run('gcc', ['-O2', '-Wall', '-o', tmp, path.join(REF_DIR, 'refload.c'), '-lbpf']);
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`building test/ref/refload.c failed (gcc and libbpf-dev needed): ${err.stderr ?? err.message}`);
  }
  renameSync(tmp, bin);
  return bin;
}

function fromHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * Loads `prog` from `obj` (a path; relative paths are taken from
 * resources/progs) with libbpf and returns what the kernel said. A rejected
 * program is a normal result (verdict 'rejected'), not an exception; only a
 * refload failure (no such object or program) throws.
 */
export async function refLoad(obj: string, prog: string, opts: RefLoadOptions = {}): Promise<RefResult> {
  const bin = await refloadPath();
  const objPath = path.isAbsolute(obj) ? obj : path.join(PROGS_DIR, obj);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-ref-'));
  try {
    const logPath = opts.logOut ?? path.join(work, 'log');
    const jsonPath = path.join(work, 'result.json');
    const args = [objPath, '-p', prog, '--log-level', String(opts.logLevel ?? 2), '--log-out', logPath, '--json-out', jsonPath];
    if (opts.logBufSize !== undefined) args.push('--log-size', String(opts.logBufSize));
    if (opts.run) args.push('--run', '--repeat', String(opts.repeat ?? 1));
    if (opts.data) {
      const dataPath = path.join(work, 'packet');
      writeFileSync(dataPath, opts.data);
      args.push('--data', dataPath);
    }
    if (opts.dumpMaps) args.push('--dump-maps');
    try {
      await run(bin, args, { maxBuffer: 16 << 20 });
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      throw new Error(`refload ${obj} -p ${prog}: ${(err.stderr ?? err.message).trim()}`);
    }
    const j = JSON.parse(readFileSync(jsonPath, 'utf8')) as RefJson;
    const result: RefResult = {
      object: j.object,
      program: j.program,
      logLevel: j.log_level,
      verdict: j.verdict,
      errno: j.errno,
      log: opts.logOut ? '' : readFileSync(logPath, 'utf8'),
      logSize: j.log_size,
      logAttempts: j.log_attempts,
    };
    if (j.retval !== undefined) result.retval = j.retval;
    if (j.duration !== undefined) result.duration = j.duration;
    if (j.run_errno !== undefined) result.runErrno = j.run_errno;
    if (j.data_out !== undefined) result.dataOut = fromHex(j.data_out);
    if (j.maps) result.maps = j.maps;
    if (j.skipped_maps) result.skippedMaps = j.skipped_maps;
    return result;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface ExampleProgram {
  /** Object file name in resources/progs, e.g. "list.bpf.o". */
  object: string;
  /** Absolute path of the object. */
  objectPath: string;
  program: string;
  /** ELF section of the program, e.g. "tc". */
  section: string;
  expect: 'accepted' | 'rejected';
  /** Whether BPF_PROG_TEST_RUN runs it (accepted tc programs). */
  run: boolean;
  description: string;
  /** Level-2 verifier log fixture: test/fixtures/logs/<object>.<program>.log */
  logFixture: string;
}

interface Manifest {
  programs: Omit<ExampleProgram, 'objectPath' | 'logFixture'>[];
}

/** Every program of every committed example object (resources/progs/manifest.json). */
export function examplePrograms(): ExampleProgram[] {
  const manifest = JSON.parse(readFileSync(path.join(PROGS_DIR, 'manifest.json'), 'utf8')) as Manifest;
  return manifest.programs.map((p) => ({
    ...p,
    objectPath: path.join(PROGS_DIR, p.object),
    logFixture: path.join(FIXTURE_LOGS_DIR, `${p.object.replace(/\.bpf\.o$/, '')}.${p.program}.log`),
  }));
}

/**
 * A verifier log with what legitimately changes between two loads on the same
 * kernel masked, for comparing two live loads (bpfscope's and libbpf's): the
 * kernel address an ld_imm64 of a map, a map value or a ksym prints (a new
 * map each load; 6.18's direct map starts 0xffff…, 6.12's in a VM may start
 * 0xff40…) becomes 0xADDR, and `verification time N usec` loses its number.
 * Everything else is the kernel's own deterministic text and stays: scalar
 * bounds that look like addresses (`umax=0xffffffff00000000`), state counts,
 * and kfunc BTF ids, which are the running kernel's in both logs. A committed
 * fixture log is another build's and is never compared with a live one.
 */
export function normalizeLog(log: string): string {
  return log
    .replace(/(\(18\) r\d+ = )0x[0-9a-f]{16}\b/g, '$10xADDR')
    .replace(/^verification time \d+ usec$/gm, 'verification time N usec');
}

const benchBuilds = new Map<number, Promise<string>>();

/**
 * resources/progs/bench/loop.bpf.c built with LOOP_ITERS=iters (program
 * `bench_loop`), cached under os.tmpdir() by iteration count and source
 * hash. Needs clang-19, make and bpftool (for vmlinux.h when missing).
 * On 6.18, 6000 iterations give a ~112 MB level-2 log, 2200 about 40 MB.
 */
export function benchLoopObject(iters: number): Promise<string> {
  let p = benchBuilds.get(iters);
  if (!p) {
    p = buildBenchLoop(iters);
    benchBuilds.set(iters, p);
  }
  return p;
}

async function buildBenchLoop(iters: number): Promise<string> {
  if (!Number.isInteger(iters) || iters < 1) throw new Error(`benchLoopObject: bad iteration count ${iters}`);
  const hash = createHash('sha256');
  for (const f of ['bench/loop.bpf.c', 'bpfscope.h', 'Makefile']) hash.update(readFileSync(path.join(PROGS_DIR, f)));
  const dir = path.join(os.tmpdir(), 'bpfscope-bench-loop');
  const out = path.join(dir, `loop-${iters}-${hash.digest('hex').slice(0, 12)}.bpf.o`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.o`;
  await run('make', ['-s', '-C', PROGS_DIR, 'bench-loop', `ITERS=${iters}`, `OUT=${tmp}`]);
  renameSync(tmp, out);
  return out;
}

/**
 * resources/progs/vmlinux.h (gitignored), generated from the running
 * kernel's BTF by the Makefile when missing. For tests that compile their
 * own BPF C against bpfscope.h. Returns its path.
 */
export function ensureVmlinuxHeader(): string {
  const file = path.join(PROGS_DIR, 'vmlinux.h');
  if (!existsSync(file)) execFileSync('make', ['-s', '-C', PROGS_DIR, 'vmlinux.h'], { stdio: 'pipe' });
  return file;
}
