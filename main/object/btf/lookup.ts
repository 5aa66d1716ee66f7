import { BpfscopeError } from '../../errors';
import type { Btf, BtfType, BtfTypeKind } from './types';

/** The kernel gives up resolving a chain of modifiers after this many steps (MAX_RESOLVE_DEPTH). */
const MAX_RESOLVE_DEPTH = 32;

export function typeById(btf: Btf, id: number): BtfType {
  const t = btf.types[id];
  if (t === undefined) throw new BpfscopeError(`BTF: no type with id ${id} (there are ${btf.types.length - 1})`);
  return t;
}

const nameIndex = new WeakMap<Btf, Map<string, number[]>>();

function index(btf: Btf): Map<string, number[]> {
  let idx = nameIndex.get(btf);
  if (!idx) {
    idx = new Map();
    for (const t of btf.types) {
      if (!t.name) continue;
      const list = idx.get(t.name);
      if (list) list.push(t.id);
      else idx.set(t.name, [t.id]);
    }
    nameIndex.set(btf, idx);
  }
  return idx;
}

/** All types with this name, optionally of one kind, in id order. */
export function findAllByName(btf: Btf, name: string, kind?: BtfTypeKind): BtfType[] {
  const ids = index(btf).get(name) ?? [];
  return ids.map((id) => btf.types[id]).filter((t) => kind === undefined || t.kind === kind);
}

/** The first type with this name (and kind); `struct foo` and `union foo` prefixes are understood. */
export function findByName(btf: Btf, name: string, kind?: BtfTypeKind): BtfType | undefined {
  const m = /^(struct|union|enum)\s+(.+)$/.exec(name.trim());
  if (m && kind === undefined) {
    const k = m[1] === 'struct' ? 'STRUCT' : m[1] === 'union' ? 'UNION' : undefined;
    const hits = findAllByName(btf, m[2], k);
    return m[1] === 'enum' ? hits.find((t) => t.kind === 'ENUM' || t.kind === 'ENUM64') : hits[0];
  }
  return findAllByName(btf, name.trim(), kind)[0];
}

const MODIFIERS = new Set<BtfTypeKind>(['CONST', 'VOLATILE', 'RESTRICT', 'TYPE_TAG']);

/** Follow CONST/VOLATILE/RESTRICT/TYPE_TAG (not typedefs). */
export function skipModifiers(btf: Btf, id: number): number {
  return follow(btf, id, false);
}

/** Follow typedefs and modifiers to the underlying type's id. */
export function resolveType(btf: Btf, id: number): number {
  return follow(btf, id, true);
}

function follow(btf: Btf, id: number, typedefs: boolean): number {
  let cur = id;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = typeById(btf, cur);
    if (MODIFIERS.has(t.kind) || (typedefs && t.kind === 'TYPEDEF')) {
      cur = (t as { type: number }).type;
      continue;
    }
    return cur;
  }
  throw new BpfscopeError(`BTF: type ${id} is a chain of more than ${MAX_RESOLVE_DEPTH} typedefs/modifiers (a loop?)`);
}

/** sizeof(type) in bytes; throws for types that have none (void, functions, forward declarations). */
export function sizeOf(btf: Btf, id: number): number {
  let cur = id;
  let mult = 1;
  for (let depth = 0; depth < MAX_RESOLVE_DEPTH; depth++) {
    const t = typeById(btf, cur);
    switch (t.kind) {
      case 'INT':
      case 'ENUM':
      case 'ENUM64':
      case 'STRUCT':
      case 'UNION':
      case 'FLOAT':
      case 'DATASEC':
        return mult * t.size;
      case 'PTR':
        return mult * 8;
      case 'ARRAY':
        mult *= t.nelems;
        cur = t.type;
        continue;
      case 'TYPEDEF':
      case 'CONST':
      case 'VOLATILE':
      case 'RESTRICT':
      case 'TYPE_TAG':
      case 'VAR':
        cur = t.type;
        continue;
      default:
        throw new BpfscopeError(`BTF: type [${cur}] ${t.kind} '${t.name}' has no size`);
    }
  }
  throw new BpfscopeError(`BTF: cannot size type ${id}: chain deeper than ${MAX_RESOLVE_DEPTH}`);
}

/** Alignment in bytes, as a C compiler for BPF lays the type out (packed structs align to 1). */
export function alignOf(btf: Btf, id: number): number {
  let memo = alignMemo.get(btf);
  if (!memo) {
    memo = new Map();
    alignMemo.set(btf, memo);
  }
  return align(btf, id, memo, new Set(), 0);
}
const alignMemo = new WeakMap<Btf, Map<number, number>>();

function align(btf: Btf, id: number, memo: Map<number, number>, visiting: Set<number>, depth: number): number {
  const hit = memo.get(id);
  if (hit !== undefined) return hit;
  // A type that contains itself (only corrupt BTF does) would never finish.
  if (visiting.has(id) || depth > MAX_RESOLVE_DEPTH) throw new BpfscopeError(`BTF: type [${id}] contains itself`);
  visiting.add(id);
  const t = typeById(btf, id);
  let a: number;
  switch (t.kind) {
    case 'INT':
    case 'ENUM':
    case 'ENUM64':
    case 'FLOAT':
      a = Math.max(1, Math.min(t.size, 8));
      break;
    case 'PTR':
      a = 8;
      break;
    case 'ARRAY':
    case 'TYPEDEF':
    case 'CONST':
    case 'VOLATILE':
    case 'RESTRICT':
    case 'TYPE_TAG':
    case 'VAR':
      a = align(btf, t.type, memo, visiting, depth + 1);
      break;
    case 'STRUCT':
    case 'UNION': {
      let max = 1;
      let packed = false;
      for (const m of t.members) {
        const ma = align(btf, m.type, memo, visiting, depth + 1);
        max = Math.max(max, ma);
        // A member off its natural alignment can only come from __attribute__((packed)).
        if (m.bitfieldSize === 0 && m.bitsOffset % (8 * ma) !== 0) packed = true;
      }
      a = packed || t.size % max !== 0 ? 1 : max;
      break;
    }
    default:
      throw new BpfscopeError(`BTF: type [${id}] ${t.kind} '${t.name}' has no alignment`);
  }
  visiting.delete(id);
  memo.set(id, a);
  return a;
}

/** `struct foo`, `union bar`, `enum e`, or the plain name; '(anon)' when unnamed. */
export function kindedName(t: BtfType): string {
  const n = t.name || '(anon)';
  switch (t.kind) {
    case 'STRUCT':
      return `struct ${n}`;
    case 'UNION':
      return `union ${n}`;
    case 'ENUM':
    case 'ENUM64':
      return `enum ${n}`;
    case 'FWD':
      return `${t.union ? 'union' : 'struct'} ${n}`;
    default:
      return n;
  }
}

/** Decl tags attached to a type (componentIdx -1) or to one of its members/params. */
export function declTags(btf: Btf, id: number, componentIdx?: number): string[] {
  let byTarget = tagIndex.get(btf);
  if (!byTarget) {
    byTarget = new Map();
    for (const t of btf.types) {
      if (t.kind !== 'DECL_TAG') continue;
      const list = byTarget.get(t.type);
      const entry = { idx: t.componentIdx, name: t.name };
      if (list) list.push(entry);
      else byTarget.set(t.type, [entry]);
    }
    tagIndex.set(btf, byTarget);
  }
  return (byTarget.get(id) ?? []).filter((e) => componentIdx === undefined || e.idx === componentIdx).map((e) => e.name);
}
const tagIndex = new WeakMap<Btf, Map<number, { idx: number; name: string }[]>>();
