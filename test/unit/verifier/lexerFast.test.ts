import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lexLine } from '../../../main/verifier/lexer';

/**
 * lexLine reads `N: (xx) text ; delta` without a regex. These check it against
 * the regex it replaced, on every instruction line of the kernel-printed and
 * hand-written logs and on lines built to sit at the edges of the format.
 */
const INSN = /^(\d+): \(([0-9a-f]{2})\) (.*)$/;

function logLines(): string[] {
  const out: string[] = [];
  for (const dir of [path.resolve(__dirname, '../../fixtures/logs'), path.resolve(__dirname, 'logs')]) {
    for (const f of readdirSync(dir)) {
      if (f.endsWith('.log')) out.push(...readFileSync(path.join(dir, f), 'utf8').split('\n'));
    }
  }
  return out;
}

function firstSemicolonOutsideParens(text: string): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth = Math.max(0, depth - 1);
    else if (text[i] === ';' && depth === 0) return i;
  }
  return -1;
}

describe('instruction lines without the regex', () => {
  it('every instruction line of the logs: the insn, opcode and text the regex gives', () => {
    let n = 0;
    for (const line of logLines()) {
      const m = INSN.exec(line);
      const t = lexLine(line);
      if (!m) {
        expect(t.kind === 'insn' ? line : '').toBe('');
        continue;
      }
      n++;
      expect(t.kind).toBe('insn');
      if (t.kind !== 'insn') continue;
      expect([t.insn, t.opcode]).toEqual([Number(m[1]), m[2]]);
      const semi = firstSemicolonOutsideParens(m[3]);
      if (semi >= 0) expect([t.text, t.delta]).toEqual([m[3].slice(0, semi).trimEnd(), m[3].slice(semi + 1).trim()]);
      else expect(m[3].startsWith(t.text)).toBe(true);
    }
    expect(n).toBeGreaterThan(1000);
  });

  it('edge cases: long numbers, upper-case hex, missing parts, line breaks inside, whitespace-only lines', () => {
    const cases = [
      '12345678901234567890: (bf) r1 = r2',
      '7: (BF) r1 = r2',
      '7: (bf)r1 = r2',
      '7: (b) r1 = r2',
      '7:(bf) r1 = r2',
      '7: (bf) ',
      '7: (bf) r1 = r2\r; R1=1',
      '7: (bf) r1 = r2 ; R1=scalar(var_off=(0x0; 0xff))',
      '7: (bf) if r1 > 0x3 goto pc+2 9: R1=3',
      '42: R1=ctx() R10=fp0',
      '   ',
      '\t',
      '\u00a0',
    ];
    for (const line of cases) {
      const m = INSN.exec(line);
      const t = lexLine(line);
      if (m) {
        expect(t.kind, line).toBe('insn');
        if (t.kind === 'insn') expect([t.insn, t.opcode], line).toEqual([Number(m[1]), m[2]]);
      } else {
        expect(t.kind, line).not.toBe('insn');
      }
      if (/^\s*$/.test(line)) expect(t.kind).toBe('blank');
    }
    const d = lexLine('7: (bf) r1 = r2 ; R1=scalar(var_off=(0x0; 0xff))');
    expect(d.kind === 'insn' && [d.text, d.delta]).toEqual(['r1 = r2', 'R1=scalar(var_off=(0x0; 0xff))']);
    // Whitespace other than spaces around the text and the delta: trimmed as String.prototype.trim does.
    for (const [line, text, delta] of [
      ['7: (bf) r1 = r2 \t ;  R1=1 \u00a0', 'r1 = r2', 'R1=1'],
      ['7: (bf) r1 = r2\u3000;\tR1=1\ufeff ', 'r1 = r2', 'R1=1'],
      ['7: (bf)  r1 = r2   ;R1=1', ' r1 = r2', 'R1=1'],
      ['7: (bf) ;   ', '', ''],
    ]) {
      const t = lexLine(line);
      expect(t.kind === 'insn' && [t.text, t.delta], JSON.stringify(line)).toEqual([text, delta]);
    }
  });
});
