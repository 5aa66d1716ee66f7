import type { Command } from './index';
import { parseArgs } from './args';
import { BpfscopeError } from '../errors';
import { parseObject } from '../object/object';
import { parseBtf } from '../object/btf/parse';
import { inFileOf, readObjectFile } from './read-file';
import { findAllByName } from '../object/btf/lookup';
import type { Btf } from '../object/btf/types';
import { formatLayout, objNewZeroedRanges, structLayout, type StructLayout } from '../object/layout';

export const command: Command = {
  summary: 'print a struct or union layout: offsets, sizes, holes, padding and BPF special fields',
  usage: `usage: bpfscope layout OBJ TYPE [--json | --plain]

Prints the layout of struct/union TYPE (e.g. 'elem', 'struct map_value',
'union u', or a type id '#12') from OBJ's BTF, pahole-style: each member's
offset and size in bytes, bit-field bits, holes and tail padding, and the BPF
special fields (bpf_spin_lock, bpf_list_head contains TYPE.FIELD, kptr TYPE,
...) with the bytes bpf_obj_new() initialises on a 6.18 kernel.
OBJ may also be a raw BTF file such as /sys/kernel/btf/vmlinux. When several
types share the name (vmlinux has two 'struct console'), the first is shown
and stderr lists the ids of all, for '#ID'.

  --plain  pahole's text alone, without the special-field comments
  --json   {name, size, members: [{name, offset, size, type, bitOffset?,
           bitSize?, special?, nested?}], holes: [{offset, size}], padding,
           objNewInit: [{offset, size, field, init}]}`,
  async run(argv) {
    const args = parseArgs(argv, { switches: ['json', 'plain'] });
    const [file, typeName, extra] = args.positional;
    if (file === undefined || typeName === undefined || extra !== undefined) throw new BpfscopeError('expected OBJ and TYPE (bpfscope help layout)');
    if (args.switches.has('json') && args.switches.has('plain')) throw new BpfscopeError('--json and --plain are alternatives: give one');
    const bytes = readObjectFile(file);
    let btf: Btf;
    if (bytes.length >= 2 && bytes[0] === 0x9f && bytes[1] === 0xeb) {
      btf = inFileOf(file, () => parseBtf(bytes));
    } else {
      const obj = parseObject(bytes, file);
      if (!obj.btf) throw new BpfscopeError('object has no .BTF section', file);
      btf = obj.btf;
    }
    const [id, ...others] = inFileOf(file, () => findLayoutTypes(btf, typeName));
    // vmlinux has structs that share a name (two 'struct console'): say which one this is.
    if (others.length) process.stderr.write(`bpfscope layout: ${file}: ${others.length + 1} types match '${typeName}' ([${[id, ...others].join('], [')}]); showing [${id}], choose one with '#ID'\n`);
    const layout = inFileOf(file, () => structLayout(btf, id));
    if (args.switches.has('json')) {
      process.stdout.write(JSON.stringify(layoutJson(layout), null, 2) + '\n');
    } else {
      process.stdout.write(formatLayout(layout, { annotate: !args.switches.has('plain') }) + '\n');
    }
    return 0;
  },
};

/** Find a struct/union by `name`, `struct name`, `union name` or `#id`. */
export function findLayoutType(btf: Btf, spec: string): number {
  return findLayoutTypes(btf, spec)[0];
}

/** Every struct/union `spec` names, the one to show first (a definition before a typedef of the same name). */
export function findLayoutTypes(btf: Btf, spec: string): number[] {
  const s = spec.trim();
  const byId = /^#?(\d+)$/.exec(s);
  if (byId && s.startsWith('#')) return [Number(byId[1])];
  const m = /^(struct|union)\s+(.+)$/.exec(s);
  const name = m ? m[2] : s;
  const hits = findAllByName(btf, name).filter((t) => (m ? t.kind === (m[1] === 'struct' ? 'STRUCT' : 'UNION') : t.kind === 'STRUCT' || t.kind === 'UNION' || t.kind === 'TYPEDEF'));
  if (!hits.length) throw new BpfscopeError(`no struct or union named '${name}' in the BTF`);
  const defs = hits.filter((t) => t.kind !== 'TYPEDEF');
  return (defs.length ? defs : hits.slice(0, 1)).map((t) => t.id);
}

export function layoutJson(l: StructLayout): unknown {
  return {
    ...stripLayout(l),
    objNewInit: objNewZeroedRanges(l),
  };
}

function stripLayout(l: StructLayout): Record<string, unknown> {
  return {
    name: l.name,
    kind: l.kind,
    size: l.size,
    members: l.members.map((m) => ({
      name: m.name,
      offset: m.offset,
      size: m.size,
      type: m.type,
      ...(m.bitSize !== undefined ? { bitOffset: m.bitOffset, bitSize: m.bitSize } : {}),
      ...(m.special ? { special: m.special } : {}),
      ...(m.tags ? { tags: m.tags } : {}),
      ...(m.nested ? { nested: stripLayout(m.nested) } : {}),
      ...(m.nestedCount !== undefined ? { nestedCount: m.nestedCount } : {}),
    })),
    holes: l.holes,
    ...(l.bitHoles.length ? { bitHoles: l.bitHoles } : {}),
    padding: l.padding,
    ...(l.bitPadding ? { bitPadding: l.bitPadding } : {}),
    ...(l.tags.length ? { tags: l.tags } : {}),
  };
}
