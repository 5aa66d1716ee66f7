import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { BpfscopeError } from '../errors';
import { type CpioEntry, S_IFDIR, S_IFREG, writeCpio } from './cpio';
import { guestInit } from './init-script';

/**
 * The initramfs bpfscope boots a kernel with: a static busybox, the modules
 * the guest needs to reach the host's files (virtio PCI, 9p, overlayfs; taken
 * from the image's own /lib/modules, since a module only loads into the
 * kernel it was built for) and an /init that mounts the host's root read-only
 * under a RAM overlay, runs one command there as root, and powers off.
 * Debian's own initrd is not used: it boots to a rescue shell without a root
 * disk and has no 9p.
 */

/** Modules the guest loads, in the order given; their dependencies come first. */
export const GUEST_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/** `kernel/fs/9p/9p.ko.xz` → `9p`; dashes and underscores are one in module names. */
export function moduleName(relPath: string): string {
  return path.basename(relPath).replace(/\.ko(?:\.(?:xz|zst|gz))?$/, '').replace(/-/g, '_');
}

/** modules.dep: `path: dep dep …` per line → path → its direct dependencies. */
export function parseModulesDep(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const deps = line.slice(colon + 1).trim();
    out.set(line.slice(0, colon).trim(), deps ? deps.split(/\s+/) : []);
  }
  return out;
}

/**
 * The module files to load for `wanted`, each after its dependencies, no file
 * twice. A wanted module that is built in (modules.builtin) needs no file; one
 * that is neither built in nor a module is an error naming it.
 */
export function resolveModules(dep: Map<string, string[]>, builtin: Set<string>, wanted: readonly string[]): string[] {
  const byName = new Map<string, string>();
  for (const p of dep.keys()) byName.set(moduleName(p), p);
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (p: string, chain: string[]): void => {
    if (seen.has(p)) return;
    if (chain.includes(p)) throw new Error(`module dependency cycle: ${[...chain, p].join(' -> ')}`);
    for (const d of dep.get(p) ?? []) visit(d, [...chain, p]);
    seen.add(p);
    order.push(p);
  };
  for (const w of wanted) {
    const name = w.replace(/-/g, '_');
    const p = byName.get(name);
    if (p) visit(p, []);
    else if (!builtin.has(name)) throw new Error(`module ${w} is neither built in nor in modules.dep`);
  }
  return order;
}

/** modules.builtin lists `kernel/…/name.ko` per line. */
export function parseModulesBuiltin(text: string): Set<string> {
  return new Set(text.split('\n').filter((l) => l.trim()).map(moduleName));
}

/** A module file's ELF bytes: busybox insmod hands them to init_module, which wants them uncompressed. */
function readModule(file: string): Uint8Array {
  if (file.endsWith('.gz')) return gunzipSync(readFileSync(file));
  if (file.endsWith('.xz')) return execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 });
  if (file.endsWith('.zst')) return execFileSync('zstd', ['-dc', file], { maxBuffer: 1 << 28 });
  return readFileSync(file);
}

export interface InitramfsInput {
  /** The image's /lib/modules/RELEASE. */
  modulesDir: string;
  /** A statically linked busybox (Debian's busybox-static: /bin/busybox). */
  busybox?: string;
}

/** Finds a static busybox, or says which package provides one. */
export function findBusybox(): string {
  for (const p of ['/bin/busybox', '/usr/bin/busybox']) {
    if (!existsSync(p)) continue;
    // The guest has no libc before the host's root is mounted.
    if (isStaticElf(readFileSync(p))) return p;
  }
  throw new BpfscopeError("booting a kernel needs a static busybox: install Debian's busybox-static (apt-get install busybox-static)");
}

/** An ELF64 executable without a PT_INTERP program header is statically linked. */
export function isStaticElf(b: Uint8Array): boolean {
  if (b.length < 64 || b[0] !== 0x7f || b[1] !== 0x45 || b[2] !== 0x4c || b[3] !== 0x46 || b[4] !== 2) return false;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > b.length) return false;
    if (v.getUint32(at, true) === 3 /* PT_INTERP */) return false;
  }
  return true;
}

/** The gzipped newc archive. */
export function buildInitramfs(input: InitramfsInput): Uint8Array {
  const busybox = input.busybox ?? findBusybox();
  const depFile = path.join(input.modulesDir, 'modules.dep');
  if (!existsSync(depFile)) throw new BpfscopeError('no modules.dep: the kernel image needs its modules installed (run depmod)', depFile);
  const builtinFile = path.join(input.modulesDir, 'modules.builtin');
  const dep = parseModulesDep(readFileSync(depFile, 'utf8'));
  const builtin = existsSync(builtinFile) ? parseModulesBuiltin(readFileSync(builtinFile, 'utf8')) : new Set<string>();
  let files: string[];
  try {
    files = resolveModules(dep, builtin, GUEST_MODULES);
  } catch (err) {
    throw new BpfscopeError((err as Error).message, depFile);
  }
  const entries: CpioEntry[] = [];
  for (const d of ['bin', 'dev', 'proc', 'sys', 'lower', 'upper', 'root', 'modules']) entries.push({ name: d, mode: S_IFDIR | 0o755 });
  entries.push({ name: 'bin/busybox', mode: S_IFREG | 0o755, data: readFileSync(busybox) });
  const names: string[] = [];
  for (const f of files) {
    const name = `${moduleName(f)}.ko`;
    names.push(name);
    entries.push({ name: `modules/${name}`, mode: S_IFREG | 0o644, data: readModule(path.join(input.modulesDir, f)) });
  }
  entries.push({ name: 'modules/order', mode: S_IFREG | 0o644, data: new TextEncoder().encode(names.join('\n') + '\n') });
  entries.push({ name: 'init', mode: S_IFREG | 0o755, data: new TextEncoder().encode(guestInit()) });
  // Level 1: the archive is built for every boot, and the modules are most of it.
  return gzipSync(writeCpio(entries), { level: 1 });
}
