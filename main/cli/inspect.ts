import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { parseObject, type BpfObject } from '../object/object';
import { readObjectFile } from '../object/read';
import { cdecl } from '../object/btf/cdecl';
import { dumpBtf } from '../object/btf/dump';
import { structLayout, specialFields } from '../object/layout';

export const command: Command = {
  summary: 'list the programs, maps, global data, externs and special-field structs of an object',
  usage: `usage: bpfscope inspect OBJ [--json] [--btf]

Reads OBJ (a .bpf.o) the way libbpf does and prints:
  programs   name, section, program type, instruction count
  maps       name, type, key and value types, max_entries
  data       global data sections (.data, .rodata, .bss, .kconfig, custom) and their variables
  externs    kfuncs, ksyms and kconfig values the object needs from the kernel
  structs    structs with BPF special fields (locks, list/rbtree heads and nodes, kptrs, ...)

  --json     the same as one JSON object
  --btf      print the object's BTF instead, in 'bpftool btf dump file' raw format`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json', 'btf'] });
    const [file, extra] = args.positional;
    if (file === undefined || extra !== undefined) throw new BpfscopeError('expected one object file (bpfscope help inspect)');
    const obj = parseObject(readObjectFile(file), file);
    if (args.switches.has('btf')) {
      if (!obj.btf) throw new BpfscopeError('object has no .BTF section', file);
      process.stdout.write(dumpBtf(obj.btf));
      return 0;
    }
    const summary = inspectObject(obj);
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(formatInspect(summary));
    return 0;
  },
};

export interface InspectSummary {
  file: string;
  license: string;
  programs: { name: string; section: string; type: string; insns: number; global: boolean }[];
  subprograms: { name: string; insns: number; global: boolean }[];
  maps: { name: string; type: string; keySize: number; valueSize: number; key: string; value: string; maxEntries: number; flags: number; inner?: string }[];
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
      if (sf.length) structs.push({ name: t.name, size: t.size, special: sf.map((f) => ({ field: f.path, offset: f.offset, size: f.size, special: describe(f.field) })) });
    }
  }
  return {
    file: obj.file,
    license: obj.license,
    programs: obj.programs.map((p) => ({ name: p.name, section: p.section, type: p.progType ?? 'unknown', insns: p.insns.length, global: p.global })),
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

function describe(f: ReturnType<typeof specialFields>[number]['field']): string {
  let s: string = f.kind;
  if (f.pointee !== undefined) s += ` ${f.pointee}`;
  if (f.contains) s += ` contains ${f.contains.type}.${f.contains.node}`;
  if (f.nelems !== 1) s += ` [${f.nelems}]`;
  return s;
}

export function formatInspect(s: InspectSummary): string {
  const out: string[] = [`${s.file}: license ${s.license ? `"${s.license}"` : '(none)'}`, ''];
  out.push('programs:');
  for (const p of s.programs) out.push(`  ${p.name.padEnd(24)} ${p.section.padEnd(20)} ${p.type.padEnd(14)} ${p.insns} insns${p.global ? '' : ' (static)'}`);
  if (!s.programs.length) out.push('  (none)');
  if (s.subprograms.length) {
    out.push('', 'subprograms (.text):');
    for (const p of s.subprograms) out.push(`  ${p.name.padEnd(24)} ${p.insns} insns${p.global ? ' (global)' : ''}`);
  }
  out.push('', 'maps:');
  for (const m of s.maps) out.push(`  ${m.name.padEnd(24)} ${m.type.padEnd(14)} key ${m.key} (${m.keySize})  value ${m.value} (${m.valueSize})  max_entries ${m.maxEntries}${m.flags ? `  flags 0x${m.flags.toString(16)}` : ''}${m.inner ? `  inner ${m.inner}` : ''}`);
  if (!s.maps.length) out.push('  (none)');
  out.push('', 'global data:');
  for (const d of s.data) {
    out.push(`  ${d.name.padEnd(24)} ${d.kind.padEnd(8)} ${d.size} bytes${d.readonly ? ' (read-only)' : ''}`);
    for (const v of d.variables) out.push(`    +${String(v.offset).padEnd(5)} ${v.name}: ${v.type} (${v.size})`);
  }
  if (!s.data.length) out.push('  (none)');
  out.push('', 'externs:');
  for (const e of s.externs) out.push(`  ${e.kind.padEnd(8)} ${e.name}${e.type ? `: ${e.type}` : ''}${e.weak ? ' (weak)' : ''}`);
  if (!s.externs.length) out.push('  (none)');
  out.push('', 'structs with special fields:');
  for (const st of s.structs) {
    out.push(`  struct ${st.name} (${st.size} bytes)`);
    for (const f of st.special) out.push(`    +${String(f.offset).padEnd(5)} ${f.field}: ${f.special} (${f.size})`);
  }
  if (!s.structs.length) out.push('  (none)');
  return out.join('\n') + '\n';
}
