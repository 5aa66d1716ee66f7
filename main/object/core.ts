import { BpfscopeError } from '../errors';
import { resolveType, sizeOf, typeById, kindedName } from './btf/lookup';
import type { Btf, BtfComposite, BtfType } from './btf/types';
import { BPF_LD_IMM64, type RawInsn } from './insn/raw';

/**
 * CO-RE relocations (`struct bpf_core_relo` from .BTF.ext) resolved against a
 * target BTF (vmlinux, or module BTF), the way libbpf's semantics define them:
 * parse the access string against the local type, search the target for
 * candidates with the same essential name (`task_struct___v1` → `task_struct`),
 * match the access path member by member (by name, through anonymous members),
 * compute the value for each matching candidate (they must agree), and patch
 * the instruction. A relocation no candidate satisfies either yields 0 (the
 * *_EXISTS and TYPE_MATCHES kinds) or poisons the instruction so the verifier
 * rejects it only if it is reachable. Pure: bytes in, data out.
 */

export const CORE_KIND_NAMES = [
  'FIELD_BYTE_OFFSET',
  'FIELD_BYTE_SIZE',
  'FIELD_EXISTS',
  'FIELD_SIGNED',
  'FIELD_LSHIFT_U64',
  'FIELD_RSHIFT_U64',
  'TYPE_ID_LOCAL',
  'TYPE_ID_TARGET',
  'TYPE_EXISTS',
  'TYPE_SIZE',
  'ENUMVAL_EXISTS',
  'ENUMVAL_VALUE',
  'TYPE_MATCHES',
] as const;
export type CoreKindName = (typeof CORE_KIND_NAMES)[number];

/** The helper id libbpf writes into a call that replaces an unresolvable CO-RE access (0xbad2310). */
export const CORE_POISON_IMM = 195896080;

/** One `struct bpf_core_relo`, with the access string resolved. */
export interface CoreRelo {
  /** Instruction slot inside the section's instructions (insn_off / 8). */
  insnIdx: number;
  /** Local (program BTF) root type id. */
  typeId: number;
  /** "0:1:2": array index on the root, then member / array indices. */
  accessStr: string;
  kind: number;
}

/** One target BTF the relocation may resolve against. */
export interface CoreTarget {
  /** 'vmlinux' or the module's name. */
  name: string;
  btf: Btf;
}

export interface CoreCandidate {
  target: string;
  typeId: number;
  typeName: string;
  matched: boolean;
  /** Why it did not match, or the target spec when it did ("0:2 @ byte 16"). */
  detail: string;
  value?: number;
}

export interface CoreDecision {
  insnIdx: number;
  kind: CoreKindName;
  localTypeId: number;
  localType: string;
  accessStr: string;
  /** The local spec in words: `struct task_struct.pid` (0:14). */
  localSpec: string;
  /** Value computed against the local BTF (what the compiler assumed). */
  localValue?: number;
  candidates: CoreCandidate[];
  /** The value written into the instruction, undefined when poisoned. */
  value?: number;
  poisoned: boolean;
  /** Which candidate won (index into candidates), when one did. */
  chosen?: number;
  /** Instruction before and after, for the trace. */
  before: RawInsn;
  after: RawInsn;
  /** Set when the relocation could not be applied at all (bad record, value does not fit). */
  error?: string;
}

interface Access {
  typeId: number;
  idx: number;
  /** Member name for composite accesses; undefined for array indices. */
  name?: string;
}

interface Spec {
  btf: Btf;
  rootId: number;
  raw: number[];
  access: Access[];
  bitOffset: number;
  /** Enumerator name for ENUMVAL kinds. */
  enumName?: string;
}

const isFieldKind = (k: number): boolean => k <= 5;
const isTypeKind = (k: number): boolean => (k >= 6 && k <= 9) || k === 12;
const isEnumKind = (k: number): boolean => k === 10 || k === 11;

/** `task_struct___v2` → `task_struct`: the part before a flavor separator `x___y`. */
export function essentialName(name: string): string {
  for (let i = name.length - 5; i >= 0; i--) {
    if (name[i] !== '_' && name[i + 1] === '_' && name[i + 2] === '_' && name[i + 3] === '_' && name[i + 4] !== '_') {
      return name.slice(0, i + 1);
    }
  }
  return name;
}

function isComposite(t: BtfType): t is BtfComposite {
  return t.kind === 'STRUCT' || t.kind === 'UNION';
}

function sameKindClass(a: BtfType, b: BtfType): boolean {
  const cls = (t: BtfType): string => (t.kind === 'ENUM64' ? 'ENUM' : t.kind);
  return cls(a) === cls(b);
}

/** Parse the access string against the local type (libbpf's "local spec"). */
function parseLocalSpec(btf: Btf, relo: CoreRelo): Spec {
  const raw = relo.accessStr.split(':').map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`bad access string '${relo.accessStr}'`);
    return Number(s);
  });
  if (raw.length === 0 || relo.typeId === 0) throw new Error(`relocation on type id ${relo.typeId}`);
  const spec: Spec = { btf, rootId: relo.typeId, raw, access: [], bitOffset: 0 };
  if (isTypeKind(relo.kind)) {
    if (raw.length !== 1 || raw[0] !== 0) throw new Error(`type relocation with access '${relo.accessStr}'`);
    return spec;
  }
  if (isEnumKind(relo.kind)) {
    const t = typeById(btf, resolveType(btf, relo.typeId));
    if ((t.kind !== 'ENUM' && t.kind !== 'ENUM64') || raw.length !== 1 || raw[0] >= t.values.length) {
      throw new Error(`enum relocation '${relo.accessStr}' on ${kindedName(t)}`);
    }
    spec.enumName = t.values[raw[0]].name;
    spec.access.push({ typeId: t.id, idx: raw[0], name: spec.enumName });
    return spec;
  }
  let id = resolveType(btf, relo.typeId);
  spec.bitOffset = raw[0] * sizeOf(btf, id) * 8;
  spec.access.push({ typeId: id, idx: raw[0] });
  for (let i = 1; i < raw.length; i++) {
    id = resolveType(btf, id);
    const t = typeById(btf, id);
    if (isComposite(t)) {
      const m = t.members[raw[i]];
      if (!m) throw new Error(`member index ${raw[i]} out of ${kindedName(t)}'s ${t.members.length}`);
      spec.bitOffset += m.bitsOffset;
      if (m.name) spec.access.push({ typeId: id, idx: raw[i], name: m.name });
      id = m.type;
    } else if (t.kind === 'ARRAY') {
      const elem = resolveType(btf, t.type);
      spec.bitOffset += raw[i] * sizeOf(btf, elem) * 8;
      spec.access.push({ typeId: id, idx: raw[i] });
      id = t.type;
    } else {
      throw new Error(`access ${raw[i]} into ${t.kind} '${t.name}'`);
    }
  }
  return spec;
}

/** Field types compatible for relocation: same kind class, ints at bit 0, arrays by element. */
function fieldsCompatible(lb: Btf, lid: number, tb: Btf, tid: number, depth = 0): boolean {
  if (depth > 32) return false;
  const l = typeById(lb, resolveType(lb, lid));
  const t = typeById(tb, resolveType(tb, tid));
  if (isComposite(l) && isComposite(t)) return true;
  if (!sameKindClass(l, t)) return false;
  switch (l.kind) {
    case 'PTR':
    case 'FLOAT':
    case 'FWD':
    case 'ENUM':
    case 'ENUM64':
      return true;
    case 'INT':
      return l.bitsOffset === 0 && t.kind === 'INT' && t.bitsOffset === 0;
    case 'ARRAY':
      return t.kind === 'ARRAY' && fieldsCompatible(lb, l.type, tb, t.type, depth + 1);
    default:
      return false;
  }
}

/** Find member `name` in target composite `tid`, through anonymous members; pushes accesses. */
function matchMember(
  lb: Btf,
  local: Access,
  tb: Btf,
  tid: number,
  spec: Spec,
  depth = 0,
): number | undefined {
  if (depth > 32) return undefined;
  const t = typeById(tb, resolveType(tb, tid));
  if (!isComposite(t)) return undefined;
  const localMember = (typeById(lb, local.typeId) as BtfComposite).members[local.idx];
  for (let i = 0; i < t.members.length; i++) {
    const m = t.members[i];
    const save = spec.bitOffset;
    spec.bitOffset += m.bitsOffset;
    if (!m.name) {
      spec.raw.push(i);
      const found = matchMember(lb, local, tb, m.type, spec, depth + 1);
      if (found !== undefined) return found;
      spec.raw.pop();
    } else if (m.name === local.name) {
      if (!fieldsCompatible(lb, localMember.type, tb, m.type)) {
        spec.bitOffset = save;
        return undefined;
      }
      spec.raw.push(i);
      spec.access.push({ typeId: t.id, idx: i, name: m.name });
      return m.type;
    }
    spec.bitOffset = save;
  }
  return undefined;
}

/** Match the local spec against one candidate; the target spec, or a reason it fails. */
function matchSpec(local: Spec, kind: number, tb: Btf, candId: number): Spec | string {
  const lb = local.btf;
  const spec: Spec = { btf: tb, rootId: candId, raw: [], access: [], bitOffset: 0 };
  if (isTypeKind(kind)) {
    if (kind === 12) return typesMatch(lb, local.rootId, tb, candId, 0) ? spec : 'types do not match';
    return typesCompatible(lb, local.rootId, tb, candId, 0) ? spec : 'types are not compatible';
  }
  if (isEnumKind(kind)) {
    const t = typeById(tb, resolveType(tb, candId));
    if (t.kind !== 'ENUM' && t.kind !== 'ENUM64') return `${t.kind} is not an enum`;
    const want = essentialName(local.enumName ?? '');
    const i = t.values.findIndex((v) => essentialName(v.name) === want);
    if (i < 0) return `no enumerator ${want}`;
    spec.raw.push(i);
    spec.access.push({ typeId: t.id, idx: i, name: t.values[i].name });
    spec.enumName = t.values[i].name;
    return spec;
  }
  let id = candId;
  for (let a = 0; a < local.access.length; a++) {
    const acc = local.access[a];
    if (a === 0) {
      spec.bitOffset = acc.idx * sizeOf(tb, resolveType(tb, candId)) * 8;
      spec.raw.push(acc.idx);
      spec.access.push({ typeId: candId, idx: acc.idx });
      continue;
    }
    if (acc.name !== undefined) {
      const next = matchMember(lb, acc, tb, id, spec);
      if (next === undefined) return `no field '${acc.name}' in ${kindedName(typeById(tb, resolveType(tb, id)))}`;
      id = next;
    } else {
      const t = typeById(tb, resolveType(tb, id));
      if (t.kind !== 'ARRAY') return `${t.kind} where the program indexes an array`;
      const flex = t.nelems === 0 && a === local.access.length - 1;
      if (acc.idx >= t.nelems && !flex) return `index ${acc.idx} past ${t.nelems} elements`;
      spec.bitOffset += acc.idx * sizeOf(tb, resolveType(tb, t.type)) * 8;
      spec.raw.push(acc.idx);
      spec.access.push({ typeId: t.id, idx: acc.idx });
      id = t.type;
    }
  }
  return spec;
}

function typesCompatible(lb: Btf, lid: number, tb: Btf, tid: number, depth: number): boolean {
  if (depth > 32) return false;
  const l = typeById(lb, resolveType(lb, lid));
  const t = typeById(tb, resolveType(tb, tid));
  if (!sameKindClass(l, t)) return false;
  switch (l.kind) {
    case 'PTR':
      return typesCompatible(lb, l.type, tb, (t as typeof l).type, depth + 1);
    case 'ARRAY':
      return typesCompatible(lb, l.type, tb, (t as typeof l).type, depth + 1);
    case 'FUNC_PROTO': {
      const tp = t as typeof l;
      if (l.params.length !== tp.params.length) return false;
      if (!l.params.every((p, i) => typesCompatible(lb, p.type, tb, tp.params[i].type, depth + 1))) return false;
      return typesCompatible(lb, l.returnType, tb, tp.returnType, depth + 1);
    }
    default:
      return true;
  }
}

/** TYPE_MATCHES: stricter than compatible: member names (and their types), enumerators, int sizes. */
function typesMatch(lb: Btf, lid: number, tb: Btf, tid: number, depth: number): boolean {
  if (depth > 32) return false;
  const l = typeById(lb, resolveType(lb, lid));
  const t = typeById(tb, resolveType(tb, tid));
  if (l.name && t.name && essentialName(l.name) !== essentialName(t.name)) return false;
  if (!sameKindClass(l, t)) return false;
  switch (l.kind) {
    case 'INT': {
      const ti = t as typeof l;
      return l.size === ti.size && (l.encoding & 1) === (ti.encoding & 1);
    }
    case 'ENUM':
    case 'ENUM64': {
      const te = t as typeof l;
      if (l.size !== te.size) return false;
      return l.values.every((v) => te.values.some((w) => essentialName(w.name) === essentialName(v.name)));
    }
    case 'STRUCT':
    case 'UNION': {
      const tc = t as typeof l;
      return l.members.every((m) => {
        const tm = tc.members.find((x) => x.name === m.name);
        return tm !== undefined && typesMatch(lb, m.type, tb, tm.type, depth + 1);
      });
    }
    case 'PTR':
    case 'ARRAY':
      return typesMatch(lb, l.type, tb, (t as typeof l).type, depth + 1);
    case 'FUNC_PROTO': {
      const tp = t as typeof l;
      if (l.params.length !== tp.params.length) return false;
      return l.params.every((p, i) => typesMatch(lb, p.type, tb, tp.params[i].type, depth + 1));
    }
    default:
      return true;
  }
}

/** The relocated value for a spec (local or target). */
function specValue(spec: Spec, kind: number): number {
  const btf = spec.btf;
  switch (kind) {
    case 6:
    case 7:
      return spec.rootId;
    case 8:
    case 12:
      return 1;
    case 9:
      return sizeOf(btf, resolveType(btf, spec.rootId));
    case 10:
      return 1;
    case 11: {
      const t = typeById(btf, resolveType(btf, spec.rootId));
      if (t.kind !== 'ENUM' && t.kind !== 'ENUM64') throw new Error('not an enum');
      return Number(t.values[spec.raw[0]].value);
    }
  }
  // Field kinds: find the field's own type and whether it is a bit-field.
  const last = spec.access[spec.access.length - 1];
  let fieldType: number;
  let bitfieldSize = 0;
  const container = typeById(btf, last.typeId);
  if (last.name !== undefined && isComposite(container)) {
    const m = container.members[last.idx];
    fieldType = m.type;
    bitfieldSize = m.bitfieldSize;
  } else if (container.kind === 'ARRAY' && spec.access.length > 1) {
    fieldType = container.type;
  } else {
    fieldType = spec.rootId;
  }
  if (kind === 2) return 1;
  const ft = typeById(btf, resolveType(btf, fieldType));
  const bitOff = spec.bitOffset;
  const bitfield = bitfieldSize > 0 || (ft.kind === 'INT' && ft.bits !== ft.size * 8);
  let byteSz: number;
  let byteOff: number;
  let bitSz: number;
  if (!bitfield) {
    byteSz = sizeOf(btf, resolveType(btf, fieldType));
    byteOff = bitOff / 8;
    bitSz = byteSz * 8;
  } else {
    bitSz = bitfieldSize || (ft.kind === 'INT' ? ft.bits : 0);
    byteSz = sizeOf(btf, resolveType(btf, fieldType));
    byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    while (bitOff + bitSz - byteOff * 8 > byteSz * 8) {
      if (byteSz >= 8) throw new Error('bit-field spans more than 8 bytes');
      byteSz *= 2;
      byteOff = Math.floor(bitOff / 8 / byteSz) * byteSz;
    }
  }
  switch (kind) {
    case 0:
      return byteOff;
    case 1:
      return byteSz;
    case 3:
      if (ft.kind === 'ENUM' || ft.kind === 'ENUM64') return ft.signed ? 1 : 0;
      return ft.kind === 'INT' && (ft.encoding & 1) !== 0 ? 1 : 0;
    case 4:
      return 64 - (bitOff + bitSz - byteOff * 8);
    case 5:
      return 64 - bitSz;
  }
  throw new Error(`unknown relocation kind ${kind}`);
}

function describeSpec(spec: Spec, kind: number): string {
  const root = typeById(spec.btf, spec.rootId);
  let s = kindedName(root);
  if (isEnumKind(kind)) s += `::${spec.enumName}`;
  else if (isFieldKind(kind)) {
    for (const a of spec.access.slice(1)) s += a.name !== undefined ? `.${a.name}` : `[${a.idx}]`;
  }
  return `${s} (${spec.raw.join(':')} @ byte ${spec.bitOffset / 8})`;
}

/** Candidate target types: same kind class and the same essential name, in id order. */
/**
 * Named types of a target by essential name, in id order, built once per
 * target BTF: vmlinux has ~150k types, and scanning them all for every
 * relocation cost ~80 ms per recorded program.
 */
const byEssentialName = new WeakMap<Btf, Map<string, BtfType[]>>();

function essentialIndex(target: Btf): Map<string, BtfType[]> {
  let index = byEssentialName.get(target);
  if (!index) {
    index = new Map();
    for (const t of target.types) {
      if (!t.name) continue;
      const k = essentialName(t.name);
      const list = index.get(k);
      if (list) list.push(t);
      else index.set(k, [t]);
    }
    byEssentialName.set(target, index);
  }
  return index;
}

function candidates(local: BtfType, target: Btf): BtfType[] {
  return (essentialIndex(target).get(essentialName(local.name)) ?? []).filter((t) => sameKindClass(t, local));
}

function patchInsn(insns: RawInsn[], idx: number, value: number): RawInsn {
  const insn = { ...insns[idx] };
  const cls = insn.code & 0x07;
  if (insn.code === BPF_LD_IMM64) {
    // 64-bit values (ENUM64) split over the two slots.
    const v = BigInt.asUintN(64, BigInt(value));
    insn.imm = Number(BigInt.asIntN(32, v & 0xffffffffn));
    insn.imm64 = v;
    if (insns[idx + 1]) insns[idx + 1] = { ...insns[idx + 1], imm: Number(BigInt.asIntN(32, v >> 32n)) };
  } else if ((cls === 0x04 || cls === 0x07) && (insn.code & 0x08) === 0) {
    // ALU/ALU64 with an immediate operand.
    insn.imm = value | 0;
  } else if (cls === 0x01 || cls === 0x02 || cls === 0x03) {
    // LDX / ST / STX: the offset (the access size follows in applyCoreRelos).
    if (value > 32767 || value < -32768) throw new Error(`offset ${value} does not fit in an instruction`);
    insn.off = value;
  } else {
    throw new Error(`instruction ${idx} (code 0x${insn.code.toString(16)}) cannot take a CO-RE value`);
  }
  return insn;
}

const SIZE_CODES: Record<number, number> = { 1: 0x10, 2: 0x08, 4: 0x00, 8: 0x18 };

/** Apply CO-RE relocations to one section's instructions (a copy is returned). */
export function applyCoreRelos(
  sectionInsns: readonly RawInsn[],
  relos: readonly CoreRelo[],
  local: Btf,
  targets: readonly CoreTarget[],
): { insns: RawInsn[]; decisions: CoreDecision[] } {
  const insns = sectionInsns.map((i) => ({ ...i }));
  const decisions: CoreDecision[] = [];
  for (const relo of relos) {
    const kindName = CORE_KIND_NAMES[relo.kind];
    const before = insns[relo.insnIdx];
    if (kindName === undefined || before === undefined) {
      throw new BpfscopeError(`CO-RE relocation at instruction ${relo.insnIdx}: kind ${relo.kind} or instruction out of range`);
    }
    const localT = local.types[relo.typeId];
    const d: CoreDecision = {
      insnIdx: relo.insnIdx,
      kind: kindName,
      localTypeId: relo.typeId,
      localType: localT ? kindedName(localT) : `[${relo.typeId}]`,
      accessStr: relo.accessStr,
      localSpec: '',
      candidates: [],
      poisoned: false,
      before: { ...before },
      after: { ...before },
    };
    decisions.push(d);
    try {
      const spec = parseLocalSpec(local, relo);
      d.localSpec = describeSpec(spec, relo.kind);
      d.localValue = specValue(spec, relo.kind);
      let value: number | undefined;
      let targetSpec: Spec | undefined;
      if (relo.kind === 6) {
        value = relo.typeId; // TYPE_ID_LOCAL needs no target
      } else {
        const root = typeById(local, resolveType(local, relo.typeId));
        for (const target of targets) {
          for (const cand of candidates(root, target.btf)) {
            const m = matchSpec(spec, relo.kind, target.btf, cand.id);
            const c: CoreCandidate = { target: target.name, typeId: cand.id, typeName: kindedName(cand), matched: false, detail: '' };
            if (typeof m === 'string') c.detail = m;
            else {
              c.matched = true;
              c.detail = describeSpec(m, relo.kind);
              c.value = specValue(m, relo.kind);
              if (value === undefined) {
                value = c.value;
                targetSpec = m;
                d.chosen = d.candidates.length;
              } else if (value !== c.value) {
                throw new Error(`candidates disagree: ${value} vs ${c.value} (${c.typeName} [${c.typeId}])`);
              }
            }
            d.candidates.push(c);
          }
          // libbpf looks at module BTF only when vmlinux has no candidate.
          if (value !== undefined) break;
        }
      }
      if (value === undefined && (relo.kind === 2 || relo.kind === 8 || relo.kind === 10 || relo.kind === 12)) value = 0;
      if (value === undefined) {
        d.poisoned = true;
        poison(insns, relo.insnIdx);
      } else {
        d.value = value;
        const patched = patchInsn(insns, relo.insnIdx, value);
        // A field that changed size: the load/store width follows it (libbpf does the same for ints).
        const cls = patched.code & 0x07;
        if (relo.kind === 0 && targetSpec && (cls === 0x01 || cls === 0x02 || cls === 0x03)) {
          const newSz = specValue(targetSpec, 1);
          const localSz = specValue(spec, 1);
          if (newSz !== localSz && SIZE_CODES[newSz] !== undefined) patched.code = (patched.code & ~0x18) | SIZE_CODES[newSz];
        }
        insns[relo.insnIdx] = patched;
      }
    } catch (err) {
      d.error = err instanceof Error ? err.message : String(err);
      d.poisoned = true;
      poison(insns, relo.insnIdx);
    }
    d.after = { ...insns[relo.insnIdx] };
  }
  return { insns, decisions };
}

/** Replace the instruction with a call to a helper that does not exist (see CORE_POISON_IMM). */
function poison(insns: RawInsn[], idx: number): void {
  const wasLdImm64 = insns[idx].code === BPF_LD_IMM64;
  insns[idx] = { idx, code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
  // The second slot of an ld_imm64 cannot stand alone: it is poisoned too.
  if (wasLdImm64 && insns[idx + 1]) insns[idx + 1] = { idx: idx + 1, code: 0x85, dst: 0, src: 0, off: 0, imm: CORE_POISON_IMM };
}
