import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createHandlers } from '../../../main/api/handlers';
import type { TraceInfo } from '../../../main/api/contract';
import { main } from '../../../main/cli/index';
import { BpfscopeError } from '../../../main/errors';
import { MUTATIONS, mutate } from '../../helpers/damage';

/**
 * Mutated copies of resources/example.trace (seeded: truncations, bit
 * flips, 4 KB overwrites, page swaps) through every reader the CLI and the
 * API use: runs, log, show (summary and steps), check, and every channel of
 * the handler table (each file through one CLI reader and one program's
 * channels, API_PER_FILE of them, in turn). Nothing may escape but a
 * BpfscopeError naming the file; the CLI exits 0 or 1, never 70.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const BASE = new Uint8Array(readFileSync(path.join(ROOT, 'resources/example.trace')));
const FILES = Number(process.env.BPFSCOPE_TRACE_FUZZ ?? 1000);
/** API reads per file, taken in turn from the 17 of apiCalls. */
const API_PER_FILE = 6;
const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-trace-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `main` with stdout/stderr captured (a `write` callback is called, as `log` waits for it). */
async function cli(argv: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const sink = (chunk: unknown, enc?: unknown, cb?: unknown): boolean => {
    const done = typeof enc === 'function' ? enc : cb;
    if (typeof done === 'function') (done as () => void)();
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(sink as typeof process.stdout.write);
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown, enc?: unknown, cb?: unknown) => {
    stderr += String(chunk);
    return sink(chunk, enc, cb);
  }) as typeof process.stderr.write);
  try {
    return { code: await main(argv), stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The CLI's readers, as users run them on the example trace's programs. */
const CLI_RUNS: string[][] = [
  ['runs'], ['runs', '--json'], ['check'], ['log', '-p', 'list_push'], ['log', '-p', 'leak_on_branch'],
  ['show', '-p', 'list_push'], ['show', '-p', 'leak_on_branch', '--steps', '0..40'], ['show', '-p', 'list_mixed', '--step', '60', '--json'],
];

/** Every reader channel of the handler table, on one program. */
function apiCalls(info: TraceInfo, id: number, steps: number): [string, unknown[]][] {
  const t = info.traceId;
  const mid = Math.floor(steps / 2);
  return [
    ['log:lines', [t, id, 1, 200]], ['log:search', [t, id, 'R0', false, 1, false]], ['log:search', [t, id, 'r[0-9]+ \\+=', true, 50, true]],
    ['steps:rows', [t, id, 0, 200]], ['steps:state', [t, id, 0]], ['steps:state', [t, id, mid]], ['steps:state', [t, id, Math.max(0, steps - 1)]],
    ['steps:forInsn', [t, id, 3]], ['steps:lastWrite', [t, id, Math.max(0, steps - 1), 0, 'R0']], ['steps:firstError', [t, id]],
    ['insns:listing', [t, id]], ['refs:list', [t, id]], ['paths:list', [t, id, 0, 50]], ['layout:types', [t, id]],
    ['layout:get', [t, id, 'elem']], ['alloc:events', [t, id]], ['run:result', [t, id]],
  ];
}

interface Tally {
  fine: number;
  damaged: number;
  refused: number;
  cliRefused: number;
  apiRefused: number;
  calls: number;
  byKind: Record<string, [number, number, number]>;
}

/** An error from a reader: a BpfscopeError naming the file, no SQLite words, no internal error. */
function expectSentence(err: unknown, file: string, what: string): void {
  if (!(err instanceof BpfscopeError) || err.file !== file || /internal error|SqliteError|disk image is malformed/.test(err.message)) {
    throw new Error(`${what}: ${err instanceof Error ? err.stack : String(err)}`);
  }
}

describe('trace fuzz', () => {
  it(`${FILES} mutated traces through every reader of the CLI and the API: only sentences naming the file`, async () => {
    const t0 = Date.now();
    const tally: Tally = { fine: 0, damaged: 0, refused: 0, cliRefused: 0, apiRefused: 0, calls: 0, byKind: {} };
    for (let i = 0; i < FILES; i++) {
      const kind = MUTATIONS[i % MUTATIONS.length];
      const seed = 0x13_0000 + i;
      const m = mutate(BASE, kind, seed);
      const file = path.join(dir, `m${i}.trace`);
      writeFileSync(file, m.bytes);
      const what = `${kind} seed ${seed} (${m.what})`;
      // Each file goes through one CLI reader and one program's API reads, in turn: over the run every
      // reader meets every kind of damage (all of them on every file would take ten times as long).
      for (const argv of [CLI_RUNS[i % CLI_RUNS.length]]) {
        const r = await cli([argv[0], file, ...argv.slice(1)]);
        if (r.code !== 0 && r.code !== 1) throw new Error(`${what}: bpfscope ${argv.join(' ')} exited ${r.code}: ${r.stderr}`);
        if (r.code === 1) {
          tally.cliRefused++;
          const last = r.stderr.trimEnd().split('\n').pop() ?? '';
          // check prints its verdict on stdout; the others one sentence on stderr.
          if (argv[0] !== 'check' && (!last.startsWith(`bpfscope ${argv[0]}: ${file}: `) || /internal error|malformed/.test(last))) {
            throw new Error(`${what}: bpfscope ${argv.join(' ')}: ${r.stderr}`);
          }
        }
      }
      const { dispatch, close } = createHandlers();
      const k = (tally.byKind[kind] ??= [0, 0, 0]);
      try {
        let info: TraceInfo;
        try {
          info = (await dispatch('trace:open', [file])) as TraceInfo;
        } catch (err) {
          expectSentence(err, file, `${what}: trace:open`);
          tally.refused++;
          k[2]++;
          continue;
        }
        if (info.damage) {
          tally.damaged++;
          k[1]++;
        } else {
          tally.fine++;
          k[0]++;
        }
        for (const p of info.programs.length ? [info.programs[Math.floor(i / MUTATIONS.length) % info.programs.length]] : []) {
          const calls = apiCalls(info, p.id, p.steps);
          for (let c = 0; c < API_PER_FILE; c++) {
            const [channel, args] = calls[(i * API_PER_FILE + c) % calls.length];
            tally.calls++;
            try {
              await dispatch(channel, args);
            } catch (err) {
              expectSentence(err, file, `${what}: ${channel} ${JSON.stringify(args)}`);
              tally.apiRefused++;
            }
          }
        }
      } finally {
        close();
        rmSync(file, { force: true });
      }
    }
    const secs = (Date.now() - t0) / 1000;
    const kinds = Object.entries(tally.byKind).map(([kind, [f, d, r]]) => `${kind} ${f}/${d}/${r}`).join(', ');
    console.log(
      `trace fuzz: ${FILES} files in ${secs.toFixed(1)} s: ${tally.fine} opened sound, ${tally.damaged} read with a damage warning, ` +
        `${tally.refused} refused on open (per kind sound/damaged/refused: ${kinds}); ` +
        `${tally.calls} API reads (${tally.apiRefused} refused with a sentence), ${FILES} CLI runs (${tally.cliRefused} exit 1)`,
    );
    // Each kind of damage both gets through to readers and gets refused: the fuzz reaches past the open.
    expect(tally.fine + tally.damaged).toBeGreaterThan(FILES / 4);
    expect(tally.refused).toBeGreaterThan(0);
    expect(tally.damaged).toBeGreaterThan(0);
  });
});
