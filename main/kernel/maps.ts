import { availableParallelism } from 'node:os';
import type { BpfDataSection, BpfMapDef, BpfObject } from '../object/object';
import { mapTypeName } from '../object/maptypes';
import type { FdSet } from './fds';
import { createMap, freezeMap, updateElem, type MapCreateAttrs } from './map-ops';
import { fillMapSlots, type SlotDecision } from './map-slots';
import { BpfSyscallError, errnoName } from './syscall';

/** A map the loader created (or tried to), with the attributes it passed. */
export interface CreatedMap {
  /** The kernel-visible name (15 bytes at most): `holders`, `globals.bss`. */
  name: string;
  /** The .maps variable or the ELF section (`.data.locks`) it comes from. */
  source: string;
  /** 'inner': a map-in-map's inner template (`OUTER.inner`), created for its fd and closed again. */
  kind: 'btf' | 'inner' | 'data' | 'rodata' | 'bss' | 'kconfig';
  attrs: MapCreateAttrs;
  initial?: Uint8Array;
  frozen: boolean;
  fd?: number;
  errno?: number;
  error?: string;
  /** What the loader worked around (a retry without BTF). */
  note?: string;
  /** Initial slots: the map or program each slot was set to, or why not (see map-slots.ts). */
  slots?: SlotDecision[];
}

export const BPF_F_RDONLY_PROG = 0x80;
export const BPF_F_MMAPABLE = 0x400;
const MAP_TYPE = { PERF_EVENT_ARRAY: 4, ARRAY: 2, RINGBUF: 27, USER_RINGBUF: 31 };
const PROG_ARRAY = 3;
/** Map types libbpf creates without BTF key/value ids (the kernel takes none for them). */
const NO_BTF_TYPES = new Set([4, 8, 7, 12, 13, 14, 25, 16, 17, 15, 18, 22, 23]);
const PAGE_SIZE = 4096;

/**
 * libbpf's name for a global data map: up to 8 bytes of the object name, then
 * the section name with at least 7 bytes reserved for it (`new_drop.bss`,
 * `globals.rodata`); a custom section (`.data.locks`) keeps its own name.
 * The kernel prints these names in the verifier log (`map=...`).
 */
export function internalMapName(objName: string, section: string): string {
  const sfxLen = Math.min(Math.max(7, section.length), 15);
  const pfxLen = section.indexOf('.', 1) >= 0 ? 0 : Math.min(16 - sfxLen - 1, objName.length);
  const name = (objName.slice(0, pfxLen) + section.slice(0, sfxLen)).slice(0, 15);
  return name.replace(/[^A-Za-z0-9_.]/g, '_');
}

/** The object name libbpf derives from a path: the basename up to its first dot. */
export function objectName(path: string): string {
  const base = path.split('/').pop() ?? path;
  const dot = base.indexOf('.');
  return dot >= 0 ? base.slice(0, dot) : base;
}

/** Attributes for a map defined in `.maps`. */
export function btfMapAttrs(def: BpfMapDef, btfFd: number | undefined): MapCreateAttrs {
  let maxEntries = def.maxEntries;
  if (def.type === MAP_TYPE.PERF_EVENT_ARRAY && maxEntries === 0) maxEntries = availableParallelism();
  if ((def.type === MAP_TYPE.RINGBUF || def.type === MAP_TYPE.USER_RINGBUF) && maxEntries % PAGE_SIZE !== 0) {
    // libbpf rounds ring buffer sizes up to a power-of-2 multiple of the page size.
    let sz = PAGE_SIZE;
    while (sz < maxEntries) sz *= 2;
    maxEntries = sz;
  }
  const withBtf = btfFd !== undefined && !NO_BTF_TYPES.has(def.type);
  return {
    name: def.name,
    mapType: def.type,
    keySize: def.keySize,
    valueSize: def.valueSize,
    maxEntries,
    mapFlags: def.flags,
    numaNode: def.numaNode || undefined,
    mapExtra: def.mapExtra || undefined,
    btfFd: withBtf ? btfFd : undefined,
    btfKeyTypeId: withBtf ? def.keyTypeId : undefined,
    btfValueTypeId: withBtf ? def.valueTypeId : undefined,
  };
}

/** Attributes for a global data section's single-element array. */
export function dataMapAttrs(objName: string, sec: BpfDataSection, btfFd: number | undefined, staticVars: Set<string>): MapCreateAttrs {
  // mmapable only if some variable is visible outside the object (libbpf's map_is_mmapable);
  // the kernel refuses bpf_spin_lock / list heads in mmapable maps, hence `private()`.
  const mmapable = sec.btfId !== 0 && sec.variables.some((v) => v.linkage !== 0 && !staticVars.has(v.name));
  let flags = mmapable ? BPF_F_MMAPABLE : 0;
  if (sec.kind === 'rodata' || sec.kind === 'kconfig') flags |= BPF_F_RDONLY_PROG;
  return {
    name: internalMapName(objName, sec.name),
    mapType: MAP_TYPE.ARRAY,
    keySize: 4,
    valueSize: sec.size,
    maxEntries: 1,
    mapFlags: flags,
    btfFd: btfFd !== undefined && sec.btfId ? btfFd : undefined,
    btfKeyTypeId: btfFd !== undefined && sec.btfId ? 0 : undefined,
    btfValueTypeId: btfFd !== undefined && sec.btfId ? sec.btfId : undefined,
  };
}

/**
 * Create every map of the object, in libbpf's order (.maps definitions, then
 * global data sections), fill and freeze the data maps. A map the kernel
 * refuses is returned with its errno; programs using it are not loaded.
 */
export function createObjectMaps(
  obj: BpfObject,
  objName: string,
  btfFd: number | undefined,
  staticVars: Set<string>,
  fds: FdSet,
  /** Contents that replace a section's bytes (the filled .kconfig). */
  contents: ReadonlyMap<string, Uint8Array> = new Map(),
): CreatedMap[] {
  const out: CreatedMap[] = [];
  for (const def of obj.maps) {
    const attrs = btfMapAttrs(def, btfFd);
    const m: CreatedMap = { name: def.name, source: def.name, kind: 'btf', attrs, frozen: false };
    if (def.inner) {
      // libbpf creates the inner template just before the outer map, passes its fd as
      // inner_map_fd and closes it once the outer map exists (the kernel keeps a copy of its shape).
      const inner: CreatedMap = { name: def.inner.name, source: def.name, kind: 'inner', attrs: btfMapAttrs(def.inner, btfFd), frozen: false };
      out.push(inner);
      if (!tryCreate(inner, fds)) {
        m.errno = inner.errno;
        m.error = `map '${def.name}': failed to create inner map: ${inner.error}`;
        out.push(m);
        continue;
      }
      m.attrs = { ...attrs, innerMapFd: inner.fd };
      tryCreate(m, fds);
      fds.close(inner.fd!);
      inner.fd = undefined;
    } else tryCreate(m, fds);
    // Map-in-map slots are set as soon as the outer map exists (prog arrays' after the programs load).
    if (m.fd !== undefined && def.values && def.type !== PROG_ARRAY) fillMapSlots(m, def, out, (fd) => fds.close(fd));
    out.push(m);
  }
  for (const sec of obj.data) {
    const bytes = contents.get(sec.name) ?? sec.bytes;
    if (bytes.length === 0) continue;
    const attrs = { ...dataMapAttrs(objName, sec, btfFd, staticVars), valueSize: bytes.length };
    const m: CreatedMap = { name: attrs.name, source: sec.name, kind: sec.kind, attrs, frozen: false };
    if (sec.kind !== 'bss') m.initial = bytes;
    if (tryCreate(m, fds) && m.fd !== undefined) {
      try {
        // The kernel zero-fills a new array, so .bss needs no update (libbpf skips it too).
        if (sec.kind !== 'bss') updateElem(m.fd, new Uint8Array(4), bytes);
        if (sec.kind === 'rodata' || sec.kind === 'kconfig') {
          freezeMap(m.fd);
          m.frozen = true;
        }
      } catch (err) {
        setError(m, err, 'filling');
      }
    }
    out.push(m);
  }
  return out;
}

function tryCreate(m: CreatedMap, fds: FdSet): boolean {
  try {
    m.fd = fds.own(createMap(m.attrs));
    return true;
  } catch (err) {
    if (err instanceof BpfSyscallError && m.attrs.btfFd !== undefined) {
      // libbpf retries a map the kernel refuses with BTF once without it.
      const plain = { ...m.attrs, btfFd: undefined, btfKeyTypeId: undefined, btfValueTypeId: undefined };
      try {
        m.fd = fds.own(createMap(plain));
        m.note = `created without BTF: with it, BPF_MAP_CREATE failed with ${errnoName(err.errno)}`;
        m.attrs = plain;
        return true;
      } catch {
        // fall through: report the first error
      }
    }
    setError(m, err, 'creating');
    return false;
  }
}

function setError(m: CreatedMap, err: unknown, what: string): void {
  if (err instanceof BpfSyscallError) {
    m.errno = err.errno;
    m.error = `${what} map '${m.name}' (${mapTypeName(m.attrs.mapType)}) failed: ${errnoName(err.errno)}`;
  } else throw err;
}
