import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeInsns, disassemble } from '../../../main/object/insn/instruction';
import { parseObject } from '../../../main/object/object';
import { entryPrograms, linkProgram, linkedNames } from '../../../main/object/link';
import { programListing } from '../../../main/object/insn/listing';
import { examplePrograms } from '../../helpers/ref';
import { FORMS } from './forms';
import { onlyBpfscopeErrors, rng } from '../../helpers/fuzz';

const CODES = [...new Set(FORMS.map((f) => f.slots[0][0]))];

describe('fuzz: random instruction bytes through decode and print', () => {
  it('10,000 random programs: every line is a kernel form, only BpfscopeErrors escape', () => {
    let printed = 0;
    let refused = 0;
    for (let seed = 1; seed <= 10_000; seed++) {
      const next = rng(seed);
      // Mostly whole slots; one input in eight has a ragged length.
      const slots = 1 + (next() % 32);
      const len = slots * 8 + (seed % 8 === 0 ? 1 + (next() % 7) : 0);
      const bytes = new Uint8Array(len);
      for (let i = 0; i < len; i++) bytes[i] = next() & 0xff;
      // Half of the opcodes are real ones (from the forms table), so that the
      // operand fields, not just the opcode dispatch, get random values.
      for (let i = 0; i + 8 <= len; i += 8) if (next() & 1) bytes[i] = CODES[next() % CODES.length];
      const names = {
        call: () => (seed % 3 === 0 ? { name: 'kf', id: seed % 5 === 0 ? null : 7 } : undefined),
        imm: (_r: unknown, v: bigint) => (seed % 4 === 0 ? `v${v}` : undefined),
      };
      const ok = onlyBpfscopeErrors('disasm', seed, () => {
        const insns = decodeInsns(bytes);
        for (const line of disassemble(insns, names)) {
          if (!/^(\([0-9a-f]{2}\) \S.*|BUG_(ld_|ldx_|st_)?[0-9a-f]{2})$/.test(line.text)) {
            throw new Error(`seed ${seed}: malformed line '${line.text}'`);
          }
          printed++;
        }
      });
      if (!ok) refused++;
    }
    expect(printed).toBeGreaterThan(100_000);
    // Ragged lengths and cut-off ld_imm64s are refused, with a BpfscopeError.
    expect(refused).toBeGreaterThanOrEqual(1250);
  });
});

describe('fuzz: mutated example objects through parseObject and linkProgram', () => {
  it('2,000 mutated objects: only BpfscopeErrors escape', () => {
    const objects = [...new Set(examplePrograms().map((p) => p.objectPath))].map((p) => new Uint8Array(readFileSync(p)));
    let linked = 0;
    for (let seed = 1; seed <= 2_000; seed++) {
      const next = rng(seed * 7919);
      const bytes = objects[seed % objects.length].slice();
      const flips = 1 + (next() % 8);
      for (let i = 0; i < flips; i++) bytes[next() % bytes.length] = next() & 0xff;
      onlyBpfscopeErrors('object', seed, () => {
        const obj = parseObject(bytes, `mutant-${seed}.o`);
        for (const p of entryPrograms(obj.elf)) {
          onlyBpfscopeErrors('link', seed, () => {
            const l = linkProgram(obj, p.name);
            disassemble(decodeInsns(l.insns), linkedNames(l));
            programListing(l, () => 1);
            linked++;
          });
        }
      });
    }
    expect(linked).toBeGreaterThan(500);
  });
});
