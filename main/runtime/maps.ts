import { fault } from './fault';
import { Memory, type Region } from './memory';
import { MapType, type MapSpec, type SpecialField } from './program';

/** errno values helpers return (negated), include/uapi/asm-generic/errno-base.h. */
export const ENOENT = 2;
export const E2BIG = 7;
export const ENOMEM = 12;
export const EEXIST = 17;
export const EINVAL = 22;

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;

/**
 * One map's contents. Array and hash maps (and their per-CPU variants, run on
 * CPU 0 only) keep one region per element, so a value's address is stable for
 * as long as the element exists, as with the kernel's preallocated elements.
 * Updates copy the value around the special fields (copy_map_value) and then
 * free the old value's fields (bpf_obj_free_fields): that is where a list head
 * in a map value drains.
 */
export class MapState {
  readonly region: Region;
  private readonly array: (Region | undefined)[] = [];
  private readonly hash = new Map<string, Region>();
  readonly isArray: boolean;
  readonly percpu: boolean;
  /** False for map types the machine does not model (ring buffers, prog arrays...): using one faults. */
  readonly modelled: boolean;
  /** A map of maps: lookups give the inner map (its map region), from the initial slots. */
  readonly ofMaps: boolean;
  private readonly inner = new Map<string, Region>();

  constructor(
    readonly index: number,
    readonly spec: MapSpec,
    private readonly memory: Memory,
    /** bpf_obj_free_fields on a value: drains, kptr drops. */
    private readonly freeFields: (value: Region, fields: SpecialField[]) => void,
    /** bpf_obj_init_field for every special field of a fresh value. */
    private readonly initFields: (value: Region, fields: SpecialField[]) => void,
  ) {
    const t = spec.type;
    this.isArray = t === MapType.ARRAY || t === MapType.PERCPU_ARRAY;
    this.percpu = t === MapType.PERCPU_ARRAY || t === MapType.PERCPU_HASH || t === MapType.LRU_PERCPU_HASH;
    this.ofMaps = t === MapType.ARRAY_OF_MAPS || t === MapType.HASH_OF_MAPS;
    this.modelled = this.ofMaps || t === MapType.RINGBUF || this.isArray || t === MapType.HASH || t === MapType.PERCPU_HASH || t === MapType.LRU_HASH || t === MapType.LRU_PERCPU_HASH;
    // The map object itself: map_ptr values point here; it has no readable bytes.
    this.region = memory.add('map', 0, `map ${spec.name}`, { owner: index, writable: false });
    if (spec.initial) {
      const v = this.arrayElem(0);
      v.data.set(spec.initial.subarray(0, spec.valueSize));
    }
  }

  get fields(): SpecialField[] {
    return this.spec.valueType?.fields ?? [];
  }

  private newValue(label: string, key: string): Region {
    const r = this.memory.add('map_value', this.spec.valueSize, label, { owner: this.index, writable: !this.spec.readonly, key });
    this.initFields(r, this.fields);
    return r;
  }

  private arrayElem(i: number): Region {
    let r = this.array[i];
    if (!r) this.array[i] = r = this.newValue(`${this.spec.name}[${i}]`, keyHexOfIndex(i));
    return r;
  }

  private arrayIndex(key: Uint8Array): number {
    return (key[0] | (key[1] << 8) | (key[2] << 16) | (key[3] << 24)) >>> 0;
  }

  /** Programs only look maps of maps up (the verifier refuses updates and deletes from them). */
  private refuseOfMaps(what: string): void {
    if (this.ofMaps) fault('bad_call', `${what} on map of maps '${this.spec.name}': programs can only look one up`);
  }

  private requireModelled(): void {
    if (!this.modelled) fault('bad_call', `map '${this.spec.name}' has type ${this.spec.type}, which the runtime does not model (array and hash maps, maps of maps, ring buffers only)`);
  }

  /**
   * A map of maps' initial slots (key = slot index as u32, for a hash of
   * maps too, as libbpf sets them): each names a map of the same program.
   */
  linkSlots(byName: (name: string) => MapState | undefined): void {
    if (!this.ofMaps) return;
    for (const [slot, name] of (this.spec.slots ?? []).entries()) {
      if (name === null) continue;
      const m = byName(name);
      if (!m) fault('bad_arg', `map '${this.spec.name}' slot ${slot} names map '${name}', which the object does not define`);
      this.inner.set(keyHexOfIndex(slot), m.region);
    }
  }

  /** Ring buffer: the records submitted so far, in order. */
  readonly records: Uint8Array[] = [];

  lookup(key: Uint8Array): Region | undefined {
    this.requireModelled();
    if (this.spec.type === MapType.RINGBUF) return undefined;
    if (this.ofMaps) {
      if (this.spec.type === MapType.ARRAY_OF_MAPS && this.arrayIndex(key) >= this.spec.maxEntries) return undefined;
      return this.inner.get(hex(key));
    }
    if (this.isArray) {
      const i = this.arrayIndex(key);
      return i < this.spec.maxEntries ? this.arrayElem(i) : undefined;
    }
    return this.hash.get(hex(key));
  }

  /** bpf_map_update_elem: 0 or a negative errno. */
  update(key: Uint8Array, value: Uint8Array, flags: number): number {
    this.requireModelled();
    this.refuseOfMaps('bpf_map_update_elem');
    if (this.spec.type === MapType.RINGBUF) return -EINVAL;
    if ((flags & 0xff) > BPF_EXIST) return -EINVAL;
    const kind = flags & 0xff;
    let r: Region | undefined;
    if (this.isArray) {
      const i = this.arrayIndex(key);
      if (i >= this.spec.maxEntries) return -E2BIG;
      if (kind === BPF_NOEXIST) return -EEXIST;
      r = this.arrayElem(i);
    } else {
      const k = hex(key);
      r = this.hash.get(k);
      if (r && kind === BPF_NOEXIST) return -EEXIST;
      if (!r && kind === BPF_EXIST) return -ENOENT;
      if (!r) {
        if (this.hash.size >= this.spec.maxEntries) return -E2BIG;
        r = this.newValue(`${this.spec.name}[${k}]`, k);
        this.hash.set(k, r);
        copyAroundFields(r.data, value, this.fields);
        return 0;
      }
    }
    copyAroundFields(r.data, value, this.fields);
    this.freeFields(r, this.fields);
    return 0;
  }

  delete(key: Uint8Array): number {
    this.requireModelled();
    this.refuseOfMaps('bpf_map_delete_elem');
    if (this.spec.type === MapType.RINGBUF) return -EINVAL;
    if (this.isArray) return -EINVAL;
    const k = hex(key);
    const r = this.hash.get(k);
    if (!r) return -ENOENT;
    this.hash.delete(k);
    this.freeFields(r, this.fields);
    return 0;
  }

  /** Every element that exists (arrays: every index up to 1024, else those touched), key order. */
  entries(): { key: string; value: Region }[] {
    // A map of maps holds maps (the kernel gives ids, not comparable): no entries, as refload's dump.
    if (!this.modelled || this.ofMaps || this.spec.type === MapType.RINGBUF) return [];
    if (this.isArray) {
      const n = this.spec.maxEntries <= 1024 ? this.spec.maxEntries : 0;
      for (let i = 0; i < n; i++) this.arrayElem(i);
      const out: { key: string; value: Region }[] = [];
      this.array.forEach((r, i) => r && out.push({ key: keyHexOfIndex(i), value: r }));
      return out;
    }
    return [...this.hash.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([key, value]) => ({ key, value }));
  }

  /** The map goes away (last reference dropped): every value's fields are freed. */
  free(): void {
    for (const { value } of this.entries()) this.freeFields(value, this.fields);
    this.hash.clear();
  }
}

/** copy_map_value: every byte but the special fields'. */
export function copyAroundFields(dst: Uint8Array, src: Uint8Array, fields: readonly SpecialField[]): void {
  let at = 0;
  for (const f of fields) {
    if (f.offset > at) dst.set(src.subarray(at, f.offset), at);
    at = Math.max(at, f.offset + f.size);
  }
  if (at < dst.length) dst.set(src.subarray(at, dst.length), at);
}

export function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

function keyHexOfIndex(i: number): string {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, i, true);
  return hex(b);
}
