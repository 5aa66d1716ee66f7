import { cdecl } from './btf/cdecl';
import type { BpfObject } from './object';
import { structLayout, specialFields, describeSpecial } from './layout';

/**
 * What `bpfscope inspect` shows of an object, as plain data (the app shows
 * the same): programs, maps with their key and value types, global data and
 * its variables, externs, and the structs that hold BPF special fields.
 */
export interface InspectSummary {
  file: string;
  license: string;
  /** `autoload: false` for SEC("?...") programs, which libbpf opens without loading them. */
  programs: { name: string; section: string; type: string; insns: number; global: boolean; autoload?: false }[];
  subprograms: { name: string; insns: number; global: boolean }[];
  maps: {
    name: string;
    type: string;
    keySize: number;
    valueSize: number;
    key: string;
    value: string;
    maxEntries: number;
    flags: number;
    inner?: string;
    /** map_extra when set (a bloom filter's hash count, an arena's address), as a decimal string: it is a u64. */
    mapExtra?: string;
    /** numa_node when set. */
    numaNode?: number;
    /** LIBBPF_PIN_BY_NAME: libbpf pins the map at /sys/fs/bpf/NAME and reuses a map pinned there. */
    pinByName?: true;
  }[];
  data: { name: string; kind: string; size: number; readonly: boolean; variables: { name: string; type: string; offset: number; size: number }[] }[];
  externs: { name: string; kind: string; type: string; weak: boolean }[];
  structs: { name: string; size: number; special: { field: string; offset: number; size: number; special: string }[] }[];
}

/** The plain summary the inspect command prints (also used by the app). */
export function inspectObject(obj: BpfObject): InspectSummary {
  const btf = obj.btf;
  const tn = (id: number | undefined): string => (btf && id !== undefined ? cdecl(btf, id) : '');
  const structs: InspectSummary['structs'] = [];
  if (btf) {
    for (const t of btf.types) {
      if (t.kind !== 'STRUCT' || !t.name || t.name.startsWith('bpf_')) continue;
      const layout = structLayout(btf, t.id);
      const sf = specialFields(layout);
      if (sf.length) structs.push({ name: t.name, size: t.size, special: sf.map((f) => ({ field: f.path, offset: f.offset, size: f.size, special: describeSpecial(f.field) })) });
    }
  }
  return {
    file: obj.file,
    license: obj.license,
    programs: obj.programs.map((p) => ({ name: p.name, section: p.section, type: p.progType ?? 'unknown', insns: p.insns.length, global: p.global, ...(p.autoload ? {} : { autoload: false as const }) })),
    subprograms: obj.subprograms.map((p) => ({ name: p.name, insns: p.insns.length, global: p.global })),
    maps: obj.maps.map((m) => ({
      name: m.name,
      type: m.typeName,
      keySize: m.keySize,
      valueSize: m.valueSize,
      key: m.keyTypeId !== undefined ? tn(m.keyTypeId) : `${m.keySize} bytes`,
      value: m.valueTypeId !== undefined ? tn(m.valueTypeId) : `${m.valueSize} bytes`,
      maxEntries: m.maxEntries,
      flags: m.flags,
      ...(m.inner ? { inner: `${m.inner.typeName} ${m.inner.keySize}/${m.inner.valueSize}` } : {}),
      ...(m.mapExtra ? { mapExtra: m.mapExtra.toString() } : {}),
      ...(m.numaNode ? { numaNode: m.numaNode } : {}),
      ...(m.pinning === 1 ? { pinByName: true as const } : {}),
    })),
    data: obj.data.map((d) => ({
      name: d.name,
      kind: d.kind,
      size: d.size,
      readonly: d.readonly,
      variables: d.variables.map((v) => ({ name: v.name, type: tn(v.typeId), offset: v.offset, size: v.size })),
    })),
    externs: obj.externs.map((e) => ({ name: e.name, kind: e.kind, type: e.typeId && btf ? (e.kind === 'kfunc' ? cdecl(btf, e.btfId) : tn(e.typeId)) : '', weak: e.weak })),
    structs,
  };
}
