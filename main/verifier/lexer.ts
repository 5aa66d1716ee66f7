/**
 * Classify one verifier log line. Formats from kernel/bpf/verifier.c and
 * log.c of 5.15 through 6.18 (see KERNEL-NOTES.md), plus the text libbpf,
 * bpftool -d, veristat -v and the selftests print around a log.
 * Pure and line-local: the reconstruction decides what a line means in context.
 */

import { matchKernelDiag, type KernelDiag } from './diagnostics';

export type MarkPrecise =
  | { kind: 'range'; frame: number; lastIdx: number; firstIdx: number; subseqIdx: number | null }
  | { kind: 'before'; frame: number; regs: string; stack: string; insn: number; insnText: string }
  | { kind: 'parent'; frame: number; regs: string; stack: string; text: string }
  | { kind: 'other'; frame: number; text: string };

export type LogLine =
  | { kind: 'blank' }
  /** `N: (op) text [; delta]`; `delta` null when no `;` was printed. */
  | {
      kind: 'insn'; insn: number; opcode: string; text: string; delta: string | null;
      /** Level 1 can print the next state on the same line: `11: (26) if w2 > 0x64 goto pc+4 16: R0=...`. */
      trailing?: { insn: number; text: string };
    }
  /** `N: R1=... ` — a printed state for insn N (a delta since 5.17, full in 5.15). */
  | { kind: 'state'; insn: number; text: string }
  | { kind: 'safe'; insn: number }
  | { kind: 'from'; from: number; to: number; speculative: boolean; text: string; safe: boolean }
  | { kind: 'source'; text: string; file: string | null; line: number | null }
  | { kind: 'func'; func: number; insn: number }
  | { kind: 'liveHeader' }
  | { kind: 'liveRow'; insn: number; live: string; text: string }
  | { kind: 'markPrecise'; event: MarkPrecise }
  | { kind: 'scc'; text: string }
  /** Stack liveness debug lines of 6.18 (`(0) frame 0 insn 7 +live -8`). */
  | { kind: 'liveness'; text: string }
  /** `Validating f() func#2...`: a global function is verified on its own, from a fresh state. */
  | { kind: 'validating'; func: number; name: string }
  | { kind: 'caller' }
  | { kind: 'callee' }
  | { kind: 'returning' }
  | { kind: 'toCaller'; insn: number }
  /** An indented state line inside a caller/callee/returning block. */
  | { kind: 'cont'; text: string }
  | { kind: 'processed'; insns: number; limit: number; maxStatesPerInsn: number; totalStates: number; peakStates: number; markRead: number }
  | { kind: 'verificationTime'; usec: number }
  | { kind: 'stackDepth'; text: string }
  | { kind: 'leak'; id: number; allocInsn: number }
  | { kind: 'errorBlock'; label: string; text: string }
  /** Known lines that carry no state: `Validating f() func#1...`, `Func#1 ... is global`. */
  | { kind: 'info'; text: string }
  /**
   * A line the verifier prints when a check of call arguments or of a BTF
   * struct access fails (main/verifier/diagnostics.ts names the kernel
   * function). It is the error when verification stops right after it, and a
   * diagnostic when it goes on: 6.1's btf_check_func_arg_match prints
   * `reg type unsupported for arg#1 function fold_step#54` at a call of a
   * static subprog (or callback) whose argument is neither a scalar nor ctx;
   * the subprog is marked unreliable and verification continues. For a global
   * function the next line is `Caller passes invalid args into func#N` and
   * the load fails.
   */
  | { kind: 'diag'; text: string; diag: KernelDiag }
  | { kind: 'wrapBegin'; program: string | null }
  | { kind: 'wrapEnd' }
  | { kind: 'wrapper'; text: string }
  | { kind: 'other'; text: string };

const INSN = /^(\d+): \(([0-9a-f]{2})\) (.*)$/;
const TRAILING = /^(.*?) (\d+): ((?:frame\d+: )?R\d+(?:_[rwD]{1,2})?=.*)$/;
const STATE = /^(\d+):\s?(.*)$/;
const FROM = /^from (\d+) to (\d+)( \(speculative execution\))?:\s?(.*)$/;
const SOURCE = /^; (.*?)(?: @ (.+):(\d+))?$/;
const FUNC = /^func#(\d+) @(\d+)$/;
const LIVE_ROW = /^\s+(?:\d+\s+)?(\d+): ([0-9.]{10,12}) (.*)$/;
const MP_RANGE = /^last_idx (\d+) first_idx (\d+)(?: subseq_idx (-?\d+))?\s*$/;
const MP_BEFORE = /^regs=(\S*) stack=(\S*) before (\d+): (.*)$/;
const MP_PARENT = /^parent state regs=(\S*) stack=(\S*):?(.*)$/;
const PROCESSED = /^processed (\d+) insns \(limit (\d+)\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+) mark_read (\d+)/;
const LEAK = /^Unreleased reference id=(\d+) alloc_insn=(\d+)/;
const BEGIN = /^(?:libbpf: )?(?:prog '([^']*)': )?-- BEGIN (?:PROG LOAD|DUMP) LOG ---?$/;
const END = /^(?:libbpf: )?-- END (?:PROG LOAD )?LOG --$/;

/**
 * `N: (xx) rest` as INSN matches it, without the regex (most lines that carry
 * state in a level-2 log are these): the index where `rest` starts, -1 when
 * the line is not one. The insn number is left in `insnNo`. A line with a
 * character `.` does not match (\r, \u2028, \u2029) is left to the regex.
 */
let insnNo = 0;
function insnHead(line: string): number {
  let i = 0;
  let n = 0;
  for (; i < line.length; i++) {
    const d = line.charCodeAt(i) - 48;
    if (d < 0 || d > 9) break;
    n = n * 10 + d;
  }
  if (i === 0 || i > 15 || line.length < i + 7) return -1;
  if (line.charCodeAt(i) !== 58 /* : */ || line.charCodeAt(i + 1) !== 32 || line.charCodeAt(i + 2) !== 40 /* ( */) return -1;
  if (!isLowerHex(line.charCodeAt(i + 3)) || !isLowerHex(line.charCodeAt(i + 4))) return -1;
  if (line.charCodeAt(i + 5) !== 41 /* ) */ || line.charCodeAt(i + 6) !== 32) return -1;
  insnNo = i > 9 ? Number(line.slice(0, i)) : n;
  return i + 7;
}

/**
 * line.slice(a, b).trimEnd() (or .trim() with `start`) as one string: the
 * kernel pads the insn text with spaces up to the `;`, and a string for the
 * padded text and another for the trimmed one cost twice per step. Other
 * whitespace at an end goes to the builtin, which then decides as before.
 */
function sliceTrimmed(line: string, a: number, b: number, start: boolean): string {
  if (start) while (a < b && line.charCodeAt(a) === 32) a++;
  while (b > a && line.charCodeAt(b - 1) === 32) b--;
  const out = line.slice(a, b);
  if (b > a && (oddSpace(line.charCodeAt(b - 1)) || (start && oddSpace(line.charCodeAt(a))))) return start ? out.trim() : out.trimEnd();
  return out;
}

/** Whitespace for String.prototype.trim other than the plain space: tabs, line breaks, Unicode spaces, BOM. */
function oddSpace(c: number): boolean {
  return (c >= 9 && c <= 13) || c === 160 || c === 5760 || (c >= 8192 && c <= 8202) || c === 8232 || c === 8233 ||
    c === 8239 || c === 8287 || c === 12288 || c === 65279;
}

function isLowerHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102);
}

export function lexLine(line: string): LogLine {
  if (line.length === 0) return { kind: 'blank' };
  const c0 = line.charCodeAt(0);
  if (c0 >= 48 && c0 <= 57) {
    const at = insnHead(line);
    if (at > 0 && line.indexOf('\r', at) < 0 && line.indexOf('\u2028', at) < 0 && line.indexOf('\u2029', at) < 0) {
      const insn = insnNo;
      const opcode = line.slice(at - 4, at - 2);
      const semi = topLevelSemicolon(line, at);
      if (semi < 0) {
        const rest = line.slice(at);
        const t = TRAILING.exec(rest);
        if (t) return { kind: 'insn', insn, opcode, text: t[1], delta: null, trailing: { insn: Number(t[2]), text: t[3] } };
        return { kind: 'insn', insn, opcode, text: rest.trimEnd(), delta: null };
      }
      return { kind: 'insn', insn, opcode, text: sliceTrimmed(line, at, semi, false), delta: sliceTrimmed(line, semi + 1, line.length, true) };
    }
    const i = INSN.exec(line);
    if (i) {
      const rest = i[3];
      const semi = topLevelSemicolon(rest, 0);
      if (semi < 0) {
        const t = TRAILING.exec(rest);
        if (t) return { kind: 'insn', insn: Number(i[1]), opcode: i[2], text: t[1], delta: null, trailing: { insn: Number(t[2]), text: t[3] } };
        return { kind: 'insn', insn: Number(i[1]), opcode: i[2], text: rest.trimEnd(), delta: null };
      }
      return {
        kind: 'insn', insn: Number(i[1]), opcode: i[2],
        text: rest.slice(0, semi).trimEnd(), delta: rest.slice(semi + 1).trim(),
      };
    }
    const s = STATE.exec(line);
    if (s) {
      if (s[2] === 'safe') return { kind: 'safe', insn: Number(s[1]) };
      return { kind: 'state', insn: Number(s[1]), text: s[2].trim() };
    }
  }
  if ((c0 === 32 || c0 === 9 || c0 < 32 || c0 > 126) && /^\s*$/.test(line)) return { kind: 'blank' };
  if (c0 === 59 /* ; */) {
    const m = SOURCE.exec(line);
    if (m) return { kind: 'source', text: m[1], file: m[2] ?? null, line: m[3] !== undefined ? Number(m[3]) : null };
  }
  if (c0 === 32 || c0 === 9) {
    const lr = LIVE_ROW.exec(line);
    if (lr) return { kind: 'liveRow', insn: Number(lr[1]), live: lr[2], text: lr[3] };
    return { kind: 'cont', text: line.trim() };
  }
  if (line.startsWith('from ')) {
    const m = FROM.exec(line);
    if (m) {
      const text = m[4].trim();
      return { kind: 'from', from: Number(m[1]), to: Number(m[2]), speculative: !!m[3], text, safe: text === 'safe' };
    }
  }
  if (line.startsWith('mark_precise: frame')) {
    const m = /^mark_precise: frame(\d+): (.*)$/.exec(line);
    if (m) return { kind: 'markPrecise', event: markPrecise(Number(m[1]), m[2].trim()) };
  }
  // Before 6.3 the backtracking lines had no `mark_precise: frameN:` prefix.
  if (line.startsWith('last_idx ')) {
    const m = MP_RANGE.exec(line);
    if (m) return { kind: 'markPrecise', event: markPrecise(0, line) };
  }
  if (line.startsWith('regs=') || line.startsWith('parent ')) {
    if (MP_BEFORE.test(line) || /^parent (didn't have|already had) regs=/.test(line)) {
      return { kind: 'markPrecise', event: markPrecise(0, line) };
    }
  }
  if (line.startsWith('func#')) {
    const m = FUNC.exec(line);
    if (m) return { kind: 'func', func: Number(m[1]), insn: Number(m[2]) };
  }
  switch (line.trimEnd()) {
    case 'caller:': return { kind: 'caller' };
    case 'callee:': return { kind: 'callee' };
    case 'returning from callee:': return { kind: 'returning' };
    case 'Live regs before insn:': return { kind: 'liveHeader' };
  }
  if (line.startsWith('to caller at ')) {
    const m = /^to caller at (\d+):$/.exec(line.trimEnd());
    if (m) return { kind: 'toCaller', insn: Number(m[1]) };
  }
  if (line.startsWith('SCC ') || line.startsWith('scc ')) return { kind: 'scc', text: line };
  if (/^\([\d,]+\) (frame \d+ insn \d+|live stack update)/.test(line)) return { kind: 'liveness', text: line };
  if (/^frame \d+: propagating /.test(line)) {
    return { kind: 'markPrecise', event: { kind: 'other', frame: Number(/^frame (\d+)/.exec(line)?.[1] ?? 0), text: line } };
  }
  if (line.startsWith('processed ')) {
    const m = PROCESSED.exec(line);
    if (m) {
      return {
        kind: 'processed', insns: Number(m[1]), limit: Number(m[2]), maxStatesPerInsn: Number(m[3]),
        totalStates: Number(m[4]), peakStates: Number(m[5]), markRead: Number(m[6]),
      };
    }
  }
  if (line.startsWith('verification time ')) {
    const m = /^verification time (\d+) usec/.exec(line);
    if (m) return { kind: 'verificationTime', usec: Number(m[1]) };
  }
  if (line.startsWith('stack depth')) {
    const m = /^stack depth ([\d+]+)\s*$/.exec(line);
    if (m) return { kind: 'stackDepth', text: m[1] };
  }
  if (line.startsWith('Unreleased reference')) {
    const m = LEAK.exec(line);
    if (m) return { kind: 'leak', id: Number(m[1]), allocInsn: Number(m[2]) };
  }
  const blk = /^(Reason|Causal path|Suggestion|Hint|Note):\s*(.*)$/.exec(line);
  if (blk) return { kind: 'errorBlock', label: blk[1], text: blk[2] };
  const b = BEGIN.exec(line);
  if (b) return { kind: 'wrapBegin', program: b[1] ?? null };
  if (END.test(line)) return { kind: 'wrapEnd' };
  const v = /^Validating (.*) func#(\d+)\.\.\.$/.exec(line);
  if (v) return { kind: 'validating', func: Number(v[2]), name: v[1] };
  if (
    line.startsWith('libbpf: ') || /^={5,}\s*$/.test(line) || line === 'VERIFIER LOG:' ||
    line.startsWith('PROCESSING ') || line.startsWith("Processing '") || line.startsWith('Error: ') ||
    /^-{5,}[- ]*$/.test(line) || /^File\s+Program\s+Verdict/.test(line) || /^Done\. Processed \d+ files/.test(line) ||
    line.startsWith('Warning: bpftool') || line.startsWith('If it used to work')
  ) {
    return { kind: 'wrapper', text: line };
  }
  const diag = matchKernelDiag(line);
  if (diag) return { kind: 'diag', text: line, diag };
  if (/^Func#\d+ .* is (global|safe)/.test(line) || /^(stack depth|static subprog)/.test(line)) {
    return { kind: 'info', text: line };
  }
  return { kind: 'other', text: line };
}

function markPrecise(frame: number, rest: string): MarkPrecise {
  let m = MP_RANGE.exec(rest);
  if (m) {
    const subseq = m[3] !== undefined ? Number(m[3]) : null;
    return { kind: 'range', frame, lastIdx: Number(m[1]), firstIdx: Number(m[2]), subseqIdx: subseq };
  }
  m = MP_BEFORE.exec(rest);
  if (m) return { kind: 'before', frame, regs: m[1], stack: m[2], insn: Number(m[3]), insnText: m[4] };
  m = MP_PARENT.exec(rest);
  if (m) return { kind: 'parent', frame, regs: m[1], stack: m[2], text: m[3].trim() };
  return { kind: 'other', frame, text: rest };
}

/** The lines one physical line stands for (an insn line with a trailing state is two). */
export function expandLine(line: LogLine): LogLine[] {
  if (line.kind === 'insn' && line.trailing) {
    const { trailing, ...insn } = line;
    return [insn, { kind: 'state', insn: trailing.insn, text: trailing.text }];
  }
  return [line];
}

/** The first `;` outside parentheses (`var_off=(0x0; 0xff)` has one inside). */
function topLevelSemicolon(text: string, from: number): number {
  // Usually the first ';' is the delta's: check only the short insn text before it.
  const first = text.indexOf(';', from);
  if (first < 0) return -1;
  let open = 0;
  for (let i = from; i < first; i++) {
    const c = text.charCodeAt(i);
    if (c === 40) open++;
    else if (c === 41) open--;
  }
  if (open === 0) return first;
  let depth = 0;
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 40) depth++;
    else if (c === 41) depth = depth > 0 ? depth - 1 : 0;
    else if (c === 59 && depth === 0) return i;
  }
  return -1;
}
