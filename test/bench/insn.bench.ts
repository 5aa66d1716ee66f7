import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { examplePrograms } from '../helpers/ref';
import { parseObject } from '../../main/object/object';
import { linkProgram } from '../../main/object/link';
import { encodeRaw, type RawInsn } from '../../main/object/insn/raw';
import { decodeInsns, disassemble } from '../../main/object/insn/instruction';
import { bestOf } from './object-timing';

export const title = 'instruction decoding and kernel-syntax printing';

/**
 * Decodes and prints a program the size of the verifier's own limit
 * (BPF_COMPLEXITY_LIMIT_INSNS, 1,000,000 instructions), made of the example
 * programs' linked instructions repeated. Target: the whole listing in under
 * 2 s (500,000 instructions/s), so that the app lists any loadable program at
 * once. Reference, same run: llvm-objdump-19 -d over the example objects
 * (instructions per second, process start included: it is what a user would
 * otherwise run).
 */
export async function run(): Promise<void> {
  const progs = examplePrograms();
  const unit: RawInsn[] = [];
  const objects = new Set<string>();
  for (const p of progs) {
    objects.add(p.objectPath);
    const l = linkProgram(parseObject(new Uint8Array(readFileSync(p.objectPath)), p.objectPath), p.program);
    unit.push(...l.insns);
  }
  const target = 1_000_000;
  const copies = Math.ceil(target / unit.length);
  const big = new Uint8Array(copies * unit.length * 8);
  const unitBytes = encodeRaw(unit);
  for (let i = 0; i < copies; i++) big.set(unitBytes, i * unitBytes.length);
  const n = big.length / 8;

  let lines = 0;
  const ms = bestOf(() => {
    lines = disassemble(decodeInsns(big)).length;
  });
  const rate = n / (ms / 1000);
  process.stdout.write(`   bpfscope: ${n} slots (${lines} lines) decoded and printed in ${ms.toFixed(0)} ms = ${Math.round(rate).toLocaleString('en')} insns/s\n`);

  let refInsns = 0;
  const refMs = bestOf(() => {
    const out = execFileSync('llvm-objdump-19', ['-d', ...objects], { maxBuffer: 1 << 26 }).toString();
    refInsns = out.split('\n').filter((l) => /^\s+[0-9a-f]+:\t/.test(l)).length;
  });
  process.stdout.write(`   reference llvm-objdump-19 -d: ${refInsns} insns in ${refMs.toFixed(0)} ms = ${Math.round(refInsns / (refMs / 1000)).toLocaleString('en')} insns/s (process start included)\n`);
  process.stdout.write(`   target: 1,000,000 insns under 2000 ms (500,000 insns/s): ${ms < 2000 ? 'met' : 'NOT met'}\n`);
  if (ms >= 2000) throw new Error(`listing took ${ms.toFixed(0)} ms`);
}
