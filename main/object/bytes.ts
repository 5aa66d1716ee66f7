import { BpfscopeError } from '../errors';

/**
 * Bounds-checked little-endian reads over a byte range. Every parser in
 * object/ reads through this so that a truncated or corrupt file becomes a
 * BpfscopeError naming the byte offset, never a RangeError from DataView.
 * `base` is the range's offset inside the file, so errors name file offsets.
 */
export class ByteReader {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly base = 0,
    readonly what = 'data',
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  fail(message: string, at: number): never {
    throw new BpfscopeError(message, undefined, { offset: this.base + at });
  }

  check(at: number, size: number, what: string): void {
    if (!Number.isSafeInteger(at) || !Number.isSafeInteger(size) || at < 0 || size < 0 || at + size > this.bytes.length) {
      const shown = Number.isSafeInteger(at) && at >= 0 ? at : 0;
      this.fail(`${what} (${size} bytes at 0x${at.toString(16)}) runs past the end of ${this.what} (${this.bytes.length} bytes)`, Math.min(shown, this.bytes.length));
    }
  }

  u8(at: number, what = 'byte'): number {
    this.check(at, 1, what);
    return this.view.getUint8(at);
  }
  u16(at: number, what = 'u16'): number {
    this.check(at, 2, what);
    return this.view.getUint16(at, true);
  }
  u32(at: number, what = 'u32'): number {
    this.check(at, 4, what);
    return this.view.getUint32(at, true);
  }
  i32(at: number, what = 'i32'): number {
    this.check(at, 4, what);
    return this.view.getInt32(at, true);
  }
  /** A u64 that must fit a JS number (offsets and sizes); larger is corrupt input. */
  u64n(at: number, what = 'u64'): number {
    this.check(at, 8, what);
    const lo = this.view.getUint32(at, true);
    const hi = this.view.getUint32(at + 4, true);
    if (hi >= 0x200000) this.fail(`${what} is too large (0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`, at);
    return hi * 0x100000000 + lo;
  }
  u64(at: number, what = 'u64'): bigint {
    this.check(at, 8, what);
    return this.view.getBigUint64(at, true);
  }
  slice(at: number, size: number, what: string): Uint8Array {
    this.check(at, size, what);
    return this.bytes.subarray(at, at + size);
  }
}

const decoder = new TextDecoder('utf-8', { fatal: false });

/** A NUL-terminated string at `off` inside a string table. */
export function cString(table: Uint8Array, off: number, base: number, what: string): string {
  if (!Number.isInteger(off) || off < 0 || off >= table.length) {
    if (off === 0 && table.length === 0) return '';
    throw new BpfscopeError(`${what}: string offset ${off} is outside the string table (${table.length} bytes)`, undefined, { offset: base });
  }
  const end = table.indexOf(0, off);
  if (end < 0) throw new BpfscopeError(`${what}: string at ${off} is not NUL-terminated`, undefined, { offset: base + off });
  return decoder.decode(table.subarray(off, end));
}
