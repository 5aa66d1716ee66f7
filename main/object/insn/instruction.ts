import { BpfscopeError } from '../../errors';
import { decodeRaw, INSN_SIZE, type RawInsn } from './raw';
import type { Insn, InsnNames } from './types';
import { BPF_ALU, BPF_ALU64, BPF_JMP, BPF_JMP32, CLASS_NAMES, hex2, insnClass } from './opcode';
import { decodeAlu, printAlu } from './alu';
import { decodeJump, printJump } from './jump';
import { decodeLoadStore, isLdImm64, printLoadStore } from './load-store';

export type { Insn, InsnKind, InsnNames } from './types';

/** The second slot of an ld_imm64 (it carries the high 32 bits and is never printed). */
export interface Imm64Tail extends RawInsn {
  cls: 'ld';
  kind: 'ld_imm64_tail';
  op: 'tail';
}

export type Slot = Insn | Imm64Tail;

/** Decode one slot's meaning (the fields stay as raw.ts read them). */
export function decodeInsn(r: RawInsn): Insn {
  const cls = insnClass(r.code);
  const d =
    cls === BPF_ALU || cls === BPF_ALU64 ? decodeAlu(r) : cls === BPF_JMP || cls === BPF_JMP32 ? decodeJump(r) : decodeLoadStore(r);
  // Fields set one by one rather than spread: a million-instruction program decodes 5x faster.
  const insn: Insn = { idx: r.idx, code: r.code, dst: r.dst, src: r.src, off: r.off, imm: r.imm, cls: CLASS_NAMES[cls], kind: d.kind, op: d.op };
  if (r.imm64 !== undefined) insn.imm64 = r.imm64;
  if ('is32' in d && d.is32 !== undefined) insn.is32 = d.is32;
  if ('useReg' in d && d.useReg !== undefined) insn.useReg = d.useReg;
  if ('size' in d && d.size !== undefined) insn.size = d.size;
  if ('target' in d && d.target !== undefined) insn.target = d.target;
  return insn;
}

/**
 * Decode a program: one entry per 8-byte slot, so that `slots[i]` is the
 * kernel's instruction i; the second slot of an ld_imm64 is an Imm64Tail.
 * Throws a BpfscopeError for a length that is not a multiple of 8 or an
 * ld_imm64 cut off by the end of the program.
 */
export function decodeInsns(input: Uint8Array | readonly RawInsn[], baseOffset = 0): Slot[] {
  const raws = input instanceof Uint8Array ? decodeRaw(input, baseOffset) : input;
  const out: Slot[] = [];
  for (let i = 0; i < raws.length; i++) {
    const r = raws[i];
    out.push(decodeInsn(r));
    if (isLdImm64(r)) {
      const tail = raws[i + 1];
      if (tail === undefined) {
        throw new BpfscopeError(`ld_imm64 at instruction ${r.idx} has no second slot`, undefined, {
          offset: baseOffset + r.idx * INSN_SIZE,
        });
      }
      // The 64-bit value always from both slots: RawInsn arrays built by hand or patched carry no imm64.
      (out[out.length - 1] as Insn).imm64 = (BigInt(tail.imm >>> 0) << 32n) | BigInt(r.imm >>> 0);
      out.push({ idx: tail.idx, code: tail.code, dst: tail.dst, src: tail.src, off: tail.off, imm: tail.imm, cls: 'ld', kind: 'ld_imm64_tail', op: 'tail' });
      i++;
    }
  }
  return out;
}

/**
 * The instruction as the verifier log prints it after `IDX: `:
 * `(bf) r6 = r1`, `(85) call bpf_map_lookup_elem#1`, `(18) r1 = 0x0`.
 * `next` is the following slot (the high half of an ld_imm64).
 */
export function printInsn(r: RawInsn, next?: RawInsn, names?: InsnNames): string {
  const cls = insnClass(r.code);
  if (cls === BPF_ALU || cls === BPF_ALU64) return `(${hex2(r.code)}) ${printAlu(r)}`;
  if (cls === BPF_JMP || cls === BPF_JMP32) return `(${hex2(r.code)}) ${printJump(r, names)}`;
  return printLoadStore(r, next, names);
}

export interface ListingLine {
  /** Instruction index (slot index; the second slot of an ld_imm64 has no line). */
  idx: number;
  /** `(bf) r6 = r1` */
  text: string;
}

/** Every instruction of a program as the kernel prints it, skipping ld_imm64 second slots. */
export function disassemble(slots: readonly RawInsn[], names?: InsnNames): ListingLine[] {
  const out: ListingLine[] = [];
  for (let i = 0; i < slots.length; i++) {
    const r = slots[i];
    out.push({ idx: r.idx, text: printInsn(r, slots[i + 1], names) });
    if (isLdImm64(r)) i++;
  }
  return out;
}
