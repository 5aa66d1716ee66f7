import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blockProblems } from '../../../main/trace/blockCheck';
import { openTrace } from '../../../main/trace/db';
import { bpfscopeInProcess } from '../../helpers/cli';
import { REPO_ROOT } from '../../helpers/ref';

/**
 * Damage inside a blob: bytes of a compressed block overwritten in place, as
 * a bad sector or a stray write would. Every b-tree stays valid, so SQLite's
 * integrity_check says "ok"; `bpfscope check` decodes the blocks and names
 * the program and the block, and a reader of that block gets one sentence
 * naming the file (exit 1), never an internal error.
 */
const EXAMPLE = path.join(REPO_ROOT, 'resources/example.trace');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-blocks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A copy of the example with bytes of one stored blob overwritten: the first
 * row of `sql` whose first 64 bytes occur once in the file (the example holds
 * two imports of the same log, whose blocks are the same bytes), found there.
 */
function withBlobDamage(name: string, sql: string): { file: string; programId: number; program: string; block: number } {
  const file = path.join(dir, name);
  copyFileSync(EXAMPLE, file);
  const db = new Database(file, { readonly: true });
  const rows = db.prepare(sql).all() as { program_id: number; name: string; block: number; data: Buffer }[];
  db.close();
  const bytes = readFileSync(file);
  for (const row of rows) {
    const head = row.data.subarray(0, 64);
    const at = bytes.indexOf(head);
    if (at < 0 || bytes.indexOf(head, at + 1) >= 0) continue;
    // Inside the first 64 bytes, which are in the row's own page (an overflow page's pointer is never touched).
    for (let i = 8; i < 40; i++) bytes[at + i] ^= 0x5a;
    writeFileSync(file, bytes);
    return { file, programId: row.program_id, program: row.name, block: row.block };
  }
  throw new Error(`no blob of '${sql}' is unique in the file`);
}

describe('bpfscope check decodes the blocks', () => {
  it('a sound trace has no block problems', () => {
    const db = openTrace(EXAMPLE);
    try {
      expect(blockProblems(db)).toEqual([]);
    } finally {
      db.close();
    }
  });

  it("a log block's bytes overwritten: integrity_check passes, check names the program and block, log gives a sentence", async () => {
    const { file, programId, program, block } = withBlobDamage('log.trace',
      'SELECT b.program_id, p.name, b.block, b.data FROM verifier_log_blocks b JOIN programs p ON p.id = b.program_id WHERE length(b.data) >= 64 ORDER BY b.program_id, b.block');
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
    raw.close();
    const c = await bpfscopeInProcess(['check', file]);
    expect(c.code).toBe(1);
    expect(c.out).toBe(`${file}: damaged\n  program ${program} (id ${programId}): log block ${block} does not decode to its ${blockLines(file, programId, block)} lines\n`);
    const j = await bpfscopeInProcess(['check', file, '--json']);
    expect(JSON.parse(j.out)).toMatchObject({ file, ok: false, problems: [expect.stringMatching(new RegExp(`^program ${program} .*log block ${block}`))] });
    // A reader of the block: `show` replays the step from the log lines.
    const r = await bpfscopeInProcess(['show', file, '-p', String(programId), '--step', '3']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`bpfscope show: ${file}: log block ${block} of program ${programId} is corrupt\n`);
    // The raw log the kernel printed is stored apart from the blocks (program_logs) and still reads.
    const stored = await bpfscopeInProcess(['log', file, '-p', String(programId)]);
    expect(stored.code, stored.err).toBe(0);
    expect(stored.out).toMatch(/^func#0 @0\n/);
    // The other programs read as before.
    const other = await bpfscopeInProcess(['show', file, '-p', String(programId === 1 ? 2 : 1), '--step', '3']);
    expect(other.code, other.err).toBe(0);
  });

  it("a step block's bytes overwritten: check names it, show of a step in it gives a sentence", async () => {
    const { file, programId, program, block } = withBlobDamage('steps.trace',
      'SELECT b.program_id, p.name, b.block, b.data FROM verifier_step_blocks b JOIN programs p ON p.id = b.program_id WHERE length(b.data) >= 64 ORDER BY b.program_id, b.block');
    const c = await bpfscopeInProcess(['check', file]);
    expect(c.code).toBe(1);
    expect(c.out).toMatch(new RegExp(`program ${program} \\(id ${programId}\\): step block ${block} does not decode`));
    const r = await bpfscopeInProcess(['show', file, '-p', String(programId), '--step', String(firstStep(file, programId, block))]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`step block ${block} of program ${programId} is corrupt`));
    expect(r.err).not.toMatch(/internal error/);
  });

  it('a missing block and counts that do not add up are named', () => {
    const file = path.join(dir, 'missing.trace');
    copyFileSync(EXAMPLE, file);
    const w = new Database(file);
    const p = w.prepare("SELECT id FROM programs WHERE name = 'list_mixed' ORDER BY id LIMIT 1").get() as { id: number };
    const last = (w.prepare('SELECT max(block) b FROM verifier_step_blocks WHERE program_id = ?').get(p.id) as { b: number }).b;
    // Block 0 renumbered past the last: a hole at 0, and the moved block starts where none ended.
    w.prepare('UPDATE verifier_step_blocks SET block = ? WHERE program_id = ? AND block = 0').run(last + 1, p.id);
    w.prepare('UPDATE verifier_logs SET line_count = line_count + 1 WHERE program_id = ?').run(p.id);
    w.close();
    const db = openTrace(file);
    try {
      const problems = blockProblems(db).filter((q) => q.startsWith(`program list_mixed (id ${p.id}): `));
      expect(problems).toContain(`program list_mixed (id ${p.id}): step block 0 is missing (the next stored is 1)`);
      expect(problems.some((q) => /log blocks hold (\d+) lines, its summary row says \d+$/.test(q))).toBe(true);
    } finally {
      db.close();
    }
  });
});

function blockRow(file: string, table: string, programId: number, block: number): { n: number; first: number } {
  const db = new Database(file, { readonly: true });
  try {
    const cols = table === 'verifier_log_blocks' ? 'line_count n, first_line first' : 'step_count n, first_step first';
    return db.prepare(`SELECT ${cols} FROM ${table} WHERE program_id = ? AND block = ?`).get(programId, block) as { n: number; first: number };
  } finally {
    db.close();
  }
}
const blockLines = (file: string, pid: number, block: number): number => blockRow(file, 'verifier_log_blocks', pid, block).n;
const firstStep = (file: string, pid: number, block: number): number => blockRow(file, 'verifier_step_blocks', pid, block).first;
