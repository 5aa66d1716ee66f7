import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tempPathFor } from '../../../main/trace/atomic';
import { openTrace } from '../../../main/trace/db';
import { runSummaries } from '../../../main/trace/load';
import { rng } from '../../helpers/fuzz';
import { kernelSkipReason, kernelTimeout, kernelTitle, MATRIX_ENV } from '../../helpers/kernel';
import { objectUnsupported } from '../../helpers/support';
import { FIXTURE_LOGS_DIR, PROGS_DIR, REPO_ROOT } from '../../helpers/ref';

/**
 * `record`, `import` and `run -o` killed (SIGKILL) at 20 seeded random moments each
 * while they write: the target is then either the old trace, byte for byte,
 * or a complete new one (it opens, and its runs are those of a run that was
 * not interrupted). The moments are drawn over the write itself: from when
 * the temporary file appears to a little past the end of a full run.
 */
const BIN = path.join(REPO_ROOT, 'main/bin.mjs');
const KILLS = 20;
/**
 * In the kernel matrix (test/kernels/matrix.ts) record's kill test runs on
 * every kernel to show that recording there writes atomically too; the
 * writing is the same code on every kernel, and 20 records of list.bpf.o take
 * over 5 minutes in a TCG guest, so there it is 5 kills (20 in npm test).
 */
const RECORD_KILLS = process.env[MATRIX_ENV] ? 5 : KILLS;
const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bpfscope-kill-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Run the CLI; `onTemp` is called (with the ms since spawn) when its temporary file for `target` appears. */
function cli(args: string[], target: string, onTemp?: (kill: (sig?: NodeJS.Signals) => void) => void): Promise<Exit & { tempAt: number | null; ms: number }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  const tmp = tempPathFor(target, child.pid);
  let tempAt: number | null = null;
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const poll = setInterval(() => {
    if (tempAt === null && existsSync(tmp)) {
      tempAt = performance.now() - t0;
      onTemp?.((sig = 'SIGKILL') => child.kill(sig));
    }
  }, 5);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(poll);
      resolve({ code, signal, stderr, tempAt, ms: performance.now() - t0 });
    });
  });
}

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** What a reader sees: the runs, and for an imported log how many steps each program has. */
function contents(file: string): string {
  const db = openTrace(file);
  try {
    const steps = db.prepare('SELECT program_id, step_count FROM verifier_logs ORDER BY program_id').all();
    return JSON.stringify({ runs: runSummaries(db), steps });
  } finally {
    db.close();
  }
}

function tempsOf(target: string): string[] {
  const base = path.basename(target);
  return readdirSync(path.dirname(target)).filter((n) => n.startsWith(`.${base}.`) && /\.tmp(-wal|-shm|-journal)?$/.test(n));
}

/**
 * The kill test of one command: a full run for reference (its contents and
 * the length of its write), then KILLS runs killed at seeded moments, each
 * on a fresh copy of the old trace.
 */
async function killTest(name: string, args: (target: string) => string[], old: string, seed: number, kills = KILLS): Promise<string> {
  const target = path.join(dir, `${name}.trace`);
  const oldSha = sha(old);
  const oldContents = contents(old);
  copyFileSync(old, target);
  const full = await cli(args(target), target);
  expect(full.code, full.stderr).toBe(0);
  expect(full.tempAt).not.toBeNull();
  const newContents = contents(target);
  expect(newContents).not.toBe(oldContents);
  const window = full.ms - (full.tempAt ?? 0);
  const next = rng(seed);
  const outcomes = { old: 0, new: 0 };
  const killedWhileWriting: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < kills; i++) {
    rmSync(target, { force: true });
    for (const c of ['-wal', '-shm']) rmSync(target + c, { force: true });
    copyFileSync(old, target);
    // Up to 40% past the reference run's end, so that some kills come after the rename
    // (a run under load takes longer than the reference did).
    const fraction = ((next() % 10_000) / 10_000) * 1.4;
    const r = await cli(args(target), target, (kill) => setTimeout(() => kill(), fraction * window));
    if (r.signal === 'SIGKILL') killedWhileWriting.push(Math.round(fraction * 100));
    else expect(r.code, r.stderr).toBe(0);
    if (existsSync(target) && sha(target) === oldSha) {
      expect(contents(target)).toBe(oldContents);
      outcomes.old++;
    } else {
      expect(contents(target), `kill ${i} at ${Math.round(fraction * 100)}% of the write`).toBe(newContents);
      outcomes.new++;
    }
  }
  expect(outcomes.old + outcomes.new).toBe(kills);
  expect(outcomes.old).toBeGreaterThan(0);
  // What the kills left behind is no trace anyone opens, and the next write clears it
  // (on the old trace again: run -o adds a run each time, where import replaces a program of the same name).
  copyFileSync(old, target);
  const after = await cli(args(target), target);
  expect(after.code, after.stderr).toBe(0);
  expect(tempsOf(target)).toEqual([]);
  expect(contents(target)).toBe(newContents);
  const perKill = (performance.now() - t0) / kills;
  return `${name}: ${outcomes.old} old, ${outcomes.new} new of ${kills} kills (${killedWhileWriting.length} while running), ` +
    `write ${Math.round(window)} ms after ${Math.round(full.tempAt ?? 0)} ms of start, ${Math.round(perKill)} ms per kill`;
}

/** A trace of one imported fixture: the "old" trace the kills must not lose (made once, for both tests). */
let oldMade: Promise<string> | undefined;
function oldTrace(): Promise<string> {
  oldMade ??= (async () => {
    const old = path.join(dir, 'old.trace');
    const r = await cli(['import', path.join(FIXTURE_LOGS_DIR, 'new_drop.new_drop.log'), '-o', old], old);
    expect(r.code, r.stderr).toBe(0);
    return old;
  })();
  return oldMade;
}

// The two run side by side: each spends most of its time waiting for a child process.
describe.concurrent('interrupted writes', () => {
  it(`import leaves the old trace or the complete new one, at ${KILLS} random kills`, async () => {
    // Several programs in one wrapped log (the runs list shows whether each made it), the largest fixtures among them.
    const logs = [
      'compute.count_bytes.log', '6.12/compute.count_bytes.log', 'list.list_mixed.log', 'rbtree.rbtree_add_remove.log',
      'nested.nested_drop.log', 'kptr.kptr_roundtrip.log',
    ];
    const big = path.join(dir, 'fixtures.log');
    writeFileSync(big, logs.map((l, i) =>
      `libbpf: prog 'p${i}': -- BEGIN PROG LOAD LOG --\n${readFileSync(path.join(FIXTURE_LOGS_DIR, l), 'utf8')}-- END PROG LOAD LOG --\n`).join(''));
    // Import adds to the trace: the copy of the old one is part of the write.
    const summary = await killTest('import', (t) => ['import', big, '-o', t], await oldTrace(), 0x13a);
    console.log(summary);
  }, 300_000);

  it.skipIf(kernelSkipReason())(kernelTitle(`record leaves the old trace or the complete new one, at ${RECORD_KILLS} random kills`), async () => {
    // Three programs with locks and lists; where the kernel lacks their kfuncs, compute's four.
    const list = path.join(PROGS_DIR, 'list.bpf.o');
    const obj = objectUnsupported(list) ? path.join(PROGS_DIR, 'compute.bpf.o') : list;
    const summary = await killTest('record', (t) => ['record', obj, '-o', t], await oldTrace(), 0x13b, RECORD_KILLS);
    console.log(summary);
  }, kernelTimeout(300_000));

  it(`run -o leaves the old trace or the complete new one, at ${KILLS} random kills`, async () => {
    // bpfscope's own machine, no kernel: a run with its instruction trace is added to a copy of the old trace.
    const obj = path.join(PROGS_DIR, 'compute.bpf.o');
    const summary = await killTest('run', (t) => ['run', obj, '-p', 'count_bytes', '--repeat', '3', '--trace-insns', '-o', t], await oldTrace(), 0x13c);
    console.log(summary);
  }, 300_000);

  it('SIGINT and SIGTERM in the middle of a write remove the temporary file and leave the old trace', async () => {
    const old = await oldTrace();
    const log = path.join(FIXTURE_LOGS_DIR, 'compute.count_bytes.log');
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const target = path.join(dir, `signal-${sig}.trace`);
      copyFileSync(old, target);
      const r = await cli(['import', log, '-o', target], target, (kill) => setTimeout(() => kill(sig), 20));
      // The signal ends the process as it would have without bpfscope's handler.
      expect([r.signal, r.code]).toEqual([sig, null]);
      expect(tempsOf(target)).toEqual([]);
      expect(sha(target)).toBe(sha(old));
    }
  }, 120_000);
});
