import { BpfscopeError } from '../errors';
import type { BtfExt, CoreRelo, LineInfo } from './btf-ext';
import type { Btf } from './btf/types';
import {
  SHF_EXECINSTR,
  SHN_UNDEF,
  SHT_PROGBITS,
  STB_GLOBAL,
  STB_LOCAL,
  STB_WEAK,
  STT_FUNC,
  STT_NOTYPE,
  STT_SECTION,
  type ElfFile,
  type ElfSection,
  type ElfSymbol,
} from './elf';
import { decodeRaw, INSN_SIZE, type RawInsn } from './insn/raw';
import {
  BPF_CALL,
  BPF_JMP,
  BPF_PSEUDO_CALL,
  BPF_PSEUDO_FUNC,
  BPF_PSEUDO_KFUNC_CALL,
  BPF_PSEUDO_MAP_FD,
  BPF_PSEUDO_MAP_VALUE,
} from './insn/opcode';
import { isLdImm64 } from './insn/load-store';
import type { InsnNames } from './insn/types';

/**
 * Subprogram linking, the way libbpf's bpf_object__relocate_calls /
 * bpf_object__reloc_code do it: the kernel receives one instruction array per
 * entry program, the program followed by every .text function it reaches
 * (calls and callback pointers, transitively), each appended the first time
 * a call to it is met, depth first; call and func-pointer immediates are then
 * relative to the new positions, and func_info / line_info are re-indexed.
 * Pure: the object's ELF and .BTF.ext in, plain data out. Map fds, kfunc ids
 * and CO-RE are left to the loader as `relocations` with linked indices.
 */

/** What linking needs from a parsed object (helper A's object model carries both). */
export interface LinkSource {
  elf: ElfFile;
  btfExt?: BtfExt;
  /** For `exception_callback:NAME` decl tags (bpf_throw's callback, appended like a subprogram). */
  btf?: Btf;
  /** The object's externs: a `__kconfig` one is a load from the .kconfig map at its offset. */
  externs?: readonly { name: string; kconfigOffset?: number }[];
}

/** A function in an executable section, as libbpf's `struct bpf_program`. */
export interface ObjFunction {
  name: string;
  section: string;
  sectionIndex: number;
  /** First instruction, in slots from the start of the section. */
  secInsnOff: number;
  insnCount: number;
  /** In .text: a subprogram, never loaded on its own. */
  isSubprog: boolean;
  global: boolean;
}

/** A reference the loader must still resolve, at a linked instruction index. */
export type LinkedReloc =
  /** ld_imm64 of a map defined in .maps (libbpf RELO_LD64): src = BPF_PSEUDO_MAP_FD, imm = the map's fd. */
  | { kind: 'map'; insnIdx: number; map: string; section: string }
  /**
   * ld_imm64 of global data (RELO_DATA): src = BPF_PSEUDO_MAP_VALUE, imm = the
   * section's map fd, next.imm = `offset` (already stored there).
   */
  | { kind: 'data'; insnIdx: number; section: string; offset: number; symbol: string }
  /** A call to an extern function: a kfunc (src = BPF_PSEUDO_KFUNC_CALL, imm = its BTF id, off = BTF fd index). */
  | { kind: 'kfunc'; insnIdx: number; name: string; weak: boolean }
  /**
   * ld_imm64 of an extern variable (.ksyms or .kconfig; libbpf RELO_EXTERN_LD64).
   * A `__kconfig` extern has `kconfigOffset`: libbpf makes it a map-value load
   * (src = BPF_PSEUDO_MAP_VALUE, imm = the .kconfig map's fd, next.imm = this offset).
   */
  | { kind: 'extern'; insnIdx: number; name: string; weak: boolean; kconfigOffset?: number }
  /** A CO-RE record for this instruction (its accessor applies on the target BTF). */
  | { kind: 'core'; insnIdx: number; relo: CoreRelo };

export interface LinkedFuncInfo {
  insnIdx: number;
  typeId: number;
}

export interface LinkedLineInfo extends LineInfo {
  /** The linked instruction index (LineInfo.insnIdx stays the section-relative slot). */
  linkedIdx: number;
}

export interface LinkedProgram {
  name: string;
  section: string;
  /** The instruction slots the kernel receives, idx = linked index. */
  insns: RawInsn[];
  /** The program itself (first) and each appended subprogram, in order. */
  functions: { name: string; section: string; start: number; insnCount: number }[];
  funcInfo: LinkedFuncInfo[];
  lineInfo: LinkedLineInfo[];
  relocations: LinkedReloc[];
}

const isExecSection = (s: ElfSection): boolean => s.type === SHT_PROGBITS && (s.flags & SHF_EXECINSTR) !== 0 && s.size > 0;

/** Every function of every executable section, sorted by section and offset (libbpf's program order). */
export function objectFunctions(elf: ElfFile): ObjFunction[] {
  const text = elf.sections.find((s) => s.name === '.text');
  const out: ObjFunction[] = [];
  for (const sym of elf.symbols) {
    if (sym.type !== STT_FUNC || sym.shndx === SHN_UNDEF) continue;
    const sec = elf.sections[sym.shndx];
    if (!sec || !isExecSection(sec)) continue;
    if (sym.value % INSN_SIZE !== 0 || sym.size % INSN_SIZE !== 0 || sym.value + sym.size > sec.size) {
      throw new BpfscopeError(`function '${sym.name}' in ${sec.name} is not whole instructions`, undefined, {
        offset: sec.offset + sym.value,
      });
    }
    out.push({
      name: sym.name,
      section: sec.name,
      sectionIndex: sec.index,
      secInsnOff: sym.value / INSN_SIZE,
      insnCount: sym.size / INSN_SIZE,
      isSubprog: text !== undefined && sec.index === text.index,
      global: sym.bind === STB_GLOBAL || sym.bind === STB_WEAK,
    });
  }
  out.sort((a, b) => a.sectionIndex - b.sectionIndex || a.secInsnOff - b.secInsnOff);
  return out;
}

/** Entry programs: functions outside .text (libbpf refuses static ones; so do we, when asked for one). */
export function entryPrograms(elf: ElfFile): ObjFunction[] {
  return objectFunctions(elf).filter((f) => !f.isSubprog);
}

type RelocKind = 'call' | 'subprog_addr' | 'extern_call' | 'extern_ld64' | 'map' | 'data';

interface ObjReloc {
  /** Slot within the section. */
  secInsnIdx: number;
  kind: RelocKind;
  sym: ElfSymbol;
  section?: ElfSection;
}

const isExtern = (s: ElfSymbol): boolean =>
  s.shndx === SHN_UNDEF && (s.bind === STB_GLOBAL || s.bind === STB_WEAK) && s.type === STT_NOTYPE;

function isSubprogSymbol(s: ElfSymbol, textIdx: number | undefined): boolean {
  if (textIdx === undefined || s.shndx !== textIdx) return false;
  if (s.bind === STB_LOCAL && s.type === STT_SECTION) return true;
  return (s.bind === STB_GLOBAL || s.bind === STB_WEAK) && s.type === STT_FUNC;
}

const isCall = (r: RawInsn): boolean => r.code === (BPF_JMP | BPF_CALL);

/** Classify the relocations of one executable section as libbpf's bpf_program__record_reloc does. */
function sectionRelocs(elf: ElfFile, sec: ElfSection, slots: RawInsn[]): Map<number, ObjReloc> {
  const textIdx = elf.sections.find((s) => s.name === '.text')?.index;
  const out = new Map<number, ObjReloc>();
  for (const rs of elf.relSections) {
    if (rs.target !== sec.index) continue;
    for (const rel of rs.entries) {
      const where = { offset: sec.offset + rel.offset };
      const idx = rel.offset / INSN_SIZE;
      const insn = slots[idx];
      const sym = elf.symbols[rel.symbol];
      if (!Number.isInteger(idx) || insn === undefined) {
        throw new BpfscopeError(`relocation in ${rs.name} points outside ${sec.name}`, undefined, where);
      }
      if (sym === undefined) throw new BpfscopeError(`relocation in ${rs.name} names symbol ${rel.symbol}, which does not exist`, undefined, where);
      if (!isCall(insn) && !isLdImm64(insn)) {
        throw new BpfscopeError(`relocation against '${sym.name}' on instruction ${idx} of ${sec.name}, which is neither a call nor ld_imm64 (code 0x${insn.code.toString(16)})`, undefined, where);
      }
      let kind: RelocKind;
      let section: ElfSection | undefined;
      if (isExtern(sym)) {
        kind = isCall(insn) ? 'extern_call' : 'extern_ld64';
      } else if (isCall(insn)) {
        if (insn.src !== BPF_PSEUDO_CALL || textIdx === undefined || sym.shndx !== textIdx) {
          throw new BpfscopeError(`call relocation against '${sym.name}' on instruction ${idx} of ${sec.name} does not point into .text`, undefined, where);
        }
        kind = 'call';
      } else if (isSubprogSymbol(sym, textIdx)) {
        kind = 'subprog_addr';
      } else {
        section = elf.sections[sym.shndx];
        if (sym.shndx === SHN_UNDEF || section === undefined) {
          throw new BpfscopeError(`relocation against '${sym.name}' on instruction ${idx} of ${sec.name} is in no section (an uninitialized global?)`, undefined, where);
        }
        kind = section.name === '.maps' ? 'map' : 'data';
      }
      out.set(idx, { secInsnIdx: idx, kind, sym, section });
    }
  }
  return out;
}

/**
 * Link `programName` (an entry program's function name, as libbpf's
 * bpf_object__find_program_by_name) into the instructions the kernel gets.
 */
export function linkProgram(obj: LinkSource, programName: string): LinkedProgram {
  const { elf } = obj;
  const functions = objectFunctions(elf);
  const main = functions.find((f) => f.name === programName && !f.isSubprog);
  if (!main) {
    const names = functions.filter((f) => !f.isSubprog).map((f) => f.name);
    throw new BpfscopeError(`no program '${programName}' in the object (programs: ${names.join(', ') || 'none'})`);
  }
  if (!main.global) throw new BpfscopeError(`program '${programName}' is static; libbpf does not load static programs`);

  // Section slots and relocations, decoded once per section.
  const sectionSlots = new Map<number, RawInsn[]>();
  const sectionRelos = new Map<number, Map<number, ObjReloc>>();
  const slotsOf = (secIdx: number): RawInsn[] => {
    let s = sectionSlots.get(secIdx);
    if (!s) {
      const sec = elf.sections[secIdx];
      s = decodeRaw(sec.data, sec.offset);
      sectionSlots.set(secIdx, s);
      sectionRelos.set(secIdx, sectionRelocs(elf, sec, s));
    }
    return s;
  };
  const relosOf = (secIdx: number): Map<number, ObjReloc> => {
    slotsOf(secIdx);
    return sectionRelos.get(secIdx) ?? new Map();
  };

  const insns: RawInsn[] = [];
  const placed: { fn: ObjFunction; start: number }[] = [];
  const startOf = new Map<ObjFunction, number>();
  const funcInfo: LinkedFuncInfo[] = [];
  const lineInfo: LinkedLineInfo[] = [];
  const relocations: LinkedReloc[] = [];
  const textIdx = elf.sections.find((s) => s.name === '.text')?.index;

  const append = (fn: ObjFunction): number => {
    const start = insns.length;
    const slots = slotsOf(fn.sectionIndex);
    for (let i = 0; i < fn.insnCount; i++) insns.push({ ...slots[fn.secInsnOff + i], idx: start + i });
    startOf.set(fn, start);
    placed.push({ fn, start });
    return start;
  };

  // libbpf appends a function's func/line info when it starts relocating it
  // (reloc_prog_func_and_line_info), i.e. in the order functions are appended.
  const appendExtInfo = (fn: ObjFunction, start: number): void => {
    const inFn = (secIdx: number): boolean => secIdx >= fn.secInsnOff && secIdx < fn.secInsnOff + fn.insnCount;
    const adj = start - fn.secInsnOff;
    for (const sec of obj.btfExt?.funcInfo ?? []) {
      if (sec.section !== fn.section) continue;
      for (const r of sec.records) if (inFn(r.insnIdx)) funcInfo.push({ insnIdx: r.insnIdx + adj, typeId: r.typeId });
    }
    for (const sec of obj.btfExt?.lineInfo ?? []) {
      if (sec.section !== fn.section) continue;
      for (const r of sec.records) if (inFn(r.insnIdx)) lineInfo.push({ ...r, linkedIdx: r.insnIdx + adj });
    }
  };

  const relocCode = (fn: ObjFunction): void => {
    const start = startOf.get(fn) ?? 0;
    appendExtInfo(fn, start);
    const relos = relosOf(fn.sectionIndex);
    for (let i = 0; i < fn.insnCount; i++) {
      const insn = insns[start + i];
      const secIdx = fn.secInsnOff + i;
      const relo = relos.get(secIdx);
      const subprogCall = isCall(insn) && insn.src === BPF_PSEUDO_CALL && insn.dst === 0 && insn.off === 0;
      const funcPtr = isLdImm64(insn) && relo?.kind === 'subprog_addr';
      if (!subprogCall && !funcPtr) continue;
      if (relo?.kind === 'extern_call') continue; // a kfunc: resolved by the loader
      let target: number;
      if (relo?.kind === 'call') target = relo.sym.value / INSN_SIZE + insn.imm + 1;
      else if (relo?.kind === 'subprog_addr') target = (relo.sym.value + insn.imm) / INSN_SIZE;
      else if (relo) {
        throw new BpfscopeError(`program '${fn.name}': unexpected ${relo.kind} relocation on call instruction ${secIdx} of ${fn.section}`);
      } else target = secIdx + insn.imm + 1; // a static call within .text carries no relocation
      const callee = functions.find(
        (f) => f.sectionIndex === textIdx && target >= f.secInsnOff && target < f.secInsnOff + f.insnCount,
      );
      if (!callee || !Number.isInteger(target)) {
        throw new BpfscopeError(`program '${fn.name}': instruction ${secIdx} of ${fn.section} calls into .text instruction ${target}, where no function is`);
      }
      if (!startOf.has(callee)) {
        append(callee);
        relocCode(callee);
      }
      const calleeStart = (startOf.get(callee) ?? 0) + (target - callee.secInsnOff);
      insn.imm = calleeStart - (start + i) - 1;
      if (funcPtr) insn.src = BPF_PSEUDO_FUNC;
    }
  };

  append(main);
  relocCode(main);

  // libbpf's bpf_prog_assign_exc_cb: a global .text function named by an
  // `exception_callback:NAME` decl tag on the program is appended last, if no
  // call reached it already (the verifier needs it even though nothing calls it).
  const cbName = exceptionCallbackName(obj.btf, main.name);
  if (cbName !== undefined) {
    const cb = functions.find((f) => f.isSubprog && f.name === cbName);
    if (!cb || !cb.global) {
      throw new BpfscopeError(`program '${main.name}': exception callback '${cbName}' is not a global function in .text`);
    }
    if (!startOf.has(cb)) {
      append(cb);
      relocCode(cb);
    }
  }

  // Data, extern and CO-RE relocations of every placed function, at linked indices.
  for (const { fn, start } of placed) {
    const relos = relosOf(fn.sectionIndex);
    for (let i = 0; i < fn.insnCount; i++) {
      const relo = relos.get(fn.secInsnOff + i);
      if (!relo) continue;
      const idx = start + i;
      const insn = insns[idx];
      const weak = relo.sym.bind === STB_WEAK;
      switch (relo.kind) {
        case 'map':
          insn.src = BPF_PSEUDO_MAP_FD;
          insn.imm = 0;
          relocations.push({ kind: 'map', insnIdx: idx, map: relo.sym.name, section: relo.section?.name ?? '.maps' });
          break;
        case 'data': {
          // The addend clang leaves in imm plus the symbol's offset: where in the section the value is.
          const offset = relo.sym.value + insn.imm;
          insn.src = BPF_PSEUDO_MAP_VALUE;
          insn.imm = 0;
          if (insns[idx + 1]) insns[idx + 1].imm = offset;
          relocations.push({ kind: 'data', insnIdx: idx, section: relo.section?.name ?? '', offset, symbol: relo.sym.name });
          break;
        }
        case 'extern_call':
          insn.src = BPF_PSEUDO_KFUNC_CALL;
          insn.imm = 0;
          relocations.push({ kind: 'kfunc', insnIdx: idx, name: relo.sym.name, weak });
          break;
        case 'extern_ld64': {
          const kconfigOffset = obj.externs?.find((e) => e.name === relo.sym.name)?.kconfigOffset;
          relocations.push({ kind: 'extern', insnIdx: idx, name: relo.sym.name, weak, ...(kconfigOffset !== undefined ? { kconfigOffset } : {}) });
          break;
        }
        default: // calls and func pointers are done
          break;
      }
    }
    for (const sec of obj.btfExt?.coreRelos ?? []) {
      if (sec.section !== fn.section) continue;
      for (const r of sec.records) {
        if (r.insnIdx >= fn.secInsnOff && r.insnIdx < fn.secInsnOff + fn.insnCount) {
          relocations.push({ kind: 'core', insnIdx: start + r.insnIdx - fn.secInsnOff, relo: r });
        }
      }
    }
  }
  relocations.sort((a, b) => a.insnIdx - b.insnIdx);
  // Keep each ld_imm64's 64-bit value in step with the slots patched above.
  for (let i = 0; i + 1 < insns.length; i++) {
    if (!isLdImm64(insns[i])) continue;
    insns[i].imm64 = (BigInt(insns[i + 1].imm >>> 0) << 32n) | BigInt(insns[i].imm >>> 0);
    i++;
  }

  return {
    name: main.name,
    section: main.section,
    insns,
    functions: placed.map(({ fn, start }) => ({ name: fn.name, section: fn.section, start, insnCount: fn.insnCount })),
    funcInfo,
    lineInfo,
    relocations,
  };
}

const EXC_CB = 'exception_callback:';

/** The exception callback a program names with a decl tag, or undefined (several tags: none, as libbpf). */
function exceptionCallbackName(btf: Btf | undefined, program: string): string | undefined {
  if (!btf) return undefined;
  const found: string[] = [];
  for (const t of btf.types) {
    if (t.kind !== 'DECL_TAG' || t.componentIdx !== -1 || !t.name.startsWith(EXC_CB)) continue;
    const target = btf.types[t.type];
    if (target?.kind === 'FUNC' && target.name === program) found.push(t.name.slice(EXC_CB.length));
  }
  return found.length === 1 && found[0] !== '' ? found[0] : undefined;
}

/**
 * Names for printing a linked program from the object alone: kfunc calls by
 * their extern's name (the id is the loader's to supply: pass `kfuncIds`, or
 * patch the call's imm with it as the kernel receives it),
 * map and data references by map / section name. The kernel prints resolved
 * addresses there instead.
 */
export function linkedNames(prog: LinkedProgram, kfuncIds?: (name: string) => number | undefined): InsnNames {
  const byIdx = new Map<number, LinkedReloc>();
  for (const r of prog.relocations) if (r.kind !== 'core') byIdx.set(r.insnIdx, r);
  return {
    call(insn) {
      const r = byIdx.get(insn.idx);
      if (r?.kind !== 'kfunc') return undefined;
      const id = kfuncIds?.(r.name);
      // A weak kfunc the kernel lacks: libbpf leaves imm 0 and the kernel prints `call #0`.
      if (kfuncIds && id === undefined && r.weak && insn.imm === 0) return { name: '', id: 0 };
      // A loader that already patched the call carries the kernel's id in imm.
      return { name: r.name, id: id ?? (insn.imm !== 0 ? insn.imm : null) };
    },
    imm(insn) {
      const r = byIdx.get(insn.idx);
      if (r?.kind === 'map') return `map[${r.map}]`;
      if (r?.kind === 'data') return `map[${r.section}]+${r.offset}`;
      // A kconfig value lives in the .kconfig map: the kernel prints that map value's address.
      if (r?.kind === 'extern') return r.kconfigOffset !== undefined ? `map[.kconfig]+${r.kconfigOffset}` : `ksym[${r.name}]`;
      return undefined;
    },
  };
}
