import { BpfscopeError } from '../errors';
import type { ElfFile } from '../object/elf';

/**
 * Make an object's .BTF acceptable to BPF_BTF_LOAD, as libbpf does before
 * loading it (facts from libbpf's btf_fixup_datasec and extern collection):
 *
 * - DATASEC sizes and variable offsets: clang leaves them 0 in a .o; the
 *   section's size and each variable's symbol value are the truth.
 * - A global variable with hidden visibility (`__hidden`, bpfscope.h's
 *   `private()`) becomes BTF_VAR_STATIC, which later keeps its data map from
 *   being BPF_F_MMAPABLE (the kernel refuses special fields in mmapable maps).
 * - `.ksyms`: extern kfuncs are FUNCs with BTF_FUNC_EXTERN linkage inside a
 *   DATASEC, which the kernel rejects; each entry becomes a 4-byte slot
 *   pointing at one appended `dummy_ksym` int VAR, the FUNC becomes global and
 *   unnamed prototype parameters borrow the dummy's name. Extern variables
 *   become allocated int VARs.
 *
 * Type ids are unchanged (the one new type is appended), so func_info,
 * line_info and bpf_obj_new's local type ids stay valid. Pure: bytes in.
 */

export interface SanitizedBtf {
  bytes: Uint8Array;
  /** Human-readable list of what was changed, for the trace. */
  fixes: string[];
  /** VAR ids turned static because of hidden visibility (by name). */
  staticVars: Set<string>;
}

const KIND = { INT: 1, STRUCT: 4, UNION: 5, ENUM: 6, FUNC: 12, FUNC_PROTO: 13, VAR: 14, DATASEC: 15, DECL_TAG: 17, ENUM64: 19, ARRAY: 3 };
const STV_HIDDEN = 2;
const STV_INTERNAL = 1;

interface TypeRec {
  id: number;
  off: number; // byte offset of the record in `types`
  kind: number;
  vlen: number;
  nameOff: number;
}

export function sanitizeBtf(raw: Uint8Array, elf: ElfFile, kconfig?: { offsets: ReadonlyMap<string, number>; size: number }): SanitizedBtf {
  const fail = (msg: string, off: number): never => {
    throw new BpfscopeError(`BTF: ${msg}`, undefined, { offset: off });
  };
  if (raw.length < 24) fail('truncated header', 0);
  const hv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const hdrLen = hv.getUint32(4, true);
  const typeOff = hv.getUint32(8, true);
  const typeLen = hv.getUint32(12, true);
  const strOff = hv.getUint32(16, true);
  const strLen = hv.getUint32(20, true);
  if (hdrLen + typeOff + typeLen > raw.length || hdrLen + strOff + strLen > raw.length) fail('sections run past the end', 8);
  const types = Uint8Array.from(raw.subarray(hdrLen + typeOff, hdrLen + typeOff + typeLen));
  const strs = raw.subarray(hdrLen + strOff, hdrLen + strOff + strLen);
  const tv = new DataView(types.buffer);
  const str = (off: number): string => {
    if (off >= strs.length) return '';
    const end = strs.indexOf(0, off);
    return Buffer.from(strs.subarray(off, end < 0 ? strs.length : end)).toString('utf8');
  };

  const recs: TypeRec[] = [{ id: 0, off: -1, kind: 0, vlen: 0, nameOff: 0 }];
  for (let p = 0; p < types.length; ) {
    if (p + 12 > types.length) fail('truncated type record', hdrLen + typeOff + p);
    const info = tv.getUint32(p + 4, true);
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    const size = 12 + extraSize(kind, vlen);
    if (p + size > types.length) fail(`type [${recs.length}] (kind ${kind}, vlen ${vlen}) runs past the type section`, hdrLen + typeOff + p);
    recs.push({ id: recs.length, off: p, kind, vlen, nameOff: tv.getUint32(p, true) });
    p += size;
  }

  const fixes: string[] = [];
  const staticVars = new Set<string>();
  const sections = new Map(elf.sections.map((s) => [s.name, s]));
  const newStrings: string[] = [];
  let dummyVarId = 0;
  let intId = 0;
  const extraTypes: number[] = [];

  for (const r of recs) {
    if (r.kind !== KIND.DATASEC) continue;
    const secName = str(r.nameOff);
    if (secName === '.ksyms' || secName === '.kconfig') {
      if (secName === '.kconfig') {
        // Extern config variables live in the .kconfig map, laid out as libbpf does.
        for (let i = 0; i < r.vlen; i++) {
          const vs = r.off + 12 + i * 12;
          const v = recs[tv.getUint32(vs, true)] as TypeRec | undefined;
          if (!v || v.kind !== KIND.VAR) continue;
          tv.setUint32(v.off + 12, 1, true); // BTF_VAR_GLOBAL_ALLOCATED
          const off = kconfig?.offsets.get(str(v.nameOff));
          if (off !== undefined) tv.setUint32(vs + 4, off, true);
        }
        if (kconfig) tv.setUint32(r.off + 8, kconfig.size, true);
        sortSecinfos(tv, r);
        fixes.push(`DATASEC .kconfig: ${r.vlen} externs laid out, ${kconfig?.size ?? 0} bytes`);
        continue;
      }
      if (!intId) {
        const int = recs.find((t) => t.kind === KIND.INT && tv.getUint32(t.off + 8, true) === 4);
        if (!int) fail('.ksyms externs need a 4-byte int type in BTF, and there is none', 0);
        intId = int!.id;
      }
      if (!dummyVarId) {
        dummyVarId = recs.length + extraTypes.length / 4;
        const nameOff = strs.length + newStrings.reduce((n, s) => n + Buffer.byteLength(s) + 1, 0);
        newStrings.push('dummy_ksym');
        // struct btf_type { name_off, info = VAR, type } + struct btf_var { linkage }
        extraTypes.push(nameOff, (KIND.VAR << 24) >>> 0, intId, 1 /* BTF_VAR_GLOBAL_ALLOCATED */);
      }
      const dummyNameOff = extraTypes[extraTypes.length - 4];
      for (let i = 0; i < r.vlen; i++) {
        const vs = r.off + 12 + i * 12;
        const target = recs[tv.getUint32(vs, true)] as TypeRec | undefined;
        if (!target) continue;
        if (target.kind === KIND.FUNC) {
          const proto = recs[tv.getUint32(target.off + 8, true)] as TypeRec | undefined;
          if (proto && proto.kind === KIND.FUNC_PROTO) {
            for (let j = 0; j < proto.vlen; j++) {
              const po = proto.off + 12 + j * 8;
              if (tv.getUint32(po, true) === 0 && tv.getUint32(po + 4, true) !== 0) tv.setUint32(po, dummyNameOff, true);
            }
          }
          tv.setUint32(vs, dummyVarId, true);
          const info = tv.getUint32(target.off + 4, true);
          tv.setUint32(target.off + 4, ((info & ~0xffff) | 1) >>> 0, true); // BTF_FUNC_GLOBAL
          fixes.push(`.ksyms: kfunc ${str(target.nameOff)} → global FUNC, slot → dummy_ksym`);
        } else if (target.kind === KIND.VAR) {
          tv.setUint32(target.off + 8, intId, true);
          tv.setUint32(target.off + 12, 1, true);
          fixes.push(`.ksyms: extern variable ${str(target.nameOff)} → allocated int`);
        }
        tv.setUint32(vs + 4, i * 4, true);
        tv.setUint32(vs + 8, 4, true);
      }
      tv.setUint32(r.off + 8, r.vlen * 4, true);
      continue;
    }
    const sec = sections.get(secName);
    if (!sec) continue;
    if (tv.getUint32(r.off + 8, true) !== sec.size) {
      tv.setUint32(r.off + 8, sec.size, true);
      fixes.push(`DATASEC ${secName}: size ${sec.size}`);
    }
    for (let i = 0; i < r.vlen; i++) {
      const vs = r.off + 12 + i * 12;
      const v = recs[tv.getUint32(vs, true)] as TypeRec | undefined;
      if (!v || v.kind !== KIND.VAR) continue;
      const name = str(v.nameOff);
      const sym = elf.symbols.find((y) => y.name === name && y.shndx === sec.index && y.type !== 3 /* STT_SECTION */);
      if (!sym) continue;
      if (tv.getUint32(vs + 4, true) !== sym.value) {
        tv.setUint32(vs + 4, sym.value, true);
        fixes.push(`DATASEC ${secName}: ${name} at offset ${sym.value}`);
      }
      const linkage = tv.getUint32(v.off + 12, true);
      if (linkage === 1 && (sym.visibility === STV_HIDDEN || sym.visibility === STV_INTERNAL)) {
        tv.setUint32(v.off + 12, 0, true);
        staticVars.add(name);
        fixes.push(`VAR ${name}: hidden, so static`);
      }
    }
    // The kernel wants a DATASEC's variables in offset order.
    sortSecinfos(tv, r);
  }

  const extraBytes = new Uint8Array(extraTypes.length * 4);
  const ev = new DataView(extraBytes.buffer);
  extraTypes.forEach((w, i) => ev.setUint32(i * 4, w >>> 0, true));
  const strExtra = Buffer.from(newStrings.map((s) => s + '\0').join(''), 'utf8');
  const out = new Uint8Array(24 + types.length + extraBytes.length + strs.length + strExtra.length);
  const ov = new DataView(out.buffer);
  ov.setUint16(0, 0xeb9f, true);
  ov.setUint8(2, 1);
  ov.setUint8(3, 0);
  ov.setUint32(4, 24, true);
  ov.setUint32(8, 0, true);
  ov.setUint32(12, types.length + extraBytes.length, true);
  ov.setUint32(16, types.length + extraBytes.length, true);
  ov.setUint32(20, strs.length + strExtra.length, true);
  out.set(types, 24);
  out.set(extraBytes, 24 + types.length);
  out.set(strs, 24 + types.length + extraBytes.length);
  out.set(strExtra, 24 + types.length + extraBytes.length + strs.length);
  return { bytes: out, fixes, staticVars };
}

function sortSecinfos(tv: DataView, r: TypeRec): void {
  const vs: [number, number, number][] = [];
  for (let i = 0; i < r.vlen; i++) {
    const p = r.off + 12 + i * 12;
    vs.push([tv.getUint32(p, true), tv.getUint32(p + 4, true), tv.getUint32(p + 8, true)]);
  }
  vs.sort((a, b) => a[1] - b[1]);
  vs.forEach(([type, off, size], i) => {
    const p = r.off + 12 + i * 12;
    tv.setUint32(p, type, true);
    tv.setUint32(p + 4, off, true);
    tv.setUint32(p + 8, size, true);
  });
}

function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case KIND.INT:
    case KIND.VAR:
    case KIND.DECL_TAG:
      return 4;
    case KIND.ARRAY:
      return 12;
    case KIND.STRUCT:
    case KIND.UNION:
    case KIND.DATASEC:
    case KIND.ENUM64:
      return vlen * 12;
    case KIND.ENUM:
    case KIND.FUNC_PROTO:
      return vlen * 8;
    default:
      return 0;
  }
}
