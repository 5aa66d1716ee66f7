import { BpfscopeError } from '../errors';
import { ByteReader, cString } from './bytes';

/**
 * ELF64 little-endian reader for BPF objects: the file header, section
 * headers and names, the symbol table and REL/RELA sections. Offsets and
 * sizes come from the file, so every one is bounds-checked before use.
 */

export const EM_BPF = 247;
export const SHT_NULL = 0;
export const SHT_PROGBITS = 1;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_RELA = 4;
export const SHT_NOBITS = 8;
export const SHT_REL = 9;
export const SHF_WRITE = 0x1;
export const SHF_ALLOC = 0x2;
export const SHF_EXECINSTR = 0x4;
export const SHN_UNDEF = 0;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
export const SHN_XINDEX = 0xffff;
export const STB_LOCAL = 0;
export const STB_GLOBAL = 1;
export const STB_WEAK = 2;
export const STT_NOTYPE = 0;
export const STT_OBJECT = 1;
export const STT_FUNC = 2;
export const STT_SECTION = 3;
export const STT_FILE = 4;

/** R_BPF_* relocation types (llvm's BPF ELF ABI). */
export const R_BPF_NONE = 0;
export const R_BPF_64_64 = 1;
export const R_BPF_64_ABS64 = 2;
export const R_BPF_64_ABS32 = 3;
export const R_BPF_64_NODYLD32 = 4;
export const R_BPF_64_32 = 10;

const MACHINES: Record<number, string> = {
  0: 'none',
  3: 'x86',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390',
  40: 'arm',
  62: 'x86-64',
  183: 'aarch64',
  243: 'riscv',
  247: 'bpf',
  258: 'loongarch',
};

export function machineName(m: number): string {
  return MACHINES[m] ?? `machine ${m}`;
}

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  addralign: number;
  entsize: number;
  /** The section's bytes in the file; empty for SHT_NOBITS (.bss) and SHT_NULL. */
  data: Uint8Array;
}

export interface ElfSymbol {
  index: number;
  name: string;
  value: number;
  size: number;
  /** STB_LOCAL / STB_GLOBAL / STB_WEAK. */
  bind: number;
  /** STT_NOTYPE / STT_OBJECT / STT_FUNC / STT_SECTION / STT_FILE. */
  type: number;
  /** STV_DEFAULT 0, STV_HIDDEN 2 ... */
  visibility: number;
  /** Section index; SHN_UNDEF for externs. */
  shndx: number;
}

export interface ElfRel {
  /** Byte offset inside the target section. */
  offset: number;
  /** Index into `symbols`. */
  symbol: number;
  /** R_BPF_* type. */
  type: number;
  /** RELA only. */
  addend?: bigint;
}

export interface ElfRelSection {
  /** Index of the REL/RELA section itself. */
  index: number;
  name: string;
  /** Index of the section the relocations apply to (sh_info). */
  target: number;
  entries: ElfRel[];
}

export interface ElfFile {
  machine: number;
  /** ET_REL 1 for a .bpf.o. */
  type: number;
  sections: ElfSection[];
  /** The .symtab; index 0 is the null symbol. */
  symbols: ElfSymbol[];
  relSections: ElfRelSection[];
}

const EHDR_SIZE = 64;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;

export function parseElf(bytes: Uint8Array): ElfFile {
  const r = new ByteReader(bytes, 0, 'the file');
  if (bytes.length === 0) throw new BpfscopeError('empty file, not an ELF object', undefined, { offset: 0 });
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new BpfscopeError('not an ELF file (bad magic)', undefined, { offset: 0 });
  }
  if (bytes.length < EHDR_SIZE) throw new BpfscopeError(`truncated ELF header (${bytes.length} of 64 bytes)`, undefined, { offset: bytes.length });
  const cls = r.u8(4);
  const data = r.u8(5);
  if (cls !== 2) throw new BpfscopeError(`not a 64-bit ELF (class ${cls})`, undefined, { offset: 4 });
  if (data !== 1) {
    throw new BpfscopeError(data === 2 ? 'big-endian ELF: only little-endian BPF objects are supported' : `bad ELF data encoding ${data}`, undefined, { offset: 5 });
  }
  const type = r.u16(16);
  const machine = r.u16(18);
  if (machine !== EM_BPF) throw new BpfscopeError(`not a BPF object (machine ${machineName(machine)})`, undefined, { offset: 18 });
  const shoff = r.u64n(40, 'e_shoff');
  const shentsize = r.u16(58);
  let shnum = r.u16(60);
  let shstrndx = r.u16(62);
  if (shoff === 0) throw new BpfscopeError('ELF has no section headers', undefined, { offset: 40 });
  if (shentsize !== SHDR_SIZE) throw new BpfscopeError(`bad section header size ${shentsize} (expected 64)`, undefined, { offset: 58 });
  // Extended numbering: the real counts live in section 0's header.
  if (shnum === 0) shnum = r.u64n(shoff + 32, 'section count (sh_size of section 0)');
  if (shstrndx === SHN_XINDEX) shstrndx = r.u32(shoff + 40, 'shstrndx (sh_link of section 0)');
  r.check(shoff, shnum * SHDR_SIZE, `${shnum} section headers`);

  const raw = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * SHDR_SIZE;
    const stype = r.u32(h + 4);
    const offset = r.u64n(h + 24, 'sh_offset');
    const size = r.u64n(h + 32, 'sh_size');
    const hasBytes = stype !== SHT_NOBITS && stype !== SHT_NULL;
    const dataBytes = hasBytes ? sliceAt(r, offset, size, `section ${i}`, h + 24) : new Uint8Array(0);
    raw.push({
      index: i,
      nameOff: r.u32(h),
      type: stype,
      flags: r.u64n(h + 8, 'sh_flags'),
      offset,
      size,
      link: r.u32(h + 40),
      info: r.u32(h + 44),
      addralign: r.u64n(h + 48, 'sh_addralign'),
      entsize: r.u64n(h + 56, 'sh_entsize'),
      data: dataBytes,
      header: h,
    });
  }
  if (shstrndx >= shnum) throw new BpfscopeError(`section name table index ${shstrndx} out of range (${shnum} sections)`, undefined, { offset: 62 });
  const shstr = raw[shstrndx];
  const sections: ElfSection[] = raw.map((s) => ({
    index: s.index,
    name: s.index === 0 ? '' : cString(shstr.data, s.nameOff, shstr.offset, `name of section ${s.index}`),
    type: s.type,
    flags: s.flags,
    offset: s.offset,
    size: s.size,
    link: s.link,
    info: s.info,
    addralign: s.addralign,
    entsize: s.entsize,
    data: s.data,
  }));

  const symtabs = sections.filter((s) => s.type === SHT_SYMTAB);
  if (symtabs.length > 1) throw new BpfscopeError('more than one symbol table', undefined, { offset: raw[symtabs[1].index].header });
  const symbols = symtabs.length ? parseSymbols(symtabs[0], sections) : [];

  const relSections: ElfRelSection[] = [];
  for (const s of sections) {
    if (s.type !== SHT_REL && s.type !== SHT_RELA) continue;
    const rela = s.type === SHT_RELA;
    const entSize = rela ? 24 : 16;
    if (s.size % entSize !== 0) throw new BpfscopeError(`relocation section ${s.name} size ${s.size} is not a multiple of ${entSize}`, undefined, { offset: s.offset });
    if (s.info >= sections.length) throw new BpfscopeError(`relocation section ${s.name} targets section ${s.info}, which does not exist`, undefined, { offset: raw[s.index].header + 44 });
    const rr = new ByteReader(s.data, s.offset, s.name);
    const entries: ElfRel[] = [];
    for (let p = 0; p < s.data.length; p += entSize) {
      const info = rr.u64(p + 8);
      const symbol = Number(info >> 32n);
      if (symbol >= symbols.length) throw new BpfscopeError(`relocation in ${s.name} names symbol ${symbol}, but there are ${symbols.length}`, undefined, { offset: s.offset + p + 8 });
      const rel: ElfRel = { offset: rr.u64n(p, 'r_offset'), symbol, type: Number(info & 0xffffffffn) };
      if (rela) rel.addend = BigInt.asIntN(64, rr.u64(p + 16));
      entries.push(rel);
    }
    relSections.push({ index: s.index, name: s.name, target: s.info, entries });
  }
  return { machine, type, sections, symbols, relSections };
}

function sliceAt(r: ByteReader, offset: number, size: number, what: string, headerAt: number): Uint8Array {
  if (offset + size > r.length) {
    throw new BpfscopeError(`${what} (${size} bytes at 0x${offset.toString(16)}) runs past the end of the file (${r.length} bytes)`, undefined, { offset: headerAt });
  }
  return r.bytes.subarray(offset, offset + size);
}

function parseSymbols(symtab: ElfSection, sections: ElfSection[]): ElfSymbol[] {
  if (symtab.link >= sections.length) throw new BpfscopeError(`symbol table's string table ${symtab.link} does not exist`, undefined, { offset: symtab.offset });
  const strtab = sections[symtab.link];
  if (symtab.size % SYM_SIZE !== 0) throw new BpfscopeError(`symbol table size ${symtab.size} is not a multiple of 24`, undefined, { offset: symtab.offset });
  const r = new ByteReader(symtab.data, symtab.offset, '.symtab');
  const out: ElfSymbol[] = [];
  for (let p = 0, i = 0; p < symtab.data.length; p += SYM_SIZE, i++) {
    const info = r.u8(p + 4);
    out.push({
      index: i,
      name: cString(strtab.data, r.u32(p), symtab.offset + p, `name of symbol ${i}`),
      value: r.u64n(p + 8, 'st_value'),
      size: r.u64n(p + 16, 'st_size'),
      bind: info >> 4,
      type: info & 0xf,
      visibility: r.u8(p + 5) & 0x3,
      shndx: r.u16(p + 6),
    });
  }
  return out;
}

export function sectionByName(elf: ElfFile, name: string): ElfSection | undefined {
  return elf.sections.find((s) => s.name === name);
}
