import type { TraceDb } from './db';
import { tableNames } from './health';
import { readProgramLog } from './load';
import { STEP_FIELDS } from './verifier';
import { unpack } from './verifierRead';

/**
 * What SQLite's integrity_check cannot see: the compressed blocks that hold
 * a program's log lines and steps, and its raw recorded log. A page of blob
 * bytes overwritten in place leaves every b-tree valid, so the file checks
 * "ok" while a reader would fail on that block. `bpfscope check` decodes
 * every block and checks it against its row (line or step count) and the
 * blocks against each other (numbered from 0, each starting where the
 * previous ended, adding up to the program's counts). Rows are read one at
 * a time: memory stays one block, whatever the trace's size.
 */

const MAX_PER_PROGRAM = 5;

interface ProgramRow {
  id: number;
  name: string;
  line_count: number | null;
  step_count: number | null;
}

export function blockProblems(db: TraceDb): string[] {
  // Once: an older trace may lack some of the tables.
  const tables = new Set(tableNames(db));
  const has = (t: string): boolean => tables.has(t);
  const out: string[] = [];
  const programs = db
    .prepare(
      has('verifier_logs')
        ? 'SELECT p.id, p.name, v.line_count, v.step_count FROM programs p LEFT JOIN verifier_logs v ON v.program_id = p.id ORDER BY p.id'
        : 'SELECT id, name, NULL line_count, NULL step_count FROM programs ORDER BY id',
    )
    .all() as ProgramRow[];
  for (const p of programs) {
    const problems: string[] = [];
    if (p.line_count !== null && has('verifier_log_blocks')) problems.push(...logBlockProblems(db, p));
    if (p.step_count !== null && has('verifier_step_blocks')) problems.push(...stepBlockProblems(db, p));
    if (has('program_logs')) problems.push(...rawLogProblems(db, p));
    const who = `program ${p.name} (id ${p.id})`;
    for (const q of problems.slice(0, MAX_PER_PROGRAM)) out.push(`${who}: ${q}`);
    if (problems.length > MAX_PER_PROGRAM) out.push(`${who}: ${problems.length - MAX_PER_PROGRAM} more block problems`);
  }
  return out;
}

/** Lines in a decoded block: each ends with a newline. */
function newlines(b: Buffer): number {
  let n = 0;
  for (let at = b.indexOf(10); at >= 0; at = b.indexOf(10, at + 1)) n++;
  return n;
}

function logBlockProblems(db: TraceDb, p: ProgramRow): string[] {
  const rows = db
    .prepare('SELECT block, first_line, line_count, data FROM verifier_log_blocks WHERE program_id = ? ORDER BY block')
    .iterate(p.id) as IterableIterator<{ block: number; first_line: number; line_count: number; data: Buffer }>;
  return sequence('log', 'lines', rows, p.line_count ?? 0, (r) => r.first_line, (r) => r.line_count, (r) =>
    unpack(r.data, (b) => newlines(b) === r.line_count && (b.length === 0 || b[b.length - 1] === 10)) !== null);
}

function stepBlockProblems(db: TraceDb, p: ProgramRow): string[] {
  const rows = db
    .prepare('SELECT block, first_step, step_count, data FROM verifier_step_blocks WHERE program_id = ? ORDER BY block')
    .iterate(p.id) as IterableIterator<{ block: number; first_step: number; step_count: number; data: Buffer }>;
  const size = (n: number): number => n * STEP_FIELDS * 4;
  // The first traces stored the packed fields uncompressed (exactly the size); the readers take both.
  return sequence('step', 'steps', rows, p.step_count ?? 0, (r) => r.first_step, (r) => r.step_count, (r) =>
    r.data.length === size(r.step_count) || unpack(r.data, (b) => b.length === size(r.step_count)) !== null);
}

/**
 * The blocks of one kind, in order: each decodes, they are numbered 0, 1, …,
 * each starts where the one before ended, and their counts add up to the
 * program's. The first block's start is the base (lines count from 1, steps from 0).
 */
function sequence<R extends { block: number }>(
  kind: string, unit: string, rows: IterableIterator<R>, total: number,
  first: (r: R) => number, count: (r: R) => number, decodes: (r: R) => boolean,
): string[] {
  const out: string[] = [];
  let expectBlock = 0;
  let next: number | undefined;
  let sum = 0;
  for (const r of rows) {
    if (r.block !== expectBlock) out.push(`${kind} block ${expectBlock} is missing (the next stored is ${r.block})`);
    expectBlock = r.block + 1;
    if (next !== undefined && first(r) !== next) out.push(`${kind} block ${r.block} starts at ${first(r)}, not ${next} where block ${r.block - 1} ended`);
    next = first(r) + count(r);
    sum += count(r);
    if (!decodes(r)) out.push(`${kind} block ${r.block} does not decode to its ${count(r)} ${unit}`);
  }
  if (sum !== total) out.push(`its ${kind} blocks hold ${sum} ${unit}, its summary row says ${total}`);
  return out;
}

function rawLogProblems(db: TraceDb, p: ProgramRow): string[] {
  const row = db.prepare('SELECT size FROM program_logs WHERE program_id = ?').get(p.id) as { size: number | null } | undefined;
  if (!row) return [];
  let bytes: Buffer | undefined;
  try {
    // Decoded as every reader decodes it.
    bytes = readProgramLog(db, p.id);
  } catch {
    return ['its recorded verifier log does not decode'];
  }
  if (bytes && row.size !== null && row.size !== bytes.length) return [`its recorded verifier log is ${bytes.length} bytes, its row says ${row.size}`];
  return [];
}
