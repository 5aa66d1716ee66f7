import type { Command } from './index';
import { parseArgs } from './args';
import { formatTable } from './table';
import { BpfscopeError } from '../errors';
import type { TraceDb } from '../trace/db';
import type { CountChange, StatsComparison } from '../compare/stats';
import type { ComparisonSummary, DifferenceJson } from '../compare/traceCompare';

const usage = `usage: bpfscope compare A.trace B.trace [-p PROG] [--json] [--fail-on-diff]

Two traces side by side, as veristat -C compares two runs: per program
(paired by object file and program name, or by program name alone when the
objects are named differently) the verdict, the error, the kernel's
processed insns, total states, peak states and stack depth (its own
closing lines) in A and in B, and the change from A to B (absolute and %).
Programs only one trace has are listed after the table.
  -p, --program   also compare the two verifications of this program (name
                  or A's id) state by state: the steps are aligned by path
                  and instruction, not by step number, and the first step
                  where the states differ is printed with its number in
                  each trace and the registers and stack slots that differ
                  (type, range, tnum, id, ref_obj_id, off, precision)
  --json          machine-readable: {a, b, programs: {rows, onlyInA, onlyInB},
                  program?: {name, summary, first}}; first is null when the
                  two verifications do not differ
  --fail-on-diff  exit 3 when anything differs (default: exit 0 whether or
                  not they differ; 1 is for a file that cannot be read)`;

function counts(c: CountChange): string[] {
  const pct = c.diff === null ? '' : c.pct === null ? ' (+inf%)' : ` (${c.pct >= 0 ? '+' : ''}${c.pct.toFixed(2)}%)`;
  const diff = c.diff === null ? '' : `${c.diff >= 0 ? '+' : ''}${c.diff}${pct}`;
  return [c.a === null ? '?' : String(c.a), c.b === null ? '?' : String(c.b), diff];
}

function statsText(s: StatsComparison): string {
  const head = ['PROGRAM', 'VERDICT (A)', 'VERDICT (B)', 'INSNS (A)', 'INSNS (B)', 'INSNS (DIFF)', 'STATES (A)', 'STATES (B)', 'STATES (DIFF)',
    'PEAK (A)', 'PEAK (B)', 'PEAK (DIFF)', 'STACK (A)', 'STACK (B)', 'STACK (DIFF)'];
  const table = [head];
  const notes: string[] = [];
  for (const r of s.rows) {
    table.push([
      r.program, r.a.verdict ?? '?', `${r.b.verdict ?? '?'}${r.verdictMatch ? '' : ' (MISMATCH)'}`,
      ...counts(r.processedInsns), ...counts(r.totalStates), ...counts(r.peakStates),
      r.a.stackDepth ?? '?', r.b.stackDepth ?? '?', counts(r.stackDepth)[2],
    ]);
    if (r.matchedBy === 'program') notes.push(`${r.program}: paired by name (objects ${r.a.object || '-'} and ${r.b.object || '-'})`);
    if (!r.errorMatch) {
      notes.push(`${r.program}: the errors differ`);
      notes.push(`  A: ${(r.a.error ?? '(none)').replace(/\n/g, ' / ')}`);
      notes.push(`  B: ${(r.b.error ?? '(none)').replace(/\n/g, ' / ')}`);
    }
  }
  let out = formatTable(table);
  if (s.onlyInA.length) notes.push(`only in A: ${s.onlyInA.map((p) => p.program).join(', ')}`);
  if (s.onlyInB.length) notes.push(`only in B: ${s.onlyInB.map((p) => p.program).join(', ')}`);
  if (notes.length) out += `\n${notes.join('\n')}\n`;
  return out;
}

function differenceText(name: string, sum: ComparisonSummary, d: DifferenceJson | null): string {
  const out = [
    `${name}: ${sum.stepsA} steps in A, ${sum.stepsB} in B; aligned by path and instruction: ${sum.paired} paired, ` +
      `${sum.onlyA} only in A, ${sum.onlyB} only in B` + (sum.identicalSteps > 0 ? ` (the first ${sum.identicalSteps} steps are the same log text)` : ''),
  ];
  if (!d) {
    out.push('no difference: the two verifications reach the same states along the same paths');
    return out.join('\n') + '\n';
  }
  const steps = `A step ${d.aStep ?? '-'}, B step ${d.bStep ?? '-'}`;
  if (d.kind === 'state') out.push(`first difference at insn ${d.insn} (${steps}; paths ${d.aPath} and ${d.bPath}): the states differ`);
  else out.push(`first difference at insn ${d.insn} (${steps}): only ${d.kind === 'onlyA' ? 'A' : 'B'} walked this step`);
  if (d.aText !== null) out.push(`  A | ${d.aText}`);
  if (d.bText !== null) out.push(`  B | ${d.bText}`);
  const rows = [['', 'WHERE', 'A', 'B', 'DIFFERS IN']];
  for (const l of d.locations) {
    rows.push(['', `${l.name}${l.frame > 0 || d.locations.some((x) => x.frame !== l.frame) ? ` (frame ${l.frame})` : ''}`, l.a ?? 'not init', l.b ?? 'not init', l.aspects.join(', ')]);
  }
  if (d.locations.length) out.push(formatTable(rows).trimEnd());
  return out.join('\n') + '\n';
}

function statsDiffer(s: StatsComparison): boolean {
  if (s.onlyInA.length || s.onlyInB.length) return true;
  return s.rows.some((r) => !r.verdictMatch || !r.errorMatch ||
    [r.processedInsns, r.totalStates, r.peakStates, r.stackDepth].some((c) => c.a !== c.b));
}

export const command: Command = {
  summary: 'compare two traces: verdicts and counts (as veristat -C), and one program state by state',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program'], switches: ['json', 'fail-on-diff'], aliases: { p: 'program' } });
    if (args.positional.length !== 2) throw new BpfscopeError("compare takes two trace files; see 'bpfscope help compare'");
    const [fileA, fileB] = args.positional;
    const { readTrace } = await import('./trace-file');
    const { compareTraceStats, programByName, ProgramComparison } = await import('../compare/traceCompare');
    const want = args.values.get('program');
    return readTrace('compare', fileA, (a: TraceDb) =>
      readTrace('compare', fileB, (b: TraceDb) => {
        const stats = compareTraceStats(a, b);
        let program: { name: string; summary: ComparisonSummary; first: DifferenceJson | null } | undefined;
        if (want !== undefined) {
          const pa = programByName({ db: a, file: fileA }, want);
          // B's program: A's partner in the table, else the one of the same name.
          const partner = stats.rows.find((r) => r.a.id === pa)?.b.id;
          const pb = partner ?? programByName({ db: b, file: fileB }, want);
          const cmp = new ProgramComparison({ db: a, file: fileA, programId: pa }, { db: b, file: fileB, programId: pb });
          program = { name: want, summary: cmp.summary(), first: cmp.next(0) };
        }
        if (args.switches.has('json')) {
          process.stdout.write(`${JSON.stringify({ a: fileA, b: fileB, programs: stats, ...(program ? { program } : {}) }, null, 2)}\n`);
        } else {
          process.stdout.write(`A: ${fileA}\nB: ${fileB}\n\n${statsText(stats)}`);
          if (program) process.stdout.write(`\n${differenceText(program.name, program.summary, program.first)}`);
        }
        const differ = statsDiffer(stats) || (program !== undefined && program.first !== null);
        return args.switches.has('fail-on-diff') && differ ? 3 : 0;
      }),
    );
  },
};
