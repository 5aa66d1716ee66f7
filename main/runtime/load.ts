import { BpfscopeError } from '../errors';
import { applyCoreRelos, type CoreTarget } from '../object/core';
import { declTags, resolveType, typeById } from '../object/btf/lookup';
import type { Btf } from '../object/btf/types';
import { specialField, specialFields, structLayout, type SpecialField as LayoutSpecial } from '../object/layout';
import { linkProgram } from '../object/link';
import { writeImm64Constant } from '../object/relocate';
import type { TypelessKsym } from '../object/kallsyms';
import type { KconfigDecision } from '../object/kconfig';
import type { BpfObject, DataVariable } from '../object/object';
import { MapType, type Imm64Ref, type MapSpec, type RuntimeProgram, type SpecialField, type SpecialFieldKind, type TypeInfo } from './program';

/**
 * The object model → what the machine runs: the program linked as libbpf
 * links it (helper B's linkProgram), maps and global data sections as libbpf
 * creates them (same names: `holders`, `globals.bss`, `.data.rb`), CO-RE
 * applied against the target BTF when one is given, and program-BTF structs
 * with their special fields (helper A's layout).
 */
export interface FromObjectOptions {
  /** vmlinux BTF for CO-RE relocations that target kernel types. */
  vmlinux?: Btf;
  /**
   * What the loader gives the object's externs (hostExterns in
   * main/kernel/kconfig.ts reads them from the host; a trace replay would pass the recorded ones).
   * Without it a .kconfig or typeless ksym load is left as the compiler
   * wrote it (a 0), and reading through it faults.
   */
  externs?: ObjectExterns;
}

/** The filled .kconfig bytes (fillKconfig) and the typeless ksyms' kallsyms decisions. */
export interface ObjectExterns {
  kconfig?: { bytes: Uint8Array; decisions: readonly KconfigDecision[] };
  ksyms?: readonly TypelessKsym[];
}

export function fromObject(obj: BpfObject, programName: string, opts: FromObjectOptions = {}): RuntimeProgram {
  const main = fromObjectOne(obj, programName, opts);
  // The programs prog array slots name, on the same maps: one RuntimeProgram each, the main one included.
  const named = [...new Set(obj.maps.filter((m) => m.type === MapType.PROG_ARRAY).flatMap((m) => m.values ?? []))].filter((n): n is string => n !== null);
  if (named.length > 0) {
    const targets = new Map<string, RuntimeProgram>();
    for (const name of named) {
      const t = name === programName ? main : fromObjectOne(obj, name, opts);
      t.tailTargets = targets;
      targets.set(name, t);
    }
    main.tailTargets = targets;
  }
  return main;
}

function fromObjectOne(obj: BpfObject, programName: string, opts: FromObjectOptions): RuntimeProgram {
  const prog = obj.programs.find((p) => p.name === programName);
  if (!prog) {
    throw new BpfscopeError(`no program '${programName}' (programs: ${obj.programs.map((p) => p.name).join(', ') || 'none'})`, obj.file);
  }
  const linked = linkProgram(obj, programName);
  let insns = linked.insns;
  const btf = obj.btf;

  const maps: MapSpec[] = [];
  const mapIndex = new Map<string, number>();
  const typeCache = new Map<number, TypeInfo | null>();
  const typeInfo = (id: number): TypeInfo | undefined => {
    if (!btf) return undefined;
    let t = typeCache.get(id);
    if (t === undefined) {
      t = structInfo(btf, id) ?? null;
      typeCache.set(id, t);
    }
    return t ?? undefined;
  };

  for (const m of obj.maps) {
    mapIndex.set(m.name, maps.length);
    maps.push({
      name: m.name,
      type: m.type,
      keySize: m.keySize,
      valueSize: m.valueSize,
      maxEntries: m.maxEntries,
      flags: m.flags,
      valueType: m.valueTypeId !== undefined ? typeInfo(m.valueTypeId) : undefined,
      slots: m.values,
    });
    checkFields(obj.file, `map '${m.name}'`, m.valueSize, maps[maps.length - 1].valueType?.fields ?? []);
  }
  const objName = objectName(obj.file);
  const kconfig = opts.externs?.kconfig;
  for (const d of obj.data) {
    // .kconfig is a map only once its values are known: libbpf creates it filled, read-only.
    if (d.kind === 'kconfig' && !kconfig) continue;
    mapIndex.set(d.name, maps.length);
    const fields = btf && d.btfId ? datasecFields(btf, d.btfId, d.variables) : [];
    checkFields(obj.file, `section '${d.name}'`, d.size, fields);
    maps.push({
      name: internalMapName(objName, d.name),
      type: 2,
      keySize: 4,
      valueSize: d.size,
      maxEntries: 1,
      flags: 0,
      initial: d.kind === 'kconfig' && kconfig ? kconfig.bytes : d.bytes,
      readonly: d.readonly,
      valueType: { id: d.btfId, name: d.name, size: d.size, fields },
    });
  }

  const imm64Refs = new Map<number, Imm64Ref>();
  const kfuncs = new Map<number, string>();
  const coreRelos = [];
  for (const r of linked.relocations) {
    switch (r.kind) {
      case 'map': {
        const i = mapIndex.get(r.map);
        if (i === undefined) throw new BpfscopeError(`instruction ${r.insnIdx} refers to map '${r.map}', which the object does not define`, obj.file);
        imm64Refs.set(r.insnIdx, { kind: 'map', map: i });
        break;
      }
      case 'data': {
        const i = mapIndex.get(r.section);
        if (i === undefined) throw new BpfscopeError(`instruction ${r.insnIdx} refers to section '${r.section}', which holds no data`, obj.file);
        imm64Refs.set(r.insnIdx, { kind: 'map_value', map: i, offset: r.offset });
        break;
      }
      case 'kfunc':
        kfuncs.set(r.insnIdx, r.name);
        break;
      case 'extern': {
        const value = externLoad(obj, r.name, r.kconfigOffset, mapIndex, opts.externs);
        if (value?.kind === 'map_value') imm64Refs.set(r.insnIdx, value);
        else if (value?.kind === 'addr') {
          // A typeless ksym is a plain 64-bit constant, as libbpf writes it for the kernel.
          if (insns === linked.insns) insns = insns.map((i) => ({ ...i }));
          writeImm64Constant(insns, r.insnIdx, value.addr);
        }
        // Typed ksyms (BPF_PSEUDO_BTF_ID) stay as they are: the machine faults on one by name.
        break;
      }
      case 'core':
        coreRelos.push({ ...r.relo, insnIdx: r.insnIdx });
        break;
    }
  }
  if (coreRelos.length && btf) {
    // Without the kernel's BTF, the program's own BTF is the target: the
    // offsets the compiler assumed (exact for UAPI structs like __sk_buff).
    const targets: CoreTarget[] = [{ name: opts.vmlinux ? 'vmlinux' : 'local', btf: opts.vmlinux ?? btf }];
    insns = applyCoreRelos(insns, coreRelos, btf, targets).insns;
  }
  // BPF_PSEUDO_FUNC (callbacks): imm is relative to the slot after the ld_imm64.
  insns.forEach((insn, i) => {
    if (insn.code === 0x18 && insn.src === 4) imm64Refs.set(i, { kind: 'func', target: i + insn.imm + 1 });
  });

  return {
    name: programName,
    progType: prog.progType ?? prog.section,
    insns,
    imm64Refs,
    kfuncs,
    maps,
    typeById: typeInfo,
  };
}

/**
 * What an extern's ld_imm64 loads in the machine: a .kconfig value's map
 * slot, or a typeless ksym's address; undefined when the externs were not
 * given (or the extern is a typed ksym). A value the loader could not fill
 * fails here, as it fails the object in libbpf.
 */
function externLoad(
  obj: BpfObject,
  name: string,
  kconfigOffset: number | undefined,
  mapIndex: ReadonlyMap<string, number>,
  given: ObjectExterns | undefined,
): Imm64Ref | { kind: 'addr'; addr: bigint } | undefined {
  if (kconfigOffset !== undefined) {
    const d = given?.kconfig?.decisions.find((x) => x.name === name);
    const map = mapIndex.get('.kconfig');
    if (!d || map === undefined) return undefined;
    if (d.error) throw new BpfscopeError(d.error, obj.file);
    return { kind: 'map_value', map, offset: d.offset };
  }
  const k = given?.ksyms?.find((x) => x.name === name);
  if (!k) return undefined;
  if (k.addr === undefined) throw new BpfscopeError(k.error ?? `extern '${name}' (strong): not resolved`, obj.file);
  return { kind: 'addr', addr: k.addr };
}

/** A struct's size and special fields (arrays of fields expanded), or undefined for a non-struct. */
export function structInfo(btf: Btf, id: number): TypeInfo | undefined {
  const t = btf.types[id];
  if (!t || t.kind !== 'STRUCT') return undefined;
  const layout = structLayout(btf, id);
  const fields = specialFields(layout).flatMap((f) => expand(btf, f.offset, f.size, f.field));
  checkFields(undefined, `struct ${t.name}`, layout.size, fields);
  return { id, name: t.name, size: layout.size, fields: fields.sort((a, b) => a.offset - b.offset) };
}

/** Special fields must lie inside their value (BTF that says otherwise is corrupt). */
function checkFields(file: string | undefined, what: string, size: number, fields: readonly SpecialField[]): void {
  for (const f of fields) {
    if (f.offset < 0 || f.size <= 0 || f.offset + f.size > size || !Number.isInteger(f.offset) || !Number.isInteger(f.size)) {
      throw new BpfscopeError(`${what}: ${f.kind} at offset ${f.offset} (${f.size} bytes) does not fit in its ${size} bytes; the BTF is inconsistent`, file);
    }
  }
}

function expand(btf: Btf, offset: number, size: number, f: LayoutSpecial): SpecialField[] {
  const n = Math.max(1, f.nelems);
  const each = size / n;
  const out: SpecialField[] = [];
  for (let i = 0; i < n; i++) {
    const sf: SpecialField = { kind: f.kind as SpecialFieldKind, offset: offset + i * each, size: each };
    if (f.contains) {
      const vt = btf.types.findIndex((t) => t.kind === 'STRUCT' && t.name === f.contains!.type);
      if (vt > 0) {
        sf.valueTypeId = vt;
        const node = structLayout(btf, vt).members.find((m) => m.name === f.contains!.node);
        if (node) sf.nodeOffset = node.offset;
      }
    }
    out.push(sf);
  }
  return out;
}

/**
 * Special fields of a global data section: each variable's own (a lock, a
 * head) or its struct's. Offsets come from the symbol table (the object
 * model's variables): DATASEC offsets in a .o are zero until libbpf fixes them.
 */
function datasecFields(btf: Btf, datasecId: number, variables: readonly DataVariable[]): SpecialField[] {
  const sec = btf.types[datasecId];
  if (!sec || sec.kind !== 'DATASEC') return [];
  const out: SpecialField[] = [];
  for (const v of sec.vars) {
    const vt = typeById(btf, v.type);
    if (vt.kind !== 'VAR') continue;
    const at = variables.find((x) => x.name === vt.name);
    if (!at) continue;
    const own = specialField(btf, vt.type, declTags(btf, v.type, -1));
    if (own) out.push(...expand(btf, at.offset, at.size, own));
    else {
      const inner = resolveType(btf, vt.type);
      const info = structInfo(btf, inner);
      for (const f of info?.fields ?? []) out.push({ ...f, offset: f.offset + at.offset });
    }
  }
  return out.sort((a, b) => a.offset - b.offset);
}

/** libbpf's object name: the file's basename up to its first dot (as main/kernel/maps.ts). */
function objectName(path: string): string {
  const base = path.split('/').pop() ?? path;
  const dot = base.indexOf('.');
  return dot >= 0 ? base.slice(0, dot) : base;
}

/** libbpf's internal map name for a data section (the same rule main/kernel/maps.ts applies). */
function internalMapName(objName: string, section: string): string {
  const sfxLen = Math.min(Math.max(7, section.length), 15);
  const pfxLen = section.indexOf('.', 1) >= 0 ? 0 : Math.min(16 - sfxLen - 1, objName.length);
  const name = (objName.slice(0, pfxLen) + section.slice(0, sfxLen)).slice(0, 15);
  return name.replace(/[^A-Za-z0-9_.]/g, '_');
}
