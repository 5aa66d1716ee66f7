import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BpfscopeError } from '../../../main/errors';
import { parseObject } from '../../../main/object/object';
import { fromObject } from '../../../main/runtime/load';
import type { RawInsn } from '../../../main/object/insn/raw';
import { decodeRaw, encodeRaw } from '../../../main/object/insn/raw';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, examplePrograms } from '../../helpers/ref';
import { mulberry32 } from './genprog';
import { loadExample } from './helpers';

/**
 * The machine never crashes: random instruction bytes and mutated example
 * programs either run to their exit or stop with a named fault; no
 * JavaScript exception escapes and no 'internal' fault appears.
 */
describe('fuzz', () => {
  it('random instruction streams', () => {
    const rnd = mulberry32(42);
    const base = loadExample(examplePrograms()[0].objectPath, examplePrograms()[0].program);
    const kinds = new Map<string, number>();
    for (let iter = 0; iter < 400; iter++) {
      const n = 1 + Math.floor(rnd() * 40);
      const bytes = new Uint8Array(n * 8);
      for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(rnd() * 256);
      // Bias towards valid opcodes and registers so runs get somewhere.
      for (let i = 0; i < n; i++) {
        if (rnd() < 0.7) bytes[i * 8 + 1] &= 0x77;
      }
      const insns: RawInsn[] = decodeRaw(bytes);
      const r = runSession({ ...base, insns, imm64Refs: new Map(), kfuncs: new Map() }, { input: { data: DEFAULT_PACKET }, budget: 5000 });
      const f = r.runs[0].fault;
      expect(f?.kind).not.toBe('internal');
      kinds.set(f?.kind ?? 'exit', (kinds.get(f?.kind ?? 'exit') ?? 0) + 1);
    }
    // The corpus reaches several outcomes, not one.
    expect(kinds.size).toBeGreaterThan(3);
  });

  it('mutated example programs', () => {
    const rnd = mulberry32(7);
    for (const p of examplePrograms().filter((e) => e.run)) {
      const prog = loadExample(p.objectPath, p.program);
      for (let iter = 0; iter < 30; iter++) {
        const bytes = encodeRaw(prog.insns);
        const flips = 1 + Math.floor(rnd() * 3);
        for (let k = 0; k < flips; k++) bytes[Math.floor(rnd() * bytes.length)] ^= 1 << Math.floor(rnd() * 8);
        const insns = decodeRaw(bytes);
        const r = runSession({ ...prog, insns }, { input: { data: DEFAULT_PACKET }, budget: 20000, repeat: 2, freeMaps: true });
        for (const run of r.runs) expect(run.fault?.kind, run.fault?.message).not.toBe('internal');
        expect(r.mapFreeFault ?? '').not.toMatch(/internal/);
      }
    }
  });

  it('corrupted objects: a BpfscopeError naming the problem, or a run that ends or faults by name', () => {
    const rnd = mulberry32(5);
    const files = [...new Set(examplePrograms().filter((e) => e.run).map((e) => e.objectPath))];
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const f = files[i % files.length];
      const bytes = new Uint8Array(readFileSync(f));
      const n = 1 + Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) bytes[Math.floor(rnd() * bytes.length)] = Math.floor(rnd() * 256);
      let outcome: string;
      try {
        const obj = parseObject(bytes, f);
        for (const p of obj.programs) {
          const r = runSession(fromObject(obj, p.name), { input: { data: DEFAULT_PACKET }, budget: 20000, freeMaps: true });
          expect(r.runs[0].fault?.kind).not.toBe('internal');
        }
        outcome = 'ran';
      } catch (err) {
        expect(err).toBeInstanceOf(BpfscopeError);
        outcome = 'error';
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(outcomes.get('ran')).toBeGreaterThan(0);
    expect(outcomes.get('error')).toBeGreaterThan(0);
  });
});
