/**
 * The "newc" cpio archive the kernel unpacks as its initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst): a 110-byte
 * ASCII header per entry, the name, then the data, each padded to 4 bytes,
 * closed by an entry named TRAILER!!!. Written here so building an initramfs
 * needs no cpio binary.
 */

export interface CpioEntry {
  /** Path inside the archive, without a leading slash: `bin/busybox`. */
  name: string;
  /** File type and permission bits, as in st_mode: 0o100755, 0o040755, 0o120777. */
  mode: number;
  /** File contents; for a symlink, its target. Directories have none. */
  data?: Uint8Array;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

const TRAILER = 'TRAILER!!!';
const HEADER_LEN = 110;
const enc = new TextEncoder();

function hex8(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/** The archive's bytes, entries in the order given (parents before children). */
export function writeCpio(entries: readonly CpioEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let size = 0;
  const push = (b: Uint8Array): void => {
    parts.push(b);
    size += b.length;
  };
  let ino = 1;
  const all = [...entries, { name: TRAILER, mode: 0 }];
  for (const e of all) {
    const name = enc.encode(e.name + '\0');
    const data = e.data ?? new Uint8Array(0);
    const nlink = (e.mode & 0o170000) === S_IFDIR ? 2 : 1;
    const header =
      '070701' +
      hex8(e.name === TRAILER ? 0 : ino++) +
      hex8(e.mode) +
      hex8(0) + // uid
      hex8(0) + // gid
      hex8(e.name === TRAILER ? 1 : nlink) +
      hex8(0) + // mtime: fixed, so the same inputs give the same archive
      hex8(data.length) +
      hex8(0) + hex8(0) + // dev major, minor
      hex8(0) + hex8(0) + // rdev major, minor
      hex8(name.length) +
      hex8(0); // check
    push(enc.encode(header));
    push(name);
    push(new Uint8Array(pad4(HEADER_LEN + name.length)));
    push(data);
    push(new Uint8Array(pad4(data.length)));
  }
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Entries back from an archive: for tests, and to check what was built. */
export function readCpio(bytes: Uint8Array): CpioEntry[] {
  const dec = new TextDecoder();
  const out: CpioEntry[] = [];
  let off = 0;
  for (;;) {
    if (off + HEADER_LEN > bytes.length) throw new Error(`cpio: truncated header at offset ${off}`);
    const h = dec.decode(bytes.subarray(off, off + HEADER_LEN));
    if (!h.startsWith('070701')) throw new Error(`cpio: bad magic at offset ${off}`);
    const field = (i: number): number => parseInt(h.slice(6 + i * 8, 14 + i * 8), 16);
    const mode = field(1);
    const fileSize = field(6);
    const nameSize = field(11);
    const nameStart = off + HEADER_LEN;
    const name = dec.decode(bytes.subarray(nameStart, nameStart + nameSize - 1));
    const dataStart = nameStart + nameSize + pad4(HEADER_LEN + nameSize);
    if (dataStart + fileSize > bytes.length) throw new Error(`cpio: truncated data of ${name}`);
    if (name === TRAILER) return out;
    out.push({ name, mode, data: bytes.slice(dataStart, dataStart + fileSize) });
    off = dataStart + fileSize + pad4(fileSize);
  }
}
