import { readFileSync } from 'node:fs';
import { parseObject } from '../../../main/object/object';
import { hostExterns } from '../../../main/kernel/kconfig';
import { fromObject } from '../../../main/runtime/load';
import type { RuntimeProgram } from '../../../main/runtime/program';
import type { MapDump } from '../../../main/runtime/session';
import type { RefMapEntry } from '../../helpers/ref';

/** An example program as `bpfscope run` loads it: externs (.kconfig, typeless ksyms) from this host. */
export function loadExample(objectPath: string, program: string): RuntimeProgram {
  const obj = parseObject(readFileSync(objectPath), objectPath);
  return fromObject(obj, program, { externs: hostExterns(obj) });
}

/** Value bytes with the special fields (kernel pointers, lock words) masked out. */
export function masked(valueHex: string, ranges: [number, number][], size: number): string {
  const b = Buffer.from(valueHex, 'hex').subarray(0, size);
  for (const [off, len] of ranges) b.fill(0xee, off, Math.min(size, off + len));
  return b.toString('hex');
}

/** The kernel's dump and ours as comparable `key → masked value` maps. */
export function comparableMaps(ours: Record<string, MapDump>, theirs: Record<string, RefMapEntry[]>): { ours: Record<string, Record<string, string>>; theirs: Record<string, Record<string, string>> } {
  const a: Record<string, Record<string, string>> = {};
  const b: Record<string, Record<string, string>> = {};
  for (const [name, entries] of Object.entries(theirs)) {
    const dump = ours[name];
    if (!dump) {
      b[name] = {};
      a[name] = { missing: 'map not found in the runtime' };
      continue;
    }
    b[name] = {};
    a[name] = {};
    for (const e of entries) b[name][e.key] = masked(e.value, dump.specialRanges, dump.valueSize);
    for (const e of dump.entries) a[name][e.key] = masked(e.value, dump.specialRanges, dump.valueSize);
    // Arrays: the kernel lists every index; we list those up to 1024 (the same set here).
  }
  return { ours: a, theirs: b };
}
