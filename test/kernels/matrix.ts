/**
 * `npm run test:kernels [-- SPEC...]`: the kernel-backed tests on every kernel
 * of the matrix — this machine's kernel directly, and each installed kernel
 * image (Debian's linux-image-6.1 and -6.12 here) booted in qemu with
 * bpfscope's VM runner (main/vm), KVM where it works, TCG otherwise. Prints a
 * table: kernel, how it ran, tests passed/failed/skipped, time. SPECs
 * (`host`, `6.12`, a vmlinuz path) choose kernels; the default is all.
 * Arguments ending in `.ts` are test files: only those run (for working on one).
 * BPFSCOPE_MATRIX_BUDGET (seconds) bounds each VM; one that runs over is
 * stopped and its row says so. Exit 1 when a test failed or a kernel did not boot
 * or finish; a kernel that cannot be
 * booted here at all (no qemu) is a visible skip, not a failure.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type KernelImage, installedImages, resolveImage } from '../../main/vm/images';
import { formatTable } from '../../main/cli/table';
import { findQemu } from '../../main/vm/qemu';
import { runInVm } from '../../main/vm/run';
import { kernelSkipReason, MATRIX_ENV, matrixSuffix } from '../helpers/kernel';
import generateVmlinuxHeader from '../helpers/global-setup';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Test files with kernel-backed tests: those that use kernelTitle. */
export function kernelTestFiles(root = ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.test.ts') && /\bkernelTitle\(/.test(readFileSync(path.join(root, rel), 'utf8'))) out.push(rel);
    }
  };
  walk('test/unit');
  return out.sort();
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
  failures: string[];
}

/** Vitest's JSON report (the jest-compatible shape) → counts and failing test names. */
export function countResults(json: string): Counts {
  const r = JSON.parse(json) as {
    numPassedTests: number;
    numFailedTests: number;
    numPendingTests: number;
    numTodoTests: number;
    testResults: { name: string; status: string; message?: string; assertionResults: { fullName: string; status: string }[] }[];
  };
  const failures: string[] = [];
  for (const f of r.testResults) {
    for (const a of f.assertionResults) if (a.status === 'failed') failures.push(`${path.relative(ROOT, f.name)}: ${a.fullName}`);
    // A file that failed to load has no assertion results but a message.
    if (f.status === 'failed' && f.assertionResults.length === 0) failures.push(`${path.relative(ROOT, f.name)}: ${(f.message ?? 'failed to run').split('\n')[0]}`);
  }
  const fileFailures = r.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
  return { passed: r.numPassedTests, failed: r.numFailedTests + fileFailures, skipped: r.numPendingTests + r.numTodoTests, failures };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Test files named on the command line (`npm run test:kernels -- 6.1 test/unit/kernel/cli.test.ts`); all kernel test files when none. */
let onlyFiles: string[] = [];

/**
 * vitest's argv for the kernel tests of one kernel, the JSON report going to
 * `report`. In a VM every test without a timeout of its own gets 10 minutes
 * (hooks 20): under TCG a guest runs the same work 3-6 times slower than the
 * host, and the 2-minute default is a host figure (seen: errors.test's
 * 16 MB log, 160 s on 6.1 under TCG on a loaded machine).
 */
function vitestArgv(release: string, report: string, inVm = false): string[] {
  return [
    path.join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run',
    '--reporter=default', '--reporter=json', `--outputFile.json=${report}`, '--passWithNoTests',
    ...(inVm ? ['--testTimeout=600000', '--hookTimeout=1200000'] : []),
    '-t', escapeRe(matrixSuffix(release)),
    ...(onlyFiles.length > 0 ? onlyFiles : kernelTestFiles()),
  ];
}

/** BPFSCOPE_MATRIX_BUDGET: seconds one VM may take before it is stopped and its row says so (default 1 hour). */
function budgetSeconds(): number {
  const v = Number(process.env.BPFSCOPE_MATRIX_BUDGET);
  return Number.isFinite(v) && v > 0 ? v : 3600;
}

interface Row {
  kernel: string;
  how: string;
  counts?: Counts;
  problem?: string;
  seconds: number;
}

function prefixLines(tag: string, sink: NodeJS.WriteStream): (c: Buffer) => void {
  let rest = '';
  return (c) => {
    const text = rest + c.toString();
    const lines = text.split('\n');
    rest = lines.pop() ?? '';
    for (const l of lines) sink.write(`[${tag}] ${l}\n`);
  };
}

async function onHost(): Promise<Row> {
  const started = Date.now();
  const release = os.release();
  const reason = kernelSkipReason();
  if (reason) return { kernel: release, how: 'host', problem: `skipped: ${reason}`, seconds: 0 };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-matrix-'));
  try {
    const report = path.join(dir, 'report.json');
    const code = await new Promise<number>((resolve, reject) => {
      const child = spawn(process.execPath, vitestArgv(release, report), { cwd: ROOT, env: { ...process.env, [MATRIX_ENV]: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout.on('data', prefixLines(release, process.stdout));
      child.stderr.on('data', prefixLines(release, process.stderr));
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    const seconds = (Date.now() - started) / 1000;
    if (!existsSync(report)) return { kernel: release, how: 'host', problem: `vitest exited ${code} without a report`, seconds };
    return { kernel: release, how: 'host', counts: countResults(readFileSync(report, 'utf8')), seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function inVm(image: KernelImage): Promise<Row> {
  const started = Date.now();
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-matrix-'));
  let how = 'vm';
  try {
    const report = path.join(scratch, 'report.json');
    const r = await runInVm({
      image,
      command: [process.execPath, ...vitestArgv(image.release, report, true)],
      cwd: ROOT,
      scratch,
      env: { ...process.env, [MATRIX_ENV]: '1' },
      onStdout: prefixLines(image.release, process.stdout),
      onStderr: prefixLines(image.release, process.stderr),
      onStatus: (l) => process.stdout.write(`[${image.release}] ${l}\n`),
      timeoutMs: budgetSeconds() * 1000,
    });
    how = `vm (${r.accel === 'kvm' ? 'KVM' : 'TCG'}, boot ${(r.bootMs / 1000).toFixed(0)} s)`;
    const seconds = (Date.now() - started) / 1000;
    if (!existsSync(report)) return { kernel: image.release, how, problem: `vitest exited ${r.exitCode} without a report`, seconds };
    return { kernel: image.release, how, counts: countResults(readFileSync(report, 'utf8')), seconds };
  } catch (err) {
    return { kernel: image.release, how, problem: (err as Error).message.split('\n')[0], seconds: (Date.now() - started) / 1000 };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function table(rows: Row[]): string {
  const t = [['KERNEL', 'RAN', 'PASSED', 'FAILED', 'SKIPPED', 'TIME']];
  for (const r of rows) {
    const c = r.counts;
    t.push([r.kernel, r.how, c ? String(c.passed) : '-', c ? String(c.failed) : '-', c ? String(c.skipped) : '-', `${r.seconds.toFixed(0)} s${r.problem ? `  ${r.problem}` : ''}`]);
  }
  return formatTable(t).trimEnd();
}

async function main(args: string[]): Promise<number> {
  onlyFiles = args.filter((a) => a.endsWith('.ts')).map((f) => path.resolve(f));
  const specs = args.filter((a) => !a.endsWith('.ts'));
  const wanted = specs.length > 0 ? specs : ['host', ...installedImages().map((i) => i.release)];
  const rows: Row[] = [];
  const qemu = findQemu();
  // The BPF C the tests compile includes resources/progs/vmlinux.h. Made here, from the host's BTF (the
  // newest kernel, whose types CO-RE relocates onto older ones) before any guest boots: a guest would make
  // it from its own BTF, and 6.1's lacks bpf_list_head and bpf_rb_root (seen: every list/rbtree build failed).
  generateVmlinuxHeader();
  for (const spec of wanted) {
    if (spec === 'host') {
      rows.push(await onHost());
      continue;
    }
    let image: KernelImage;
    try {
      image = resolveImage(spec);
    } catch (err) {
      rows.push({ kernel: spec, how: 'vm', problem: (err as Error).message, seconds: 0 });
      continue;
    }
    if (!qemu) {
      rows.push({ kernel: image.release, how: 'vm', problem: 'skipped: qemu is not installed (apt-get install qemu-system-x86)', seconds: 0 });
      continue;
    }
    rows.push(await inVm(image));
  }
  if (installedImages().length === 0 && specs.length === 0) {
    process.stdout.write('no kernel images installed to boot (apt-get install linux-image-6.1.0-50-amd64 linux-image-6.12.100+deb12-amd64)\n');
  }
  process.stdout.write(`\n${table(rows)}\n`);
  for (const r of rows) for (const f of r.counts?.failures ?? []) process.stdout.write(`FAILED on ${r.kernel}: ${f}\n`);
  const sum = (k: 'passed' | 'failed' | 'skipped'): number => rows.reduce((n, r) => n + (r.counts?.[k] ?? 0), 0);
  const broken = rows.filter((r) => r.problem && !r.problem.startsWith('skipped:'));
  process.stdout.write(`kernels: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped\n`);
  return sum('failed') > 0 || broken.length > 0 ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  process.exitCode = await main(process.argv.slice(2));
}
