import { parseCall, type CallKind } from '../verifier/reconstruct';

/**
 * What one instruction does to registers and memory, read from its text as
 * the kernel's log prints it (print_bpf_insn: `r1 += r2`, `w0 = w2`,
 * `r2 = *(u32 *)(r1 +16)`, `*(u64 *)(r10 -8) = r1`, `if w1 s> 0x3e8 goto
 * pc+1`, `call bpf_loop#181`). The provenance walk only needs, per insn, the
 * register it defines, the ones the value is computed from, and the memory
 * it reads or writes; so that is all this keeps. Pure.
 */
export type Effect =
  /** `r1 = r2`, `w1 = w2`, `r1 = (s8)r2`: the value moves. */
  | { kind: 'mov'; dst: number; src: number }
  /** `r1 += r2`, `r1 += 8`, `r1 = -r1`, `r1 = be16 r1`: computed from dst (and src). */
  | { kind: 'alu'; dst: number; src: number | null }
  /** `r1 = 5`, `r1 = 0xffff8881...` (ld_imm64: a constant, a map, a function). */
  | { kind: 'const'; dst: number; imm64: boolean }
  /** `r2 = *(u32 *)(r1 +16)`: a load through `base`. */
  | { kind: 'load'; dst: number; base: number; off: number; size: number }
  /** `*(u64 *)(r10 -8) = r1` (src a register) or `= 5` (src null: an immediate). */
  | { kind: 'store'; base: number; off: number; size: number; src: number | null }
  /**
   * `lock *(u64 *)(r10 -8) += r1`, `r1 = atomic64_fetch_add((u64 *)(r2 +0), r1)`,
   * `r0 = atomic64_cmpxchg(...)`, `r1 = atomic64_xchg(...)`: memory updated
   * from itself and `src` (`rmw` false for xchg: the old value is replaced),
   * and for the fetch forms `fetch` receives the old value.
   */
  | { kind: 'atomic'; base: number; off: number; size: number; src: number; fetch: number | null; rmw: boolean; cmp: boolean }
  /** `r0 = *(u8 *)skb[12]`: R0 from the packet; R1-R5 are clobbered like a call. */
  | { kind: 'ldabs'; index: number | null }
  /** `call name#id`, `call pc+3`. */
  | { kind: 'call'; call: CallKind; target: string }
  /** `if r1 > r2 goto pc+3`, `if w1 s> 0x0 goto`: the registers compared, whose ranges both branches refine. */
  | { kind: 'branch'; regs: number[] }
  /** exit, goto, may_goto, nospec, and text this does not understand: no register or memory written. */
  | { kind: 'none'; text: string };

const REG = String.raw`[rw](\d+)`;
const MEM = String.raw`\*\((?:u|s)(8|16|32|64) \*\)\(r(\d+) ([+-]\d+)\)`;
const RE_LOAD = new RegExp(`^${REG} = ${MEM}$`);
const RE_STORE = new RegExp(`^${MEM} = (?:${REG}|(-?(?:0x[0-9a-f]+|\\d+)))$`);
const RE_LOCK = new RegExp(`^lock ${MEM} \\S+= ${REG}$`);
const RE_FETCH = /^r(\d+) = atomic(?:64)?_(fetch_\w+|xchg|cmpxchg)\(\((?:u|s)(8|16|32|64) \*\)\(r(\d+) ([+-]\d+)\), r(\d+)(?:, r(\d+))?\)$/;
const RE_ACQ = /^r(\d+) = load_acquire\(\((?:u|s)(8|16|32|64) \*\)\(r(\d+) ([+-]\d+)\)\)$/;
const RE_REL = /^store_release\(\((?:u|s)(8|16|32|64) \*\)\(r(\d+) ([+-]\d+)\), r(\d+)\)$/;
const RE_MOV = new RegExp(`^${REG} = (?:\\(s(?:8|16|32)\\))?${REG}$`);
const RE_ALU = /^[rw](\d+) (?:s?[+\-*/%|&^]|<<|s?>>)= (?:[rw](\d+)|-?(?:0x[0-9a-f]+|\d+))$/;
const RE_UNARY = /^[rw](\d+) = (?:-|(?:be|le|bswap)\d+ )[rw](\d+)$/;
const RE_CAST = /^r(\d+) = (?:addr_space_cast\(r(\d+), \d+, \d+\)|&\(void __percpu \*\)\(r(\d+)\))$/;
const RE_CONST = /^[rw](\d+) = (-?(?:0x[0-9a-f]+|\d+))( ll)?$/;
const RE_LDABS = /^r0 = \*\((?:u|s)(?:8|16|32|64) \*\)skb\[(?:r(\d+) \+ )?-?\d+\]$/;
const RE_BRANCH = /^if [rw](\d+) \S+ (?:[rw](\d+)|-?(?:0x[0-9a-f]+|\d+)) goto pc[+-]\d+$/;

const bytes = (bits: string): number => Number(bits) / 8;

/** `opcode` is the hex code the log prints before the text (`18` is ld_imm64). */
export function parseEffect(text: string, opcode = ''): Effect {
  const t = text.trim();
  let m: RegExpExecArray | null;
  const c0 = t.charCodeAt(0);
  if (c0 === 114 /* r */ || c0 === 119 /* w */) {
    if ((m = RE_MOV.exec(t))) return { kind: 'mov', dst: Number(m[1]), src: Number(m[2]) };
    if ((m = RE_ALU.exec(t))) return { kind: 'alu', dst: Number(m[1]), src: m[2] !== undefined ? Number(m[2]) : null };
    if ((m = RE_LOAD.exec(t))) return { kind: 'load', dst: Number(m[1]), base: Number(m[3]), off: Number(m[4]), size: bytes(m[2]) };
    if ((m = RE_CONST.exec(t))) return { kind: 'const', dst: Number(m[1]), imm64: opcode === '18' || m[3] !== undefined };
    if ((m = RE_UNARY.exec(t))) return { kind: 'alu', dst: Number(m[1]), src: null };
    if ((m = RE_CAST.exec(t))) return { kind: 'mov', dst: Number(m[1]), src: Number(m[2] ?? m[3]) };
    if ((m = RE_FETCH.exec(t))) {
      const op = m[2];
      const cmp = op === 'cmpxchg';
      return {
        kind: 'atomic', base: Number(m[4]), off: Number(m[5]), size: bytes(m[3]),
        src: Number(cmp ? (m[7] ?? m[6]) : m[6]), fetch: Number(m[1]), rmw: op !== 'xchg', cmp,
      };
    }
    if ((m = RE_ACQ.exec(t))) return { kind: 'load', dst: Number(m[1]), base: Number(m[3]), off: Number(m[4]), size: bytes(m[2]) };
    if ((m = RE_LDABS.exec(t))) return { kind: 'ldabs', index: m[1] !== undefined ? Number(m[1]) : null };
    // Any other `rN = <something>` (a named ld_imm64 the kernel may print, `r1 = map[id:3]`) sets rN from nothing we follow.
    if ((m = /^[rw](\d+) = [^*]/.exec(t)) && !t.includes('(r')) return { kind: 'const', dst: Number(m[1]), imm64: true };
    return { kind: 'none', text: t };
  }
  if (c0 === 42 /* * */) {
    if ((m = RE_STORE.exec(t))) {
      return { kind: 'store', base: Number(m[2]), off: Number(m[3]), size: bytes(m[1]), src: m[4] !== undefined ? Number(m[4]) : null };
    }
    return { kind: 'none', text: t };
  }
  if (t.startsWith('lock ') && (m = RE_LOCK.exec(t))) {
    return { kind: 'atomic', base: Number(m[2]), off: Number(m[3]), size: bytes(m[1]), src: Number(m[4]), fetch: null, rmw: true, cmp: false };
  }
  if (t.startsWith('store_release(') && (m = RE_REL.exec(t))) {
    return { kind: 'store', base: Number(m[2]), off: Number(m[3]), size: bytes(m[1]), src: Number(m[4]) };
  }
  if (t.startsWith('if ') && (m = RE_BRANCH.exec(t))) {
    return { kind: 'branch', regs: m[2] !== undefined && m[2] !== m[1] ? [Number(m[1]), Number(m[2])] : [Number(m[1])] };
  }
  if (t.startsWith('call ')) {
    const c = parseCall(t);
    if (c) return { kind: 'call', call: c.kind, target: c.target };
  }
  return { kind: 'none', text: t };
}

/**
 * The registers (bit r set) of the insn's own frame that the walk must stop
 * at when it follows one of them: written, or refined by a comparison.
 * Memory effects are handled apart (they matter only while slots are followed).
 */
export function regsTouched(e: Effect): number {
  switch (e.kind) {
    case 'mov':
    case 'alu':
    case 'const':
    case 'load':
      return 1 << e.dst;
    case 'atomic':
      return e.fetch !== null ? (1 << e.fetch) : 0;
    case 'ldabs':
    case 'call':
      return 0b111111; // R0 written, R1-R5 clobbered
    case 'branch':
      return e.regs.reduce((m, r) => m | (1 << r), 0);
    default:
      return 0;
  }
}

/** Whether the insn may write memory (a stack slot, when its base points into a stack). */
export function writesMemory(e: Effect): boolean {
  return e.kind === 'store' || e.kind === 'atomic' || (e.kind === 'call' && e.call === 'helper');
}
