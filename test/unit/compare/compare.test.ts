/**
 * bpfscope compare (issue 12): the veristat-like table, the alignment of two
 * verifications by path and instruction, the decoded state comparison, the
 * sequential state cursor, on synthetic walks and on the real logs of
 * test/fixtures/logs (6.18 at the top, 6.1 and 6.12 in their folders).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alignWalks, type PathLink, type Walk } from '../../../main/compare/align';
import { DiffScanner, type StateSource } from '../../../main/compare/scan';
import { sameState, stateDifferences } from '../../../main/compare/stateDiff';
import { compareStats, countChange, formatChange, stackTotal, type ProgramStats } from '../../../main/compare/stats';
import { ProgramComparison, firstDifferentLine } from '../../../main/compare/traceCompare';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { StateCursor } from '../../../main/trace/verifierCursor';
import { readStep, readStepColumns, replayTo, stepCount } from '../../../main/trace/verifierRead';
import { STEP_KINDS } from '../../../main/verifier/reconstruct';
import { emptyFrame, type VerifierState } from '../../../main/verifier/state';
import { bpfscopeInProcess } from '../../helpers/cli';

const DIR = path.resolve(__dirname, '../../fixtures/logs');
const logs = readdirSync(DIR).filter((f) => /^[a-z_]+\.[a-z_0-9]+\.log$/.test(f)).sort();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-compare-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
async function load(text: string, name: string, checkpointEvery = 64): Promise<{ db: TraceDb; pid: number; file: string }> {
  const file = path.join(tmp, `${name}.${n++}.trace`);
  const db = createTrace(file);
  const pid = Number(db.prepare("INSERT INTO programs(object_id, name, origin, created_at) VALUES (NULL, ?, 'import', 'now')").run(name).lastInsertRowid);
  await writeVerifierLog(db, pid, text, { checkpointEvery });
  return { db, pid, file };
}

const stats = (over: Partial<ProgramStats>): ProgramStats => ({
  id: 1, program: 'p', object: 'o.bpf.o', verdict: 'accepted', error: null, processedInsns: 10, totalStates: 2, peakStates: 2, stackDepth: '8', ...over,
});

describe('the table', () => {
  it('pairs by object and program, then by a name left once on each side, and lists the rest', () => {
    const a = [stats({ id: 1, program: 'x' }), stats({ id: 2, program: 'y', object: 'a-O1.bpf.o' }), stats({ id: 3, program: 'only_a' })];
    const b = [stats({ id: 7, program: 'y', object: 'a-O2.bpf.o', processedInsns: 15 }), stats({ id: 8, program: 'x', verdict: 'rejected', error: 'R1 invalid mem access' }), stats({ id: 9, program: 'only_b' })];
    const c = compareStats(a, b);
    expect(c.rows.map((r) => [r.program, r.a.id, r.b.id, r.matchedBy])).toEqual([['x', 1, 8, 'object+program'], ['y', 2, 7, 'program']]);
    expect(c.rows[0].verdictMatch).toBe(false);
    expect(c.rows[0].errorMatch).toBe(false);
    expect(c.rows[1].processedInsns).toEqual({ a: 10, b: 15, diff: 5, pct: 50 });
    expect(c.onlyInA.map((p) => p.program)).toEqual(['only_a']);
    expect(c.onlyInB.map((p) => p.program)).toEqual(['only_b']);
  });

  it('prints changes as veristat -C does and sums stack depths over subprograms', () => {
    expect(formatChange(countChange(200, 190))).toBe('-10 (-5.00%)');
    expect(formatChange(countChange(0, 8))).toBe('+8 (+inf%)');
    expect(formatChange(countChange(null, 8))).toBe('');
    expect(stackTotal('8+16')).toBe(24);
    expect(stackTotal(null)).toBeNull();
  });
});

function state(regs: Record<number, string>, stack: Record<string, string> = {}): VerifierState {
  const f = emptyFrame(0);
  for (const [r, v] of Object.entries(regs)) f.regs[Number(r)] = v;
  f.stack = stack;
  return { frames: [f], refs: [], lockHeld: false, lockId: null };
}

describe('the state comparison', () => {
  it('sees one value in two kernels\' spellings', () => {
    // 6.1 (legacy: bounds equal to others left out, off=0 and imm=0 printed) against 6.18.
    const legacy = state({ 1: 'ctx(off=0,imm=0)', 2: 'scalar(umax=255,var_off=(0x0; 0xff))', 10: 'fp0' });
    const modern = state({ 1: 'ctx()', 2: 'scalar(smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))', 10: 'fp0' });
    expect(stateDifferences(legacy, modern, { styleA: 'legacy', styleB: 'modern' })).toEqual([]);
  });

  it('names what differs: range, id, precision, a slot, a register set on one side only', () => {
    const a = state({ 0: '3510', 1: 'scalar(id=7)', 3: 'P1', 6: '0' }, { '-8': 'mmmmmmmm' });
    const b = state({ 0: '3511', 1: 'scalar(id=9)', 3: '1' }, { '-8': '0000mmmm' });
    const d = stateDifferences(a, b, { styleA: 'modern', styleB: 'modern' });
    expect(d.map((x) => [x.name, x.aspects])).toEqual([
      ['R0', ['range', 'tnum']], ['R1', ['id']], ['R3', ['precise']], ['R6', ['init']], ['fp-8', ['other']],
    ]);
    expect(sameState(a, a, 'modern', 'modern')).toBe(true);
  });
});

/** A walk from [kind, insn, path] triples and a path table. */
function walk(steps: [string, number, number][], paths: PathLink[]): Walk {
  return {
    insn: Int32Array.from(steps.map((s) => s[1])),
    kind: Uint8Array.from(steps.map((s) => STEP_KINDS.indexOf(s[0] as (typeof STEP_KINDS)[number]))),
    path: Int32Array.from(steps.map((s) => s[2])),
    paths,
  };
}

describe('the alignment', () => {
  const root: PathLink = { path: 0, parentPath: null, pushedStep: null, toInsn: null };
  it('pairs a walk with itself step for step', () => {
    const w = walk([['insn', 0, 0], ['insn', 1, 0], ['insn', 2, 0], ['branch', 5, 1], ['insn', 5, 1]], [root, { path: 1, parentPath: 0, pushedStep: 1, toInsn: 5 }]);
    const al = alignWalks(w, w);
    expect([...al.a]).toEqual([0, 1, 2, 3, 4]);
    expect([...al.b]).toEqual([0, 1, 2, 3, 4]);
    expect(al.onlyA + al.onlyB).toBe(0);
  });

  it('matches paths by where they were pushed, not by their numbers or order, and keeps steps only one side took', () => {
    // A: insns 0,1 (branch at 1 pushes to 5), 2 (branch at 2 pushes to 8), exit; pops 8 first, then 5.
    const a = walk(
      [['insn', 0, 0], ['insn', 1, 0], ['insn', 2, 0], ['insn', 3, 0], ['branch', 8, 1], ['insn', 8, 1], ['branch', 5, 2], ['insn', 5, 2]],
      [root, { path: 1, parentPath: 0, pushedStep: 2, toInsn: 8 }, { path: 2, parentPath: 0, pushedStep: 1, toInsn: 5 }],
    );
    // B prints a state line at 2, pops 5 first, then 8, and runs insn 9 on the path from 8.
    const b = walk(
      [['insn', 0, 0], ['insn', 1, 0], ['state', 2, 0], ['insn', 2, 0], ['insn', 3, 0], ['branch', 5, 1], ['insn', 5, 1], ['branch', 8, 2], ['insn', 8, 2], ['insn', 9, 2]],
      [root, { path: 1, parentPath: 0, pushedStep: 1, toInsn: 5 }, { path: 2, parentPath: 0, pushedStep: 3, toInsn: 8 }],
    );
    const al = alignWalks(a, b);
    const pairs = [...al.a].map((x, i) => [x, al.b[i]]);
    expect(pairs).toEqual([[0, 0], [1, 1], [-1, 2], [2, 3], [3, 4], [4, 7], [5, 8], [-1, 9], [6, 5], [7, 6]]);
  });
});

/** A state source over given states, one per step. */
function arraySource(states: VerifierState[], kinds: string[], insns: number[]): StateSource {
  return {
    state: (s) => states[s], style: 'modern',
    kind: Uint8Array.from(kinds.map((k) => STEP_KINDS.indexOf(k as (typeof STEP_KINDS)[number]))), insn: Int32Array.from(insns),
  };
}

describe('the scan', () => {
  it('finds where something starts to differ: a register that keeps differing is one difference, the next register another', () => {
    const A = [state({ 1: '1' }), state({ 1: '2' }), state({ 1: '3', 2: '0' }), state({ 1: '3', 2: '0' }), state({ 1: '4', 2: '1' })];
    const B = [state({ 1: '1' }), state({ 1: '5' }), state({ 1: '6', 2: '0' }), state({ 1: '3', 2: '0' }), state({ 1: '7', 2: '2' })];
    const kinds = A.map(() => 'insn');
    const insns = [0, 1, 2, 3, 4];
    const ids = Int32Array.from([0, 1, 2, 3, 4]);
    const sc = new DiffScanner({ a: ids, b: ids, length: 5, paired: 5, onlyA: 0, onlyB: 0 }, arraySource(A, kinds, insns), arraySource(B, kinds, insns));
    const first = sc.next(-1);
    expect([first?.pair, first?.locations.map((l) => l.name)]).toEqual([1, ['R1']]);
    const second = sc.next(1);
    expect([second?.pair, second?.locations.map((l) => l.name)]).toEqual([4, ['R1', 'R2']]);
    expect(sc.next(4)).toBeNull();
    expect(sc.previous(4)?.pair).toBe(1);
    expect(sc.previous(1)).toBeNull();
  });
});

describe('on the logs this kernel printed', () => {
  for (const f of logs) {
    it(`${f}: the cursor gives every step's state as a replay from its checkpoint does; compared with itself, no difference (prefix skipped or not)`, async () => {
      const text = readFileSync(path.join(DIR, f), 'utf8');
      const a = await load(text, f, 5);
      const b = await load(text, f, 64);
      const cols = readStepColumns(a.db, a.pid);
      const cursor = new StateCursor(a.db, a.pid, cols);
      for (let s = 0; s < stepCount(a.db, a.pid); s++) {
        const want = replayTo(a.db, a.pid, s, readStep(a.db, a.pid, s)!).rec.m;
        expect(cursor.state(s).frames, `step ${s}`).toEqual(want.frames);
      }
      expect(firstDifferentLine(a.db, a.pid, b.db, b.pid)).toBe(Infinity);
      for (const compareIdentical of [false, true]) {
        const c = new ProgramComparison({ ...a, programId: a.pid }, { ...b, programId: b.pid }, { compareIdentical });
        expect(c.summary().onlyA + c.summary().onlyB).toBe(0);
        expect(c.next(0)).toBeNull();
      }
      a.db.close();
      b.db.close();
    });
  }

  it('a log changed in one constant: the first difference is that step, in that register', async () => {
    const text = readFileSync(path.join(DIR, 'compute.count_bytes.log'), 'utf8');
    const lines = text.split('\n');
    // An instruction line past the middle whose delta sets a register to a constant.
    const at = lines.findIndex((l, i) => i > lines.length / 2 && /^\d+: \(b7\) r\d = \d+ +; R\d=\d+$/.test(l));
    expect(at).toBeGreaterThan(0);
    const m = /; R(\d)=(\d+)$/.exec(lines[at])!;
    const changed = [...lines];
    changed[at] = lines[at].replace(/=\d+$/, `=${Number(m[2]) + 1}`);
    const a = await load(text, 'count_bytes');
    const b = await load(changed.join('\n'), 'count_bytes');
    const cols = readStepColumns(a.db, a.pid);
    const step = cols.line.indexOf(at + 1);
    expect(firstDifferentLine(a.db, a.pid, b.db, b.pid)).toBe(at + 1);
    for (const compareIdentical of [false, true]) {
      const d = new ProgramComparison({ ...a, programId: a.pid }, { ...b, programId: b.pid }, { compareIdentical }).next(0);
      expect(d?.aStep).toBe(step);
      expect(d?.bStep).toBe(step);
      expect(d?.locations.map((l) => [l.name, l.aspects])).toContainEqual([`R${m[1]}`, ['range', 'tnum']]);
      expect(d?.aText).toBe(lines[at]);
    }
    a.db.close();
    b.db.close();
  });

  it('6.1 against 6.18: the same steps pair up, and the first difference is the kernel\'s, not the spelling\'s (be16 keeps the range from 6.x on)', async () => {
    const a = await load(readFileSync(path.join(DIR, '6.1/compute.parse_udp.log'), 'utf8'), 'parse_udp');
    const b = await load(readFileSync(path.join(DIR, 'compute.parse_udp.log'), 'utf8'), 'parse_udp');
    const c = new ProgramComparison({ ...a, programId: a.pid }, { ...b, programId: b.pid });
    const d = c.next(0);
    expect(d?.kind).toBe('state');
    expect(d?.aText).toMatch(/r0 = be16 r0/);
    expect(d?.locations.map((l) => [l.name, l.a])).toEqual([['R0', 'scalar()']]);
    a.db.close();
    b.db.close();
  });
});

describe('the command', () => {
  it('prints the table and the first difference, exits 0 (3 with --fail-on-diff), and names a file it cannot read', async () => {
    const text = readFileSync(path.join(DIR, 'compute.parse_udp.log'), 'utf8');
    const old = readFileSync(path.join(DIR, '6.1/compute.parse_udp.log'), 'utf8');
    const a = await load(old, 'parse_udp');
    const b = await load(text, 'parse_udp');
    a.db.close();
    b.db.close();
    const r = await bpfscopeInProcess(['compare', a.file, b.file, '-p', 'parse_udp']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^parse_udp +\S+ +\S+ +\d+ +\d+ +[+-]\d+ \(/m);
    expect(r.out).toMatch(/first difference at insn 19 \(A step \d+, B step \d+/);
    // The two kernels count the same (parse_udp has no branch they walk differently): only the states differ.
    expect((await bpfscopeInProcess(['compare', a.file, b.file, '--fail-on-diff'])).code).toBe(0);
    expect((await bpfscopeInProcess(['compare', a.file, b.file, '-p', 'parse_udp', '--fail-on-diff'])).code).toBe(3);
    expect((await bpfscopeInProcess(['compare', b.file, b.file, '-p', 'parse_udp', '--fail-on-diff'])).code).toBe(0);
    const j = JSON.parse((await bpfscopeInProcess(['compare', b.file, b.file, '-p', 'parse_udp', '--json'])).out);
    expect(j.program.first).toBeNull();
    expect(j.programs.rows[0].processedInsns.diff).toBe(0);
    const missing = await bpfscopeInProcess(['compare', a.file, path.join(tmp, 'nope.trace')]);
    expect([missing.code, missing.err]).toEqual([1, `bpfscope compare: ${path.join(tmp, 'nope.trace')}: no such trace file\n`]);
    const noProg = await bpfscopeInProcess(['compare', a.file, b.file, '-p', 'nope']);
    expect(noProg.code).toBe(1);
    expect(noProg.err).toContain(`${a.file}: no program 'nope'`);
  });
});
