import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createHandlers } from '../api/handlers';
import { BpfscopeError } from '../errors';
import { ensureRendererBuilt, ROOT } from '../host/build';
import { startHost } from '../host/server';
import { sniff } from '../host/sniff';
import { serveStdio } from '../host/stdio';
import { intOption, parseArgs } from './args';
import type { Command } from './index';

export const EXAMPLE_TRACE = join(ROOT, 'resources/example.trace');

export const command: Command = {
  summary: 'serve the app in a browser (127.0.0.1 only, token-protected)',
  usage: `usage: bpfscope serve [TRACE|OBJ|LOG] [--port N]
       bpfscope serve --stdio [TRACE]

Serves the bpfscope views and their API over HTTP on 127.0.0.1 and prints
  listening on http://127.0.0.1:PORT/?token=…
Open that URL (from another machine: ssh -L PORT:127.0.0.1:PORT host).
A LOG is imported into a temporary trace first, an OBJ (.bpf.o) is recorded
into one (bpfscope record); without a file the bundled example trace opens.

  --port N   listen on port N (default: a free port)
  --stdio    answer API calls as JSON lines on stdin/stdout (the desktop
             app's data process) instead of HTTP`,
  async run(argv) {
    const args = parseArgs(argv, { values: ['port'], switches: ['stdio'] });
    if (args.positional.length > 1) throw new BpfscopeError('serve takes at most one file');
    const port = intOption(args, 'port', 0);
    if (port > 65535) throw new BpfscopeError('option --port takes a port number (0..65535)');
    const file = args.positional[0];
    const made = file ? toTrace(file) : undefined;
    const trace = made?.path ?? (existsSync(EXAMPLE_TRACE) ? EXAMPLE_TRACE : undefined);
    // A trace made from a LOG or an OBJ is temporary: removed when serving ends.
    const cleanup = (): void => {
      if (made?.temp) rmSync(dirname(made.path), { recursive: true, force: true });
    };
    const handlers = createHandlers({ defaultTrace: trace });
    if (trace) handlers.dispatch('trace:open', [trace]).catch(() => undefined);
    if (args.switches.has('stdio')) {
      await serveStdio(handlers.dispatch);
      handlers.close();
      cleanup();
      return 0;
    }
    const rendererDir = await ensureRendererBuilt((m) => process.stderr.write(m + '\n'));
    const host = await startHost({ dispatch: handlers.dispatch, rendererDir, port, token: process.env.BPFSCOPE_TOKEN });
    process.stdout.write(`listening on ${host.url}\n`);
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
