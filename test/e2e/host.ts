import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** Helpers shared by the e2e specs and the UI benchmark: the CLI, a trace from fixtures, the browser host. */
export const ROOT = resolve(import.meta.dirname, '../..');
const BIN = join(ROOT, 'main/bin.mjs');

/** Why the Electron project cannot run here, or undefined. */
export function electronSkipReason(): string | undefined {
  if (!existsSync(join(ROOT, 'node_modules/electron/dist'))) return 'Electron binary not installed (node_modules/electron/dist is absent)';
  if (!existsSync(join(ROOT, 'out/main/index.js'))) return 'app not built (run npm run build)';
  return undefined;
}

/** Run the bpfscope CLI; throws with its stderr when it fails. */
export function cli(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bpfscope ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/**
 * A trace the test writes itself, through the CLI, from committed fixtures:
 * each [log, object, program] is imported into one trace file.
 */
export function importTrace(name: string, parts: [log: string, object: string, program: string][]): string {
  const dir = mkdtempSync(join(tmpdir(), 'bpfscope-e2e-'));
  const out = join(dir, `${name}.trace`);
  for (const [log, obj, prog] of parts) cli('import', join(ROOT, log), '--object', join(ROOT, obj), '-p', prog, '-o', out);
  return out;
}

export interface Served {
  url: string;
  stop(): void;
}

/** `bpfscope serve TRACE [MORE...]` on a free port; resolves with the URL it prints. */
export function serve(trace: string, ...more: string[]): Promise<Served> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', trace, ...more, '--port', '0'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolveUrl({ url: m[1], stop: () => child.kill('SIGTERM') });
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited (${code}): ${err}`)));
  });
}

