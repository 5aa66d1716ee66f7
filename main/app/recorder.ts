import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Progress } from '../api/contract';

/**
 * Recording and importing run the CLI in a child process (`bpfscope record
 * OBJ -o T --progress`, `bpfscope import LOG -o T`): a load can take seconds
 * and must not freeze the window. Progress lines are JSON; anything else on
 * stdout is ignored; the last stderr line is the error sentence on failure.
 */
export function runToTrace(
  root: string,
  kind: 'record' | 'import',
  file: string,
  onProgress: (p: Progress) => void,
  node: string = process.env.BPFSCOPE_NODE ?? 'node',
): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'bpfscope-')), basename(file) + '.trace');
  const argv = [join(root, 'main/bin.mjs'), kind, file, '-o', out];
  if (kind === 'record') argv.push('--progress');
  return new Promise((resolve, reject) => {
    const child = spawn(node, argv, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const p = progressOf(line, kind);
      if (p) onProgress(p);
    });
    let lastErr = '';
    createInterface({ input: child.stderr }).on('line', (line) => {
      if (line.trim()) lastErr = line.trim();
    });
    child.on('error', (err) => reject(new Error(`cannot run '${node}': ${err.message}`)));
    child.on('exit', (code) => {
      if (code === 0) return resolve(out);
      rmSync(dirname(out), { recursive: true, force: true });
      reject(new Error(lastErr || `bpfscope ${kind} ${file} failed (exit ${code})`));
    });
  });
}

/**
 * One `--progress` line of `bpfscope record` ({event: 'loading'|'program'|'done',
 * program, index, total, verdict}) as a progress bar state; null for other lines.
 */
export function progressOf(line: string, kind: string): Progress | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  if (!v || typeof v !== 'object') return null;
  const e = v as { event?: unknown; program?: unknown; index?: unknown; total?: unknown; verdict?: unknown };
  const event = typeof e.event === 'string' ? e.event : kind;
  const index = typeof e.index === 'number' ? e.index : 0;
  const total = typeof e.total === 'number' ? e.total : null;
  const program = typeof e.program === 'string' ? e.program : '';
  const done = event === 'program' ? index + 1 : index;
  const message = [program, typeof e.verdict === 'string' ? e.verdict : ''].filter(Boolean).join(': ');
  return { phase: event, done: event === 'done' && total === null ? 1 : done, total, message: message || undefined };
}
