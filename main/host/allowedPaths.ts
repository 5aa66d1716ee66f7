import { realpathSync, statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { BpfscopeError } from '../errors';

/**
 * The files a window may open: the ones the user chose (command line,
 * Open dialog, a confirmed drop, File ▸ Recent) and anything under a folder
 * the user opened (`bpfscope serve DIR`). The renderer, or a page that got
 * hold of the browser host's token, names paths; both hosts (main/host/server.ts,
 * main/app/index.ts) pass each through here before anything opens it.
 *
 * Every path is compared by its real path (realpath(3): symlinks followed,
 * `..` taken as the kernel takes it, after the symlink before it), and what
 * the opener gets is that real path, so what opens is what was checked. A
 * symlink inside an opened folder that points out of it is outside; a
 * sibling folder whose name starts the same (`/srv/a-evil` next to `/srv/a`)
 * is outside. Any other path gets one sentence, NOT_CHOSEN, whether it
 * exists or not. Only inside an opened folder (or for a chosen file that
 * went away) is a missing file called missing.
 */
export const NOT_CHOSEN =
  'bpfscope opens only files you chose (on its command line, in the Open dialog, by drag and drop, or under a folder you opened): open it one of those ways';

/** The file system calls the set needs (tests pass their own to count or fake them). */
export interface PathFs {
  /** The real path, or throws (an errno error with `code`) when it does not resolve. */
  realpath(path: string): string;
  isDirectory(realPath: string): boolean;
}

const NODE_FS: PathFs = {
  realpath: (p) => realpathSync.native(p),
  isDirectory: (p) => statSync(p).isDirectory(),
};

/** `path` lies strictly inside `folder` (both real and absolute). */
export function isInside(folder: string, path: string): boolean {
  const base = folder.endsWith(sep) ? folder : folder + sep;
  return path.length > base.length && path.startsWith(base);
}

export class AllowedPaths {
  /** Real paths of chosen files. */
  private readonly files = new Set<string>();
  /** A chosen file as it was named (absolute) → its real path then: it may be named that way again. */
  private readonly named = new Map<string, string>();
  private readonly folders = new Set<string>();

  constructor(private readonly fs: PathFs = NODE_FS) {}

  /** The user chose this file: returns its real path. The user named it, so a missing one is said to be missing. */
  allowFile(path: string): string {
    const real = this.real(path);
    if (real === null) throw new BpfscopeError('no such file', path);
    if (this.fs.isDirectory(real)) throw new BpfscopeError('is a folder, not a file', path);
    this.files.add(real);
    this.named.set(resolve(path), real);
    return real;
  }

  /** The user opened this folder: every file under it may be opened. Returns its real path. */
  allowFolder(path: string): string {
    const real = this.real(path);
    if (real === null) throw new BpfscopeError('no such folder', path);
    if (!this.fs.isDirectory(real)) throw new BpfscopeError('is a file, not a folder', path);
    this.folders.add(real);
    return real;
  }

  /** The real path to open for `path`, or a BpfscopeError naming it: NOT_CHOSEN for anything the user did not choose. */
  resolve(path: string): string {
    const real = this.real(path);
    if (real !== null && this.allows(real)) return real;
    if (real === null && this.missingButOurs(path)) throw new BpfscopeError('no such file', path);
    throw new BpfscopeError(NOT_CHOSEN, path);
  }

  /** As resolve, without the error. */
  lookup(path: string): string | null {
    const real = this.real(path);
    return real !== null && this.allows(real) ? real : null;
  }

  private allows(real: string): boolean {
    if (this.files.has(real)) return true;
    for (const f of this.folders) if (isInside(f, real)) return true;
    return false;
  }

  /**
   * A path that does not resolve, where saying so tells nothing new: a chosen
   * file named as it was chosen, or a name whose folder (taken as the kernel
   * would, `..` after a symlink included) is inside an opened folder.
   */
  private missingButOurs(path: string): boolean {
    if (this.named.has(resolve(path))) return true;
    const parent = this.real(dirname(path));
    if (parent === null) return false;
    for (const f of this.folders) if (parent === f || isInside(f, parent)) return true;
    return false;
  }

  private real(path: string): string | null {
    if (path.length === 0 || path.includes('\0')) return null;
    try {
      return this.fs.realpath(path);
    } catch {
      return null;
    }
  }
}

/** API channels whose arguments name a file, and which argument. */
const PATH_ARGS: ReadonlyMap<string, number> = new Map([['trace:open', 0]]);

/**
 * A call from a renderer with every path it names checked and replaced by
 * the real path to open; throws a BpfscopeError (NOT_CHOSEN) otherwise.
 * Other arguments are left to validateArgs.
 */
export function gateCall(allowed: AllowedPaths, channel: string, args: unknown): unknown {
  const i = PATH_ARGS.get(channel);
  if (i === undefined || !Array.isArray(args) || typeof args[i] !== 'string') return args;
  const out = args.slice();
  out[i] = allowed.resolve(args[i] as string);
  return out;
}
