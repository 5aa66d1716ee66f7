import { expect } from 'vitest';
import type { TraceDb } from '../../main/trace/db';
import { readLogLines, readSteps, stateAtStep } from '../../main/trace/verifierRead';
import { lexLine } from '../../main/verifier/lexer';
import { parseStateText } from '../../main/verifier/stateText';

/**
 * The reconstruction's central check: at every instruction step whose log
 * line carries a state (`N: (OP) TEXT ; R1=... fp-8=...`), each register and
 * stack slot the kernel printed there equals bpfscope's reconstructed state
 * at that step, in the frame the kernel printed it in. Returns how many
 * registers were compared, for the caller to insist on a non-empty check.
 */
export function expectPrintedStatesEqual(db: TraceDb, programId: number, steps: number, label = ''): number {
  let checked = 0;
  for (const st of readSteps(db, programId, 0, steps)) {
    if (st.kind !== 'insn') continue;
    const line = lexLine(readLogLines(db, programId, st.line, 1)[0].text);
    if (line.kind !== 'insn' || line.delta === null) continue;
    const state = stateAtStep(db, programId, st.step);
    expect(state.frames.length - 1, `${label} line ${st.line}: frames`).toBe(st.frame);
    let frame = 0;
    for (const item of parseStateText(line.delta)) {
      if (item.kind === 'frame') frame = item.frame;
      if (item.kind === 'reg') {
        expect(state.frames[frame].regs[`R${item.reg}`]?.raw, `${label} line ${st.line} R${item.reg}`).toBe(item.raw);
        checked++;
      }
      if (item.kind === 'slot') expect(state.frames[frame].stack[String(item.off)]?.raw, `${label} line ${st.line} fp${item.off}`).toBe(item.raw);
    }
  }
  return checked;
}
