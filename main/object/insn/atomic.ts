import type { RawInsn } from './raw';
import type { Insn } from './types';
import {
  BPF_ADD,
  BPF_AND,
  BPF_CMPXCHG,
  BPF_DW,
  BPF_FETCH,
  BPF_LOAD_ACQ,
  BPF_OR,
  BPF_STORE_REL,
  BPF_XCHG,
  BPF_XOR,
  LDST_TYPES,
  insnSize,
  signed,
  sizeBytes,
} from './opcode';

/** The four ALU operations an atomic may carry in imm, with their mnemonic and operator. */
const ATOMIC_ALU = new Map<number, { name: string; operator: string }>([
  [BPF_ADD, { name: 'add', operator: '+=' }],
  [BPF_AND, { name: 'and', operator: '&=' }],
  [BPF_OR, { name: 'or', operator: '|=' }],
  [BPF_XOR, { name: 'xor', operator: '^=' }],
]);

export function decodeAtomic(r: RawInsn): Pick<Insn, 'kind' | 'op' | 'size'> {
  const size = sizeBytes(insnSize(r.code));
  const alu = ATOMIC_ALU.get(r.imm & ~BPF_FETCH);
  if (alu && (r.imm & ~0xf1) === 0) return { kind: 'atomic', op: r.imm & BPF_FETCH ? `fetch_${alu.name}` : alu.name, size };
  if (r.imm === BPF_XCHG) return { kind: 'atomic', op: 'xchg', size };
  if (r.imm === BPF_CMPXCHG) return { kind: 'atomic', op: 'cmpxchg', size };
  if (r.imm === BPF_LOAD_ACQ) return { kind: 'atomic', op: 'load_acquire', size };
  if (r.imm === BPF_STORE_REL) return { kind: 'atomic', op: 'store_release', size };
  return { kind: 'invalid', op: 'atomic', size };
}

/** Text after `(code) ` for BPF_STX | BPF_ATOMIC, or undefined for an imm the kernel prints as BUG_xx. */
export function printAtomic(r: RawInsn): string | undefined {
  const type = LDST_TYPES[insnSize(r.code) >> 3];
  const mem = `(${type} *)(r${r.dst} ${signed(r.off)})`;
  const bits = insnSize(r.code) === BPF_DW ? '64' : '';
  const plain = ATOMIC_ALU.get(r.imm);
  if (plain) return `lock *${mem} ${plain.operator} r${r.src}`;
  const fetch = r.imm & BPF_FETCH ? ATOMIC_ALU.get(r.imm & ~BPF_FETCH) : undefined;
  if (fetch) return `r${r.src} = atomic${bits}_fetch_${fetch.name}(${mem}, r${r.src})`;
  if (r.imm === BPF_CMPXCHG) return `r0 = atomic${bits}_cmpxchg(${mem}, r0, r${r.src})`;
  if (r.imm === BPF_XCHG) return `r${r.src} = atomic${bits}_xchg(${mem}, r${r.src})`;
  // load_acquire reads through src_reg into dst_reg, unlike the other atomics.
  if (r.imm === BPF_LOAD_ACQ) return `r${r.dst} = load_acquire((${type} *)(r${r.src} ${signed(r.off)}))`;
  if (r.imm === BPF_STORE_REL) return `store_release(${mem}, r${r.src})`;
  return undefined;
}
