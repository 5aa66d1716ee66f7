import { BpfscopeError } from '../../errors';

/**
 * One 8-byte BPF instruction slot as the kernel's `struct bpf_insn` holds it
 * (little-endian: code, dst_reg:4 | src_reg:4, off:s16, imm:s32).
 * `ld_imm64` takes two slots; the second slot is kept as its own RawInsn
 * (code 0) and the first carries the full 64-bit value in `imm64`.
 */
export interface RawInsn {
  /** Slot index in the program: the kernel's instruction index. */
  idx: number;
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** For the first slot of `ld_imm64`: (next.imm << 32) | (imm as u32). */
  imm64?: bigint;
}

export const INSN_SIZE = 8;
export const BPF_LD_IMM64 = 0x18;

/** Decode a byte range of instruction slots. Throws on a length that is not a multiple of 8. */
export function decodeRaw(bytes: Uint8Array, baseOffset = 0): RawInsn[] {
  if (bytes.length % INSN_SIZE !== 0) {
    throw new BpfscopeError(`instruction bytes are ${bytes.length} long, not a multiple of 8`, undefined, {
      offset: baseOffset + bytes.length - (bytes.length % INSN_SIZE),
    });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = bytes.length / INSN_SIZE;
  const out: RawInsn[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const p = i * INSN_SIZE;
    const regs = view.getUint8(p + 1);
    out[i] = {
      idx: i,
      code: view.getUint8(p),
      dst: regs & 0x0f,
      src: regs >> 4,
      off: view.getInt16(p + 2, true),
      imm: view.getInt32(p + 4, true),
    };
  }
  for (let i = 0; i + 1 < n; i++) {
    const insn = out[i];
    if (insn.code === BPF_LD_IMM64) {
      insn.imm64 = (BigInt(out[i + 1].imm >>> 0) << 32n) | BigInt(insn.imm >>> 0);
      i++;
    }
  }
  return out;
}

/** Encode slots back to bytes (the loader patches relocated instructions this way). */
export function encodeRaw(insns: readonly RawInsn[]): Uint8Array {
  const bytes = new Uint8Array(insns.length * INSN_SIZE);
  const view = new DataView(bytes.buffer);
  insns.forEach((insn, i) => {
    const p = i * INSN_SIZE;
    view.setUint8(p, insn.code);
    view.setUint8(p + 1, (insn.src << 4) | (insn.dst & 0x0f));
    view.setInt16(p + 2, insn.off, true);
    view.setInt32(p + 4, insn.imm | 0, true);
  });
  return bytes;
}
