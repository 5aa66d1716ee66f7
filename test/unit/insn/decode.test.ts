import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { examplePrograms } from '../../helpers/ref';
import { parseObject } from '../../../main/object/object';
import { linkProgram } from '../../../main/object/link';
import { decodeInsns, type Insn } from '../../../main/object/insn/instruction';
import { FORMS } from './forms';

describe('decoded instructions', () => {
  it('jump targets equal the branches the kernel explored (`from A to B` in the fixture logs)', () => {
    let checked = 0;
    for (const p of examplePrograms()) {
      const l = linkProgram(parseObject(new Uint8Array(readFileSync(p.objectPath)), p.objectPath), p.program);
      const slots = decodeInsns(l.insns);
      for (const m of readFileSync(p.logFixture, 'utf8').matchAll(/^from (\d+) to (\d+):/gm)) {
        const from = slots[Number(m[1])];
        // A conditional jump pushes its taken branch; calls and exits resume elsewhere.
        if (from.kind !== 'jump') continue;
        expect({ from: from.idx, to: from.target }).toEqual({ from: from.idx, to: Number(m[2]) });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(50);
  });

  it('every form of the table decodes to a kind and mnemonic (one per distinct form)', () => {
    const seen = new Map<string, string>();
    for (const f of FORMS) {
      const raw = f.slots.map(([code, dst, src, off, imm], idx) => ({ idx, code, dst, src, off, imm }));
      const d = decodeInsns(raw)[0] as Insn;
      const key = `${d.kind}/${d.op}/${d.is32 ?? ''}/${d.useReg ?? ''}/${d.size ?? ''}`;
      if (f.text.startsWith('BUG') || /\(null\)|exit 0x|jmp r/.test(f.text)) {
        expect(d.kind, f.text).toBe('invalid');
        continue;
      }
      expect(d.kind, f.text).not.toBe('invalid');
      // Two different texts never decode to the same meaning (except operands).
      const shape = f.text.replace(/^\([0-9a-f]{2}\)/, '(#)').replace(/call \S+$/, 'call #').replace(/0x[0-9a-f]+|[-+]?\d+|[rw]\d+/g, '#');
      const prior = seen.get(key);
      if (prior !== undefined) expect(prior, f.text).toBe(shape);
      seen.set(key, shape);
    }
    expect(seen.size).toBeGreaterThan(100);
  });

  it('ld_imm64 is two slots, its value from both; targets of calls, gotol and may_goto', () => {
    const s = decodeInsns([
      { idx: 0, code: 0x18, dst: 1, src: 0, off: 0, imm: -2 },
      { idx: 1, code: 0, dst: 0, src: 0, off: 0, imm: 0x10 },
      { idx: 2, code: 0x85, dst: 0, src: 1, off: 0, imm: 3 },
      { idx: 3, code: 0x06, dst: 0, src: 0, off: 0, imm: -4 },
      { idx: 4, code: 0xe5, dst: 0, src: 0, off: 2, imm: 0 },
    ]);
    expect(s.map((x) => x.kind)).toEqual(['ld_imm64', 'ld_imm64_tail', 'call', 'jump', 'jump']);
    expect(s[0].imm64).toBe(0x10fffffffen);
    expect(s.slice(2).map((x) => [x.op, 'target' in x ? x.target : undefined])).toEqual([
      ['pseudo', 6],
      ['gotol', 0],
      ['may_goto', 7],
    ]);
  });
});
