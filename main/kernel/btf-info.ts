import type { LinkedProgram } from '../object/link';
import type { BpfObject } from '../object/object';
import type { InfoRecords } from './prog-load';

/**
 * func_info and line_info records for BPF_PROG_LOAD from a linked program:
 * instruction indices as the kernel counts them, names as offsets into the
 * object's BTF string section.
 */
export function funcInfoRecords(linked: LinkedProgram): InfoRecords | undefined {
  if (linked.funcInfo.length === 0) return undefined;
  const bytes = new Uint8Array(linked.funcInfo.length * 8);
  const v = new DataView(bytes.buffer);
  linked.funcInfo.forEach((f, i) => {
    v.setUint32(i * 8, f.insnIdx, true);
    v.setUint32(i * 8 + 4, f.typeId, true);
  });
  return { recSize: 8, count: linked.funcInfo.length, bytes };
}

const stringOffsets = new WeakMap<Uint8Array, Map<string, number>>();
/** Offset of a whole string in a BTF string section (line_info names strings by offset). */
function stringOffset(strings: Uint8Array, s: string): number | undefined {
  let idx = stringOffsets.get(strings);
  if (!idx) {
    idx = new Map();
    let start = 0;
    for (let i = 0; i < strings.length; i++) {
      if (strings[i] !== 0) continue;
      const str = Buffer.from(strings.subarray(start, i)).toString('utf8');
      if (!idx.has(str)) idx.set(str, start);
      start = i + 1;
    }
    stringOffsets.set(strings, idx);
  }
  return idx.get(s);
}

export function lineInfoRecords(linked: LinkedProgram, obj: BpfObject): InfoRecords | undefined {
  if (linked.lineInfo.length === 0 || !obj.btf) return undefined;
  const bytes = new Uint8Array(linked.lineInfo.length * 16);
  const v = new DataView(bytes.buffer);
  for (let i = 0; i < linked.lineInfo.length; i++) {
    const l = linked.lineInfo[i];
    const file = stringOffset(obj.btf.strings, l.fileName);
    const line = stringOffset(obj.btf.strings, l.line);
    if (file === undefined || line === undefined) return undefined;
    v.setUint32(i * 16, l.linkedIdx, true);
    v.setUint32(i * 16 + 4, file, true);
    v.setUint32(i * 16 + 8, line, true);
    v.setUint32(i * 16 + 12, ((l.lineNum << 10) | (l.column & 0x3ff)) >>> 0, true);
  }
  return { recSize: 16, count: linked.lineInfo.length, bytes };
}

