/**
 * Running bpfscope as an unprivileged user (uid and gid 65534, through
 * setpriv) from a test that runs as root.
 *
 * The checkout is not always readable by that user: a CI clone under /root
 * (mode 700), a umask of 077, node installed under a private prefix, or a
 * TMPDIR only root may write (tsx keeps its cache there). Then node cannot
 * even open main/bin.mjs and prints its own 14-line MODULE_NOT_FOUND trace,
 * which has nothing to do with what the test checks. So: where the user can
 * read what it needs, it runs the checkout itself; where it cannot, it runs a
 * copy of exactly what `bpfscope record`/`probe` load (main/, package.json,
 * tsconfig.json, the runtime dependencies in node_modules, the objects it is
 * given, node itself when the user cannot run it) made readable in a
 * directory the user can reach. Where there is no such directory the test
 * skips and says why. The user always gets its own HOME, TMPDIR and cwd.
 */
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { REPO_ROOT } from './ref';

export const NOBODY_UID = 65534;
const IDS = [`--reuid=${NOBODY_UID}`, `--regid=${NOBODY_UID}`, '--clear-groups'];

/** Whether user 65534 passes `test FLAG FILE` (access(2) as that user, every directory on the way included). */
function nobodyCan(flag: '-r' | '-x' | '-w', file: string): boolean {
  return spawnSync('setpriv', [...IDS, '--inh-caps=-all', 'test', flag, file], { stdio: 'ignore' }).status === 0;
}

function capEff(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

/** Packages `node main/bin.mjs` may load: package.json's dependencies and theirs (optional ones that are installed included). */
function runtimePackages(): string[] {
  const root = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  const seen = new Set<string>();
  const queue = Object.keys(root.dependencies ?? {});
  while (queue.length) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    const pj = path.join(REPO_ROOT, 'node_modules', name, 'package.json');
    if (!existsSync(pj)) continue;
    seen.add(name);
    const j = JSON.parse(readFileSync(pj, 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    queue.push(...Object.keys(j.dependencies ?? {}), ...Object.keys(j.optionalDependencies ?? {}));
  }
  return [...seen].sort();
}

/** Files whose readability decides whether the checkout can be run as it is. */
function needed(objects: string[]): string[] {
  return [
    path.join(REPO_ROOT, 'package.json'),
    path.join(REPO_ROOT, 'main/bin.mjs'),
    path.join(REPO_ROOT, 'main/cli/index.ts'),
    path.join(REPO_ROOT, 'main/kernel/prog-load-worker.mjs'),
    ...runtimePackages().map((p) => path.join(REPO_ROOT, 'node_modules', p, 'package.json')),
    ...objects,
  ];
}

/** Files and directories readable by everyone (directories traversable); executable bits kept. */
function openUp(p: string): void {
  const st = lstatSync(p);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) {
    chmodSync(p, 0o755);
    for (const e of readdirSync(p)) openUp(path.join(p, e));
  } else {
    chmodSync(p, (st.mode & 0o777) | 0o444 | (st.mode & 0o111 ? 0o111 : 0));
  }
}

export interface NobodyPlan {
  /** Why the test cannot run as user 65534 here; undefined when it can. */
  skip?: string;
  /** Directory that user can reach, for the copy and its own work directory. */
  base?: string;
  /** Whether the checkout (or node) is unreadable to it, so a copy is run. */
  copyRepo: boolean;
  copyNode: boolean;
}

/**
 * Decides, at collection time (so a skip reason can go into the title), how
 * user 65534 will run bpfscope on `objects` (absolute paths).
 */
export function planNobody(objects: string[]): NobodyPlan {
  const none = { copyRepo: false, copyNode: false };
  if (process.platform !== 'linux') return { ...none, skip: 'not Linux' };
  if (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0) return { ...none, skip: 'setpriv (util-linux) not installed' };
  const caps = capEff();
  const CAP_SETGID = 6n;
  const CAP_SETUID = 7n;
  if (((caps >> CAP_SETUID) & 1n) === 0n || ((caps >> CAP_SETGID) & 1n) === 0n) return { ...none, skip: 'needs root (CAP_SETUID) to become user 65534' };
  const base = [...new Set([os.tmpdir(), '/tmp', '/var/tmp', '/dev/shm'])].find((d) => existsSync(d) && statSync(d).isDirectory() && nobodyCan('-x', d));
  const copyRepo = !needed(objects).every((f) => nobodyCan('-r', f));
  const copyNode = !nobodyCan('-x', process.execPath);
  if (!base && (copyRepo || copyNode)) {
    return { ...none, skip: `user ${NOBODY_UID} cannot read this checkout (${REPO_ROOT}) and can reach none of ${[os.tmpdir(), '/tmp', '/var/tmp', '/dev/shm'].join(', ')} to run a copy` };
  }
  if (!base) return { ...none, skip: `user ${NOBODY_UID} can reach no temporary directory for its HOME and trace files` };
  return { base, copyRepo, copyNode };
}

export interface Nobody {
  /** Root of the tree user 65534 runs: the checkout, or a copy of what it needs. */
  root: string;
  /** A directory of its own (mode 777): HOME, TMPDIR, cwd, traces. */
  work: string;
  /** An object of `objects` as that user sees it. */
  object(file: string): string;
  /** `node main/bin.mjs ARGS` as uid/gid 65534 with no capabilities, or with CAPS (`+bpf,+perfmon`) ambient. */
  bpfscope(args: string[], caps?: string): SpawnSyncReturns<string>;
  cleanup(): void;
}

/** Sets up what planNobody decided (copies made here, not at collection time). */
export function prepareNobody(plan: NobodyPlan, objects: string[]): Nobody {
  if (plan.skip || !plan.base) throw new Error(`prepareNobody: ${plan.skip ?? 'no base directory'}`);
  const made: string[] = [];
  const work = mkdtempSync(path.join(plan.base, 'bpfscope-nobody-work-'));
  made.push(work);
  chmodSync(work, 0o777);
  let root = REPO_ROOT;
  let node = process.execPath;
  const objectPath = new Map(objects.map((o) => [o, o]));
  if (plan.copyRepo || plan.copyNode) {
    const copy = mkdtempSync(path.join(plan.base, 'bpfscope-nobody-tree-'));
    made.push(copy);
    if (plan.copyRepo) {
      for (const rel of ['package.json', 'tsconfig.json', 'main']) {
        if (existsSync(path.join(REPO_ROOT, rel))) cpSync(path.join(REPO_ROOT, rel), path.join(copy, rel), { recursive: true });
      }
      for (const p of runtimePackages()) cpSync(path.join(REPO_ROOT, 'node_modules', p), path.join(copy, 'node_modules', p), { recursive: true });
      mkdirSync(path.join(copy, 'objects'));
      for (const o of objects) {
        const to = path.join(copy, 'objects', path.basename(o));
        cpSync(o, to);
        objectPath.set(o, to);
      }
      root = copy;
    }
    if (plan.copyNode) {
      mkdirSync(path.join(copy, 'bin'), { recursive: true });
      node = path.join(copy, 'bin', 'node');
      cpSync(process.execPath, node);
    }
    openUp(copy);
  }
  return {
    root,
    work,
    object: (file) => {
      const p = objectPath.get(file);
      if (!p) throw new Error(`prepareNobody: ${file} was not among the objects`);
      return p;
    },
    bpfscope: (args, caps) =>
      spawnSync(
        'setpriv',
        [...IDS, caps ? `--inh-caps=-all,${caps}` : '--inh-caps=-all', ...(caps ? [`--ambient-caps=${caps}`] : []), node, path.join(root, 'main/bin.mjs'), ...args],
        { encoding: 'utf8', cwd: work, env: { ...process.env, HOME: work, TMPDIR: work } },
      ),
    cleanup: () => {
      for (const d of made) rmSync(d, { recursive: true, force: true });
    },
  };
}
