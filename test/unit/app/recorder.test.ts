import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Progress } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';
import { progressOf, runToTrace } from '../../../main/app/recorder';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { objectUnsupported } from '../../helpers/support';

/**
 * The desktop app records through `bpfscope record --progress` in a child
 * process: its JSON lines drive the progress bar, and the trace it writes
 * opens in the views with every program of the object.
 */
const ROOT = join(import.meta.dirname, '../../..');
// list.bpf.o where this kernel has its kfuncs, else compute.bpf.o (no kfuncs): the app's
// recording is tested with an object whose programs this kernel loads.
const LIST = join(ROOT, 'resources/progs/list.bpf.o');
const listMissing = kernelSkipReason() ? undefined : objectUnsupported(LIST);
const OBJ = listMissing ? join(ROOT, 'resources/progs/compute.bpf.o') : LIST;
const PROGRAMS = listMissing ? ['count_bytes', 'ip_checksum', 'loop_callback', 'parse_udp'] : ['list_mixed', 'list_pop', 'list_push'];

describe('a trace is never renamed over a device', () => {
  it('import -o /dev/null is one sentence, exit 1, and /dev/null stays a device', () => {
    const log = join(ROOT, 'test/fixtures/logs/new_drop.new_drop.log');
    const r = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'import', log, '-o', '/dev/null'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(/\/dev\/null.*is not a regular file/)]);
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
  });
});

describe('progress lines', () => {
  it('turns record events into a progress bar and ignores other lines', () => {
    expect(progressOf('{"event":"loading","program":"a","index":0,"total":3}', 'record')).toEqual({ phase: 'loading', done: 0, total: 3, message: 'a' });
    expect(progressOf('{"event":"program","program":"a","index":0,"total":3,"verdict":"accepted"}', 'record')).toEqual({ phase: 'program', done: 1, total: 3, message: 'a: accepted' });
    expect(progressOf('list_push: accepted, 88 insns processed', 'record')).toBeNull();
    expect(progressOf('42', 'record')).toBeNull();
    expect(progressOf('null', 'record')).toBeNull();
  });
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('recording from the app'), () => {
  it(`the real \`record --progress\` output drives the bar to the end; the trace opens with every program${listMissing ? ` (compute.bpf.o in place of list.bpf.o: ${listMissing})` : ''}`, async () => {
    // Never -o /dev/null: the trace is renamed over the target when complete.
    const sink = join(mkdtempSync(join(tmpdir(), 'bpfscope-progress-')), 'p.trace');
    const r = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'record', OBJ, '-o', sink, '--progress'], { encoding: 'utf8' });
    rmSync(dirname(sink), { recursive: true, force: true });
    const seen: Progress[] = [];
    const trace = await runToTrace(ROOT, 'record', OBJ, (p) => seen.push(p), process.execPath);
    const programs = r.stdout.split('\n').filter((l) => l.includes('"event":"program"')).length;
    const n = PROGRAMS.length;
    expect(programs).toBe(n);
    const done = seen.filter((p) => p.phase === 'program');
    expect(done.map((p) => p.done)).toEqual(PROGRAMS.map((_, i) => i + 1));
    expect(done.every((p) => p.total === n)).toBe(true);
    const h = createHandlers();
    try {
      const info = (await h.dispatch('trace:open', [trace])) as { programs: { name: string; verdict: string; steps: number }[] };
      expect(info.programs.map((p) => p.name).sort()).toEqual(PROGRAMS);
      for (const p of info.programs) {
        expect(p.verdict).toBe('accepted');
        expect(p.steps).toBeGreaterThan(0);
      }
    } finally {
      h.close();
      rmSync(dirname(trace), { recursive: true, force: true });
    }
  }, 120_000);

  it('a failing record is the CLI\'s sentence', async () => {
    await expect(runToTrace(ROOT, 'record', join(ROOT, 'package.json'), () => undefined, process.execPath)).rejects.toThrow(/package\.json/);
  }, 60_000);
});
