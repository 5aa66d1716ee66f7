import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AllocEvent, InsnRow, RunResult, StepState, TraceInfo } from '../../../main/api/contract';
import { createHandlers } from '../../../main/api/handlers';
import { openTrace } from '../../../main/trace/db';
import { readInsnTrace } from '../../../main/trace/runtime';

/**
 * A concrete run (`bpfscope run --trace-insns`) through the handler table:
 * states equal the stored register trace (helper E's reader), the listing
 * equals `bpfscope disasm`, the result and the events equal `run --json`.
 */
const ROOT = join(import.meta.dirname, '../../..');
const OBJ = join(ROOT, 'resources/progs/list.bpf.o');
const bpfscope = (...args: string[]): string => execFileSync(process.execPath, [join(ROOT, 'main/bin.mjs'), ...args], { encoding: 'utf8' });

const h = createHandlers();
const call = <T>(channel: string, ...args: unknown[]): Promise<T> => h.dispatch(channel, args) as Promise<T>;
let tmp = '';
let trace = '';
let info: TraceInfo;
let runId = 0;
let verifiedId = 0;
let stored: ReturnType<typeof readInsnTrace> = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'bpfscope-run-'));
  trace = join(tmp, 'run.trace');
  bpfscope('import', join(ROOT, 'test/fixtures/logs/list.list_mixed.log'), '--object', OBJ, '-p', 'list_mixed', '-o', trace);
  bpfscope('run', OBJ, '-p', 'list_mixed', '--trace-insns', '--repeat', '2', '--free-maps', '-o', trace);
  info = await call<TraceInfo>('trace:open', trace);
  runId = info.programs.find((p) => p.origin === 'run')!.id;
  verifiedId = info.programs.find((p) => p.origin !== 'run')!.id;
  const db = openTrace(trace, { readonly: true });
  stored = readInsnTrace(db, runId, 1, 1_000_000);
  db.close();
}, 120_000);
afterAll(() => {
  h.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a concrete run in the handler table', () => {
  it('is a program of its own next to the verified one, with one step per executed insn', () => {
    expect(info.programs.map((p) => [p.name, p.origin === 'run'])).toEqual([
      ['list_mixed', false],
      ['list_mixed', true],
    ]);
    const run = info.programs.find((p) => p.id === runId)!;
    expect(run.verdict).toBe('ran');
    expect(run.steps).toBe(stored.length);
    expect(run.steps).toBeGreaterThan(100);
  });

  it('states: insn, registers and what changed equal the stored trace at every step', async () => {
    for (let s = 0; s < stored.length; s++) {
      const st = await call<StepState>('steps:state', info.traceId, runId, s);
      expect(st.insn).toBe(stored[s].insn);
      expect(st.concrete?.regs).toEqual(stored[s].regs);
      expect(st.changed).toEqual(stored[s].changed.map((r) => `R${r}`));
    }
    await expect(call('steps:state', info.traceId, runId, stored.length)).rejects.toThrow(/no step/);
  });

  it('listing: the insns and source lines of `bpfscope disasm`, executions counted from the trace', async () => {
    const rows = await call<InsnRow[]>('insns:listing', info.traceId, runId);
    const disasm = bpfscope('disasm', OBJ, '-p', 'list_mixed').trimEnd().split('\n');
    const insns = disasm.filter((l) => /^\d+: /.test(l));
    expect(rows.map((r) => `${r.insn}: ${r.text}`)).toEqual(insns);
    const sources = disasm.filter((l) => l.startsWith('; ')).map((l) => l.slice(2));
    expect(rows.filter((r) => r.source).map((r) => r.source)).toEqual(sources);
    for (const r of rows) expect(r.visits, `insn ${r.insn}`).toBe(stored.filter((x) => x.insn === r.insn).length);
    const twice = rows.find((r) => r.visits > 1);
    if (twice) expect(await call<number[]>('steps:forInsn', info.traceId, runId, twice.insn)).toEqual([...stored.keys()].filter((s) => stored[s].insn === twice.insn));
  });

  it('last write of a register is the last step at or before that changed it', async () => {
    for (const s of [5, 40, stored.length - 1]) {
      for (const r of [0, 6, 8]) {
        const want = [...stored.keys()].filter((k) => k <= s && stored[k].changed.includes(r)).pop() ?? null;
        expect(await call('steps:lastWrite', info.traceId, runId, s, 0, `R${r}`)).toBe(want);
      }
    }
  });

  it('result and events equal `bpfscope run --json`; events sit on the traced run\'s step axis', async () => {
    const json = JSON.parse(bpfscope('run', OBJ, '-p', 'list_mixed', '--repeat', '2', '--free-maps', '--json')) as {
      retval: number;
      events: { seq: number; run: number; step: number; kind: string; object: number; owner: string | null }[];
      objects: { id: number; freeSeq: number | null }[];
    };
    const r = await call<RunResult>('run:result', info.traceId, runId);
    expect(r.runs.map((x) => x.retval)).toEqual([json.retval, json.retval]);
    expect(r.tracedRun).toBe(1);
    expect(r.objects.map((o) => [o.id, o.freeSeq])).toEqual(json.objects.map((o) => [o.id, o.freeSeq]));
    const events = await call<AllocEvent[]>('alloc:events', info.traceId, runId);
    expect(events.map((e) => [e.seq, e.kind, e.objectId, e.owner])).toEqual(json.events.map((e) => [e.seq, e.kind, e.object, e.owner]));
    for (const [i, e] of events.entries()) {
      const j = json.events[i];
      const want = j.run === 1 ? j.step - 1 : j.run < 1 ? -1 : stored.length;
      expect(e.axisStep).toBe(want);
      // The insn the trace ran at that step is the event's insn.
      if (j.run === 1) expect(stored[e.axisStep!].insn).toBe(e.insn);
    }
    await expect(call('run:result', info.traceId, verifiedId)).rejects.toThrow(/not a concrete run/);
  });
});

describe('a concrete run that faults', () => {
  it('ends on the last instruction that completed, carrying the fault `run --json` reports; e goes there', async () => {
    const obj = join(ROOT, 'resources/progs/reject_uaf.bpf.o');
    const t = join(tmp, 'fault.trace');
    // The run fails (exit 1) but stores what it did.
    try {
      bpfscope('run', obj, '-p', 'use_after_drop', '--trace-insns', '-o', t);
    } catch {
      // expected: a fault is a failed run
    }
    // --json prints the report whether or not the run faulted (the exit status says it did).
    const out = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), 'run', obj, '-p', 'use_after_drop', '--json'], { encoding: 'utf8' });
    const json = JSON.parse(out.stdout) as { runs: { fault: { kind: string; insn: number; regs: string[] } | null }[] };
    const fault = json.runs[0].fault!;
    expect(fault.kind).toBe('use_after_free');
    const fi = await call<TraceInfo>('trace:open', t);
    const p = fi.programs[0];
    expect(p.verdict).toBe('faulted');
    expect(p.error).toContain(`insn ${fault.insn}`);
    const last = await call<number>('steps:firstError', fi.traceId, p.id);
    expect(last).toBe(p.steps - 1);
    const st = await call<StepState>('steps:state', fi.traceId, p.id, last);
    expect(st.error).toContain(`fault at insn ${fault.insn}: ${fault.kind}`);
    // The registers the fault report gives are those after the last completed insn.
    expect(st.concrete!.regs).toEqual(fault.regs);
    // The listing marks the insn that faulted (it never completed: no execution counted).
    const rows = await call<InsnRow[]>('insns:listing', fi.traceId, p.id);
    expect(rows.filter((x) => x.fault).map((x) => x.insn)).toEqual([fault.insn]);
    expect(rows.find((x) => x.insn === fault.insn)!.visits).toBe(0);
    const r = await call<RunResult>('run:result', fi.traceId, p.id);
    expect(r.runs[0].fault?.kind).toBe(fault.kind);
  });
});
