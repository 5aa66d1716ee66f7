import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { parseObject } from '../object/object';
import { readObjectFile } from './read-file';
import { dumpBtf } from '../object/btf/dump';
import { inspectObject, type InspectSummary } from '../object/summary';

export const command: Command = {
  summary: 'list the programs, maps, global data, externs and special-field structs of an object',
  usage: `usage: bpfscope inspect OBJ [--json] [--btf]

Reads OBJ (a .bpf.o) the way libbpf does and prints:
  programs   name, section, program type, instruction count
  maps       name, type, key and value types, max_entries, flags, map_extra,
             numa_node, pinning
  data       global data sections (.data, .rodata, .bss, .kconfig, custom) and their variables
  externs    kfuncs, ksyms and kconfig values the object needs from the kernel
  structs    structs with BPF special fields (locks, list/rbtree heads and nodes, kptrs, ...)

  --json     the same as one JSON object
  --btf      print the object's BTF instead, in 'bpftool btf dump file' raw format`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json', 'btf'] });
    const [file, extra] = args.positional;
    if (file === undefined || extra !== undefined) throw new BpfscopeError('expected one object file (bpfscope help inspect)');
    if (args.switches.has('btf') && args.switches.has('json')) throw new BpfscopeError("--btf prints bpftool's text format; --json does not apply to it");
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

export { inspectObject };

export function formatInspect(s: InspectSummary): string {
  const out: string[] = [`${s.file}: license ${s.license ? `"${s.license}"` : '(none)'}`, ''];
  out.push('programs:');
  for (const p of s.programs) out.push(`  ${p.name.padEnd(24)} ${p.section.padEnd(20)} ${p.type.padEnd(14)} ${p.insns} insns${p.global ? '' : ' (static)'}${p.autoload === false ? ' (not autoloaded)' : ''}`);
  if (!s.programs.length) out.push('  (none)');
  if (s.subprograms.length) {
    out.push('', 'subprograms (.text):');
    for (const p of s.subprograms) out.push(`  ${p.name.padEnd(24)} ${p.insns} insns${p.global ? ' (global)' : ''}`);
  }
  out.push('', 'maps:');
  for (const m of s.maps) {
    const extra = [
      m.flags ? `flags 0x${m.flags.toString(16)}` : '',
      m.inner ? `inner ${m.inner}` : '',
      m.mapExtra !== undefined ? `map_extra ${m.mapExtra}` : '',
      m.numaNode !== undefined ? `numa_node ${m.numaNode}` : '',
      m.pinByName ? 'pinned by name' : '',
    ].filter(Boolean);
    out.push(`  ${m.name.padEnd(24)} ${m.type.padEnd(14)} key ${m.key} (${m.keySize})  value ${m.value} (${m.valueSize})  max_entries ${m.maxEntries}${extra.map((x) => `  ${x}`).join('')}`);
  }
  if (!s.maps.length) out.push('  (none)');
  out.push('', 'global data:');
  for (const d of s.data) {
    out.push(`  ${d.name.padEnd(24)} ${d.kind.padEnd(8)} ${d.size} bytes${d.readonly ? ' (read-only)' : ''}`);
    for (const v of d.variables) out.push(`    +${String(v.offset).padEnd(5)} ${v.name}${v.type ? `: ${v.type}` : ''} (${v.size})`);
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
