import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bpfscopeInProcess } from '../../helpers/cli';
import { genProgram } from '../../helpers/cfgProgs';
import { rng } from '../../helpers/fuzz';
import { REPO_ROOT } from '../../helpers/ref';
import { CfgView } from '../../../main/api/cfgView';
import { buildCfg } from '../../../main/cfg/blocks';
import { cfgToDot } from '../../../main/cfg/dot';
import { flowFromLog, flowFromSlots } from '../../../main/cfg/flow';
import type { CfgGraph } from '../../../main/cfg/graph';
import { decodeInsns, disassemble } from '../../../main/object/insn/instruction';
import { openTrace, type TraceDb } from '../../../main/trace/db';
import { insnVisitCounts, readSteps, stepCount, stepsForInsn } from '../../../main/trace/verifierRead';

/**
 * Blocks and edges of the example programs (resources/progs, their logs as
 * this kernel printed them), the verifier's walk on them, and the rules on
 * generated programs. The kernel comparison is kernel.test.ts.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-cfg-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const EXAMPLES: Record<string, [log: string, obj: string, prog: string]> = {
  subprog: ['subprog.subprog_calls', 'subprog.bpf.o', 'subprog_calls'],
  loop: ['compute.count_bytes', 'compute.bpf.o', 'count_bytes'],
  callback: ['compute.loop_callback', 'compute.bpf.o', 'loop_callback'],
  leak: ['reject_leak.leak_on_branch', 'reject_leak.bpf.o', 'leak_on_branch'],
};
const traces: Record<string, string> = {};
const logOnly: Record<string, string> = {};

beforeAll(async () => {
  for (const [key, [log, obj, prog]] of Object.entries(EXAMPLES)) {
    const logFile = path.join(REPO_ROOT, 'test/fixtures/logs', `${log}.log`);
    traces[key] = path.join(work, `${key}.trace`);
    logOnly[key] = path.join(work, `${key}.log-only.trace`);
    const a = await bpfscopeInProcess(['import', logFile, '--object', path.join(REPO_ROOT, 'resources/progs', obj), '-p', prog, '-o', traces[key]]);
    expect(a.code, a.err).toBe(0);
    const b = await bpfscopeInProcess(['import', logFile, '-p', prog, '-o', logOnly[key]]);
    expect(b.code, b.err).toBe(0);
  }
});

function withGraph<T>(file: string, fn: (g: CfgGraph, view: CfgView, db: TraceDb) => T): T {
  const db = openTrace(file, { readonly: true });
  try {
    const view = new CfgView(db, 1);
    return fn(view.graph(), view, db);
  } finally {
    db.close();
  }
}

const ranges = (g: CfgGraph): string[] => g.blocks.map((b) => `${b.start}..${b.end}`);
const edgeList = (g: CfgGraph): string[] => g.edges.map((e) => `${g.blocks[e.from].start}-${e.kind}->${g.blocks[e.to].start}`);

describe('example programs', () => {
  it('subprog_calls: three subprograms, call edges, the global one verified on its own', () => {
    withGraph(traces.subprog, (g) => {
      expect(g.source).toBe('object');
      expect(g.funcs.map((f) => [f.name, f.start, f.end])).toEqual([
        ['subprog_calls', 0, 6],
        ['mix', 6, 11],
        ['clamp_global', 11, 18],
      ]);
      // 12: if w1 s> 0x0 goto pc+1 → 14; 15: if w1 s> 0x3e8 goto pc+1 → 17.
      expect(ranges(g)).toEqual(['0..5', '6..10', '11..12', '13..13', '14..15', '16..16', '17..17']);
      expect(edgeList(g).sort()).toEqual(
        ['0-call->6', '0-call->11', '11-fall->13', '11-taken->14', '13-fall->14', '14-fall->16', '14-taken->17', '16-fall->17'].sort(),
      );
      const call = (to: number) => g.edges.find((e) => e.kind === 'call' && g.blocks[e.to].start === to)!;
      expect(call(6).walked).toBe(1); // the static subprogram is walked inside its caller
      expect(call(11).walked).toBe(0); // `Func#2 ('clamp_global') is global and assumed valid`
      expect(g.blocks.every((b) => b.visits > 0)).toBe(true);
      expect(g.failing).toBeNull();
    });
  });

  it('the same blocks and edges from the texts the log printed (no object in the trace), callback edges aside', () => {
    for (const key of Object.keys(EXAMPLES)) {
      // A callback's ld_imm64 prints as `r2 = 0x6` in the log, like any constant: its subprogram
      // is known from `func#1 @14`, the edge to it only from the object.
      const a = withGraph(traces[key], (g) => ({ r: ranges(g), e: edgeList(g).filter((e) => !e.includes('-callback->')), f: g.funcs.map((f) => f.start) }));
      const b = withGraph(logOnly[key], (g) => {
        expect(g.source).toBe('log');
        return { r: ranges(g), e: edgeList(g), f: g.funcs.map((f) => f.start) };
      });
      expect(b, key).toEqual(a);
    }
  });

  it('count_bytes: the loop back edge walked once per unrolled iteration, prunes counted', () => {
    withGraph(traces.loop, (g, _view, db) => {
      // 28: if r7 != 0x8 goto pc-18 → 11, the loop head.
      const back = g.edges.find((e) => g.blocks[e.from].end === 28 && e.kind === 'taken')!;
      expect(g.blocks[back.to].start).toBe(11);
      expect(back.walked).toBeGreaterThanOrEqual(7);
      expect(g.blocks.reduce((n, b) => n + b.pruned, 0)).toBe(readAll(db).filter((s) => s.kind === 'safe').length);
      expect(g.edges.some((e) => e.prunedAfter > 0)).toBe(true);
      // Visits and first steps against the trace's own per-insn index.
      const visits = new Map(insnVisitCounts(db, 1).map((r) => [r.insn, r.visits]));
      for (const b of g.blocks) {
        expect(b.visits).toBe(Math.max(...b.insns.map((i) => visits.get(i) ?? 0)));
        const firsts = b.insns.map((i) => stepsForInsn(db, 1, i)[0]).filter((s) => s !== undefined);
        // stepsForInsn lists instruction lines; the walk also counts the state lines before them.
        if (firsts.length) expect(b.firstStep).toBeLessThanOrEqual(Math.min(...firsts));
        expect(b.firstStep === null).toBe(firsts.length === 0);
      }
    });
  });

  it('loop_callback: the bpf_loop callback is a subprogram, linked by a callback edge', () => {
    withGraph(traces.callback, (g) => {
      expect(g.funcs.map((f) => f.name)).toEqual(['loop_callback', 'fold_step']);
      const cb = g.edges.filter((e) => e.kind === 'callback');
      expect(cb).toHaveLength(1);
      expect(g.blocks[cb[0].to].start).toBe(g.funcs[1].start);
      expect(cb[0].walked).toBeGreaterThan(0);
    });
  });

  it('leak_on_branch: the failing path runs from the entry to the block of the error step', () => {
    withGraph(traces.leak, (g, _view, db) => {
      expect(g.failing).not.toBeNull();
      const f = g.failing!;
      const last = readSteps(db, 1, stepCount(db, 1) - 1, 1)[0];
      expect(f.step).toBe(last.step);
      expect(g.blocks[f.current].insns).toContain(last.insn);
      expect(f.blocks[0]).toBe(0);
      expect(f.blocks[f.blocks.length - 1]).toBe(f.current);
      for (const e of f.edges) expect(f.blocks).toContain(g.edges[e].to);
    });
  });

  it('the history at every step ends in the block of that step and uses only walked edges', () => {
    for (const key of Object.keys(EXAMPLES)) {
      withGraph(traces[key], (g, view, db) => {
        for (const s of readAll(db)) {
          const p = view.pathAt(s.step);
          if (p.current < 0) continue;
          expect(g.blocks[p.current].insns, `${key} step ${s.step}`).toContain(s.insn);
          expect(p.blocks[p.blocks.length - 1]).toBe(p.current);
          for (const e of p.edges) expect(g.edges[e].walked).toBeGreaterThan(0);
          expect(p.truncated).toBe(false);
        }
      });
    }
  });
});

function readAll(db: TraceDb) {
  return readSteps(db, 1, 0, stepCount(db, 1));
}

describe('generated programs (seeded)', () => {
  it('every instruction in one block; leaders exactly the entry, targets and what follows a jump or exit; log texts give the same flow', () => {
    const next = rng(20261207);
    for (let k = 0; k < 60; k++) {
      const seed = next();
      const gen = genProgram(seed, { funcs: seed % 4, statements: 5 + (seed % 40) });
      const slots = decodeInsns(gen.bytes);
      const flow = flowFromSlots(slots);
      const cfg = buildCfg(flow);
      expect(cfg.funcs.map((f) => f.start), `seed ${seed}`).toEqual(gen.funcStarts);
      const leaders = new Set<number>(gen.funcStarts);
      for (const f of flow) {
        if (f.flow === 'goto' || f.flow === 'cond') leaders.add(f.target!);
        if ((f.flow === 'goto' || f.flow === 'cond' || f.flow === 'exit') && f.idx + f.slots < slots.length) leaders.add(f.idx + f.slots);
      }
      expect(cfg.blocks.map((b) => b.start).sort((a, b) => a - b), `seed ${seed}`).toEqual([...leaders].sort((a, b) => a - b));
      const seen = cfg.blocks.flatMap((b) => b.insns);
      expect(seen).toEqual(flow.map((f) => f.idx));
      for (const e of cfg.edges) expect(cfg.blocks[e.to].start).toBe(e.kind === 'call' ? cfg.funcs[cfg.blocks[e.to].func].start : cfg.blocks[e.to].start);
      // The same program as the verifier log prints it.
      const printed = disassemble(gen.insns).map((l) => ({ insn: l.idx, text: l.text }));
      const fromLog = flowFromLog(printed);
      expect(fromLog.map(({ idx, slots: n, flow: f, target }) => ({ idx, n, f, target }))).toEqual(
        flow.map(({ idx, slots: n, flow: f, target }) => ({ idx, n, f, target })),
      );
    }
  });

  it('a listing with gaps (a log of an older kernel prints only what was visited) cuts blocks at the gaps', () => {
    const cfg = buildCfg(
      flowFromLog([
        { insn: 0, text: '(b7) r0 = 0' },
        { insn: 1, text: '(b7) r1 = 1' },
        { insn: 4, text: '(b7) r2 = 2' },
        { insn: 5, text: '(95) exit' },
      ]),
    );
    expect(cfg.blocks.map((b) => b.insns)).toEqual([[0, 1], [4, 5]]);
    expect(cfg.edges).toEqual([]);
  });
});

describe('DOT and the cfg command', () => {
  const hasDot = (() => {
    try {
      execFileSync('dot', ['-V'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!hasDot)(`dot -Tsvg draws every example's DOT${hasDot ? '' : ' [skipped: graphviz (dot) is not installed]'}`, () => {
    for (const key of Object.keys(EXAMPLES)) {
      const dotText = withGraph(traces[key], (g) => cfgToDot(g, key));
      const svg = execFileSync('dot', ['-Tsvg'], { input: dotText }).toString();
      expect(svg).toContain('<svg');
      withGraph(traces[key], (g) => {
        for (const b of g.blocks) expect(svg).toContain(`>b${b.id}<`);
      });
    }
  });

  it('bpfscope cfg: text, --json, --dot, --step, and one sentence for a bad program name', async () => {
    const text = await bpfscopeInProcess(['cfg', traces.subprog]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toMatch(/^7 blocks, 8 edges, 3 subprogram\(s\); instructions from the object/);
    expect(text.out).toContain('b0 insn 0..5  visits 1  first step 0  -> call b1 1×, call b2');
    const json = await bpfscopeInProcess(['cfg', traces.leak, '--json']);
    const g = JSON.parse(json.out) as CfgGraph;
    expect(g.failing?.blocks.length).toBeGreaterThan(1);
    const dot = await bpfscopeInProcess(['cfg', traces.loop, '--dot']);
    expect(dot.out).toMatch(/^digraph "count_bytes" \{/);
    const step = await bpfscopeInProcess(['cfg', traces.loop, '--step', '40', '--json']);
    expect((JSON.parse(step.out) as { step: number }).step).toBe(40);
    const bad = await bpfscopeInProcess(['cfg', traces.loop, '-p', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`bpfscope cfg: ${traces.loop}: no program 'nope' with a log (have: count_bytes)\n`);
    const past = await bpfscopeInProcess(['cfg', traces.loop, '--step', '99999']);
    expect(past.code).toBe(1);
    expect(past.err).toBe(`bpfscope cfg: ${traces.loop}: no step 99999: the program has 609 steps\n`);
  });
});
