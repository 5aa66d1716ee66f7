import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataProcess } from '../../../main/app/dataProcess';

/**
 * The desktop app's trace data process (Electron main cannot load
 * better-sqlite3): `node main/bin.mjs serve --stdio` behind a small client.
 * Tested here with the system Node, as the app runs it.
 */
const ROOT = join(import.meta.dirname, '../../..');

describe('desktop data process', () => {
  it('answers calls, reports errors as sentences, and restarts after it died', async () => {
    const dp = new DataProcess(ROOT, process.execPath);
    try {
      const a = await dp.call('trace:default', []);
      const info = a.result as { traceId: number; programs: { id: number; name: string }[] };
      expect(info.programs.map((p) => p.name)).toContain('list_push');
      // Calls in flight at once come back to the right caller.
      const pid = info.programs[0].id;
      const [s0, s1, bad] = await Promise.all([
        dp.call('steps:state', [info.traceId, pid, 0]),
        dp.call('steps:state', [info.traceId, pid, 1]),
        dp.call('steps:state', [info.traceId, pid, 'one']),
      ]);
      expect((s0.result as { step: number }).step).toBe(0);
      expect((s1.result as { step: number }).step).toBe(1);
      expect(bad.error).toMatch(/whole number/);
      // Kill it under a pending call: the call fails with a sentence, the next one restarts it.
      const pending = dp.call('insns:listing', [info.traceId, pid]);
      dp.stop();
      const dead = await pending;
      expect(dead.error ?? '').toMatch(/trace data process exited|^$/);
      const again = await dp.call('trace:default', []);
      expect((again.result as { programs: unknown[] }).programs.length).toBe(info.programs.length);
    } finally {
      dp.stop();
    }
  }, 60_000);

  it('a Node that cannot start is a sentence, not a hang', async () => {
    const dp = new DataProcess(ROOT, '/nonexistent/node');
    const r = await dp.call('trace:default', []);
    expect(r.error).toMatch(/could not start '\/nonexistent\/node'/);
  });
});
