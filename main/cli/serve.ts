import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createHandlers } from '../api/handlers';
import { BpfscopeError } from '../errors';
import { AllowedPaths } from '../host/allowedPaths';
import { ensureRendererBuilt, ROOT } from '../host/build';
import { startHost } from '../host/server';
import { sniff } from '../host/sniff';
import { serveStdio } from '../host/stdio';
import { intOption, parseArgs } from './args';
import type { Command } from './index';

export const EXAMPLE_TRACE = join(ROOT, 'resources/example.trace');

export const command: Command = {
  summary: 'serve the app in a browser (127.0.0.1 only, token-protected)',
  usage: `usage: bpfscope serve [TRACE|OBJ|LOG|DIR]... [--port N]
       bpfscope serve --stdio [TRACE]

Serves the bpfscope views and their API over HTTP on 127.0.0.1 and prints
  listening on http://127.0.0.1:PORT/?token=…
Open that URL (from another machine: ssh -L PORT:127.0.0.1:PORT host).
A LOG is imported into a temporary trace first, an OBJ (.bpf.o) is recorded
into one (bpfscope record); the first file opens, without one the bundled
example trace. The page opens only the files named here and the files
under each DIR named here: add &trace=PATH to the URL for another of them
(the traces at the top of each DIR are printed with their URLs). Any other
path gets one sentence, which does not say whether it exists. With two
files or more, the URL that opens the first in the compare view against
the second (&compare=PATH) is printed too.

  --port N   listen on port N (default: a free port)
  --stdio    answer API calls as JSON lines on stdin/stdout (the desktop
             app's data process, whose caller checks every path) instead
             of HTTP`,
  async run(argv) {
    const args = parseArgs(argv, { values: ['port'], switches: ['stdio'] });
    const stdio = args.switches.has('stdio');
    if (stdio && args.positional.length > 1) throw new BpfscopeError('serve --stdio takes at most one file');
    const port = intOption(args, 'port', 0);
    if (port > 65535) throw new BpfscopeError('option --port takes a port number (0..65535)');
    const allowed = new AllowedPaths();
    const folders: string[] = [];
    const made: { path: string; temp: boolean }[] = [];
    // A trace made from a LOG or an OBJ is temporary: removed when serving ends.
    const cleanup = (): void => {
      for (const m of made) if (m.temp) rmSync(dirname(m.path), { recursive: true, force: true });
    };
    try {
      for (const p of args.positional) {
        if (isFolder(p)) {
          if (stdio) throw new BpfscopeError('serve --stdio takes a trace, not a folder', p);
          folders.push(allowed.allowFolder(p));
        } else {
          const m = toTrace(p);
          made.push(m);
          allowed.allowFile(m.path);
        }
      }
    } catch (err) {
      cleanup();
      throw err;
    }
    const trace = made[0]?.path ?? (existsSync(EXAMPLE_TRACE) ? EXAMPLE_TRACE : undefined);
    if (trace) allowed.allowFile(trace);
    const handlers = createHandlers({ defaultTrace: trace });
    if (trace) handlers.dispatch('trace:open', [trace]).catch(() => undefined);
    if (stdio) {
      await serveStdio(handlers.dispatch);
      handlers.close();
      cleanup();
      return 0;
    }
    const rendererDir = await ensureRendererBuilt((m) => process.stderr.write(m + '\n'));
    const host = await startHost({ dispatch: handlers.dispatch, rendererDir, port, token: process.env.BPFSCOPE_TOKEN, allowed });
    process.stdout.write(`listening on ${host.url}\n`);
    if (made.length > 1) process.stdout.write(`compare ${args.positional[0]} with ${args.positional[1]}: ${host.url}&compare=${encodeURIComponent(made[1].path)}\n`);
    for (const f of folders) {
      const traces = tracesIn(f);
      process.stdout.write(`${f}: ${traces.length === 0 ? 'no trace at its top; add &trace=PATH to the URL for one below it' : `${traces.length} trace(s)`}\n`);
      for (const t of traces.slice(0, 50)) process.stdout.write(`  ${host.url}&trace=${encodeURIComponent(t)}\n`);
    }
    await new Promise<void>((r) => {
      process.once('SIGINT', r);
      process.once('SIGTERM', r);
    });
    await host.close();
    handlers.close();
    cleanup();
    return 0;
  },
};

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The traces at the top of a folder (by their first bytes), in name order. */
function tracesIn(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(folder, e.name))
    .filter((p) => {
      try {
        return sniff(p) === 'trace';
      } catch {
        return false;
      }
    })
    .sort();
}

/** Turn an object or a log into a trace through the CLI commands that own that work. */
function toTrace(file: string): { path: string; temp: boolean } {
  const kind = sniff(file);
  if (kind === 'trace') return { path: file, temp: false };
  const out = join(mkdtempSync(join(tmpdir(), 'bpfscope-')), basename(file) + '.trace');
  const cmd = kind === 'object' ? 'record' : 'import';
  process.stderr.write(`${cmd === 'record' ? 'recording' : 'importing'} ${file} into ${out}\n`);
  const r = spawnSync(process.execPath, [join(ROOT, 'main/bin.mjs'), cmd, file, '-o', out], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0 || !existsSync(out)) {
    rmSync(dirname(out), { recursive: true, force: true });
    throw new BpfscopeError(`bpfscope ${cmd} failed (exit ${r.status ?? r.signal})`, file);
  }
  return { path: out, temp: true };
}
