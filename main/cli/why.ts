import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { readTrace } from './trace-file';
import { pickProgram } from './show';
import { whyAt, type WhyResult } from '../trace/whyRead';

const usage = `usage: bpfscope why TRACE [-p PROG] --step N LOC [--json]

Where the value of a register or stack slot after step N came from: the
chain of steps that produced it, walked back along the path the verifier
took to that step (through moves, ALU ops, spills and fills of stack slots,
calls, a callee's arguments and return, the branch that pushed each path),
to where each part of it starts (a constant, the context, a load from a map
value or the packet, a helper's return, a stack slot never written). Then
the kernel's own backtracking printed after that step (mark_precise), with
the insns where its masks changed and whether the chain has them.
  LOC             R0..R10 or fp-8, fp-16, … in the step's frame; frame1:R2,
                  frame0:fp-8 or fp[0]-8 for another frame
  -p, --program   the program (name or id) when the trace has several
  --step N        the step (0-based), as \`bpfscope show\` numbers them
  --json          the chain as JSON: links newest first, each with step, insn,
                  frame, text, why, writes, reads and origin (where a value starts)`;

function text(r: WhyResult, program: string): string {
  const out = [`${program} step ${r.step}: ${r.frame ? `frame${r.frame}:` : ''}${r.loc} = ${r.value ?? 'not init'}`];
  out.push(`chain: ${r.links.length} link${r.links.length === 1 ? '' : 's'} (${r.walked} steps walked)`);
  for (const l of r.links) {
    const flow = `${l.writes.join(',')}${l.reads.length ? ` <- ${l.reads.join(',')}` : ''}`;
    const frame = (l.frame ? `frame${l.frame}` : '').padEnd(7);
    out.push(`  step ${String(l.step).padStart(6)}  insn ${String(l.insn).padStart(4)} ${frame} ${l.why.padEnd(13)} ${l.text.padEnd(36)} ${flow}`);
    if (l.origin) out.push(`${' '.repeat(35)}starts here: ${l.origin}`);
  }
  if (r.kernel.lines.length > 0) {
    out.push('the kernel\'s backtracking after this step (mark_precise):');
    for (const l of r.kernel.lines) out.push(`  ${l.text}`);
    for (const run of r.kernel.runs) {
      const what = [...run.regs, ...run.stack].join(',') || 'nothing';
      const defs = run.defs.map((d) => `${d.insn}${d.inChain ? '' : ' (not in the chain)'}`).join(', ') || 'none';
      out.push(`  run for ${run.frame ? `frame${run.frame}:` : ''}${what}${run.concerns ? ' (this location)' : ''}: masks changed at insns ${defs}${run.gaveUp ? '; it gave up (all scalars precise)' : ''}`);
    }
  } else out.push('the kernel printed no backtracking (mark_precise) after this step');
  return out.join('\n');
}

export const command: Command = {
  summary: 'where the value of a register or stack slot at a step came from',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program', 'step'], switches: ['json'], aliases: { p: 'program' } });
    const [file, loc, ...extra] = args.positional;
    const step = args.values.get('step');
    if (!file || !loc || extra.length > 0 || step === undefined) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    if (!/^\d+$/.test(step)) throw new BpfscopeError(`--step takes a step number, not '${step}'`);
    return readTrace('why', file, (db) => {
      const prog = pickProgram(db, file, args.values.get('program'));
      let r: WhyResult;
      try {
        r = whyAt(db, prog.id, Number(step), loc);
      } catch (err) {
        if (err instanceof BpfscopeError) throw new BpfscopeError(`program ${prog.name}: ${err.message}`, file);
        throw err;
      }
      process.stdout.write(args.switches.has('json') ? `${JSON.stringify(r, null, 2)}\n` : `${text(r, prog.name)}\n`);
      return 0;
    });
  },
};
