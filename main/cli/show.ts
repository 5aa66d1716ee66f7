import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import type { TraceDb } from '../trace/db';
import { readTrace } from './trace-file';
import {
  errorsAndWarnings, listPaths, listRefs, logInfo, readLogLines, refLifetime, stateAtStep, stepCount,
  type CallJson, type RegJson, type StepState,
} from '../trace/verifierRead';

const usage = `usage: bpfscope show TRACE [-p PROG] (--step N | --steps A..B) [--json]

The full verifier state at a step of an imported or recorded log: every
frame's registers and stack slots, the references held, the lock. At a call
the state is the one after it (R1-R5 clobbered, R0 as returned) and the call
is shown with its arguments as they were before it (JSON: "call").
  -p, --program   the program (name or id) when the trace has several
  --step N        one step (0-based)
  --steps A..B    steps A to B inclusive (JSON: an array)
  --json          machine-readable: 64-bit bounds are decimal strings, tnums hex strings
Without --step/--steps: a summary (paths, references, errors).`;

/** The program with a verifier log that -p names (the only one when there is one). */
export function pickProgram(db: TraceDb, file: string, want: string | undefined): { id: number; name: string } {
  const rows = db.prepare(`SELECT p.id, p.name FROM programs p JOIN verifier_logs v ON v.program_id = p.id ORDER BY p.id`)
    .all() as { id: number; name: string }[];
  if (rows.length === 0) throw new BpfscopeError('the trace has no verifier log', file);
  if (want === undefined) {
    if (rows.length === 1) return rows[0];
    throw new BpfscopeError(`the trace has ${rows.length} programs with a log (${rows.map((r) => r.name).join(', ')}): pick one with -p`, file);
  }
  const hit = rows.find((r) => r.name === want) ?? rows.find((r) => String(r.id) === want);
  if (!hit) throw new BpfscopeError(`no program '${want}' with a log (have: ${rows.map((r) => r.name).join(', ')})`, file);
  return hit;
}

function parseStepRange(text: string): [number, number] {
  const m = /^(\d+)\.\.(\d+)$/.exec(text);
  if (!m) throw new BpfscopeError(`--steps takes A..B, not '${text}'`);
  const a = Number(m[1]);
  const b = Number(m[2]);
  if (b < a) throw new BpfscopeError(`--steps ${text}: the end is before the start`);
  if (b - a > 100000) throw new BpfscopeError(`--steps ${text}: at most 100000 steps at once`);
  return [a, b];
}

function describeReg(r: RegJson): string {
  const bits: string[] = [r.type];
  if (r.baseType === 'scalar') {
    if (r.smin === r.smax) bits.push(`= ${r.smin}`);
    else bits.push(`[${r.smin}, ${r.smax}] u[${r.umin}, ${r.umax}] var_off=(${r.varOff?.value}; ${r.varOff?.mask})`);
  }
  if (r.id !== null) bits.push(`id=${r.id}`);
  if (r.refObjId !== null) bits.push(`ref_obj_id=${r.refObjId}`);
  if (r.off !== null) bits.push(`off=${r.off}`);
  if (r.nonOwnRef) bits.push('non-owning');
  if (r.precise) bits.push('precise');
  return bits.join(' ');
}

/**
 * A call step: the frames above are the state after the call (R1-R5 are
 * clobbered); the arguments as they were before it, and R0 as it returned.
 */
const CALL_STATUS: Record<CallJson['status'], string> = {
  returned: '',
  callee: 'when the callee exits (its return step)',
  pruned: 'not printed: the next insn was pruned (safe)',
  stopped: 'none: verification stopped at this call (the registers above are the ones before it)',
  unprinted: 'not printed by the kernel',
};

function textCall(c: CallJson): string[] {
  const callee = c.kind === 'subprog' ? `call ${c.target}` : `call ${c.target}#${c.id}`;
  const out = [`${callee} (${c.kind}) at insn ${c.insn}, frame ${c.frame}${c.step !== null ? `, step ${c.step}` : ''}`];
  const row = (name: string, r: RegJson | null, note = ''): string =>
    `    ${name.padEnd(4)} ${(r?.raw ?? 'not init').padEnd(40)} ${r ? describeReg(r) : ''}${note}`.trimEnd();
  out.push('  arguments before the call:');
  const variadic = c.params?.includes('...') ?? false;
  for (let i = 1; i <= 5; i++) {
    const r = c.args[`R${i}` as keyof CallJson['args']];
    if (!c.params) {
      out.push(row(`R${i}`, r));
      continue;
    }
    const param = i <= c.params.length ? c.params[i - 1] : variadic ? '...' : null;
    // Past the prototype a register that holds nothing is not worth a line.
    if (param === null && !r) continue;
    out.push(row(`R${i}`, r, param === null ? '  (not an argument)' : `  (${param})`));
  }
  if (c.params && c.params.length === 0) out.push('    (none: the callee takes no arguments)');
  out.push('  returned:');
  out.push(`    R0   ${CALL_STATUS[c.status]}`);
  if (c.status === 'returned') out[out.length - 1] = c.ret ? row('R0', c.ret) : '    R0   not init (returns nothing)';
  return out;
}

function textState(s: StepState, raw: string | undefined): string {
  const out: string[] = [];
  out.push(`step ${s.step}  line ${s.line}  insn ${s.insn}  ${s.kind}  path ${s.path}  frame ${s.frame}`);
  if (raw !== undefined) out.push(`  | ${raw}`);
  for (const f of s.frames) {
    out.push(`frame${f.frame}:${f.flags.length ? ` (${f.flags.join(' ')})` : ''}`);
    for (const [name, r] of Object.entries(f.regs)) out.push(`  ${name.padEnd(4)} ${r.raw.padEnd(40)} ${describeReg(r)}`);
    for (const [off, slot] of Object.entries(f.stack)) {
      out.push(`  fp${off}`.padEnd(7) + ` ${slot.raw.padEnd(40)} ${slot.kind}`);
    }
  }
  if (s.call) out.push(...textCall(s.call));
  const refs = s.refs.map((r) => `${r.refObjId}${r.func ? ` (${r.func} at insn ${r.acquireInsn})` : ''}`);
  out.push(`refs: ${refs.length ? refs.join(', ') : 'none'}   lock held: ${s.lockHeld ? 'yes' : 'no'}`);
  for (const w of s.warnings ?? []) out.push(`warning: ${w}`);
  if (s.error) out.push(`error: ${s.error}`);
  return out.join('\n');
}

function summary(db: TraceDb, id: number, name: string): string {
  const info = logInfo(db, id);
  const prog = db.prepare('SELECT verdict, processed_insns, total_states, peak_states, verification_time_us, stack_depth FROM programs WHERE id = ?')
    .get(id) as Record<string, unknown>;
  const out = [
    `${name}: ${info?.lineCount} lines, ${info?.stepCount} steps, verdict ${prog.verdict ?? 'unknown'}`,
    `  processed ${prog.processed_insns ?? '?'} insns, ${prog.total_states ?? '?'} states (peak ${prog.peak_states ?? '?'}), ` +
      `${prog.verification_time_us ?? '?'} us, stack depth ${prog.stack_depth ?? '?'}`,
    `  ${info?.mismatches} mismatches, ${info?.unknownLines} unknown lines, ${info?.cutLines} cut lines`,
    'paths:',
  ];
  for (const p of listPaths(db, id).slice(0, 200)) {
    const from = p.fromInsn === null ? 'start' : `from ${p.fromInsn} to ${p.toInsn}${p.parentPath !== null ? ` (pushed by path ${p.parentPath} at step ${p.pushedStep})` : ''}`;
    out.push(`  #${p.path} steps ${p.startStep}..${p.endStep ?? '?'} ${from}: ends ${p.end}${p.endInsn !== null ? ` at insn ${p.endInsn}` : ''}`);
  }
  out.push('references:');
  for (const r of listRefs(db, id)) {
    if (r.kind === 'lock') continue;
    const evs = refLifetime(db, id, r.refObjId).events.filter((e) => e.kind !== 'acquired')
      .map((e) => `${e.kind} at insn ${e.insn} (path ${e.path}${e.func ? `, ${e.func}` : ''})`);
    out.push(`  ref ${r.refObjId}: ${r.func ?? '?'} at insn ${r.acquireInsn}; ${evs.join('; ') || 'never released in the log'}`);
  }
  const msgs = errorsAndWarnings(db, id);
  for (const m of msgs.slice(0, 50)) out.push(`${m.severity} (line ${m.line}): ${m.text}`);
  return out.join('\n');
}

export const command: Command = {
  summary: 'show the verifier state at a step of a trace',
  usage,
  async run(argv) {
    const args = parseArgs(argv, { values: ['program', 'step', 'steps'], switches: ['json'], aliases: { p: 'program' } });
    const file = args.positional[0];
    if (!file || args.positional.length > 1) {
      process.stderr.write(`${usage}\n`);
      return 2;
    }
    return readTrace('show', file, (db) => {
      const prog = pickProgram(db, file, args.values.get('program'));
      const n = stepCount(db, prog.id);
      const one = args.values.get('step');
      const range = args.values.get('steps');
      if (one !== undefined && range !== undefined) throw new BpfscopeError('give --step or --steps, not both');
      if (one === undefined && range === undefined) {
        process.stdout.write(`${summary(db, prog.id, prog.name)}\n`);
        return 0;
      }
      let a: number;
      let b: number;
      if (one !== undefined) {
        if (!/^\d+$/.test(one)) throw new BpfscopeError(`--step takes a step number, not '${one}'`);
        a = b = Number(one);
      } else [a, b] = parseStepRange(range as string);
      if (a >= n) throw new BpfscopeError(`step ${a} is past the end: the log has ${n} steps (0..${n - 1})`, file);
      b = Math.min(b, n - 1);
      const states: StepState[] = [];
      for (let s = a; s <= b; s++) states.push(stateAtStep(db, prog.id, s));
      if (args.switches.has('json')) {
        process.stdout.write(`${JSON.stringify(one !== undefined ? states[0] : states, null, 2)}\n`);
      } else {
        for (const s of states) {
          const raw = readLogLines(db, prog.id, s.line, 1)[0]?.text;
          process.stdout.write(`${textState(s, raw)}\n\n`);
        }
      }
      return 0;
    });
  },
};
