import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CfgGraph, CfgPath, TraceInfo } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';

/**
 * The app's `cfg:graph` and `cfg:path` channels answer what `bpfscope cfg
 * --json` prints for the same trace, through the handler table both hosts
 * dispatch to; a concrete run is refused with a sentence.
 */
const ROOT = join(import.meta.dirname, '../../..');
const BIN = join(ROOT, 'main/bin.mjs');
const cli = (...args: string[]): string => {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout;
};

const h = createHandlers();
const call = <T>(channel: string, ...args: unknown[]): Promise<T> => h.dispatch(channel, args) as Promise<T>;
let tmp = '';
let trace = '';
let info: TraceInfo;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'bpfscope-cfgapi-'));
  trace = join(tmp, 'cfg.trace');
  cli('import', join(ROOT, 'test/fixtures/logs/subprog.subprog_calls.log'), '--object', join(ROOT, 'resources/progs/subprog.bpf.o'), '-p', 'subprog_calls', '-o', trace);
  cli('run', join(ROOT, 'resources/progs/list.bpf.o'), '-p', 'list_mixed', '--trace-insns', '-o', trace);
  info = await call<TraceInfo>('trace:open', trace);
}, 120_000);
afterAll(() => {
  h.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('cfg channels', () => {
  it('cfg:graph is the CLI JSON, built once per program', async () => {
    const p = info.programs.find((x) => x.name === 'subprog_calls' && x.origin !== 'run')!;
    const g = await call<CfgGraph>('cfg:graph', info.traceId, p.id);
    expect(g).toEqual(JSON.parse(cli('cfg', trace, '-p', String(p.id), '--json')));
    expect(g.funcs.length).toBe(3);
    expect(g.edges.some((e) => e.kind === 'call')).toBe(true);
    // The cached view answers the same object again (the walk is not re-read).
    expect(await call<CfgGraph>('cfg:graph', info.traceId, p.id)).toBe(g);
  });

  it('cfg:path is the CLI --step JSON, and refuses a step past the end', async () => {
    const p = info.programs.find((x) => x.name === 'subprog_calls' && x.origin !== 'run')!;
    for (const step of [0, 5, p.steps - 1]) {
      const path = await call<CfgPath>('cfg:path', info.traceId, p.id, step);
      expect(path).toEqual(JSON.parse(cli('cfg', trace, '-p', String(p.id), '--json', '--step', String(step))));
    }
    await expect(call('cfg:path', info.traceId, p.id, p.steps)).rejects.toThrow(/no step/);
    await expect(call('cfg:path', info.traceId, p.id, -1)).rejects.toThrow(/step of cfg:path/);
  });

  it('a concrete run has no CFG: one sentence', async () => {
    const run = info.programs.find((x) => x.origin === 'run')!;
    await expect(call('cfg:graph', info.traceId, run.id)).rejects.toThrow(/concrete run has no verifier walk/);
  });
});
