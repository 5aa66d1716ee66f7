import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseObject } from '../../../main/object/object';
import { PROGS, REPO } from './helpers';

// The kernel prints line_info in its verifier log ("; TEXT @ FILE:LINE" before
// the first instruction the record covers); those logs, printed by this
// machine's kernel for the example programs, are the oracle for .BTF.ext.
const LOGS = path.join(REPO, 'test/fixtures/logs');

describe('line_info equals the source lines the kernel printed', () => {
  // Level-1 logs of accepted programs print only the summary: nothing to compare.
  const logs = readdirSync(LOGS).filter((f) => f.endsWith('.log') && /^; /m.test(readFileSync(path.join(LOGS, f), 'utf8')));
  it('has logs to compare with', () => expect(logs.length).toBeGreaterThan(5));
  for (const log of logs) {
    const [objName, progName] = log.replace(/\.log$/, '').split('.');
    it(log, () => {
      const obj = parseObject(new Uint8Array(readFileSync(path.join(PROGS, `${objName}.bpf.o`))), `${objName}.bpf.o`);
      const prog = obj.programs.find((p) => p.name === progName)!;
      expect(prog, progName).toBeDefined();
      const lines = readFileSync(path.join(LOGS, log), 'utf8').split('\n');
      let compared = 0;
      for (let i = 0; i < lines.length; i++) {
        const src = /^; (.*) @ (\S+):(\d+)$/.exec(lines[i]);
        if (!src) continue;
        let insn: number | undefined;
        for (let j = i + 1; j < lines.length && insn === undefined; j++) {
          const m = /^(\d+): \(/.exec(lines[j]);
          if (m) insn = Number(m[1]);
          else if (/^; /.test(lines[j])) break;
        }
        // Past the program's own instructions the kernel is in appended subprograms.
        if (insn === undefined || insn >= prog.insns.length) continue;
        const rec = prog.lineInfo.filter((l) => l.insnIdx <= insn!).at(-1)!;
        expect({ text: rec.line.trim(), file: path.basename(rec.fileName), line: rec.lineNum }, `${log} insn ${insn}`).toEqual({
          text: src[1],
          file: src[2],
          line: Number(src[3]),
        });
        compared++;
      }
      expect(compared).toBeGreaterThan(0);
    });
  }
});
