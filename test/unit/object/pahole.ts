/** Parsers for the oracles' text: pahole's struct layouts, bpftool's C dump, llvm-dwarfdump's decl tags. */

export interface PaholeMember {
  decl: string;
  offset: number;
  bit?: number;
  size: number;
}
export interface PaholeStruct {
  kind: 'struct' | 'union';
  name: string;
  members: PaholeMember[];
  holes: number[];
  bitHoles: number[];
  size?: number;
  padding: number;
  bitPadding: number;
}

/** `pahole -F btf OBJ` output: one entry per top-level struct/union, depth-1 members only. */
export function parsePahole(text: string): PaholeStruct[] {
  const out: PaholeStruct[] = [];
  let cur: PaholeStruct | undefined;
  let depth = 0;
  for (const line of text.split('\n')) {
    const start = /^(struct|union) (\S+) \{$/.exec(line);
    if (start) {
      cur = { kind: start[1] as 'struct' | 'union', name: start[2], members: [], holes: [], bitHoles: [], padding: 0, bitPadding: 0 };
      depth = 1;
      continue;
    }
    if (!cur) continue;
    if (/^\}/.test(line)) {
      out.push(cur);
      cur = undefined;
      continue;
    }
    const trimmed = line.trim();
    const closes = trimmed.startsWith('}');
    if (closes) depth--;
    if (depth === 1) {
      const m = /^(.*);\s*\/\*\s*(\d+)(?::\s*(\d+))?\s+(\d+)\s*\*\/$/.exec(trimmed);
      if (m) cur.members.push({ decl: m[1].trim(), offset: Number(m[2]), bit: m[3] === undefined ? undefined : Number(m[3]), size: Number(m[4]) });
      let h = /XXX (\d+) bytes? hole/.exec(trimmed);
      if (h) cur.holes.push(Number(h[1]));
      h = /XXX (\d+) bits? hole/.exec(trimmed);
      if (h) cur.bitHoles.push(Number(h[1]));
      h = /\/\* size: (\d+),/.exec(trimmed);
      if (h) cur.size = Number(h[1]);
      h = /\/\* padding: (\d+) \*\//.exec(trimmed);
      if (h) cur.padding = Number(h[1]);
      h = /\/\* bit_padding: (\d+) bits \*\//.exec(trimmed);
      if (h) cur.bitPadding = Number(h[1]);
    }
    if (trimmed.endsWith('{')) depth++;
  }
  return out;
}

/** `bpftool btf dump file OBJ format c`: member declarations of each named struct/union, keyed by member name. */
export function parseBpftoolC(text: string): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  let cur: Map<string, string> | undefined;
  let depth = 0;
  for (const line of text.split('\n')) {
    const start = /^(struct|union) (\w+) \{$/.exec(line);
    if (start) {
      cur = new Map();
      out.set(`${start[1]} ${start[2]}`, cur);
      depth = 1;
      continue;
    }
    if (!cur) continue;
    if (/^\}/.test(line)) {
      cur = undefined;
      continue;
    }
    const t = line.trim();
    if (t.startsWith('}')) depth--;
    if (depth === 1 && t.endsWith(';') && !t.startsWith('}')) {
      const decl = t.slice(0, -1);
      const fp = /\(\*+\s*(\w+)\)/.exec(decl);
      const name = fp ? fp[1] : /(\w+)\s*(\[[^\]]*\])*\s*(:\s*\d+)?$/.exec(decl)?.[1];
      if (name) cur.set(name, decl);
    }
    if (t.endsWith('{')) depth++;
  }
  return out;
}

/** llvm-dwarfdump --debug-info: `struct.member` (or `struct`) -> btf_decl_tag values. */
export function parseDwarfDeclTags(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const stack: { indent: number; tag: string; name?: string }[] = [];
  let pendingTag = false;
  for (const line of text.split('\n')) {
    const die = /^0x[0-9a-f]+:(\s+)(DW_TAG_\w+|NULL)/.exec(line);
    if (die) {
      const indent = die[1].length;
      while (stack.length && stack[stack.length - 1].indent >= indent) stack.pop();
      if (die[2] !== 'NULL') stack.push({ indent, tag: die[2] });
      pendingTag = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) continue;
    const name = /DW_AT_name\s+\("(.*)"\)/.exec(line);
    if (name) {
      top.name = name[1];
      if (top.tag === 'DW_TAG_LLVM_annotation') pendingTag = name[1] === 'btf_decl_tag';
      continue;
    }
    const val = /DW_AT_const_value\s+\("(.*)"\)/.exec(line);
    if (val && pendingTag && top.tag === 'DW_TAG_LLVM_annotation') {
      const parent = stack[stack.length - 2];
      const grand = stack[stack.length - 3];
      let key: string | undefined;
      if (parent?.tag === 'DW_TAG_member' && grand?.tag === 'DW_TAG_structure_type') key = `${grand.name}.${parent.name}`;
      else if (parent?.tag === 'DW_TAG_structure_type') key = `${parent.name}`;
      if (key) out.set(key, [...(out.get(key) ?? []), val[1]]);
    }
  }
  return out;
}
