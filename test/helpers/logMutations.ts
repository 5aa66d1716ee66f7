import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { LogAnalyzer, type AnalysisSink, type LogMessage } from '../../main/verifier/analyze';
import { splitLines } from '../../main/verifier/lines';
import { rng } from './fuzz';

/**
 * Mutations of real verifier logs for the log fuzz test
 * (test/unit/verifier/fuzz.test.ts): the fixture logs of this kernel, 6.1
 * and 6.12, with lines deleted, duplicated, swapped, cut mid-line, bytes
 * flipped, numbers and register names changed, huge numbers, very long
 * lines, pieces of other logs. `mutate(seed)` rebuilds any input from its seed
 * (for the same set of fixture logs: a new fixture shifts which log a seed picks).
 */
const DIR = path.resolve(import.meta.dirname, '../fixtures/logs');
export const SOURCES = ['', '6.1', '6.12'].flatMap((sub) =>
  readdirSync(path.join(DIR, sub))
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => ({ name: path.join(sub, f), text: readFileSync(path.join(DIR, sub, f), 'utf8') })),
);
/** The big loop log (200 kB) would take most of the time: it is mutated as often as the others, but cut to its first 600 lines. */
export const LOGS = SOURCES.map((s) => ({ ...s, lines: s.text.split('\n').slice(0, 600) }));

const HUGE = ['18446744073709551615', '18446744073709551616', '99999999999999999999999999', '-9223372036854775809', '0x' + 'f'.repeat(40), '4294967296', '-0', '1e308', 'NaN'];

type Mutation = (lines: string[], r: () => number) => string[];
const pick = <T,>(a: T[], r: () => number): T => a[r() % a.length];
const at = (lines: string[], r: () => number): number => (lines.length ? r() % lines.length : 0);

/** Replace the k-th match of `re` in one random line with what `by` makes of it. */
function editLine(lines: string[], r: () => number, re: RegExp, by: (m: string) => string): string[] {
  const i = at(lines, r);
  const l = lines[i] ?? '';
  const ms = [...l.matchAll(re)];
  if (ms.length === 0) return lines;
  const m = pick(ms, r);
  const out = lines.slice();
  out[i] = l.slice(0, m.index) + by(m[0]) + l.slice(m.index! + m[0].length);
  return out;
}

const MUTATIONS: [string, Mutation][] = [
  ['delete lines', (ls, r) => { const i = at(ls, r); return [...ls.slice(0, i), ...ls.slice(i + 1 + (r() % 3))]; }],
  ['duplicate lines', (ls, r) => { const i = at(ls, r); const n = 1 + (r() % 4); return [...ls.slice(0, i + n), ...ls.slice(i, i + n), ...ls.slice(i + n)]; }],
  ['swap lines', (ls, r) => { const out = ls.slice(); const i = at(ls, r); const j = r() % 2 ? at(ls, r) : Math.min(ls.length - 1, i + 1); [out[i], out[j]] = [out[j], out[i]]; return out; }],
  ['truncate mid-line', (ls, r) => { const i = at(ls, r); const l = ls[i] ?? ''; return [...ls.slice(0, i), l.slice(0, r() % (l.length + 1))]; }],
  ['flip bytes', (ls, r) => {
    const out = ls.slice();
    for (let k = 1 + (r() % 4); k > 0; k--) {
      const i = at(out, r);
      const l = out[i] ?? '';
      const p = r() % (l.length + 1);
      // Any byte but a newline (that would be a line split, another mutation).
      let c = r() % 256;
      if (c === 10) c = 0;
      out[i] = l.slice(0, p) + String.fromCharCode(c) + l.slice(p + 1);
    }
    return out;
  }],
  ['change a number', (ls, r) => editLine(ls, r, /-?\d+/g, () => String(pick([0, 1, -1, 7, 8, 64, 255, 512, 4096, 65535, -2147483648, r(), -r()], r)))],
  ['huge number', (ls, r) => editLine(ls, r, /-?(0x[0-9a-f]+|\d+)/g, () => pick(HUGE, r))],
  ['register name', (ls, r) => editLine(ls, r, /\b[Rr]\d+|fp-?\d+/g, (m) => (m[0] === 'f' ? `fp${pick(['-0', '-1', '-9', '-520', '-99999999', '0', '+8', '-'], r)}` : `${m[0]}${pick([0, 9, 10, 11, 12, 15, 16, 99, 4294967296], r)}`))],
  ['very long line', (ls, r) => {
    const out = ls.slice();
    const i = at(out, r);
    const l = out[i] ?? '';
    // A state delta with thousands of items, or one line past MAX_LINE.
    out[i] = r() % 2 ? l + Array.from({ length: 2000 }, (_, k) => ` R${k % 12}=scalar(id=${k})`).join('') : l.repeat(Math.ceil(70_000 / Math.max(1, l.length)));
    return out;
  }],
  ['splice another log', (ls, r) => { const other = pick(LOGS, r).lines; const i = at(ls, r); const j = at(other, r); return [...ls.slice(0, i), ...other.slice(j, j + 1 + (r() % 30)), ...ls.slice(i)]; }],
];

/** The input of one seed: a log and 1–4 mutations; the names say which. */
export function mutate(seed: number): { source: string; applied: string[]; text: string } {
  const r = rng(seed);
  const log = LOGS[r() % LOGS.length];
  let lines = log.lines;
  const applied: string[] = [];
  for (let k = 1 + (r() % 4); k > 0; k--) {
    const [name, fn] = pick(MUTATIONS, r);
    lines = fn(lines, r);
    applied.push(name);
  }
  return { source: log.name, applied, text: lines.join('\n') };
}

/** A sink that keeps what a store would check: checkpoints must be JSON, messages sentences. */
function checkingSink(): AnalysisSink & { messages: LogMessage[]; checkpoints: number } {
  const s = {
    messages: [] as LogMessage[],
    checkpoints: 0,
    step: () => undefined,
    checkpoint: (_step: number, _line: number, json: string) => {
      JSON.parse(json);
      s.checkpoints++;
    },
    message: (m: LogMessage) => void s.messages.push(m),
    markPrecise: () => undefined,
    liveRegs: () => undefined,
  };
  return s;
}

/** Both ways the splitter is fed: a string (its UTF-8 byte path) and odd-sized byte chunks. */
async function* byteChunks(text: string, size: number): AsyncGenerator<Uint8Array> {
  const b = Buffer.from(text, 'utf8');
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

export async function analyse(text: string, seed: number): Promise<LogAnalyzer> {
  const a = new LogAnalyzer(checkingSink(), { checkpointEvery: 1 + (seed % 16) });
  const input = seed % 3 === 0 ? byteChunks(text, 1 + (seed % 4099)) : text;
  for await (const b of splitLines(input)) a.feedBatch(b);
  a.finish();
  return a;
}

