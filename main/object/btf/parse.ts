import { BpfscopeError } from '../../errors';
import { BTF_KIND_NAMES, type Btf, type BtfHeader, type BtfMember, type BtfType } from './types';

/**
 * The BTF parser: header, type section, string section. Works on an
 * object's .BTF section and on /sys/kernel/btf/vmlinux alike (and on module
 * BTF split over a base). Offsets in errors are relative to `base`, the
 * position of the BTF bytes in their file (the .BTF section's sh_offset).
 */

export const BTF_MAGIC = 0xeb9f;

export interface ParseBtfOptions {
  /** File offset of the BTF bytes, so errors name file offsets. */
  fileOffset?: number;
  /** The base BTF for split BTF (kernel module BTF over vmlinux). */
  base?: Btf;
}

export function parseBtf(bytes: Uint8Array, opts: ParseBtfOptions = {}): Btf {
  const at = opts.fileOffset ?? 0;
  const fail = (msg: string, off: number): never => {
    throw new BpfscopeError(`BTF: ${msg}`, undefined, { offset: at + off });
  };
  if (bytes.length < 24) fail(`truncated header (${bytes.length} of 24 bytes)`, 0);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint16(0, true);
  if (magic !== BTF_MAGIC) fail(magic === 0x9feb ? 'big-endian BTF is not supported' : `bad magic 0x${magic.toString(16)} (expected 0xeb9f)`, 0);
  const header: BtfHeader = {
    magic,
    version: view.getUint8(2),
    flags: view.getUint8(3),
    hdrLen: view.getUint32(4, true),
    typeOff: view.getUint32(8, true),
    typeLen: view.getUint32(12, true),
    strOff: view.getUint32(16, true),
    strLen: view.getUint32(20, true),
  };
  if (header.version !== 1) fail(`unsupported version ${header.version}`, 2);
  if (header.hdrLen < 24 || header.hdrLen > bytes.length) fail(`bad header length ${header.hdrLen}`, 4);
  // A longer header than we know is fine if the extra bytes are zero (the kernel's rule).
  for (let i = 24; i < header.hdrLen; i++) if (bytes[i] !== 0) fail('unknown non-zero header fields', i);
  const h = header.hdrLen;
  if (h + header.typeOff + header.typeLen > bytes.length) fail(`type section (${header.typeLen} bytes at ${header.typeOff}) runs past the end (${bytes.length - h} bytes after the header)`, 8);
  if (h + header.strOff + header.strLen > bytes.length) fail(`string section (${header.strLen} bytes at ${header.strOff}) runs past the end (${bytes.length - h} bytes after the header)`, 16);
  if (header.typeOff % 4 !== 0) fail('type section is not 4-byte aligned', 8);
  const strings = bytes.subarray(h + header.strOff, h + header.strOff + header.strLen);
  const base = opts.base;
  const baseStrLen = base ? base.baseStrLen + base.strings.length : 0;
  if (!base && (strings.length === 0 || strings[0] !== 0)) fail('string section must start with an empty string', h + header.strOff);
  if (strings.length > 0 && strings[strings.length - 1] !== 0) fail('string section is not NUL-terminated', h + header.strOff + strings.length - 1);

  const cache = new Map<number, string>();
  const latin = new TextDecoder('utf-8');
  const str = (off: number, where: number): string => {
    const hit = cache.get(off);
    if (hit !== undefined) return hit;
    let s: string;
    if (off < baseStrLen) {
      s = baseString(base!, off);
    } else {
      const o = off - baseStrLen;
      if (o >= strings.length) fail(`name offset ${off} is outside the string section (${baseStrLen + strings.length} bytes)`, where);
      let end = o;
      let ascii = true;
      while (strings[end] !== 0) {
        if (strings[end] > 0x7f) ascii = false;
        end++;
      }
      s = ascii && end - o < 64 ? String.fromCharCode(...strings.subarray(o, end)) : latin.decode(strings.subarray(o, end));
    }
    cache.set(off, s);
    return s;
  };

  const types: BtfType[] = base ? base.types.slice() : [{ id: 0, name: '', kind: 'VOID' }];
  const baseCount = base ? base.types.length : 0;
  const start = h + header.typeOff;
  const end = start + header.typeLen;
  let p = start;
  while (p < end) {
    const id = types.length;
    if (p + 12 > end) fail(`type [${id}] header runs past the end of the type section`, p);
    const nameOff = view.getUint32(p, true);
    const info = view.getUint32(p + 4, true);
    const sizeOrType = view.getUint32(p + 8, true);
    const vlen = info & 0xffff;
    const kindNum = (info >>> 24) & 0x1f;
    const kflag = info >>> 31 === 1;
    const rec = p;
    const name = nameOff === 0 ? '' : str(nameOff, p);
    p += 12;
    const need = (n: number): void => {
      if (p + n > end) fail(`type [${id}] ${BTF_KIND_NAMES[kindNum] ?? kindNum} runs past the end of the type section`, rec);
    };
    let t: BtfType;
    switch (kindNum) {
      case 1: {
        need(4);
        const v = view.getUint32(p, true);
        p += 4;
        t = { id, name, kind: 'INT', size: sizeOrType, encoding: (v >>> 24) & 0x0f, bitsOffset: (v >>> 16) & 0xff, bits: v & 0xff };
        break;
      }
      case 2:
      case 8:
      case 9:
      case 10:
      case 11:
        // PTR, TYPEDEF, VOLATILE, CONST, RESTRICT: a name and the one type they refer to.
        t = { id, name, kind: REF_KINDS[kindNum], type: sizeOrType };
        break;
      case 3:
        need(12);
        t = { id, name, kind: 'ARRAY', type: view.getUint32(p, true), indexType: view.getUint32(p + 4, true), nelems: view.getUint32(p + 8, true) };
        p += 12;
        break;
      case 4:
      case 5: {
        need(12 * vlen);
        const members: BtfMember[] = new Array(vlen);
        for (let i = 0; i < vlen; i++, p += 12) {
          const off = view.getUint32(p + 8, true);
          const mo = view.getUint32(p, true);
          members[i] = {
            name: mo === 0 ? '' : str(mo, p),
            type: view.getUint32(p + 4, true),
            bitsOffset: kflag ? off & 0xffffff : off,
            bitfieldSize: kflag ? off >>> 24 : 0,
          };
        }
        t = { id, name, kind: kindNum === 4 ? 'STRUCT' : 'UNION', size: sizeOrType, kindFlag: kflag, members };
        break;
      }
      case 6: {
        need(8 * vlen);
        const values = new Array(vlen);
        for (let i = 0; i < vlen; i++, p += 8) {
          const raw = kflag ? view.getInt32(p + 4, true) : view.getUint32(p + 4, true);
          values[i] = { name: str(view.getUint32(p, true), p), value: BigInt(raw) };
        }
        t = { id, name, kind: 'ENUM', size: sizeOrType, signed: kflag, values };
        break;
      }
      case 19: {
        need(12 * vlen);
        const values = new Array(vlen);
        for (let i = 0; i < vlen; i++, p += 12) {
          const u = (BigInt(view.getUint32(p + 8, true)) << 32n) | BigInt(view.getUint32(p + 4, true));
          values[i] = { name: str(view.getUint32(p, true), p), value: kflag ? BigInt.asIntN(64, u) : u };
        }
        t = { id, name, kind: 'ENUM64', size: sizeOrType, signed: kflag, values };
        break;
      }
      case 7:
        t = { id, name, kind: 'FWD', union: kflag };
        break;
      case 12:
        t = { id, name, kind: 'FUNC', type: sizeOrType, linkage: vlen };
        break;
      case 13: {
        need(8 * vlen);
        const params = new Array(vlen);
        for (let i = 0; i < vlen; i++, p += 8) {
          const no = view.getUint32(p, true);
          params[i] = { name: no === 0 ? '' : str(no, p), type: view.getUint32(p + 4, true) };
        }
        t = { id, name, kind: 'FUNC_PROTO', returnType: sizeOrType, params };
        break;
      }
      case 14:
        need(4);
        t = { id, name, kind: 'VAR', type: sizeOrType, linkage: view.getUint32(p, true) };
        p += 4;
        break;
      case 15: {
        need(12 * vlen);
        const vars = new Array(vlen);
        for (let i = 0; i < vlen; i++, p += 12) {
          vars[i] = { type: view.getUint32(p, true), offset: view.getUint32(p + 4, true), size: view.getUint32(p + 8, true) };
        }
        t = { id, name, kind: 'DATASEC', size: sizeOrType, vars };
        break;
      }
      case 16:
        t = { id, name, kind: 'FLOAT', size: sizeOrType };
        break;
      case 17:
        need(4);
        t = { id, name, kind: 'DECL_TAG', type: sizeOrType, componentIdx: view.getInt32(p, true), attr: kflag };
        p += 4;
        break;
      case 18:
        t = { id, name, kind: 'TYPE_TAG', type: sizeOrType, attr: kflag };
        break;
      default:
        return fail(`type [${id}] has unknown kind ${kindNum}`, rec + 4);
    }
    types.push(t);
  }
  // Type references must name existing types; checked after the pass because
  // BTF may refer forward. (No per-type arrays here: vmlinux has 130k types.)
  const n = types.length;
  const bad = (i: number, ref: number): never =>
    fail(`type [${i}] ${types[i].kind} refers to type ${ref}, but there are only ${n - 1}`, start);
  let checking = 0;
  const check = (ref: number): void => {
    if (ref >= n) bad(checking, ref);
  };
  for (checking = baseCount || 1; checking < n; checking++) forEachReferencedId(types[checking], check);
  return { header, types, strings, baseCount, baseStrLen, baseStrings: base ? base.strings : undefined };
}

/** Every type id a type refers to (for walking the graph). */
export function referencedIds(t: BtfType): number[] {
  const out: number[] = [];
  forEachReferencedId(t, (id) => out.push(id));
  return out;
}

/** Call `f` with each type id `t` refers to, in order (no array: the parser checks 130k types with it). */
export function forEachReferencedId(t: BtfType, f: (id: number) => void): void {
  switch (t.kind) {
    case 'PTR':
    case 'TYPEDEF':
    case 'VOLATILE':
    case 'CONST':
    case 'RESTRICT':
    case 'TYPE_TAG':
    case 'FUNC':
    case 'VAR':
    case 'DECL_TAG':
      f(t.type);
      break;
    case 'ARRAY':
      f(t.type);
      f(t.indexType);
      break;
    case 'STRUCT':
    case 'UNION':
      for (const m of t.members) f(m.type);
      break;
    case 'FUNC_PROTO':
      f(t.returnType);
      for (const q of t.params) f(q.type);
      break;
    case 'DATASEC':
      for (const v of t.vars) f(v.type);
      break;
    default:
      break;
  }
}

function baseString(base: Btf, off: number): string {
  return btfString(base, off);
}

/** The string at `off` in a BTF's string section (used by BTF.ext and line info). */
export function btfString(btf: Btf, off: number): string {
  if (off < btf.baseStrLen) {
    if (!btf.baseStrings) throw new BpfscopeError(`BTF: string offset ${off} is in the base BTF, which is missing`);
    return readZ(btf.baseStrings, off);
  }
  const o = off - btf.baseStrLen;
  if (o < 0 || o >= btf.strings.length) throw new BpfscopeError(`BTF: string offset ${off} is outside the string section (${btf.baseStrLen + btf.strings.length} bytes)`);
  return readZ(btf.strings, o);
}

/** The kinds that are a name and one referred-to type, by BTF kind number. */
const REF_KINDS: Record<number, 'PTR' | 'TYPEDEF' | 'VOLATILE' | 'CONST' | 'RESTRICT'> = { 2: 'PTR', 8: 'TYPEDEF', 9: 'VOLATILE', 10: 'CONST', 11: 'RESTRICT' };

const dec = new TextDecoder('utf-8');
function readZ(s: Uint8Array, o: number): string {
  const e = s.indexOf(0, o);
  return dec.decode(s.subarray(o, e < 0 ? s.length : e));
}
