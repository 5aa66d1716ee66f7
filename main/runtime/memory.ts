import { fault } from './fault';

/**
 * The machine's address space. Every region (a stack, the context, the
 * packet, one map value, one allocator unit) gets its own upper 32-bit word,
 * `0xff000000 | id`, and the lower word is the byte offset inside it. An
 * address is therefore stable across runs and readable
 * (0xff000012_00000008 = region 0x12, offset 8), and the hot path finds the
 * region with one array index and checks bounds with two compares. Pointer
 * arithmetic that leaves a region changes the upper word and faults on use,
 * exactly where the kernel would have read a wild address.
 */

export const REGION_TAG = 0xff000000 | 0;
export const REGION_MASK = 0x00ffffff;
/** Upper word of BPF_PSEUDO_FUNC values: a callback's first instruction index. */
export const FUNC_TAG = 0xfe000000 | 0;

export type RegionKind = 'stack' | 'ctx' | 'packet' | 'map' | 'map_value' | 'object' | 'percpu_object' | 'ringbuf_record';

export interface Region {
  id: number;
  kind: RegionKind;
  /** For reports: `stack`, `ctx`, `holders[0]`, `object#3 (struct elem)`. */
  label: string;
  data: Uint8Array;
  view: DataView;
  /** One byte per data byte, 1 once written; null for regions that are initialized as a whole. */
  init: Uint8Array | null;
  /** Valid byte range [start, end) of offsets. Allocator units start after their 8-byte header. */
  start: number;
  end: number;
  writable: boolean;
  live: boolean;
  /** Allocated object id (allocator), map index (map, map_value), else -1. */
  owner: number;
  /** map_value: the element's key as hex, for labels and drains. */
  key?: string;
  /** ctx: loads of pointer fields (__sk_buff->data...) resolved here; undefined = plain load. */
  ctxLoad?: (off: number, size: number) => [lo: number, hi: number] | undefined;
}

export class Memory {
  readonly regions: (Region | undefined)[] = [undefined];
  /** Set by load() for 8-byte loads: the upper word of the value. */
  hiOut = 0;
  /** Reads of never-written object bytes (allowed by the verifier, unpredictable in the kernel). */
  uninitObjectReads = 0;

  add(kind: RegionKind, size: number, label: string, opts: Partial<Pick<Region, 'init' | 'start' | 'writable' | 'owner' | 'key'>> = {}): Region {
    const id = this.regions.length;
    if (id > REGION_MASK) fault('bad_arg', 'address space exhausted (16M regions)');
    const data = new Uint8Array(size);
    const region: Region = {
      id,
      kind,
      label,
      data,
      view: new DataView(data.buffer),
      init: opts.init === undefined ? null : opts.init,
      start: opts.start ?? 0,
      end: size,
      writable: opts.writable ?? true,
      live: true,
      owner: opts.owner ?? -1,
      key: opts.key,
    };
    this.regions.push(region);
    return region;
  }

  /** The region an address points into, or undefined (NULL, scalars, freed ids stay found). */
  regionOf(hi: number, _lo: number): Region | undefined {
    if ((hi & ~REGION_MASK) !== REGION_TAG) return undefined;
    return this.regions[hi & REGION_MASK];
  }

  static hiOf(region: Region): number {
    return (REGION_TAG | region.id) | 0;
  }

  /** Check an access of `size` bytes at (hi, lo) and return its region. */
  check(hi: number, lo: number, size: number, write: boolean): Region {
    if ((hi & ~REGION_MASK) !== REGION_TAG) {
      if (hi === 0 && lo >>> 0 < 4096) fault('null_deref', `${write ? 'write to' : 'read from'} NULL pointer + ${lo >>> 0} (${size} bytes)`);
      fault('bad_pointer', `${write ? 'write to' : 'read from'} 0x${hex64(hi, lo)}, which points into no region`);
    }
    const r = this.regions[hi & REGION_MASK];
    if (r === undefined) fault('bad_pointer', `${write ? 'write to' : 'read from'} 0x${hex64(hi, lo)}, which points into no region`);
    if (!r.live) fault('use_after_free', `${write ? 'write to' : 'read from'} ${r.label} at offset ${lo - r.start} after it was freed`);
    const off = lo | 0;
    if (off < r.start || off + size > r.end) {
      fault('out_of_bounds', `${size}-byte ${write ? 'write to' : 'read from'} ${r.label} at offset ${off - r.start}, outside its ${r.end - r.start} bytes`);
    }
    if (write && !r.writable) fault('read_only', `write to read-only ${r.label} at offset ${off - r.start}`);
    return r;
  }

  /** Load `size` bytes; returns the lower word (zero-extended for size < 4), the upper in hiOut. */
  load(hi: number, lo: number, size: number): number {
    const r = this.check(hi, lo, size, false);
    if (r.ctxLoad !== undefined) {
      const v = r.ctxLoad(lo, size);
      if (v !== undefined) {
        this.hiOut = v[1];
        return v[0];
      }
    }
    if (r.init !== null) this.checkInit(r, lo, size);
    const v = r.view;
    switch (size) {
      case 1:
        this.hiOut = 0;
        return v.getUint8(lo);
      case 2:
        this.hiOut = 0;
        return v.getUint16(lo, true);
      case 4:
        this.hiOut = 0;
        return v.getInt32(lo, true);
      default:
        this.hiOut = v.getInt32(lo + 4, true);
        return v.getInt32(lo, true);
    }
  }

  store(hi: number, lo: number, size: number, vlo: number, vhi: number): void {
    const r = this.check(hi, lo, size, true);
    const v = r.view;
    switch (size) {
      case 1:
        v.setUint8(lo, vlo & 0xff);
        break;
      case 2:
        v.setUint16(lo, vlo & 0xffff, true);
        break;
      case 4:
        v.setInt32(lo, vlo, true);
        break;
      default:
        v.setInt32(lo, vlo, true);
        v.setInt32(lo + 4, vhi, true);
    }
    if (r.init !== null) r.init.fill(1, lo, lo + size);
  }

  private checkInit(r: Region, lo: number, size: number): void {
    const init = r.init!;
    for (let i = 0; i < size; i++) {
      if (init[lo + i] === 0) {
        if (r.kind === 'stack') {
          fault('uninit_read', `${size}-byte read of ${r.label} at fp${stackOff(r, lo)}: byte ${i} was never written (the verifier rejects this for unprivileged programs; the kernel would read stale stack)`);
        }
        // Object memory: the verifier allows the read; the kernel returns zero
        // (fresh unit) or stale bytes (reused unit). Counted, not fatal.
        this.uninitObjectReads++;
        return;
      }
    }
  }

  /** Copy bytes out (helpers' memory arguments), checking bounds and, on the stack, initialization. */
  read(hi: number, lo: number, size: number): Uint8Array {
    if (size === 0) return new Uint8Array(0);
    const r = this.check(hi, lo, size, false);
    if (r.init !== null && r.kind === 'stack') this.checkInit(r, lo, size);
    return r.data.slice(lo, lo + size);
  }

  write(hi: number, lo: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    const r = this.check(hi, lo, bytes.length, true);
    r.data.set(bytes, lo);
    if (r.init !== null) r.init.fill(1, lo, lo + bytes.length);
  }
}

/** Where the frame pointer of frame `frame` points inside a stack region. */
function stackOff(r: Region, lo: number): string {
  const rel = (lo % 512) - 512;
  return rel === 0 ? '0' : `${rel}`;
}

export function hex64(hi: number, lo: number): string {
  if (hi === 0) return (lo >>> 0).toString(16);
  return (hi >>> 0).toString(16) + (lo >>> 0).toString(16).padStart(8, '0');
}
