import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTimeout, kernelTitle } from '../../helpers/kernel';
import { benchLoopObject, REPO_ROOT } from '../../helpers/ref';

/**
 * The verifier returns EAGAIN when a signal is pending on the loading
 * thread. Under node's CPU profiler (SIGPROF every millisecond, to every
 * thread) a long verification never finishes: the recorder must say so,
 * not report the last instruction the verifier reached as the program's error.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f2-eagain-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!!kernelSkipReason())(kernelTitle('a load interrupted by signals'), () => {
  it('is reported as interrupted, with the advice to record without a profiler', async () => {
    const obj = await benchLoopObject(2200);
    const r = spawnSync(
      process.execPath,
      ['--cpu-prof', '--cpu-prof-interval', '200', '--cpu-prof-dir', work, path.join(REPO_ROOT, 'main/bin.mjs'), 'record', obj, '--log-level', '1', '-o', path.join(work, 't.trace')],
      { encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bench_loop: rejected.*interrupted by signals \(EAGAIN.*record again without a profiler/m);
  }, kernelTimeout(60_000));
});
