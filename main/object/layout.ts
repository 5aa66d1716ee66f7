import { BpfscopeError } from '../errors';
import { cdecl } from './btf/cdecl';
import { alignOf, declTags, kindedName, resolveType, sizeOf, typeById } from './btf/lookup';
import type { Btf, BtfComposite } from './btf/types';

/**
 * Struct and union layouts as pahole reports them (member offsets and sizes,
 * bit-fields, holes, tail padding) plus the BPF special fields the kernel's
 * btf_parse_fields() recognises in program BTF: locks, list and rbtree
 * heads/nodes, refcounts, timers, workqueues and kptrs, with the
 * `contains:TYPE:FIELD` decl tags that say what a head holds.
 */

/** Struct names the kernel treats as special fields (btf_get_field_type). */
export const SPECIAL_STRUCTS = [
  'bpf_spin_lock',
  'bpf_res_spin_lock',
  'bpf_timer',
  'bpf_wq',
  'bpf_task_work',
  'bpf_list_head',
  'bpf_list_node',
  'bpf_rb_root',
  'bpf_rb_node',
  'bpf_refcount',
] as const;
export type SpecialStruct = (typeof SPECIAL_STRUCTS)[number];

/** Pointer type tags that make a member a kptr (btf_find_kptr). */
export const KPTR_TAGS = ['kptr', 'percpu_kptr', 'kptr_untrusted', 'uptr'] as const;
export type KptrTag = (typeof KPTR_TAGS)[number];

export type SpecialKind = SpecialStruct | KptrTag;

export interface SpecialField {
  kind: SpecialKind;
  /** For list heads and rb roots: the `contains:TYPE:FIELD` decl tag. */
  contains?: { type: string; node: string };
  /** For kptrs: the pointee struct's name. */
  pointee?: string;
  /** Arrays of special fields: the number of elements (1 otherwise). */
  nelems: number;
}

export interface LayoutMember {
  name: string;
  /** Byte offset; for a bit-field, the offset of its storage unit (as pahole prints it). */
  offset: number;
  /** Byte size; for a bit-field, the size of its storage unit's type. */
  size: number;
  /** The C declaration's type part: `struct bpf_list_head`, `char[16]`, `struct elem __kptr *`. */
  type: string;
  typeId: number;
  /** The declaration as pahole prints it in its first column: `char name[16]`. */
  decl: string;
  /** Bit-fields: first bit inside the storage unit at `offset`, and the width. */
  bitOffset?: number;
  bitSize?: number;
  /** Non-empty for BPF special fields: `bpf_list_head contains elem.node`, `kptr elem`. */
  special?: string;
  specialField?: SpecialField;
  /** Decl tags on this member (`contains:elem:node`, ...). */
  tags?: string[];
  /** Struct and union members: their own layout (offsets relative to the member). */
  nested?: StructLayout;
  /** Arrays of structs: how many elements (`nested` is one element's layout). */
  nestedCount?: number;
}

export interface Hole {
  /** Byte offset where the hole starts. */
  offset: number;
  size: number;
}

export interface BitHole {
  /** Bit offset from the start of the struct. */
  bitOffset: number;
  bits: number;
}

export interface StructLayout {
  name: string;
  kind: 'struct' | 'union';
  typeId: number;
  size: number;
  members: LayoutMember[];
  holes: Hole[];
  bitHoles: BitHole[];
  /** Tail padding in bytes (pahole's `padding:`). */
  padding: number;
  /** Unused bits at the end of the last bit-field's storage unit (pahole's `bit_padding:`). */
  bitPadding: number;
  /** Decl tags on the struct itself. */
  tags: string[];
  /** Laid out as __attribute__((packed)): a member sits off its natural alignment. */
  packed: boolean;
}

const MAX_NEST = 16;

/** Each member's declaration before and after its name (kept out of the JSON). */
const declSplit = new WeakMap<LayoutMember, [string, string]>();
/** Enumerators of members whose type is an anonymous enum (pahole lists them inline). */
const anonEnums = new WeakMap<LayoutMember, { name: string; value: bigint }[]>();

export function structLayout(btf: Btf, typeId: number, depth = 0): StructLayout {
  return layoutOf(btf, typeId, depth, new Set(), { members: 0 });
}

/** Members laid out for one top-level layout, nested ones included; corrupt BTF can multiply them without end. */
const MAX_MEMBERS = 200_000; // the largest in 6.18 vmlinux (bpf_ctx_convert) has 2,689

function layoutOf(btf: Btf, typeId: number, depth: number, ancestors: Set<number>, count: { members: number }): StructLayout {
  const t = typeById(btf, resolveType(btf, typeId));
  // Only corrupt BTF nests a struct inside itself; without this it would never finish.
  if (ancestors.has(t.id)) throw new BpfscopeError(`BTF: struct [${t.id}] '${t.name}' contains itself`);
  if (t.kind !== 'STRUCT' && t.kind !== 'UNION') throw new BpfscopeError(`type [${typeId}] ${kindedName(t)} is ${t.kind}, not a struct or union`);
  const ct = t as BtfComposite;
  const isUnion = ct.kind === 'UNION';
  const members: LayoutMember[] = [];
  const holes: Hole[] = [];
  const bitHoles: BitHole[] = [];
  // Where the previous member ended, in bits, and where its bit-field storage unit ends.
  let lastEnd = 0;
  let unitEnd = 0;
  let prevBitfield = false;
  count.members += ct.members.length;
  if (count.members > MAX_MEMBERS) throw new BpfscopeError(`BTF: struct [${ct.id}] '${ct.name}' expands to more than ${MAX_MEMBERS} nested members`);
  ct.members.forEach((m, idx) => {
    let size: number;
    try {
      size = sizeOf(btf, m.type);
    } catch {
      size = 0;
    }
    const bitSize = m.bitfieldSize || bitfieldFromInt(btf, m.type);
    let offset: number;
    let bitOffset: number | undefined;
    if (bitSize) {
      const unitBits = Math.max(8, size * 8);
      const unitStart = Math.floor(m.bitsOffset / unitBits) * unitBits;
      offset = unitStart / 8;
      bitOffset = m.bitsOffset - unitStart;
    } else {
      offset = Math.floor(m.bitsOffset / 8);
    }
    // The declaration with a marker where the name goes, to split pahole's two columns exactly.
    const marked = cdecl(btf, m.type, '\u0001');
    const decl = marked.replace('\u0001', m.name);
    const tags = declTags(btf, ct.id, idx);
    const member: LayoutMember = {
      name: m.name,
      offset,
      size,
      type: cdecl(btf, m.type),
      typeId: m.type,
      decl,
    };
    declSplit.set(member, marked.split('\u0001') as [string, string]);
    const et = btf.types[resolveType(btf, m.type)];
    if (et && (et.kind === 'ENUM' || et.kind === 'ENUM64') && !et.name && member.type === 'enum') anonEnums.set(member, et.values);
    if (bitSize) {
      member.bitOffset = bitOffset;
      member.bitSize = bitSize;
    }
    if (tags.length) member.tags = tags;
    const special = specialField(btf, m.type, tags);
    if (special) {
      member.specialField = special;
      member.special = describeSpecial(special);
    }
    let inner = typeById(btf, resolveType(btf, m.type));
    // An array of structs carries its element's layout (pahole inlines anonymous
    // ones; the kernel repeats an element's special fields for every element).
    let nelems = 1;
    for (let i = 0; inner.kind === 'ARRAY' && i < MAX_NEST; i++) {
      nelems *= inner.nelems;
      inner = typeById(btf, resolveType(btf, inner.type));
    }
    // Special fields are opaque kernel structs (`__u64 __opaque[2]`): no nested layout for them.
    if ((inner.kind === 'STRUCT' || inner.kind === 'UNION') && depth < MAX_NEST && !special) {
      member.nested = layoutOf(btf, inner.id, depth + 1, new Set([...ancestors, ct.id]), count);
      if (nelems !== 1) member.nestedCount = nelems;
    }
    members.push(member);

    if (isUnion) return;
    const start = m.bitsOffset;
    const end = bitSize ? start + bitSize : start + size * 8;
    if (prevBitfield && start > lastEnd) {
      // A bit-field that straddles its storage unit (packed structs) ends past
      // it: the bits up to the next byte are then the unit's unused tail.
      const tail = bitfieldTailEnd(unitEnd, lastEnd);
      const bits = Math.min(start, tail) - lastEnd;
      if (bits > 0) bitHoles.push({ bitOffset: lastEnd, bits });
      if (start > tail) pushHole(holes, tail, start);
    } else if (start > lastEnd) {
      if ((start - lastEnd) % 8 === 0) pushHole(holes, lastEnd, start);
      else bitHoles.push({ bitOffset: lastEnd, bits: start - lastEnd });
    }
    lastEnd = Math.max(lastEnd, end);
    if (bitSize) {
      unitEnd = Math.max(unitEnd, offset * 8 + size * 8);
    } else {
      unitEnd = lastEnd;
    }
    prevBitfield = bitSize > 0;
  });
  let padding = 0;
  let bitPadding = 0;
  if (!isUnion && members.length) {
    // pahole: after a trailing bit-field, its unit's unused bits (never past
    // the struct's end) are bit_padding and what follows the unit is padding;
    // otherwise padding starts where the last member's bytes end.
    const endBits = prevBitfield ? Math.min(bitfieldTailEnd(unitEnd, lastEnd), ct.size * 8) : Math.ceil(lastEnd / 8) * 8;
    if (prevBitfield) bitPadding = Math.max(0, endBits - lastEnd);
    padding = Math.max(0, ct.size - endBits / 8);
  }
  return {
    name: ct.name,
    kind: isUnion ? 'union' : 'struct',
    typeId: ct.id,
    size: ct.size,
    members,
    holes,
    bitHoles,
    padding,
    bitPadding,
    tags: declTags(btf, ct.id, -1),
    packed: isPacked(btf, ct),
  };
}

function isPacked(btf: Btf, t: BtfComposite): boolean {
  try {
    return alignOf(btf, t.id) === 1 && t.members.some((m) => alignOf(btf, m.type) > 1);
  } catch {
    return false;
  }
}

/** Where the storage unit of the bit-fields just laid out ends, in bits: their unit, or the next byte when the last one ran past it. */
function bitfieldTailEnd(unitEnd: number, lastEnd: number): number {
  return Math.max(unitEnd, Math.ceil(lastEnd / 8) * 8);
}

function pushHole(holes: Hole[], fromBits: number, toBits: number): void {
  const size = Math.floor((toBits - fromBits) / 8);
  if (size > 0) holes.push({ offset: Math.ceil(fromBits / 8), size });
}

/** An INT typed with fewer bits than its size is a bit-field too (BTF without kind_flag). */
function bitfieldFromInt(btf: Btf, id: number): number {
  const t = btf.types[resolveType(btf, id)];
  if (t && t.kind === 'INT' && (t.bits !== t.size * 8 || t.bitsOffset !== 0) && t.kind === 'INT') return t.bits;
  return 0;
}

/** What kind of special field a member of this type is, following typedefs, modifiers and arrays. */
export function specialField(btf: Btf, memberType: number, memberTags: string[] = []): SpecialField | undefined {
  let nelems = 1;
  let id = resolveType(btf, memberType);
  for (let i = 0; i < MAX_NEST; i++) {
    const t = btf.types[id];
    if (t && t.kind === 'ARRAY') {
      nelems *= t.nelems;
      id = resolveType(btf, t.type);
    } else break;
  }
  const t = typeById(btf, id);
  if (t.kind === 'STRUCT' && (SPECIAL_STRUCTS as readonly string[]).includes(t.name)) {
    const f: SpecialField = { kind: t.name as SpecialStruct, nelems };
    if (t.name === 'bpf_list_head' || t.name === 'bpf_rb_root') {
      for (const tag of memberTags) {
        const m = /^contains:([^:]+):(.+)$/.exec(tag);
        if (m) f.contains = { type: m[1], node: m[2] };
      }
    }
    return f;
  }
  if (t.kind === 'PTR') {
    // PTR -> TYPE_TAG(kptr) [-> more tags/modifiers] -> STRUCT: the kernel looks at the first tag.
    const tag = btf.types[t.type];
    if (tag && tag.kind === 'TYPE_TAG' && (KPTR_TAGS as readonly string[]).includes(tag.name)) {
      const pointee = btf.types[resolveType(btf, tag.type)];
      return { kind: tag.name as KptrTag, pointee: pointee ? pointee.name || kindedName(pointee) : undefined, nelems };
    }
  }
  return undefined;
}

export function describeSpecial(f: SpecialField): string {
  let s: string = f.kind;
  if (f.pointee !== undefined) s += ` ${f.pointee}`;
  if (f.contains) s += ` contains ${f.contains.type}.${f.contains.node}`;
  if (f.nelems !== 1) s += ` [${f.nelems}]`;
  return s;
}

/** Every special field in a layout, nested structs included, with absolute offsets. */
export interface FlatSpecial {
  /** `head`, `inner.lock`. */
  path: string;
  offset: number;
  size: number;
  field: SpecialField;
}

export function specialFields(layout: StructLayout, base = 0, prefix = ''): FlatSpecial[] {
  const out: FlatSpecial[] = [];
  for (const m of layout.members) {
    const path = prefix + (m.name || '(anon)');
    if (m.specialField) {
      out.push({ path, offset: base + m.offset, size: m.size, field: m.specialField });
    } else if (m.nested) {
      const count = m.nestedCount ?? 1;
      const stride = count > 0 ? m.size / count : 0;
      for (let i = 0; i < count; i++) {
        out.push(...specialFields(m.nested, base + m.offset + i * stride, count === 1 ? `${path}.` : `${path}[${i}].`));
      }
    }
  }
  return out;
}

/** How bpf_obj_init_field() leaves a special field's bytes. */
export type FieldInit = 'zero' | 'refcount=1' | 'list_head=self' | 'rb_node=cleared';

export interface ZeroedRange {
  offset: number;
  size: number;
  field: string;
  kind: SpecialKind;
  init: FieldInit;
}

/**
 * The bytes bpf_obj_new() initialises on 6.18. bpf_obj_new_impl() takes the
 * object from bpf_mem_alloc() (not zeroed: freed objects are reused) and, when
 * the type has a btf_record, calls bpf_obj_init(): for every special field,
 * memset(0) over the field, then bpf_refcount = 1, list heads/nodes
 * INIT_LIST_HEAD (pointing to themselves), rb nodes RB_CLEAR_NODE. Every
 * other byte keeps whatever the allocator's cache held.
 */
export function objNewZeroedRanges(layout: StructLayout): ZeroedRange[] {
  return specialFields(layout)
    .map(({ path, offset, size, field }) => ({ offset, size, field: path, kind: field.kind, init: initOf(field.kind) }))
    .sort((a, b) => a.offset - b.offset);
}

function initOf(kind: SpecialKind): FieldInit {
  switch (kind) {
    case 'bpf_refcount':
      return 'refcount=1';
    case 'bpf_list_head':
    case 'bpf_list_node':
      return 'list_head=self';
    case 'bpf_rb_node':
      return 'rb_node=cleared';
    default:
      return 'zero';
  }
}

/** pahole's summary comments for a layout (`size: 48, cachelines: 1, members: 7`, `padding: 4`, ...). */
export function layoutSummary(l: StructLayout, cacheline = 64): string[] {
  // pahole ends a top-level union without any summary.
  if (l.kind === 'union') return [];
  const out = [`size: ${l.size}, cachelines: ${Math.ceil(l.size / cacheline)}, members: ${l.members.length}`];
  if (l.kind === 'struct') {
    const sumMembers = l.members.filter((m) => m.bitSize === undefined).reduce((a, m) => a + m.size, 0);
    const sumHoles = l.holes.reduce((a, h) => a + h.size, 0);
    if (l.holes.length) out.push(`sum members: ${sumMembers}, holes: ${l.holes.length}, sum holes: ${sumHoles}`);
    else if (l.bitHoles.length && sumMembers) out.push(`sum members: ${sumMembers}`);
    const bits = l.members.reduce((a, m) => a + (m.bitSize ?? 0), 0);
    // pahole prints the sums only when there is something to pack.
    if (bits && (l.holes.length || l.bitHoles.length)) {
      const sumBitHoles = l.bitHoles.reduce((a, h) => a + h.bits, 0);
      let line = `sum bitfield members: ${bits} bits`;
      if (l.bitHoles.length) line += `, bit holes: ${l.bitHoles.length}, sum bit holes: ${sumBitHoles} bits`;
      else line += ` (${Math.floor(bits / 8)} bytes)`;
      out.push(line);
    }
    if (l.padding) out.push(`padding: ${l.padding}`);
    const paddings = l.members.map(memberStructPadding).filter((p) => p > 0);
    if (paddings.length) out.push(`paddings: ${paddings.length}, sum paddings: ${paddings.reduce((a, b) => a + b, 0)}`);
    if (l.bitPadding) out.push(`bit_padding: ${l.bitPadding} bits`);
  }
  if (l.size % cacheline) out.push(`last cacheline: ${l.size % cacheline} bytes`);
  return out;
}

/** Tail padding of a struct member: pahole's "last struct has N bytes of padding". */
function memberStructPadding(m: LayoutMember): number {
  if (!m.nested || m.nested.kind !== 'struct' || m.bitSize !== undefined) return 0;
  // pahole counts structs named by their tag and anonymous ones, not typedef'd or const ones.
  if (!/^struct( |$)/.test(m.type)) return 0;
  return m.type.includes('*') || m.type.includes('[') ? 0 : m.nested.padding;
}

/**
 * pahole's note when a member shares bytes with those before it through a
 * bit-field's storage unit (`runEnd`: where the bytes of the run so far
 * end): 'previous' when its unit starts at or before the previous member,
 * 'next' when it starts inside the run. Bit-fields of one unit get no note.
 */
function combinedWith(prev: LayoutMember, runEnd: number, m: LayoutMember): 'previous' | 'next' | undefined {
  if (m.bitSize === undefined && prev.bitSize === undefined) return undefined;
  if (m.offset >= Math.max(runEnd, prev.offset + prev.size)) return undefined;
  if (m.bitSize !== undefined && prev.bitSize !== undefined && m.offset === prev.offset) return undefined;
  return m.offset <= prev.offset ? 'previous' : 'next';
}

/** pahole's note after a struct member that ends in padding. */
function pushPaddingNote(l: StructLayout, m: LayoutMember, tabs: string, lines: string[]): void {
  const pad = l.kind === 'struct' ? memberStructPadding(m) : 0;
  if (pad) lines.push('', `${tabs}/* XXX last struct has ${pad} byte${pad === 1 ? '' : 's'} of padding */`, '');
}

/** Split a member's declaration into pahole's two columns: `void` | `(*fn)(int)`, `char` | `buf[16]`. */
function columns(m: LayoutMember): [string, string] {
  const split = declSplit.get(m);
  if (!split) return [m.decl, ''];
  let [type, rest] = split;
  rest = m.name + rest;
  const paren = type.lastIndexOf(' (');
  if (paren >= 0 && type.slice(paren).startsWith(' (*')) {
    rest = type.slice(paren + 1) + rest;
    type = type.slice(0, paren);
  }
  return [type.trim(), rest];
}

export interface FormatOptions {
  /** Add `special:` and `tags:` comments and the bpf_obj_new line (default true). */
  annotate?: boolean;
}

/**
 * The layout as text in pahole's format (anonymous structs and unions
 * inlined with absolute offsets, holes, cacheline boundaries, the summary),
 * with the BPF special fields and tags as extra comments.
 */
export function formatLayout(l: StructLayout, opts: FormatOptions = {}): string {
  const annotate = opts.annotate ?? true;
  const lines: string[] = [`${l.kind} ${l.name || '(anon)'} {${annotate && l.tags.length ? `  /* ${l.tags.join(', ')} */` : ''}`];
  // pahole gives names two columns less when the outermost type is a union.
  const nameWidth = l.kind === 'union' ? 19 : 21;
  const state = { cacheline: 1 };
  emitMembers(l, 1, 0, nameWidth, annotate, lines, state);
  const summary = layoutSummary(l);
  if (annotate && l.kind === 'union') summary.push(`size: ${l.size}`);
  if (summary.length) lines.push('');
  for (const s of summary) lines.push(`\t/* ${s} */`);
  const zeroed = annotate ? objNewZeroedRanges(l) : [];
  if (zeroed.length) {
    lines.push(`\t/* bpf_obj_new initialises: ${zeroed.map((z) => `${z.field} [${z.offset}, ${z.offset + z.size}) ${z.init}`).join('; ')}; other bytes uninitialised */`);
  }
  lines.push(l.packed ? '} __attribute__((__packed__));' : '};');
  // Notes that meet share one blank line, as in pahole; a padding note runs
  // straight into a hole note or the closing brace of an inlined member.
  const lastStruct = /^\t+\/\* XXX last struct has /;
  return lines
    .filter((line, i) => line !== '' || lines[i - 1] !== '')
    .filter((line, i, kept) => line !== '' || !lastStruct.test(kept[i - 1] ?? '') || !/^\t+(\/\* XXX |\})/.test(kept[i + 1] ?? ''))
    .join('\n');
}

function emitMembers(l: StructLayout, depth: number, base: number, nameWidth: number, annotate: boolean, lines: string[], state: { cacheline: number }): void {
  const tabs = '\t'.repeat(depth);
  // pahole's type column shrinks by a tab per level; its printf("%-*s") takes a
  // negative width as its absolute value, and the name column gets what is left.
  const typeSpacing = 26 - 8 * (depth - 1);
  const holes = [...l.holes];
  const bitHoles = [...l.bitHoles];
  let prev: LayoutMember | undefined;
  // Where the bytes of the members since the last clean break end (bit-field storage units included).
  let runEnd = 0;
  for (const m of l.members) {
    const startBits = m.offset * 8 + (m.bitOffset ?? 0);
    // Holes before this member: bit holes first, then byte holes, one block (as pahole).
    const notes: string[] = [];
    while (bitHoles.length && bitHoles[0].bitOffset < startBits) {
      const h = bitHoles.shift()!;
      notes.push(`${tabs}/* XXX ${h.bits} bit${h.bits === 1 ? '' : 's'} hole, try to pack */`);
    }
    while (holes.length && holes[0].offset <= m.offset && holes[0].offset * 8 <= startBits) {
      const h = holes.shift()!;
      notes.push(`${tabs}/* XXX ${h.size} byte${h.size === 1 ? '' : 's'} hole, try to pack */`);
    }
    const combined = prev && l.kind === 'struct' ? combinedWith(prev, runEnd, m) : undefined;
    runEnd = combined || m.offset < runEnd ? Math.max(runEnd, m.offset + m.size) : m.offset + m.size;
    if (combined === 'next') notes.push(`${tabs}/* Bitfield combined with next fields */`);
    if (notes.length) lines.push('', ...notes, '');
    const abs = base + m.offset;
    if (l.kind === 'struct' && abs >= state.cacheline * 64) {
      const n = Math.floor(abs / 64);
      const ago = abs - n * 64;
      lines.push(`${tabs}/* --- cacheline ${n} boundary (${n * 64} bytes)${ago ? ` was ${ago} byte${ago === 1 ? '' : 's'} ago` : ''} --- */`);
      state.cacheline = n + 1;
    }
    if (combined === 'previous') lines.push('', `${tabs}/* Bitfield combined with previous fields */`, '');
    prev = m;
    const pos =
      m.bitSize !== undefined
        ? `${String(abs).padStart(5)}:${String(m.bitOffset).padStart(2)} ${String(m.size).padStart(2)}`
        : `${String(abs).padStart(5)} ${String(m.size).padStart(5)}`;
    const extra = annotate ? [m.special ? `special: ${m.special}` : '', m.tags?.length ? `tags: ${m.tags.join(', ')}` : ''].filter(Boolean).join('; ') : '';
    const tail = `/* ${pos} */${extra ? `  /* ${extra} */` : ''}`;
    const anon = m.nested && !m.nested.name && !m.type.includes('*') ? /^((?:(?:const|volatile|restrict) )*)(?:struct|union)(?: |\[|$)/.exec(m.type) : null;
    if (m.nested && anon) {
      // Anonymous struct/union type (const ones too): printed inline, as pahole does.
      lines.push(`${tabs}${anon[1]}${m.nested.kind} {`);
      // pahole follows cachelines through each arm of a union on its own, and
      // after the union goes on as if it had not been inside.
      emitMembers(m.nested, depth + 1, abs, nameWidth, annotate, lines, l.kind === 'union' ? { ...state } : state);
      const dims = m.type.slice(m.type.indexOf('[') >= 0 ? m.type.indexOf('[') : m.type.length);
      const close = `}${m.nested.packed ? ' __attribute__((__packed__))' : ''}${m.name ? ` ${m.name}` : ''}${dims};`;
      // (pahole does not pad the closing line of an inlined array element type)
      lines.push(`${tabs}${dims ? `${close} ` : close.padEnd(typeSpacing + nameWidth + 2)}${tail}`);
      pushPaddingNote(l, m, tabs, lines);
      continue;
    }
    const enumerators = anonEnums.get(m);
    if (enumerators) {
      const width = Math.max(0, ...enumerators.map((e) => e.name.length));
      lines.push(`${tabs}enum {`, ...enumerators.map((e) => `${tabs}\t${e.name.padEnd(width)} = ${e.value},`));
      const close = `}${m.name ? ` ${m.name}` : ''}${m.bitSize !== undefined ? `:${m.bitSize}` : ''};`;
      lines.push(`${tabs}${close.padEnd(typeSpacing + nameWidth + 2)}${tail}`);
      continue;
    }
    const [type, cname] = columns(m);
    // pahole writes a flexible array member (a zero-length array ending a struct
    // or union with other members, at most one level of nesting in) as `name[]`.
    const flexible = depth <= 2 && l.members.length > 1 && m === l.members[l.members.length - 1];
    const name = flexible ? cname.replace(/\[0\]/, '[]') : cname;
    const decl = `${name}${m.bitSize !== undefined ? `:${m.bitSize}` : ''};`;
    // A long type eats into the name column so that the comments stay aligned.
    const typeCol = type.padEnd(Math.abs(typeSpacing));
    lines.push(`${tabs}${typeCol} ${decl.padEnd(typeSpacing + nameWidth - typeCol.length)} ${tail}`);
    pushPaddingNote(l, m, tabs, lines);
  }
  for (const h of bitHoles) lines.push('', `${tabs}/* XXX ${h.bits} bit${h.bits === 1 ? '' : 's'} hole, try to pack */`);
}
