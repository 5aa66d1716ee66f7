/**
 * Seeded generator of BPF programs the verifier accepts, for the CFG tests
 * and benchmark: a main function and subprograms (bpf-to-bpf calls only to
 * later functions: no recursion), each of ALU ops, ld_imm64, if/else
 * diamonds, if-then skips and bounded loops, nested. No memory access, one
 * helper (bpf_get_prandom_u32), no div/mod: nothing the verifier rewrites, so the
 * instructions bpftool dumps (xlated) are the ones generated.
 */
import { rng } from './fuzz';
import { encodeRaw, type RawInsn } from '../../main/object/insn/raw';

type Slot = Omit<RawInsn, 'idx'> & { callFunc?: number };

/*
 * Branches the verifier cannot decide, so that it walks both sides and
 * removes no dead code (a privileged load drops the code it proves dead,
 * and the instructions it keeps would no longer be the ones generated):
 * every register holds an unknown value (a bpf_get_prandom_u32 result,
 * xored: no two registers share a scalar id), only ALU64 add/sub/xor with
 * an immediate touch them (the range stays 2^32 wide), and conditions
 * compare two different registers (jeq jgt jge jset jne jsgt jlt jle, and
 * their JMP32 forms).
 */
const ALU64_K = [0x07, 0x17, 0xa7]; // add sub xor
const JMP_X = [0x1d, 0x2d, 0x3d, 0x4d, 0x5d, 0x6d, 0xad, 0xbd, 0x1e, 0x2e, 0x5e, 0xae];

export interface GenOptions {
  /** Subprograms besides the main function. */
  funcs: number;
  /** Rough number of statements per function body. */
  statements: number;
  /** Deepest nesting of ifs and loops. */
  depth?: number;
}

export function genProgram(seed: number, opts: GenOptions): { insns: RawInsn[]; bytes: Uint8Array; funcStarts: number[] } {
  const next = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[next() % xs.length];
  const depthMax = opts.depth ?? 3;
  const bodies: Slot[][] = [];

  // Unknown values, so that the verifier walks both sides of a branch: R0 from bpf_get_prandom_u32
  // (helper 7), copied to R1-R5. Scalars nothing makes precise: the states where the sides meet are pruned.
  const fromR0 = (out: Slot[]): void => {
    for (let r = 1; r <= 5; r++) {
      out.push({ code: 0xbf, dst: r, src: 0, off: 0, imm: 0 });
      out.push({ code: 0xa7, dst: r, src: 0, off: 0, imm: (next() % 0x7fff) + r });
    }
  };
  const initRegs = (out: Slot[]): void => {
    out.push({ code: 0x85, dst: 0, src: 0, off: 0, imm: 7 });
    fromR0(out);
  };
  const alu = (out: Slot[]): void => {
    out.push({ code: pick(ALU64_K), dst: next() % 6, src: 0, off: 0, imm: (next() % 1000) - 500 });
  };
  const cond = (off: number): Slot => {
    const dst = next() % 6;
    const src = (dst + 1 + (next() % 5)) % 6;
    return { code: pick(JMP_X), dst, src, off, imm: 0 };
  };

  function block(out: Slot[], fn: number, depth: number, budget: number): void {
    let left = budget;
    while (left > 0) {
      const r = next() % 100;
      const inner = Math.max(1, Math.floor(left / 3));
      if (r < 45 || depth >= depthMax) {
        alu(out);
        left--;
      } else if (r < 52) {
        // ld_imm64 of a constant, xored with another register: unknown again.
        const dst = next() % 6;
        out.push({ code: 0x18, dst, src: 0, off: 0, imm: next() | 0 });
        out.push({ code: 0, dst: 0, src: 0, off: 0, imm: next() | 0 });
        out.push({ code: 0xaf, dst, src: (dst + 1 + (next() % 5)) % 6, off: 0, imm: 0 });
        left--;
      } else if (r < 75) {
        // if (cond) goto ELSE; THEN; goto END; ELSE: …; END:
        const then: Slot[] = [];
        const other: Slot[] = [];
        block(then, fn, depth + 1, inner);
        block(other, fn, depth + 1, inner);
        out.push(cond(then.length + 1));
        out.push(...then, { code: 0x05, dst: 0, src: 0, off: other.length, imm: 0 }, ...other);
        left -= inner * 2;
      } else if (r < 88) {
        const then: Slot[] = [];
        block(then, fn, depth + 1, inner);
        out.push(cond(then.length));
        out.push(...then);
        left -= inner;
      } else if (r < 95) {
        // r6 = 0; L: body; r6 += 1; if r6 < N goto L (a bounded loop; r6 is the loop's own)
        const body: Slot[] = [];
        block(body, fn, depthMax, Math.min(inner, 4));
        out.push({ code: 0xb7, dst: 6, src: 0, off: 0, imm: 0 });
        out.push(...body, { code: 0x07, dst: 6, src: 0, off: 0, imm: 1 });
        out.push({ code: 0xa5, dst: 6, src: 0, off: -(body.length + 2), imm: 2 + (next() % 3) });
        left -= inner;
      } else if (fn < opts.funcs) {
        const callee = fn + 1 + (next() % (opts.funcs - fn));
        out.push({ code: 0x85, dst: 0, src: 1, off: 0, imm: 0, callFunc: callee });
        // A call clobbers R1-R5 (and the callee's R0 is unknown).
        fromR0(out);
        left--;
      } else {
        alu(out);
        left--;
      }
    }
  }

  for (let fn = 0; fn <= opts.funcs; fn++) {
    const out: Slot[] = [];
    initRegs(out);
    block(out, fn, 0, opts.statements);
    // Every subprogram is called from somewhere (the kernel refuses one that is not: `unreachable insn`).
    if (fn < opts.funcs) out.push({ code: 0x85, dst: 0, src: 1, off: 0, imm: 0, callFunc: fn + 1 });
    out.push({ code: 0x95, dst: 0, src: 0, off: 0, imm: 0 });
    bodies.push(out);
  }
  const funcStarts: number[] = [];
  const all: Slot[] = [];
  for (const b of bodies) {
    funcStarts.push(all.length);
    all.push(...b);
  }
  const insns: RawInsn[] = all.map((s, idx) => {
    const imm = s.callFunc !== undefined ? funcStarts[s.callFunc] - idx - 1 : s.imm;
    return { idx, code: s.code, dst: s.dst, src: s.src, off: s.off, imm };
  });
  return { insns, bytes: encodeRaw(insns), funcStarts };
}
