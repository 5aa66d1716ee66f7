import { lexLine, type LogLine } from './lexer';
import { MAX_LINE } from './lines';

/**
 * Is this a verifier log at all? `import` asks before it writes anything, so
 * that random bytes, a program binary, an empty file or a README give a
 * sentence instead of a trace of "unknown lines". Pure: bytes in (as they
 * come, in chunks), a problem or null out; it stops looking as soon as it
 * knows, so a real log costs its first lines.
 *
 * Binary: more than BINARY_SHARE of the first SAMPLE_BYTES are neither text
 * (UTF-8) nor the whitespace a log holds. A verifier log is ASCII.
 *
 * A verifier line is one the lexer recognises by a shape only the verifier
 * prints: an instruction (`N: (op) ...`), a register state (`N: R1=...`),
 * `from N to M:`, `func#N @M`, backtracking, the live-regs table, a call
 * frame boundary, `processed N insns`, `verification time`, `stack depth`,
 * `Unreleased reference`, a libbpf/bpftool BEGIN LOG line. A level-1 log of
 * a load refused before any instruction was walked is only the error (and
 * at most a line or two more): such a short log is taken when one of its
 * lines speaks the verifier's words (ERROR_WORDS).
 */
export const SAMPLE_BYTES = 64 * 1024;
const BINARY_SHARE = 0.1;
/** A log with no verifier line is taken as a bare error message when it has at most this many lines. */
const BARE_ERROR_LINES = 4;

/**
 * Words of the verifier's error messages (`back-edge from insn 3 to 1`,
 * `unknown opcode 8d`, `invalid func unknown#195896080`, `R0 !read_ok`,
 * `BTF is required...`, `misaligned stack access`, `program of this type
 * cannot use helper bpf_probe_read#4`), not of prose in general.
 */
const ERROR_WORDS = new RegExp([
  String.raw`\bR\d{1,2}\b`, String.raw`\binsns?\b`, String.raw`\w#\d+`, String.raw`\bk?func#`, String.raw`\bkfunc`, String.raw`\bhelper\b`,
  String.raw`\bbpf_\w+`, String.raw`\bBPF_\w*`, String.raw`\bBPF program\b`, String.raw`\b[Bb][Tt][Ff]\b`, String.raw`\bctx\b`, String.raw`\bfp-?\d+`,
  String.raw`\bpc[+-]\d+`, 'ref_obj_id', String.raw`\b(?:off|size|id|imm|value_size|key_size|alloc_insn)=`, String.raw`\bmap_\w+`,
  String.raw`\bopcode\b`, 'back-edge', String.raw`\bsubprogs?\b`, String.raw`\bcallback\b`, String.raw`\bstack\b`, String.raw`\bverifier\b`,
  String.raw`\barg#?\d+`, 'tail_call', 'spin_lock', 'holding a lock', 'dynptr', 'kptr', String.raw`\bld_imm64\b`, String.raw`\bjmp\b`,
  String.raw`\bregister\b`, String.raw`\bmisaligned\b`,
].join('|'));

/** A register state as the verifier prints it after `N: ` (`R1=ctx()`, `frame1: R2_w=...`, `fp-8=mmmm`). */
const STATE_TEXT = /^(?:frame\d+: )?(?:R\d+|fp-\d+)\w*=/;

const STRONG = new Set<LogLine['kind']>([
  'insn', 'safe', 'from', 'func', 'liveHeader', 'liveRow', 'markPrecise', 'liveness', 'validating', 'caller', 'callee',
  'returning', 'toCaller', 'processed', 'verificationTime', 'stackDepth', 'leak', 'wrapBegin',
]);

export interface LogProblem {
  message: string;
  where: { offset: number } | { line: number };
}

type LineClass = 'verifier' | 'error' | 'text' | 'none';

function classify(text: string): LineClass {
  const line = lexLine(text);
  if (STRONG.has(line.kind)) return 'verifier';
  switch (line.kind) {
    case 'state':
      return STATE_TEXT.test(line.text) ? 'verifier' : 'text';
    case 'blank':
    case 'wrapper':
    case 'wrapEnd':
      return 'none';
    // A diagnostic's format (about 200 of them, diagnostics.ts) is a short sentence a text quoting the
    // kernel may hold too: evidence like an error line, not like an instruction.
    case 'diag':
    case 'info':
    case 'errorBlock':
    case 'other':
      return ERROR_WORDS.test(text) ? 'error' : 'text';
    default:
      return 'text';
  }
}

export class LogCheck {
  private readonly sample = new Uint8Array(SAMPLE_BYTES);
  private sampled = 0;
  private binary: LogProblem | null | undefined;
  private found = false;
  private bytes = 0;
  private lineNo = 0;
  private carry = '';
  private firstText = 0;
  private textLines = 0;
  private errorLines = 0;

  /** True once more bytes cannot change the answer about binary data or a verifier line. */
  get done(): boolean {
    return this.binary !== undefined && (this.binary !== null || this.found);
  }

  /** The problem found so far that no later byte can undo (binary data), or null. */
  get early(): LogProblem | null {
    return this.binary ?? null;
  }

  feed(chunk: Uint8Array): void {
    if (this.done) return;
    this.bytes += chunk.length;
    if (this.binary === undefined) {
      const n = Math.min(chunk.length, SAMPLE_BYTES - this.sampled);
      this.sample.set(chunk.subarray(0, n), this.sampled);
      this.sampled += n;
      if (this.sampled === SAMPLE_BYTES) this.binary = binaryProblem(this.sample.subarray(0, this.sampled), true);
    }
    if (!this.found) this.lines(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length).toString('latin1'));
  }

  /** After the last chunk: what makes this no verifier log, or null when it is one. */
  finish(): LogProblem | null {
    if (this.binary === undefined) this.binary = binaryProblem(this.sample.subarray(0, this.sampled), false);
    if (this.binary) return this.binary;
    if (this.found) return null;
    if (this.carry.length > 0) {
      this.line(this.carry);
      this.carry = '';
      if (this.found) return null;
    }
    if (this.bytes === 0) return { message: 'not a verifier log: the file is empty', where: { offset: 0 } };
    if (this.firstText === 0) return { message: 'not a verifier log: it has only blank lines', where: { line: 1 } };
    if (this.errorLines > 0 && this.textLines + this.errorLines <= BARE_ERROR_LINES) return null;
    const n = this.textLines + this.errorLines;
    return {
      message: `not a verifier log: ${n === 1 ? 'its one line is not' : `none of its ${n} lines is`} one the verifier prints ` +
        "(an instruction, a register state, 'processed N insns', an error message)",
      where: { line: this.firstText },
    };
  }

  private lines(text: string): void {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const head = this.carry;
      this.carry = '';
      this.line(head + text.slice(start, nl));
      start = nl + 1;
      if (this.found) return;
    }
    if (this.carry.length < MAX_LINE) this.carry += text.slice(start, start + MAX_LINE - this.carry.length);
  }

  private line(raw: string): void {
    this.lineNo++;
    const text = (raw.length > MAX_LINE ? raw.slice(0, MAX_LINE) : raw).replace(/\r$/, '');
    const c = classify(text);
    if (c === 'none') return;
    if (this.firstText === 0) this.firstText = this.lineNo;
    if (c === 'verifier') this.found = true;
    else if (c === 'error') this.errorLines++;
    else this.textLines++;
  }
}

/** Too much of `bytes` is not text: where the first such byte is and how much there is. */
function binaryProblem(bytes: Uint8Array, cutAtEnd: boolean): LogProblem | null {
  let bad = 0;
  let first = -1;
  for (let i = 0; i < bytes.length; ) {
    const n = textRun(bytes, i, cutAtEnd);
    if (n > 0) {
      i += n;
      continue;
    }
    if (first < 0) first = i;
    bad++;
    i++;
  }
  if (bytes.length === 0 || bad <= bytes.length * BINARY_SHARE) return null;
  const pct = Math.round((bad * 100) / bytes.length);
  return {
    message: `not a verifier log: binary data (${pct}% of the first ${bytes.length} bytes are not text)`,
    where: { offset: first },
  };
}

/**
 * The length of the text character at `i` (1 to 4 bytes of UTF-8), 0 when
 * the byte there is no text: a control character other than tab, line
 * breaks and escape, or not valid UTF-8. A sequence cut by the end of a
 * sample that goes on counts as text.
 */
function textRun(b: Uint8Array, i: number, cutAtEnd: boolean): number {
  const c = b[i];
  if (c < 0x80) return (c >= 0x20 && c !== 0x7f) || (c >= 0x09 && c <= 0x0d) || c === 0x1b ? 1 : 0;
  const len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len === 0) return 0;
  for (let k = 1; k < len; k++) {
    if (i + k >= b.length) return cutAtEnd ? b.length - i : 0;
    if ((b[i + k] & 0xc0) !== 0x80) return 0;
  }
  return len;
}
