import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { StepState, TraceInfo } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';
import { openTrace } from '../../../main/trace/db';
import { damageWarning } from '../../../main/trace/health';
import { runSummaries } from '../../../main/trace/load';
import { readLogLines, stepCount } from '../../../main/trace/verifierRead';

/**
 * A trace being written (WAL journal, as createTrace sets it) is read by
 * another process at the same time: openTrace read-only with its checks,
 * and the API session the app and the browser host use. No SQLITE_BUSY, no
 * damage reported, and every program the writer finished is seen whole.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const LOG = path.join(ROOT, 'test/fixtures/logs/list.list_push.log');
const COUNT = 12;
const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-wal-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a trace read while it is written', () => {
  it(`${COUNT} imports appended by a writer process while the CLI's readers and the API read it: no SQLITE_BUSY`, async () => {
    const trace = path.join(dir, 'live.trace');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/traceWriter.ts'), trace, LOG, String(COUNT)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let done = 0;
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (done = Math.max(done, ...[...b.toString().matchAll(/done (\d+)/g)].map((m) => Number(m[1])))));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    let finished = false;
    void exited.then(() => (finished = true));

    let reads = 0;
    let whileWriting = 0;
    let lastSeen = 0;
    const steps = new Set<number>();
    while (!finished || reads === 0) {
      const finishedBefore = done;
      await new Promise((r) => setTimeout(r, 20));
      let db;
      try {
        db = openTrace(trace);
      } catch (err) {
        // Before the writer's first commit the file is not a trace yet: that is the one refusal allowed.
        if (finishedBefore === 0 && /not a bpfscope trace|no such trace file|not an SQLite file/.test(String(err))) continue;
        throw err;
      }
      try {
        // Readers never wait for the writer only in WAL mode (a rollback journal would make them, or the writer, busy).
        expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
        expect(damageWarning(db)).toBeUndefined();
        const progs = runSummaries(db);
        // Programs the writer said it finished are all there, with their whole log.
        expect(progs.length).toBeGreaterThanOrEqual(finishedBefore);
        for (let id = 1; id <= finishedBefore; id++) {
          steps.add(stepCount(db, id));
          expect(readLogLines(db, id, 1, 5).length).toBe(5);
        }
      } finally {
        db.close();
      }
      // The API session (what the app and the browser host run) on the same file.
      const { dispatch, close } = createHandlers();
      try {
        const info = (await dispatch('trace:open', [trace])) as TraceInfo;
        expect(info.damage).toBeUndefined();
        const whole = info.programs.filter((p) => p.steps > 0);
        expect(whole.length).toBeGreaterThanOrEqual(finishedBefore);
        lastSeen = Math.max(lastSeen, whole.length);
        if (whole.length) {
          const p = whole[whole.length - 1];
          const st = (await dispatch('steps:state', [info.traceId, p.id, p.steps - 1])) as StepState;
          expect(st.step).toBe(p.steps - 1);
        }
      } finally {
        close();
      }
      reads++;
      if (!finished) whileWriting++;
    }
    expect(await exited, stderr).toBe(0);
    expect(done).toBe(COUNT);
    // The reads overlapped the writing, and every import gave the same log.
    expect(whileWriting).toBeGreaterThan(2);
    expect(steps.size).toBe(1);
    console.log(`wal: ${reads} reads (${whileWriting} while the writer wrote), programs seen up to ${lastSeen} of ${COUNT}`);
  });
});
