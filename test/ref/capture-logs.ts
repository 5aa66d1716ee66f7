/**
 * Regenerates test/fixtures/logs/: the verifier logs this kernel prints for
 * every example program (resources/progs/manifest.json), loaded one at a
 * time by test/ref/refload.c through libbpf.
 *
 *   npx tsx test/ref/capture-logs.ts        (as root, or with CAP_BPF)
 *   npx tsx test/ref/capture-logs.ts --kernel 6.12   (boots the image in qemu,
 *       captures there: test/fixtures/logs/6.12/, real logs of that kernel)
 *
 * <object>.<program>.log         level 2, every program
 * <object>.<program>.level1.log  level 1, for LEVEL1 below
 *
 * KERNEL                         the release (uname -r) they come from
 *
 * They are parser fixtures (test/unit/verifier, the app's and e2e tests import
 * them; test/unit/insn/disasm.test.ts compares the objects' listings with
 * them, kfunc ids aside) and are never compared with a live load: another
 * build of the same kernel prints other kfunc ids, addresses and even state
 * counts. Tests that compare with the kernel load the program again, on the
 * kernel they run on (refLoad).
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { examplePrograms, FIXTURE_LOGS_DIR, normalizeLog, REF_DIR, REPO_ROOT, refLoad } from '../helpers/ref';
import { type KernelImage, resolveImage } from '../../main/vm/images';
import { runInVm } from '../../main/vm/run';
import type { Accel } from '../../main/vm/qemu';

/** One accepted and one rejected program, logged at level 1 as well. */
export const LEVEL1 = [
  { object: 'new_drop.bpf.o', program: 'new_drop' },
  { object: 'reject_leak.bpf.o', program: 'leak_on_branch' },
];

/** The kernel release the fixture logs were captured on. */
export const FIXTURE_KERNEL_FILE = path.join(FIXTURE_LOGS_DIR, 'KERNEL');

export function level1Fixture(object: string, program: string): string {
  return path.join(FIXTURE_LOGS_DIR, `${object.replace(/\.bpf\.o$/, '')}.${program}.level1.log`);
}

/** A log up to what differs between builds that print the same thing: kfunc BTF ids (helper ids are small and fixed). */
const maskKfuncIds = (log: string): string => normalizeLog(log).replace(/\b(\w+)#\d{4,}\b/g, '$1#ID');

/** Writes a fixture unless only addresses, timing or kfunc ids changed (no churn). */
function save(file: string, log: string): string {
  if (existsSync(file) && maskKfuncIds(readFileSync(file, 'utf8')) === maskKfuncIds(log)) return 'unchanged';
  writeFileSync(file, log);
  return 'written';
}

/** One program's result on the kernel of a per-kernel fixture folder. */
export interface KernelFixtureEntry {
  object: string;
  program: string;
  verdict: 'accepted' | 'rejected';
  errno: number;
  logSize: number;
  /** The log file in the folder ('' when the kernel never saw the program: libbpf refused it first). */
  log: string;
}

/** index.json of test/fixtures/logs/<kernel>/: which kernel printed the logs, and each program's verdict. */
export interface KernelFixtureIndex {
  release: string;
  version: string;
  programs: KernelFixtureEntry[];
}

/** Folders of real logs from other kernels (captured in a VM with --kernel): test/fixtures/logs/6.1, 6.12. */
export function kernelFixtureDirs(): string[] {
  return readdirSync(FIXTURE_LOGS_DIR, { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(path.join(FIXTURE_LOGS_DIR, e.name, 'index.json')))
    .map((e) => path.join(FIXTURE_LOGS_DIR, e.name))
    .sort();
}

export function readKernelFixtureIndex(dir: string): KernelFixtureIndex {
  return JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as KernelFixtureIndex;
}

/** This kernel's logs into the fixture folder (6.18, the host: the manifest's verdicts must hold). */
async function captureHost(): Promise<void> {
  mkdirSync(FIXTURE_LOGS_DIR, { recursive: true });
  writeFileSync(FIXTURE_KERNEL_FILE, `${os.release()}\n`);
  for (const p of examplePrograms()) {
    const r = await refLoad(p.object, p.program, { logLevel: 2 });
    if (r.verdict !== p.expect) {
      throw new Error(`${p.object} ${p.program}: kernel says ${r.verdict}, manifest says ${p.expect}`);
    }
    const what = save(p.logFixture, r.log);
    console.log(`${path.relative(process.cwd(), p.logFixture)}  ${r.verdict}  ${r.logSize} bytes  ${what}`);
  }
  for (const { object, program } of LEVEL1) {
    const r = await refLoad(object, program, { logLevel: 1 });
    const file = level1Fixture(object, program);
    const what = save(file, r.log);
    console.log(`${path.relative(process.cwd(), file)}  ${r.verdict}  ${r.logSize} bytes  ${what}`);
  }
}

/**
 * Every example program's level-2 log on the running kernel into `out`, with
 * index.json. Whatever the kernel says is the result: an older kernel that
 * rejects a program (6.1 has no bpf_obj_new) gives its rejection log.
 */
async function captureInto(out: string): Promise<void> {
  mkdirSync(out, { recursive: true });
  const index: KernelFixtureIndex = { release: os.release(), version: readFileSync('/proc/sys/kernel/version', 'utf8').trim(), programs: [] };
  for (const p of examplePrograms()) {
    const r = await refLoad(p.object, p.program, { logLevel: 2 });
    const log = r.log.length > 0 ? path.basename(p.logFixture) : '';
    if (log) writeFileSync(path.join(out, log), r.log);
    index.programs.push({ object: p.object, program: p.program, verdict: r.verdict, errno: r.errno, logSize: r.logSize, log });
    console.log(`${p.object} ${p.program}  ${r.verdict}${r.errno ? ` errno ${r.errno}` : ''}  ${r.logSize} bytes`);
  }
  writeFileSync(path.join(out, 'index.json'), JSON.stringify(index, null, 2) + '\n');
}

/**
 * Boots `image` and captures every example program's level-2 log with libbpf
 * there into `scratch`/logs (index.json and the logs); the caller removes
 * `scratch`.
 */
export async function captureLogsInVm(image: KernelImage, scratch: string, onStatus: (line: string) => void = (l) => console.log(`[${image.release}] ${l}`)): Promise<{ dir: string; index: KernelFixtureIndex; accel: Accel }> {
  const guestOut = path.join(scratch, 'logs');
  const r = await runInVm({
    image,
    command: [process.execPath, path.join(REPO_ROOT, 'node_modules/tsx/dist/cli.mjs'), path.join(REF_DIR, 'capture-logs.ts'), '--out', guestOut],
    cwd: REPO_ROOT,
    scratch,
    onStdout: (c) => process.stdout.write(c),
    onStderr: (c) => process.stderr.write(c),
    onStatus,
  });
  if (r.exitCode !== 0) throw new Error(`capture in the VM on ${r.release} exited ${r.exitCode}`);
  return { dir: guestOut, index: readKernelFixtureIndex(guestOut), accel: r.accel };
}

/** --kernel SPEC: boot the image in a VM, capture there, copy into test/fixtures/logs/<major.minor>/. */
async function captureInVm(spec: string): Promise<void> {
  const image = resolveImage(spec);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-capture-'));
  try {
    const { dir: guestOut, index, accel } = await captureLogsInVm(image, scratch);
    const r = { release: index.release, accel };
    const m = /^(\d+\.\d+)/.exec(r.release);
    const dest = path.join(FIXTURE_LOGS_DIR, m ? m[1] : r.release);
    // Logs that differ only in addresses, timing or kfunc ids are kept as they are (no churn in the fixtures
    // at every capture: every boot maps at other addresses); logs of programs no longer captured are removed.
    mkdirSync(dest, { recursive: true });
    const got = new Set(readdirSync(guestOut));
    const counts = { written: 0, unchanged: 0, removed: 0 };
    for (const f of readdirSync(dest)) if (!got.has(f)) (rmSync(path.join(dest, f)), counts.removed++);
    for (const f of got) {
      if (f.endsWith('.log')) counts[save(path.join(dest, f), readFileSync(path.join(guestOut, f), 'utf8')) as 'written' | 'unchanged']++;
      else copyFileSync(path.join(guestOut, f), path.join(dest, f));
    }
    console.log(`${path.relative(process.cwd(), dest)}: ${got.size} files from ${r.release} (${r.accel === 'kvm' ? 'KVM' : 'TCG'}): ${counts.written} logs written, ${counts.unchanged} unchanged up to addresses and kfunc ids, ${counts.removed} removed`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function main(argv: string[]): Promise<void> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const kernel = opt('--kernel');
  const out = opt('--out');
  if (kernel) await captureInVm(kernel);
  else if (out) await captureInto(path.resolve(out));
  else await captureHost();
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
