import { BpfscopeError, inFile } from '../errors';
import { parseBtf } from './btf/parse';
import { findAllByName, resolveType, sizeOf, typeById, alignOf } from './btf/lookup';
import type { Btf, BtfComposite, BtfDatasec } from './btf/types';
import { parseBtfExt, type BtfExt, type FuncInfo, type LineInfo, type CoreRelo } from './btf-ext';
import {
  parseElf,
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_NOBITS,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_SECTION,
  type ElfFile,
  type ElfSection,
  type ElfSymbol,
} from './elf';
import { decodeRaw, type RawInsn } from './insn/raw';
import { layoutKconfig } from './kconfig';
import { mapTypeName } from './maptypes';
import { progTypeForSection, type SectionProgType } from './progtypes';
import { structOpsSlot, structOpsVariables, type StructOpsVariable } from './struct-ops';

/**
 * The BPF object model: what libbpf reads from a .bpf.o before it talks to
 * the kernel. Pure: bytes in, plain data out; a bad file throws a
 * BpfscopeError naming the file and the byte offset.
 */

export type RelocationKind =
  /** ld_imm64 of a map defined in .maps. */
  | 'map'
  /** ld_imm64 of a global variable (.data/.rodata/.bss...). */
  | 'data'
  /** call to a BPF subprogram (src_reg = BPF_PSEUDO_CALL). */
  | 'call'
  /** ld_imm64 of a function's address (callbacks: bpf_loop, rbtree less, ...). */
  | 'func_addr'
  /** kfunc call or ksym/kconfig load: the symbol is undefined in the object. */
  | 'extern'
  /** anything else (the loader decides). */
  | 'other';

export interface ObjRelocation {
  /** Instruction index relative to the program or subprogram it belongs to. */
  insnIdx: number;
  /** Instruction index inside the ELF section. */
  sectionInsnIdx: number;
  /** R_BPF_* type. */
  type: number;
  kind: RelocationKind;
  symbol: string;
  symbolIndex: number;
  symbolType: number;
  symbolBind: number;
  symbolValue: number;
  /** Section of the symbol; undefined for externs (SHN_UNDEF). */
  symbolSection?: string;
  symbolSectionIndex: number;
}

export interface BpfFunction {
  name: string;
  section: string;
  sectionIndex: number;
  /** First instruction's index inside the section. */
  insnOffset: number;
  /** The instructions; `idx` counts from 0 at the function's first slot. */
  insns: RawInsn[];
  /** STB_GLOBAL/STB_WEAK rather than static. */
  global: boolean;
  /** BTF FUNC id from func_info (0 when the object has no BTF.ext). */
  btfFuncId: number;
  relocations: ObjRelocation[];
  /** func_info/line_info/CO-RE records inside this function, re-indexed from its first slot. */
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelos: CoreRelo[];
}

export interface BpfProgram extends BpfFunction, Partial<SectionProgType> {
  /** False when libbpf would not know the section name (no program type). */
  known: boolean;
  /**
   * False for SEC("?...") programs: libbpf opens them with autoload off and
   * reads the section name without the '?' (`section` keeps the ELF name).
   */
  autoload: boolean;
}

export interface BpfMapDef {
  name: string;
  /** Byte offset of the definition in .maps. */
  offset: number;
  /** BTF VAR id and the definition struct's id. */
  btfVarId: number;
  btfDefId: number;
  type: number;
  typeName: string;
  keySize: number;
  valueSize: number;
  keyTypeId?: number;
  valueTypeId?: number;
  maxEntries: number;
  flags: number;
  pinning: number;
  numaNode: number;
  mapExtra: bigint;
  /** For map-in-map: the inner map's definition (from `__array(values, struct ...)`). */
  inner?: BpfMapDef;
  /**
   * Initial `values` slots (prog arrays, map-in-map), from the relocations
   * against the definition's `values` array in `.rel.maps`: per slot the map
   * (map-in-map) or entry-point program (prog array) named, null when empty.
   */
  values?: (string | null)[];
}

export type DataSectionKind = 'data' | 'rodata' | 'bss' | 'kconfig';

export interface DataVariable {
  name: string;
  typeId: number;
  offset: number;
  size: number;
  /** BTF_VAR_* linkage: 0 static, 1 global, 2 extern. */
  linkage: number;
}

export interface BpfDataSection {
  name: string;
  kind: DataSectionKind;
  /** ELF section index; -1 for .kconfig, which has no section. */
  sectionIndex: number;
  size: number;
  /** Initial contents (zeros for .bss and .kconfig). */
  bytes: Uint8Array;
  readonly: boolean;
  /** DATASEC id, 0 when the object has no BTF for it. */
  btfId: number;
  variables: DataVariable[];
}

export type ExternKind = 'kfunc' | 'ksym' | 'kconfig' | 'unknown';

export interface BpfExtern {
  name: string;
  kind: ExternKind;
  /** BTF id of the FUNC (kfunc) or VAR (ksym, kconfig); 0 when not in BTF. */
  btfId: number;
  /** FUNC_PROTO for a kfunc, the variable's type for a VAR. */
  typeId: number;
  weak: boolean;
  symbolIndex: number;
  /** For kconfig externs: offset in the .kconfig area as libbpf lays it out. */
  kconfigOffset?: number;
  /**
   * A ksym variable whose type is void once modifiers and typedefs are
   * skipped (`extern const void NAME __ksym`): libbpf gives it no BTF id and
   * takes its address from /proc/kallsyms instead.
   */
  typeless?: boolean;
}

export interface BpfObject {
  file: string;
  elf: ElfFile;
  programs: BpfProgram[];
  /** Functions in .text: static subprograms and global functions. */
  subprograms: BpfFunction[];
  maps: BpfMapDef[];
  data: BpfDataSection[];
  externs: BpfExtern[];
  license: string;
  kernelVersion?: number;
  btf?: Btf;
  btfExt?: BtfExt;
}

const BPF_JMP_CALL = 0x85;
const BPF_PSEUDO_CALL = 1;
const BPF_LD_IMM64 = 0x18;

export function parseObject(bytes: Uint8Array, file: string): BpfObject {
  try {
    return parse(bytes, file);
  } catch (err) {
    if (err instanceof BpfscopeError) throw inFile(err, file);
    // A pure parser must not leak a RangeError; if one does, name the file at least.
    throw inFile(err, file);
  }
}

function parse(bytes: Uint8Array, file: string): BpfObject {
  const elf = parseElf(bytes);
  const secs = elf.sections;
  const btfSec = secs.find((s) => s.name === '.BTF');
  const btf = btfSec ? parseBtf(btfSec.data, { fileOffset: btfSec.offset }) : undefined;
  const extSec = secs.find((s) => s.name === '.BTF.ext');
  const btfExt = extSec && btf ? parseBtfExt(extSec.data, btf, extSec.offset) : undefined;

  const licSec = secs.find((s) => s.name === 'license');
  const license = licSec ? cstr(licSec.data) : '';
  const verSec = secs.find((s) => s.name === 'version');
  const kernelVersion = verSec && verSec.data.length >= 4 ? new DataView(verSec.data.buffer, verSec.data.byteOffset).getUint32(0, true) : undefined;

  const ctx: Ctx = { elf, btf, btfExt };
  const programs: BpfProgram[] = [];
  const subprograms: BpfFunction[] = [];
  for (const s of secs) {
    if (s.type !== SHT_PROGBITS || (s.flags & SHF_EXECINSTR) === 0 || s.size === 0) continue;
    const funcs = functionsIn(ctx, s);
    if (s.name === '.text') {
      subprograms.push(...funcs);
    } else {
      const autoload = !s.name.startsWith('?');
      const pt = progTypeForSection(autoload ? s.name : s.name.slice(1));
      for (const f of funcs) programs.push({ ...f, ...(pt ?? {}), known: pt !== undefined, autoload });
    }
  }

  const maps = parseMaps(ctx);
  const data = dataSections(ctx);
  const externs = collectExterns(ctx);
  const kconfig = kconfigSection(ctx, externs);
  if (kconfig) data.push(kconfig);
  const obj: BpfObject = { file, elf, programs, subprograms, maps, data, externs, license, kernelVersion, btf, btfExt };
  openStructOpsSlots(obj);
  return obj;
}

/**
 * libbpf gives a struct_ops program its expected_attach_type at open time: the
 * index, in the object's own struct, of the member that points at it (its
 * collect_st_ops_relos). The load replaces it with the kernel struct's index
 * (kernel/prepare.ts), so a damaged .struct_ops section is left for the load
 * to report, for that program only, rather than failing the whole open.
 */
function openStructOpsSlots(obj: BpfObject): void {
  if (!obj.programs.some((p) => p.progType === 'struct_ops')) return;
  let vars: StructOpsVariable[];
  try {
    vars = structOpsVariables(obj);
  } catch {
    return;
  }
  for (const p of obj.programs) {
    if (p.progType !== 'struct_ops') continue;
    const slot = structOpsSlot(vars, p.name);
    if (slot) p.expectedAttachTypeId = slot.member.index;
  }
}

interface Ctx {
  elf: ElfFile;
  btf?: Btf;
  btfExt?: BtfExt;
}

function cstr(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(b.subarray(0, end < 0 ? b.length : end));
}

function functionsIn(ctx: Ctx, s: ElfSection): BpfFunction[] {
  const { elf } = ctx;
  if (s.size % 8 !== 0) throw new BpfscopeError(`code section ${s.name} is ${s.size} bytes, not a multiple of 8`, undefined, { offset: s.offset });
  const all = decodeRaw(s.data, s.offset);
  const syms = elf.symbols
    .filter((y) => y.shndx === s.index && y.type === STT_FUNC)
    .sort((a, b) => a.value - b.value);
  // A section without function symbols (hand-written assembly) is one program named after it.
  const ranges: { sym?: ElfSymbol; start: number; end: number }[] = syms.length
    ? syms.map((y) => ({ sym: y, start: y.value, end: y.value + (y.size || s.size - y.value) }))
    : [{ start: 0, end: s.size }];
  const rel = elf.relSections.find((r) => r.target === s.index);
  const out: BpfFunction[] = [];
  for (const r of ranges) {
    if (r.start % 8 !== 0 || r.end % 8 !== 0 || r.end > s.size || r.start > r.end) {
      throw new BpfscopeError(`function ${r.sym?.name ?? s.name} (bytes ${r.start}..${r.end}) does not fit section ${s.name} (${s.size} bytes)`, undefined, { offset: s.offset + Math.min(r.start, s.size) });
    }
    const first = r.start / 8;
    const last = r.end / 8;
    const insns = all.slice(first, last).map((i) => ({ ...i, idx: i.idx - first }));
    // An ld_imm64 cut by the function's end keeps imm64 undefined; the verifier would reject it anyway.
    const relocations: ObjRelocation[] = [];
    for (const e of rel?.entries ?? []) {
      if (e.offset < r.start || e.offset >= r.end) continue;
      if (e.offset % 8 !== 0) throw new BpfscopeError(`relocation in ${rel!.name} at byte ${e.offset} is not on an instruction boundary`, undefined, { offset: s.offset + e.offset });
      const sectionInsnIdx = e.offset / 8;
      const insn = all[sectionInsnIdx];
      const sym = elf.symbols[e.symbol];
      const symSec = sym.shndx !== SHN_UNDEF && sym.shndx < elf.sections.length ? elf.sections[sym.shndx] : undefined;
      relocations.push({
        insnIdx: sectionInsnIdx - first,
        sectionInsnIdx,
        type: e.type,
        kind: relocationKind(insn, sym, symSec),
        symbol: sym.type === STT_SECTION && symSec ? symSec.name : sym.name,
        symbolIndex: sym.index,
        symbolType: sym.type,
        symbolBind: sym.bind,
        symbolValue: sym.value,
        symbolSection: symSec?.name,
        symbolSectionIndex: sym.shndx,
      });
    }
    const name = r.sym?.name ?? s.name;
    const inRange = <T extends { insnIdx: number }>(list: T[] | undefined): T[] =>
      (list ?? []).filter((x) => x.insnIdx >= first && x.insnIdx < last).map((x) => ({ ...x, insnIdx: x.insnIdx - first, insnOff: (x.insnIdx - first) * 8 }));
    const funcInfo = inRange(ctx.btfExt?.funcInfo.find((f) => f.section === s.name)?.records);
    out.push({
      name,
      section: s.name,
      sectionIndex: s.index,
      insnOffset: first,
      insns,
      global: r.sym ? r.sym.bind === STB_GLOBAL || r.sym.bind === STB_WEAK : true,
      btfFuncId: funcInfo.find((f) => f.insnIdx === 0)?.typeId ?? 0,
      relocations,
      funcInfo,
      lineInfo: inRange(ctx.btfExt?.lineInfo.find((f) => f.section === s.name)?.records),
      coreRelos: inRange(ctx.btfExt?.coreRelos.find((f) => f.section === s.name)?.records),
    });
  }
  return out;
}

function relocationKind(insn: RawInsn | undefined, sym: ElfSymbol, symSec: ElfSection | undefined): RelocationKind {
  if (!insn) return 'other';
  if (sym.shndx === SHN_UNDEF) return 'extern';
  if (insn.code === BPF_JMP_CALL && insn.src === BPF_PSEUDO_CALL) return 'call';
  if (insn.code !== BPF_LD_IMM64 || !symSec) return 'other';
  if ((symSec.flags & SHF_EXECINSTR) !== 0) return 'func_addr';
  if (symSec.name === '.maps') return 'map';
  if (dataKind(symSec.name)) return 'data';
  return 'other';
}

function dataKind(name: string): DataSectionKind | undefined {
  if (name === '.data' || name.startsWith('.data.')) return 'data';
  if (name === '.rodata' || name.startsWith('.rodata.')) return 'rodata';
  if (name === '.bss' || name.startsWith('.bss.')) return 'bss';
  return undefined;
}

function datasec(btf: Btf | undefined, name: string): BtfDatasec | undefined {
  if (!btf) return undefined;
  return findAllByName(btf, name, 'DATASEC')[0] as BtfDatasec | undefined;
}

function dataSections(ctx: Ctx): BpfDataSection[] {
  const { elf, btf } = ctx;
  const out: BpfDataSection[] = [];
  for (const s of elf.sections) {
    const kind = dataKind(s.name);
    if (!kind || (s.type !== SHT_PROGBITS && s.type !== SHT_NOBITS)) continue;
    // clang puts string literals in .rodata.str1.1 etc.; libbpf makes maps only for
    // allocated sections, and skips mergeable string sections unless referenced: we list them all.
    const ds = datasec(btf, s.name);
    const syms = new Map(elf.symbols.filter((y) => y.shndx === s.index && y.type !== STT_SECTION && y.name).map((y) => [y.name, y]));
    const variables: DataVariable[] = [];
    for (const v of ds?.vars ?? []) {
      const t = btf!.types[v.type];
      if (!t || t.kind !== 'VAR') continue;
      // Older clang left DATASEC offsets 0; the symbol's value is the truth (libbpf does the same fix-up).
      const sym = syms.get(t.name);
      variables.push({ name: t.name, typeId: t.type, offset: sym ? sym.value : v.offset, size: v.size, linkage: t.linkage });
    }
    if (!ds) {
      // Without BTF the symbol table still names the variables (no types).
      for (const y of [...syms.values()].sort((a, b) => a.value - b.value)) {
        variables.push({ name: y.name, typeId: 0, offset: y.value, size: y.size, linkage: y.bind === STB_LOCAL ? 0 : 1 });
      }
    }
    out.push({
      name: s.name,
      kind,
      sectionIndex: s.index,
      size: s.size,
      bytes: s.type === SHT_NOBITS ? new Uint8Array(s.size) : s.data,
      readonly: kind === 'rodata',
      btfId: ds?.id ?? 0,
      variables,
    });
  }
  return out;
}

function collectExterns(ctx: Ctx): BpfExtern[] {
  const { elf, btf } = ctx;
  const ksyms = datasec(btf, '.ksyms');
  const kconfig = datasec(btf, '.kconfig');
  const inSec = (ds: BtfDatasec | undefined, name: string): number => {
    for (const v of ds?.vars ?? []) if (btf!.types[v.type]?.name === name) return v.type;
    return 0;
  };
  const out: BpfExtern[] = [];
  for (const y of elf.symbols) {
    if (y.index === 0 || y.shndx !== SHN_UNDEF || y.bind === STB_LOCAL || !y.name) continue;
    let kind: ExternKind = 'unknown';
    let btfId = 0;
    let typeId = 0;
    const kc = inSec(kconfig, y.name);
    const ks = inSec(ksyms, y.name);
    if (kc) {
      kind = 'kconfig';
      btfId = kc;
    } else if (ks) {
      kind = btf!.types[ks].kind === 'FUNC' ? 'kfunc' : 'ksym';
      btfId = ks;
    } else if (btf) {
      const f = findAllByName(btf, y.name).find((t) => t.kind === 'FUNC' || t.kind === 'VAR');
      if (f) {
        kind = f.kind === 'FUNC' ? 'kfunc' : 'ksym';
        btfId = f.id;
      }
    }
    if (btfId) typeId = (btf!.types[btfId] as { type: number }).type;
    const e: BpfExtern = { name: y.name, kind, btfId, typeId, weak: y.bind === STB_WEAK, symbolIndex: y.index };
    // libbpf's skip_mods_and_typedefs on the VAR's type: void (0) makes it typeless.
    if (kind === 'ksym' && btfId && resolveType(btf!, typeId) === 0) e.typeless = true;
    out.push(e);
  }
  return out;
}

/** .kconfig has no ELF section: the externs laid out as libbpf lays them (layoutKconfig: alignment desc, size asc, name). */
function kconfigSection(ctx: Ctx, externs: BpfExtern[]): BpfDataSection | undefined {
  const { btf } = ctx;
  const kc = externs.filter((e) => e.kind === 'kconfig');
  if (!btf || kc.length === 0) return undefined;
  const layout = layoutKconfig(kc, btf);
  const variables: DataVariable[] = [];
  for (const e of kc) {
    const off = layout.offsets.get(e.name)!;
    e.kconfigOffset = off;
    variables.push({ name: e.name, typeId: e.typeId, offset: off, size: layout.sizes.get(e.name)!, linkage: 2 });
  }
  variables.sort((a, b) => a.offset - b.offset);
  return {
    name: '.kconfig',
    kind: 'kconfig',
    sectionIndex: -1,
    size: layout.size,
    bytes: new Uint8Array(layout.size),
    readonly: true,
    btfId: datasec(btf, '.kconfig')?.id ?? 0,
    variables,
  };
}

function parseMaps(ctx: Ctx): BpfMapDef[] {
  const { elf, btf } = ctx;
  const sec = elf.sections.find((s) => s.name === '.maps');
  if (!sec) return [];
  const at = { offset: sec.offset };
  if (!btf) throw new BpfscopeError('.maps section but no .BTF: BTF-defined maps need BTF', undefined, at);
  const ds = datasec(btf, '.maps');
  if (!ds) throw new BpfscopeError('.maps section but no DATASEC .maps in BTF', undefined, at);
  const rel = elf.relSections.find((r) => r.target === sec.index);
  const syms = new Map(elf.symbols.filter((y) => y.shndx === sec.index && y.name && y.type !== STT_SECTION).map((y) => [y.name, y]));
  const out: BpfMapDef[] = [];
  for (const v of ds.vars) {
    const vt = typeById(btf, v.type);
    if (vt.kind !== 'VAR') throw new BpfscopeError(`.maps DATASEC entry ${v.type} is ${vt.kind}, not VAR`, undefined, at);
    const sym = syms.get(vt.name);
    const offset = sym ? sym.value : v.offset;
    const def = mapDef(btf, vt.name, vt.type, at);
    def.btfVarId = vt.id;
    def.offset = offset;
    if (def.values) fillSlots(ctx, def, sec, v.size, rel?.entries ?? []);
    out.push(def);
  }
  return out;
}

const BPF_MAP_TYPE_PROG_ARRAY = 3;
const BPF_MAP_TYPE_ARRAY_OF_MAPS = 12;
const BPF_MAP_TYPE_HASH_OF_MAPS = 13;
const isMapInMap = (type: number): boolean => type === BPF_MAP_TYPE_ARRAY_OF_MAPS || type === BPF_MAP_TYPE_HASH_OF_MAPS;

/**
 * The initial slots of a map-in-map or prog array: each relocation in
 * .rel.maps that falls inside the definition's trailing `values` array sets
 * slot (offset - values offset) / 8 to the symbol it names, which must be a
 * map of .maps (map-in-map) or an entry-point program (prog array), as
 * libbpf's bpf_object__collect_map_relos requires; anything else is a
 * malformed object, refused as libbpf refuses it at open.
 */
function fillSlots(ctx: Ctx, def: BpfMapDef, sec: ElfSection, size: number, entries: readonly { offset: number; symbol: number }[]): void {
  const { elf, btf } = ctx;
  const defType = typeById(btf!, def.btfDefId) as BtfComposite;
  const last = defType.members[defType.members.length - 1];
  const base = def.offset + last.bitsOffset / 8;
  const values = def.values!;
  for (const e of entries) {
    if (e.offset < def.offset || e.offset + 8 > def.offset + size) continue;
    const at = { offset: sec.offset + e.offset };
    const sym = elf.symbols[e.symbol];
    const fail = (msg: string): never => {
      throw new BpfscopeError(`map '${def.name}': .maps relocation at byte ${e.offset} (symbol '${sym?.name ?? e.symbol}'): ${msg}`, undefined, at);
    };
    if (!sym) fail('no such symbol');
    if (e.offset < base || (e.offset - base) % 8 !== 0) fail('not a slot of the values array');
    const slot = (e.offset - base) / 8;
    if (isMapInMap(def.type)) {
      if (sym.shndx !== sec.index) fail("isn't a BTF-defined map");
      if (def.type === BPF_MAP_TYPE_HASH_OF_MAPS && def.keySize !== 4) fail(`a hash of maps with initial values needs a 4-byte key, not ${def.keySize}`);
    } else if (def.type === BPF_MAP_TYPE_PROG_ARRAY) {
      const s = sym.shndx < elf.sections.length ? elf.sections[sym.shndx] : undefined;
      if (!s || (s.flags & SHF_EXECINSTR) === 0 || s.name === '.text' || sym.type !== STT_FUNC) fail("isn't an entry-point program");
    } else fail(`a ${mapTypeName(def.type)} has no initial values`);
    while (values.length <= slot) values.push(null);
    values[slot] = sym.name;
  }
}

function mapDef(btf: Btf, name: string, typeId: number, at: { offset: number }, depth = 0): BpfMapDef {
  const fail = (msg: string): never => {
    throw new BpfscopeError(`map '${name}': ${msg}`, undefined, at);
  };
  const t = typeById(btf, resolveType(btf, typeId));
  if (t.kind !== 'STRUCT') return fail(`definition is ${t.kind}, not a struct`);
  const def: BpfMapDef = {
    name, offset: 0, btfVarId: 0, btfDefId: t.id, type: 0, typeName: '', keySize: 0, valueSize: 0,
    maxEntries: 0, flags: 0, pinning: 0, numaNode: 0, mapExtra: 0n,
  };
  // __uint(name, val) is `int (*name)[val]`: the number is the array's length.
  const uintOf = (mtype: number, field: string): number => {
    const p = typeById(btf, resolveType(btf, mtype));
    if (p.kind !== 'PTR') return fail(`${field} is ${p.kind}, not __uint()`);
    const a = typeById(btf, resolveType(btf, p.type));
    if (a.kind !== 'ARRAY') return fail(`${field} is not __uint() (pointer to ${a.kind})`);
    return a.nelems;
  };
  // __type(name, T) is `T *name`.
  const typeOf = (mtype: number, field: string): number => {
    const p = typeById(btf, resolveType(btf, mtype));
    if (p.kind !== 'PTR') return fail(`${field} is ${p.kind}, not __type()`);
    return p.type;
  };
  for (const m of t.members) {
    switch (m.name) {
      case 'type':
        def.type = uintOf(m.type, m.name);
        break;
      case 'max_entries':
        def.maxEntries = uintOf(m.type, m.name);
        break;
      case 'map_flags':
        def.flags = uintOf(m.type, m.name);
        break;
      case 'numa_node':
        def.numaNode = uintOf(m.type, m.name);
        break;
      case 'pinning':
        def.pinning = uintOf(m.type, m.name);
        break;
      case 'map_extra':
        def.mapExtra = BigInt(uintOf(m.type, m.name));
        break;
      case 'key_size': {
        const sz = uintOf(m.type, m.name);
        if (def.keySize && def.keySize !== sz) fail(`key_size ${sz} disagrees with the key type's size ${def.keySize}`);
        def.keySize = sz;
        break;
      }
      case 'value_size': {
        const sz = uintOf(m.type, m.name);
        if (def.valueSize && def.valueSize !== sz) fail(`value_size ${sz} disagrees with the value type's size ${def.valueSize}`);
        def.valueSize = sz;
        break;
      }
      case 'key': {
        def.keyTypeId = typeOf(m.type, m.name);
        const sz = sizeOf(btf, def.keyTypeId);
        if (def.keySize && def.keySize !== sz) fail(`key type's size ${sz} disagrees with key_size ${def.keySize}`);
        def.keySize = sz;
        break;
      }
      case 'value': {
        def.valueTypeId = typeOf(m.type, m.name);
        const sz = sizeOf(btf, def.valueTypeId);
        if (def.valueSize && def.valueSize !== sz) fail(`value type's size ${sz} disagrees with value_size ${def.valueSize}`);
        def.valueSize = sz;
        break;
      }
      case 'values': {
        // __array(values, T) is `T *values[]`: an empty array of pointers, the last member,
        // on a map-in-map (T an inner definition) or a prog array (T a function prototype).
        if (depth > 0) return fail('multi-level inner maps not supported');
        if (m !== t.members[t.members.length - 1]) return fail("'values' member should be last");
        const prog = def.type === BPF_MAP_TYPE_PROG_ARRAY;
        if (!isMapInMap(def.type) && !prog) return fail('values needs a map-in-map or a prog array');
        if (def.valueSize && def.valueSize !== 4) return fail(`conflicting value size ${def.valueSize} != 4`);
        def.valueSize = 4;
        const a = typeById(btf, resolveType(btf, m.type));
        if (a.kind !== 'ARRAY' || a.nelems !== 0) return fail('values is not __array()');
        const p = typeById(btf, resolveType(btf, a.type));
        if (p.kind !== 'PTR') return fail('values is not an array of pointers');
        const target = typeById(btf, resolveType(btf, p.type));
        if (prog && target.kind !== 'FUNC_PROTO') return fail(`prog-array value def is ${target.kind}, not a function prototype`);
        if (!prog && target.kind !== 'STRUCT') return fail(`map-in-map inner def is ${target.kind}, not a struct`);
        if (!prog) def.inner = mapDef(btf, `${name}.inner`, target.id, at, depth + 1);
        def.values = [];
        break;
      }
      default:
        // libbpf refuses unknown fields; we keep going and let the loader say so.
        break;
    }
  }
  def.typeName = mapTypeName(def.type);
  return def;
}

/** The program with this name, or a BpfscopeError listing the names there are. */
export function programByName(obj: BpfObject, name: string): BpfProgram {
  const p = obj.programs.find((x) => x.name === name);
  if (!p) throw new BpfscopeError(`no program '${name}' (programs: ${obj.programs.map((x) => x.name).join(', ') || 'none'})`, obj.file);
  return p;
}
