/**
 * The few facts the recorder needs from the end of a verifier log: the stats
 * block (`processed N insns ...`, `verification time`, `stack depth`) and the
 * closing error of a rejected program. The full log is parsed by
 * main/verifier; these lines have had one format since 5.x.
 */
export interface LogStats {
  processedInsns?: number;
  maxStatesPerInsn?: number;
  totalStates?: number;
  peakStates?: number;
  markRead?: number;
  verificationTimeUs?: number;
  /** As printed: '8' or '8+16' with subprograms. */
  stackDepth?: string;
}

const PROCESSED = /^processed (\d+) insns \(limit \d+\) max_states_per_insn (\d+) total_states (\d+) peak_states (\d+) mark_read (\d+)$/m;

export function parseLogStats(tail: string): LogStats {
  const s: LogStats = {};
  const p = PROCESSED.exec(tail);
  if (p) {
    s.processedInsns = Number(p[1]);
    s.maxStatesPerInsn = Number(p[2]);
    s.totalStates = Number(p[3]);
    s.peakStates = Number(p[4]);
    s.markRead = Number(p[5]);
  }
  const t = /^verification time (\d+) usec$/m.exec(tail);
  if (t) s.verificationTimeUs = Number(t[1]);
  const d = /^stack depth ([\d+]+)$/m.exec(tail);
  if (d) s.stackDepth = d[1];
  return s;
}

const STATS_LINE = /^(processed \d+ insns|verification time \d+ usec|stack depth [\d+]+$)/;
/** A line that belongs to the walk (instruction, state, source, backtracking) rather than to the verdict. */
const WALK_LINE = /^(\d+: |; |from \d+ to \d+|mark_precise|\s|func#|Live regs|SCC |last_idx|regs=|parent |frame\d|[.0-9]{10} )/;

/**
 * The kernel's closing error lines of a rejected log (one or two lines), or
 * undefined when the log ends without one: a program refused before the walk
 * (struct_ops without its struct: ENOTSUPP after `func#0 @0`) or a walk cut
 * short (EAGAIN) ends on a walk line, which is no error; the caller then
 * reports the errno.
 */
export function closingError(tail: string): string | undefined {
  const lines = tail.split('\n').filter((l) => l.length > 0 && !STATS_LINE.test(l));
  const last = lines.pop();
  if (last === undefined || WALK_LINE.test(last)) return undefined;
  const prev = lines.pop();
  if (prev !== undefined && !WALK_LINE.test(prev)) return `${prev}\n${last}`;
  return last;
}
