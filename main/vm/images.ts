import { closeSync, existsSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import { BpfscopeError } from '../errors';

/**
 * Kernel images bpfscope can boot in a VM: Debian's installed kernels
 * (`/boot/vmlinuz-REL` with `/lib/modules/REL`), or any bzImage named by path.
 */
export interface KernelImage {
  /** `uname -r` of the image: `6.12.100+deb12-amd64`. */
  release: string;
  /** The full version string the image carries: `6.12.100+deb12-amd64 (…) #1 SMP … Debian 6.12.100-1~deb12u1`. */
  banner: string;
  vmlinuz: string;
  /** Its modules (9p, virtio, overlay come from here), when installed. */
  modulesDir?: string;
}

/**
 * The version banner of an x86 bzImage: the boot protocol's setup header has
 * `HdrS` at 0x202 and, at 0x20e, the offset (from 0x200) of a NUL-terminated
 * string that begins with the release (Documentation/arch/x86/boot.rst).
 */
export function bzImageBanner(bytes: Uint8Array): string | undefined {
  if (bytes.length < 0x210) return undefined;
  const magic = String.fromCharCode(bytes[0x202], bytes[0x203], bytes[0x204], bytes[0x205]);
  if (magic !== 'HdrS') return undefined;
  const at = 0x200 + (bytes[0x20e] | (bytes[0x20f] << 8));
  if (at >= bytes.length) return undefined;
  let end = at;
  while (end < bytes.length && end - at < 512 && bytes[end] !== 0) end++;
  const s = new TextDecoder('latin1').decode(bytes.subarray(at, end)).trim();
  return s.length > 0 ? s : undefined;
}

/** `6.12.100+deb12-amd64 (debian-kernel@…) #1 …` → `6.12.100+deb12-amd64`. */
export const releaseOfBanner = (banner: string): string => banner.split(/\s/)[0];

/** The upstream version a banner names: Debian's `6.1.0-50-amd64` is `6.1.176` (from `Debian 6.1.176-1`). */
export function upstreamVersion(release: string, banner = ''): string {
  const deb = /\bDebian (\d+\.\d+\.\d+)/.exec(banner);
  if (deb) return deb[1];
  const m = /^(\d+\.\d+(?:\.\d+)?)/.exec(release);
  return m ? m[1] : release;
}

/** Does a spec like `6.12` or `6.1` name this release (and version)? `6.1` does not match `6.12`. */
export function releaseMatches(spec: string, release: string, version: string): boolean {
  const re = new RegExp(`^${spec.replace(/[.+]/g, (c) => `\\${c}`)}(?:$|[.\\-+])`);
  return release === spec || re.test(release) || re.test(version);
}

function readBanner(file: string): string | undefined {
  // The setup header lies in the first sectors; 32 KiB covers the banner's offset.
  const buf = new Uint8Array(0x8000);
  const fd = openSync(file, 'r');
  try {
    const n = readSync(fd, buf, 0, buf.length, 0);
    return bzImageBanner(buf.subarray(0, n));
  } finally {
    closeSync(fd);
  }
}

/** Every kernel installed under /boot that has its modules, newest release last. */
export function installedImages(bootDir = '/boot', modulesRoot = '/lib/modules'): KernelImage[] {
  if (!existsSync(bootDir)) return [];
  const out: KernelImage[] = [];
  for (const f of readdirSync(bootDir)) {
    if (!f.startsWith('vmlinuz-')) continue;
    const vmlinuz = path.join(bootDir, f);
    let banner: string | undefined;
    try {
      banner = readBanner(vmlinuz);
    } catch {
      continue; // unreadable: not ours to boot
    }
    const release = banner ? releaseOfBanner(banner) : f.slice('vmlinuz-'.length);
    const modulesDir = path.join(modulesRoot, release);
    out.push({ release, banner: banner ?? release, vmlinuz, modulesDir: existsSync(modulesDir) ? modulesDir : undefined });
  }
  return out.sort((a, b) => compareVersions(upstreamVersion(a.release, a.banner), upstreamVersion(b.release, b.banner)));
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The image a `--kernel` value names: a path to a bzImage, or a release or
 * version prefix of an installed image (`6.12`, `6.1.0-50-amd64`); the newest
 * match wins.
 */
export function resolveImage(spec: string, images: KernelImage[] = installedImages()): KernelImage {
  if (spec.includes('/') || (existsSync(spec) && statSync(spec).isFile())) {
    if (!existsSync(spec)) throw new BpfscopeError('no such kernel image', spec);
    const banner = readBanner(spec);
    if (!banner) throw new BpfscopeError('not an x86 bzImage (no HdrS setup header at 0x202)', spec, { offset: 0x202 });
    const release = releaseOfBanner(banner);
    const installed = images.find((i) => i.release === release);
    return { release, banner, vmlinuz: path.resolve(spec), modulesDir: installed?.modulesDir ?? (existsSync(`/lib/modules/${release}`) ? `/lib/modules/${release}` : undefined) };
  }
  const matches = images.filter((i) => releaseMatches(spec, i.release, upstreamVersion(i.release, i.banner)));
  if (matches.length === 0) {
    const have = images.map((i) => i.release).join(', ') || 'none';
    throw new BpfscopeError(`no installed kernel image matches '${spec}' (installed: ${have}; 'bpfscope kernels' lists them, a vmlinuz path works too)`);
  }
  return matches[matches.length - 1];
}
