import { buildAttr, MAP_CREATE_ATTR, MAP_ELEM_ATTR, MAP_FREEZE_ATTR } from './attr';
import { Arena, bpf, bpfTry, BpfSyscallError } from './syscall';

/** BPF_MAP_CREATE attributes, as recorded in the trace. */
export interface MapCreateAttrs {
  name: string;
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  mapExtra?: bigint;
  innerMapFd?: number;
  numaNode?: number;
}

/** Create a map; throws BpfSyscallError (the caller records and reports it). */
export function createMap(a: MapCreateAttrs): number {
  const arena = new Arena();
  try {
    const attr = buildAttr(arena, MAP_CREATE_ATTR, {
      map_type: a.mapType,
      key_size: a.keySize,
      value_size: a.valueSize,
      max_entries: a.maxEntries,
      map_flags: a.mapFlags,
      inner_map_fd: a.innerMapFd,
      numa_node: a.numaNode,
      map_name: a.name.replace(/[^A-Za-z0-9_.]/g, '_'),
      btf_fd: a.btfFd,
      btf_key_type_id: a.btfKeyTypeId,
      btf_value_type_id: a.btfValueTypeId,
      map_extra: a.mapExtra,
    });
    return bpf('MAP_CREATE', attr);
  } finally {
    arena.free();
  }
}

export function updateElem(mapFd: number, key: Uint8Array, value: Uint8Array, flags = 0): void {
  const arena = new Arena();
  try {
    bpf('MAP_UPDATE_ELEM', buildAttr(arena, MAP_ELEM_ATTR, { map_fd: mapFd, key: arena.from(key), value: arena.from(value), flags }));
  } finally {
    arena.free();
  }
}

export function freezeMap(mapFd: number): void {
  const arena = new Arena();
  try {
    bpf('MAP_FREEZE', buildAttr(arena, MAP_FREEZE_ATTR, { map_fd: mapFd }));
  } finally {
    arena.free();
  }
}

/** One value, or undefined when the key is absent (ENOENT). */
export function lookupElem(mapFd: number, key: Uint8Array, valueSize: number): Uint8Array | undefined {
  const arena = new Arena();
  try {
    const value = arena.alloc(valueSize);
    const r = bpfTry('MAP_LOOKUP_ELEM', buildAttr(arena, MAP_ELEM_ATTR, { map_fd: mapFd, key: arena.from(key), value }));
    if (!r.ok) {
      if (r.errno === 2) return undefined;
      throw new BpfSyscallError('MAP_LOOKUP_ELEM', r.errno);
    }
    return Uint8Array.from(value.bytes);
  } finally {
    arena.free();
  }
}

/** Walk all keys with BPF_MAP_GET_NEXT_KEY (NULL key first), bounded by `limit`. */
export function mapKeys(mapFd: number, keySize: number, limit: number): Uint8Array[] {
  const arena = new Arena();
  const keys: Uint8Array[] = [];
  try {
    const next = arena.alloc(Math.max(keySize, 1));
    let cur: ReturnType<Arena['alloc']> | undefined;
    while (keys.length < limit) {
      const r = bpfTry('MAP_GET_NEXT_KEY', buildAttr(arena, MAP_ELEM_ATTR, { map_fd: mapFd, key: cur ?? 0, value: next }));
      if (!r.ok) {
        if (r.errno === 2) break; // ENOENT: past the last key
        throw new BpfSyscallError('MAP_GET_NEXT_KEY', r.errno);
      }
      const k = Uint8Array.from(next.bytes.subarray(0, keySize));
      keys.push(k);
      cur = arena.from(k);
    }
    return keys;
  } finally {
    arena.free();
  }
}
