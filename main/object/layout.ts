import { BpfscopeError } from '../errors';
import { cdecl } from './btf/cdecl';
import { declTags, kindedName, resolveType, sizeOf, typeById } from './btf/lookup';
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
}

const MAX_NEST = 16;

export function structLayout(btf: Btf, typeId: number, depth = 0): StructLayout {
  const t = typeById(btf, resolveType(btf, typeId));
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
    const decl = cdecl(btf, m.type, m.name);
    const tags = declTags(btf, ct.id, idx);
    const member: LayoutMember = {
      name: m.name,
      offset,
      size,
      type: cdecl(btf, m.type),
      typeId: m.type,
      decl,
    };
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
    const inner = typeById(btf, resolveType(btf, m.type));
    if ((inner.kind === 'STRUCT' || inner.kind === 'UNION') && depth < MAX_NEST) member.nested = structLayout(btf, inner.id, depth + 1);
    members.push(member);

    if (isUnion) return;
    const start = m.bitsOffset;
    const end = bitSize ? start + bitSize : start + size * 8;
    if (prevBitfield && start > lastEnd) {
      const bits = Math.min(start, unitEnd) - lastEnd;
      if (bits > 0) bitHoles.push({ bitOffset: lastEnd, bits });
      if (start > unitEnd && unitEnd >= lastEnd) pushHole(holes, unitEnd, start);
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
    const endBytes = Math.max(...members.map((m) => m.offset + m.size));
    padding = Math.max(0, ct.size - endBytes);
    if (prevBitfield && unitEnd > lastEnd) bitPadding = unitEnd - lastEnd;
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
  };
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
    if (m.specialField) out.push({ path, offset: base + m.offset, size: m.size, field: m.specialField });
    else if (m.nested) out.push(...specialFields(m.nested, base + m.offset, `${path}.`));
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

/** The layout as text: pahole's format, with special fields and tags in the comments. */
export function formatLayout(l: StructLayout, indent = ''): string {
  const lines: string[] = [];
  lines.push(`${indent}${l.kind} ${l.name || '(anon)'} {${l.tags.length ? `  /* ${l.tags.join(', ')} */` : ''}`);
  const holesAt = new Map<number, Hole>(l.holes.map((h) => [h.offset, h]));
  const bitHolesAt = new Map<number, BitHole>(l.bitHoles.map((h) => [h.bitOffset, h]));
  let prevEndBits = 0;
  for (const m of l.members) {
    const startBits = m.offset * 8 + (m.bitOffset ?? 0);
    for (const [off, h] of holesAt) {
      if (off * 8 >= prevEndBits && off * 8 < startBits + 1 && off <= m.offset) {
        lines.push('', `${indent}\t/* XXX ${h.size} byte${h.size === 1 ? '' : 's'} hole, try to pack */`, '');
        holesAt.delete(off);
      }
    }
    for (const [off, h] of bitHolesAt) {
      if (off < startBits) {
        lines.push('', `${indent}\t/* XXX ${h.bits} bit${h.bits === 1 ? '' : 's'} hole, try to pack */`, '');
        bitHolesAt.delete(off);
      }
    }
    const decl = m.bitSize !== undefined ? `${m.decl}:${m.bitSize}` : m.decl;
    const pos = m.bitSize !== undefined ? `${String(m.offset).padStart(5)}:${String(m.bitOffset).padStart(2)}` : String(m.offset).padStart(5);
    const extra = [m.special ? `special: ${m.special}` : '', m.tags?.length ? `tags: ${m.tags.join(', ')}` : ''].filter(Boolean).join('; ');
    lines.push(`${indent}\t${`${decl};`.padEnd(48)} /* ${pos} ${String(m.size).padStart(5)} */${extra ? `  /* ${extra} */` : ''}`);
    prevEndBits = startBits + (m.bitSize ?? m.size * 8);
  }
  for (const h of bitHolesAt.values()) lines.push('', `${indent}\t/* XXX ${h.bits} bits hole, try to pack */`);
  lines.push('', `${indent}\t/* size: ${l.size}, members: ${l.members.length} */`);
  if (l.holes.length) lines.push(`${indent}\t/* holes: ${l.holes.length}, sum holes: ${l.holes.reduce((a, h) => a + h.size, 0)} */`);
  if (l.padding) lines.push(`${indent}\t/* padding: ${l.padding} */`);
  if (l.bitPadding) lines.push(`${indent}\t/* bit_padding: ${l.bitPadding} bits */`);
  const zeroed = objNewZeroedRanges(l);
  if (zeroed.length) {
    lines.push(`${indent}\t/* bpf_obj_new initialises: ${zeroed.map((z) => `${z.field} [${z.offset}, ${z.offset + z.size}) ${z.init}`).join('; ')}; other bytes uninitialised */`);
  }
  lines.push(`${indent}};`);
  return lines.join('\n');
}
