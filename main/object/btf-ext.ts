import { BpfscopeError } from '../errors';
import { btfString } from './btf/parse';
import type { Btf } from './btf/types';

/**
 * .BTF.ext: per-section func_info, line_info and CO-RE relocation records.
 * Insn offsets in the file are byte offsets inside the ELF section; we keep
 * them and also give the slot index (offset / 8), which is what the kernel
 * and libbpf use once a program is extracted.
 */

export interface FuncInfo {
  insnOff: number;
  insnIdx: number;
  typeId: number;
}

export interface LineInfo {
  insnOff: number;
  insnIdx: number;
  fileName: string;
  /** The source line's text as clang recorded it. */
  line: string;
  lineNum: number;
  column: number;
}

/** enum bpf_core_relo_kind. */
export const CORE_RELO_KINDS = [
  'field_byte_offset',
  'field_byte_size',
  'field_exists',
  'field_signed',
  'field_lshift_u64',
  'field_rshift_u64',
  'type_id_local',
  'type_id_target',
  'type_exists',
  'type_size',
  'enumval_exists',
  'enumval_value',
  'type_matches',
] as const;
export type CoreReloKindName = (typeof CORE_RELO_KINDS)[number];

export interface CoreRelo {
  insnOff: number;
  insnIdx: number;
  typeId: number;
  /** "0:1:2": member/array indices from the root type. */
  accessStr: string;
  kind: number;
  kindName: CoreReloKindName | `unknown(${number})`;
}

export interface BtfExtSection<T> {
  /** The ELF section these records belong to (e.g. "tc", ".text"). */
  section: string;
  records: T[];
}

export interface BtfExt {
  version: number;
  flags: number;
  funcInfoRecSize: number;
  lineInfoRecSize: number;
  coreReloRecSize: number;
  funcInfo: BtfExtSection<FuncInfo>[];
  lineInfo: BtfExtSection<LineInfo>[];
  coreRelos: BtfExtSection<CoreRelo>[];
}

export function parseBtfExt(bytes: Uint8Array, btf: Btf, fileOffset = 0): BtfExt {
  const fail = (msg: string, off: number): never => {
    throw new BpfscopeError(`BTF.ext: ${msg}`, undefined, { offset: fileOffset + off });
  };
  if (bytes.length < 24) fail(`truncated header (${bytes.length} of 24 bytes)`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic !== 0xeb9f) fail(`bad magic 0x${magic.toString(16)} (expected 0xeb9f)`, 0);
  const version = view.getUint8(2);
  if (version !== 1) fail(`unsupported version ${version}`, 2);
  const flags = view.getUint8(3);
  const hdrLen = view.getUint32(4, true);
  if (hdrLen < 24 || hdrLen > bytes.length) fail(`bad header length ${hdrLen}`, 4);
  const str = (off: number, at: number): string => {
    try {
      return btfString(btf, off);
    } catch (e) {
      return fail(e instanceof Error ? e.message.replace(/^BTF: /, '') : String(e), at);
    }
  };

  // Each info block: u32 rec_size, then { u32 sec_name_off, u32 num_info, rec[num_info] }...
  function blocks<T>(off: number, len: number, minRec: number, what: string, rec: (p: number, secName: string) => T): { recSize: number; out: BtfExtSection<T>[] } {
    const out: BtfExtSection<T>[] = [];
    if (len === 0) return { recSize: 0, out };
    const start = hdrLen + off;
    const end = start + len;
    if (end > bytes.length || start > bytes.length) fail(`${what} (${len} bytes at ${off}) runs past the end (${bytes.length} bytes)`, 8);
    if (len < 4) fail(`${what} is too short for its record size`, start);
    const recSize = view.getUint32(start, true);
    if (recSize < minRec || recSize % 4 !== 0 || recSize > 1024) fail(`${what}: bad record size ${recSize}`, start);
    let p = start + 4;
    while (p < end) {
      if (p + 8 > end) fail(`${what}: truncated section header`, p);
      const secName = str(view.getUint32(p, true), p);
      const num = view.getUint32(p + 4, true);
      if (num === 0) fail(`${what}: section '${secName}' has no records`, p + 4);
      p += 8;
      if (num * recSize > end - p) fail(`${what}: section '${secName}' has ${num} records of ${recSize} bytes, more than remain (${end - p})`, p - 4);
      const records: T[] = [];
      for (let i = 0; i < num; i++, p += recSize) records.push(rec(p, secName));
      out.push({ section: secName, records });
    }
    return { recSize, out };
  }

  const fi = blocks<FuncInfo>(view.getUint32(8, true), view.getUint32(12, true), 8, 'func_info', (p) => {
    const insnOff = view.getUint32(p, true);
    return { insnOff, insnIdx: insnOff / 8, typeId: view.getUint32(p + 4, true) };
  });
  const li = blocks<LineInfo>(view.getUint32(16, true), view.getUint32(20, true), 16, 'line_info', (p) => {
    const insnOff = view.getUint32(p, true);
    const lc = view.getUint32(p + 12, true);
    return {
      insnOff,
      insnIdx: insnOff / 8,
      fileName: str(view.getUint32(p + 4, true), p + 4),
      line: str(view.getUint32(p + 8, true), p + 8),
      lineNum: lc >>> 10,
      column: lc & 0x3ff,
    };
  });
  let cr: { recSize: number; out: BtfExtSection<CoreRelo>[] } = { recSize: 0, out: [] };
  if (hdrLen >= 32) {
    cr = blocks<CoreRelo>(view.getUint32(24, true), view.getUint32(28, true), 16, 'core_relo', (p) => {
      const insnOff = view.getUint32(p, true);
      const kind = view.getUint32(p + 12, true);
      return {
        insnOff,
        insnIdx: insnOff / 8,
        typeId: view.getUint32(p + 4, true),
        accessStr: str(view.getUint32(p + 8, true), p + 8),
        kind,
        kindName: CORE_RELO_KINDS[kind] ?? (`unknown(${kind})` as const),
      };
    });
  }
  for (const s of [...fi.out, ...li.out, ...cr.out]) {
    for (const r of s.records as { insnOff: number }[]) {
      if (r.insnOff % 8 !== 0) fail(`record in section '${s.section}' has insn offset ${r.insnOff}, not a multiple of 8`, 0);
    }
  }
  return {
    version,
    flags,
    funcInfoRecSize: fi.recSize,
    lineInfoRecSize: li.recSize,
    coreReloRecSize: cr.recSize,
    funcInfo: fi.out,
    lineInfo: li.out,
    coreRelos: cr.out,
  };
}
