/**
 * Provenance (`bpfscope why`, issue 12) on the real logs of test/fixtures/logs:
 * hand-checked chains (a subprogram's arguments and return, a callback writing
 * its caller's stack, a loop's counter, a spill and fill, a global function's
 * argument), every register and slot at every step answering, and the
 * kernel's own mark_precise backtracking contained in the chains.
 */
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { writeVerifierLog } from '../../../main/trace/verifier';
import { stateAtStep } from '../../../main/trace/verifierRead';
import { whyAt } from '../../../main/trace/whyRead';
import { parseEffect } from '../../../main/provenance/effect';
import { parseLoc } from '../../../main/provenance/location';
import { parseRegMask, parseStackMask, preciseRuns } from '../../../main/provenance/precise';
import { lexLine, type MarkPrecise } from '../../../main/verifier/lexer';
import { bpfscopeInProcess } from '../../helpers/cli';
import { preciseAgainstChains } from '../../helpers/precise';
import { BpfscopeError } from '../../../main/errors';

const DIR = path.resolve(__dirname, '../../fixtures/logs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-why-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
async function load(file: string): Promise<{ db: TraceDb; pid: number; steps: number; trace: string }> {
  const trace = path.join(tmp, `${path.basename(file)}.${n++}.trace`);
  const db = createTrace(trace);
  const pid = Number(db.prepare("INSERT INTO programs(object_id, name, origin, created_at) VALUES (NULL, ?, 'import', 'now')")
    .run(path.basename(file).split('.')[1] ?? 'p').lastInsertRowid);
  const s = await writeVerifierLog(db, pid, readFileSync(path.join(DIR, file), 'utf8'), { checkpointEvery: 16 });
  return { db, pid, steps: s.steps, trace };
}

/** The chain as [step, why] pairs, newest first. */
const shape = (db: TraceDb, pid: number, step: number, loc: string) => whyAt(db, pid, step, loc).links.map((l) => [l.step, l.why]);

describe('insn effects from the log text', () => {
  it.each([
    ['r6 = r1', { kind: 'mov', dst: 6, src: 1 }],
    ['w1 = w0', { kind: 'mov', dst: 1, src: 0 }],
    ['r1 = (s8)r2', { kind: 'mov', dst: 1, src: 2 }],
    ['r3 += -8', { kind: 'alu', dst: 3, src: null }],
    ['w0 ^= w1', { kind: 'alu', dst: 0, src: 1 }],
    ['r1 s>>= 3', { kind: 'alu', dst: 1, src: null }],
    ['r1 = be16 r1', { kind: 'alu', dst: 1, src: null }],
    ['w2 = -w2', { kind: 'alu', dst: 2, src: null }],
    ['r2 = 5', { kind: 'const', dst: 2, imm64: false }],
    ['r2 = *(u32 *)(r1 +16)', { kind: 'load', dst: 2, base: 1, off: 16, size: 4 }],
    ['r0 = *(u64 *)(r10 -8)', { kind: 'load', dst: 0, base: 10, off: -8, size: 8 }],
    ['*(u64 *)(r10 -8) = r2', { kind: 'store', base: 10, off: -8, size: 8, src: 2 }],
    ['*(u32 *)(r10 -4) = 0', { kind: 'store', base: 10, off: -4, size: 4, src: null }],
    ['lock *(u64 *)(r10 -8) += r1', { kind: 'atomic', base: 10, off: -8, size: 8, src: 1, fetch: null, rmw: true, cmp: false }],
    ['r1 = atomic64_xchg((u64 *)(r10 -8), r1)', { kind: 'atomic', base: 10, off: -8, size: 8, src: 1, fetch: 1, rmw: false, cmp: false }],
    ['if w1 s> 0x3e8 goto pc+1', { kind: 'branch', regs: [1] }],
    ['if r1 > r2 goto pc-4', { kind: 'branch', regs: [1, 2] }],
    ['call bpf_loop#181', { kind: 'call', call: 'helper', target: 'bpf_loop' }],
    ['call pc+3', { kind: 'call', call: 'subprog', target: 'pc+3' }],
    ['exit', { kind: 'none', text: 'exit' }],
  ])('%s', (text, effect) => expect(parseEffect(text)).toEqual(effect));

  it('ld_imm64 by its opcode', () => expect(parseEffect('r1 = 0xffff8881c2d9e400', '18')).toEqual({ kind: 'const', dst: 1, imm64: true }));

  it('locations', () => {
    expect(parseLoc('R3', 1)).toEqual({ kind: 'reg', frame: 1, reg: 3 });
    expect(parseLoc('frame0:r6', 1)).toEqual({ kind: 'reg', frame: 0, reg: 6 });
    expect(parseLoc('fp[0]-8', 1)).toEqual({ kind: 'slot', frame: 0, off: -8 });
    expect(parseLoc('frame1:fp-16', 0)).toEqual({ kind: 'slot', frame: 1, off: -16 });
    expect(parseLoc('R11', 0)).toMatch(/R0\.\.R10/);
    expect(parseLoc('fp-5', 0)).toMatch(/8 bytes each/);
    expect(parseLoc('rax', 0)).toMatch(/is not a register/);
  });

  it('mark_precise masks, new and old spellings', () => {
    expect(parseRegMask('r1,r6')).toEqual([1, 6]);
    expect(parseRegMask('42')).toEqual([1, 6]);
    expect(parseStackMask('-8,-24')).toEqual([-8, -24]);
    expect(parseStackMask('-8:')).toEqual([-8]);
    expect(parseStackMask('5')).toEqual([-8, -24]);
    const ev = (t: string): MarkPrecise => {
      const l = lexLine(t);
      if (l.kind !== 'markPrecise') throw new Error(t);
      return l.event;
    };
    const runs = preciseRuns([
      ev('mark_precise: frame0: last_idx 16 first_idx 0 subseq_idx -1 '),
      ev('mark_precise: frame0: regs= stack=-8 before 5: (bf) r2 = r10'),
      ev('mark_precise: frame0: regs= stack=-8 before 4: (63) *(u32 *)(r10 -8) = r8'),
      ev('mark_precise: frame0: regs=r8 stack= before 3: (b4) w8 = 1'),
    ]);
    expect(runs).toEqual([{ first: 0, frame: 0, regs: [], stack: [-8], defs: [{ insn: 4, frame: 0 }], gaveUp: false }]);
  });
});

describe('chains checked by hand', () => {
  it('subprog_calls: w1 = w0 after mix() returns: the return, the callee\'s ALU, its arguments from the caller, the ctx loads', async () => {
    const { db, pid } = await load('subprog.subprog_calls.log');
    const w = whyAt(db, pid, 13, 'R1');
    expect(w.links.map((l) => [l.step, l.insn, l.frame, l.why, l.writes.join(','), l.reads.join(',')])).toEqual([
      [13, 3, 0, 'mov', 'R1', 'R0'],
      [11, 3, 0, 'return', 'R0', 'frame1:R0'],
      [9, 9, 1, 'alu', 'R0', 'R0,R1'],
      [8, 8, 1, 'alu', 'R0', 'R0'],
      [7, 7, 1, 'alu', 'R1', 'R1'],
      [6, 6, 1, 'mov', 'R0', 'R2'],
      [4, 2, 1, 'arg', 'R1', 'frame0:R1'],
      [4, 2, 1, 'arg', 'R2', 'frame0:R2'],
      [2, 1, 0, 'load', 'R1', 'R1'],
      [1, 0, 0, 'load', 'R2', 'R1'],
    ]);
    expect(w.links[8].origin).toBe('loaded from the context at R1+0 (R1=ctx())');
    expect(w.links[9].origin).toBe('loaded from the context at R1+16 (R1=ctx())');
    // The global function's R0 and its own argument.
    expect(shape(db, pid, 15, 'R0')).toEqual([[14, 'global-return']]);
    expect(shape(db, pid, 22, 'R1')).toEqual([[22, 'refine'], [19, 'refine'], [17, 'global-arg']]);
    // Path 2 (from 12 to 14) skips insn 13 (w2 = 0): R2 is still w1.
    expect(shape(db, pid, 30, 'R0')).toEqual([[30, 'mov'], [18, 'mov'], [17, 'global-arg']]);
  });

  it('loop_callback: the caller\'s fp-8, written by the callback through fp[0]-8, back to the constant it was set from', async () => {
    const { db, pid } = await load('compute.loop_callback.log');
    const w = whyAt(db, pid, 27, 'R0');
    expect(w.links.map((l) => [l.step, l.why, l.writes.join(','), l.reads.join(',')])).toEqual([
      [27, 'fill', 'R0', 'fp-8'],
      [20, 'spill', 'fp[0]-8', 'R3'],
      [19, 'alu', 'R3', 'R3,R1'],
      [18, 'alu', 'R3', 'R3'],
      [17, 'fill', 'R3', 'fp[0]-8'],
      [15, 'callback-arg', 'R1', ''],
      [2, 'spill', 'fp-8', 'R2'],
      [1, 'const', 'R2', ''],
    ]);
    expect(w.links[5].origin).toBe('passed to the callback by bpf_loop');
    expect(w.links[7].origin).toBe('the constant 5');
    // The callback's R2 is bpf_loop's R3, a pointer made from the frame pointer.
    expect(whyAt(db, pid, 17, 'frame1:R2').links.map((l) => [l.step, l.why, l.reads.join(','), l.origin ?? ''])).toEqual([
      [15, 'arg', 'frame0:R3', ''],
      [7, 'alu', 'R3', ''],
      [6, 'mov', 'R10', 'the frame pointer of frame 0'],
    ]);
    // Second callback pass: its fill reads what the first pass stored.
    expect(shape(db, pid, 32, 'frame1:R3').slice(0, 2)).toEqual([[32, 'fill'], [20, 'spill']]);
    // R10 and a slot never written.
    expect(shape(db, pid, 12, 'R10')).toEqual([[12, 'fp']]);
    expect(shape(db, pid, 12, 'fp-16')).toEqual([[0, 'never-written']]);
    expect(whyAt(db, pid, 3, 'R1').links.map((l) => l.why)).toEqual(['load']);
  });

  it('count_bytes: a loop counter goes back through every iteration the path took', async () => {
    const { db, pid } = await load('compute.count_bytes.log');
    const w = whyAt(db, pid, 31, 'R7');
    expect(w.links.map((l) => [l.step, l.why])).toEqual([[31, 'refine'], [29, 'alu'], [12, 'const']]);
    expect(w.value).toBe('1');
  });

  it('errors name the step and the location', async () => {
    const { db, pid, steps } = await load('compute.loop_callback.log');
    expect(() => whyAt(db, pid, steps, 'R0')).toThrow(new BpfscopeError(`no step ${steps}: the program has ${steps} steps (0..${steps - 1})`));
    expect(() => whyAt(db, pid, 27, 'frame1:R0')).toThrow('step 27 has only frame 0: no frame1:R0 there');
    expect(() => whyAt(db, pid, 3, 'fp-4')).toThrow('at step 3: \'fp-4\': stack slots are fp-8');
  });
});

const logFiles = [
  ...readdirSync(DIR).filter((f) => f.endsWith('.log')),
  ...['6.1', '6.12'].flatMap((d) => readdirSync(path.join(DIR, d)).filter((f) => f.endsWith('.log')).map((f) => `${d}/${f}`)),
].sort();

describe('every register and slot at every step answers', () => {
  it.each(logFiles)('%s', async (file) => {
    const { db, pid, steps } = await load(file);
    let queries = 0;
    for (let s = 0; s < steps; s++) {
      const st = stateAtStep(db, pid, s);
      for (const f of st.frames) {
        const locs = [...Array.from({ length: 11 }, (_, r) => `R${r}`), ...Object.keys(f.stack).filter((o) => Number(o) % 8 === 0).map((o) => `fp${o}`)];
        for (const loc of locs) {
          const w = whyAt(db, pid, s, `frame${f.frame}:${loc}`);
          queries++;
          expect(w.links.length, `${file} step ${s} frame${f.frame}:${loc}`).toBeGreaterThan(0);
          // Newest first, never after the step asked, every link naming what it wrote.
          for (let i = 0; i < w.links.length; i++) {
            expect(w.links[i].step).toBeLessThanOrEqual(i === 0 ? s : w.links[i - 1].step);
            expect(w.links[i].writes.length).toBeGreaterThan(0);
          }
          // Every chain ends where its value starts.
          expect(w.links.some((l) => l.origin !== undefined), `${file} step ${s} ${loc}: no origin`).toBe(true);
        }
      }
    }
    // (A level-1 log has no steps to ask about.)
    expect(queries).toBeGreaterThanOrEqual(steps);
  });
});

describe("the kernel's mark_precise backtracking is in the chains", () => {
  it('on every fixture log', async () => {
    let runs = 0;
    let insns = 0;
    for (const file of logFiles) {
      const { db, pid } = await load(file);
      const r = preciseAgainstChains(db, pid);
      expect(r.missing, file).toEqual([]);
      runs += r.runs;
      insns += r.insns;
    }
    expect(runs).toBeGreaterThanOrEqual(5);
    expect(insns).toBeGreaterThanOrEqual(5);
  });
});

describe('bpfscope why', () => {
  it('prints the chain, --json gives it whole, bad input is exit 1 with a sentence', async () => {
    const { db, trace } = await load('compute.loop_callback.log');
    db.close();
    const t = await bpfscopeInProcess(['why', trace, '--step', '27', 'R0']);
    expect(t.code).toBe(0);
    expect(t.out).toContain('chain: 8 links');
    expect(t.out).toContain('starts here: the constant 5');
    const j = await bpfscopeInProcess(['why', trace, '-p', 'loop_callback', '--step', '27', 'R0', '--json']);
    expect(j.code).toBe(0);
    const r = JSON.parse(j.out) as { links: { step: number }[]; loc: string; value: string };
    expect(r.loc).toBe('R0');
    expect(r.links.map((l) => l.step)).toEqual([27, 20, 19, 18, 17, 15, 2, 1]);
    const bad = await bpfscopeInProcess(['why', trace, '--step', '27', 'frame3:R1']);
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`bpfscope why: ${trace}: program loop_callback: step 27 has only frame 0: no frame3:R1 there\n`);
    expect((await bpfscopeInProcess(['why', trace, '--step', 'x', 'R1'])).code).toBe(1);
    expect((await bpfscopeInProcess(['why', trace, 'R1'])).code).toBe(2);
  });
});
