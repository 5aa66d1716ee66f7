import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHandlers } from '../../../main/api/handlers';
import { BpfscopeError } from '../../../main/errors';
import { openTrace } from '../../../main/trace/db';
import { damageWarning, fullCheck, health, QUICK_CHECK_WHOLE_FILE } from '../../../main/trace/health';
import { bpfscope } from '../../helpers/cli';
import { overwritePages, PAGE } from '../../helpers/damage';

/**
 * Issue 13's reproductions: a damaged trace, or an SQLite file that is no
 * trace, gives one sentence naming the file and exit 1 (never 70, never
 * SQLite's own message); a trace that is damaged but readable is read with
 * a warning on stderr.
 */
const ROOT = path.resolve(import.meta.dirname, '../../..');
const EXAMPLE = path.join(ROOT, 'resources/example.trace');
const dir = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-damage-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function copy(name: string, bytes?: Uint8Array): string {
  const file = path.join(dir, name);
  if (bytes) writeFileSync(file, bytes);
  else copyFileSync(EXAMPLE, file);
  return file;
}

/** One line on stderr, naming the file, in the form the CLI prints a BpfscopeError. */
function expectOneSentence(r: { code: number; stdout: string; stderr: string }, cmd: string, file: string, what: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0].startsWith(`bpfscope ${cmd}: ${file}: `), lines[0]).toBe(true);
  expect(lines[0]).toMatch(what);
  expect(lines[0]).not.toMatch(/internal error|malformed|no such column|SqliteError/);
}

const READERS: string[][] = [['runs'], ['log', '-p', 'list_push'], ['show', '-p', 'list_push'], ['show', '-p', 'list_push', '--step', '3', '--json']];

describe('a damaged trace, through the CLI', () => {
  it('truncated to 133120 bytes (the issue\'s reproduction): one sentence saying it is truncated, exit 1', async () => {
    const file = copy('half.trace');
    truncateSync(file, 133120);
    const rs = await Promise.all(READERS.map((cmd) => bpfscope([cmd[0], file, ...cmd.slice(1)])));
    READERS.forEach((cmd, i) => expectOneSentence(rs[i], cmd[0], file, /the trace is damaged \(truncated: 133120 of the 266240 bytes its header counts\)/));
  });

  it('truncated near its end: what the pages before the cut hold is read, with a warning that it is truncated', async () => {
    const file = copy('cut.trace');
    truncateSync(file, 60 * PAGE);
    const r = await bpfscope(['runs', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^leak_on_branch +rejected/m);
    expect(r.stderr).toMatch(new RegExp(`^bpfscope runs: warning: ${file}: the trace is damaged \\(truncated: 245760 of the 266240 bytes its header counts and \\d+ more\\); what can be read is shown`));
  });

  it('several 4 KB overwrites in the middle: a sentence naming the file and exit 1, or what can be read with a warning', async () => {
    const bytes = new Uint8Array(readFileSync(EXAMPLE));
    const pages = bytes.length / PAGE;
    const outcomes: string[] = [];
    for (const seed of [1, 2, 3]) {
      const which = [Math.floor(pages / 3) + seed, Math.floor(pages / 2) + seed, Math.floor((2 * pages) / 3) + seed];
      const file = copy(`over-${seed}.trace`, overwritePages(bytes, seed, which));
      const rs = await Promise.all(READERS.map((cmd) => bpfscope([cmd[0], file, ...cmd.slice(1)])));
      for (const [i, cmd] of READERS.entries()) {
        const r = rs[i];
        expect([0, 1], `${cmd.join(' ')} on pages ${which}: ${r.stderr}`).toContain(r.code);
        expect(r.stderr).not.toMatch(/internal error|malformed|SqliteError/);
        // Exit 1 is one sentence; exit 0 on this file comes with the damage warning.
        if (r.code === 1) expectOneSentence(r, cmd[0], file, /damaged/);
        else expect(r.stderr).toContain(`bpfscope ${cmd[0]}: warning: ${file}: the trace is damaged (`);
        outcomes.push(`${cmd[0]}:${r.code}`);
      }
    }
    // Both happen: some reads get past the damage, some do not.
    expect(outcomes.some((o) => o.endsWith(':0'))).toBe(true);
    expect(outcomes.some((o) => o.endsWith(':1'))).toBe(true);
  });

  it('one 4 KB overwrite in the middle: runs still lists the programs, and warns that the trace is damaged', async () => {
    const bytes = new Uint8Array(readFileSync(EXAMPLE));
    const file = copy('one.trace', overwritePages(bytes, 7, [32]));
    // SQLite's own check fails on this file (what `runs` used to read with exit 0 and no word).
    const db = new Database(file, { readonly: true });
    expect(() => db.pragma('integrity_check')).toThrow();
    db.close();
    const r = await bpfscope(['runs', file]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^list_push +accepted/m);
    expect(r.stdout).toMatch(/^leak_on_branch +rejected/m);
    expect(r.stderr).toBe(
      `bpfscope runs: warning: ${file}: the trace is damaged (table runtime_runs: SQLite's check stops: its SQLite pages are corrupt); ` +
        "what can be read is shown, 'bpfscope check' lists the problems\n",
    );
    const c = await bpfscope(['check', file]);
    expect(c.code).toBe(1);
    expect(c.stdout).toBe(`${file}: damaged\n  table runtime_runs: SQLite's check stops: its SQLite pages are corrupt\n`);
  });
});

describe('an SQLite file that is no bpfscope trace', () => {
  it('a meta table with other columns: not a bpfscope trace, naming its columns (was: exit 70, no such column: value)', async () => {
    const file = path.join(dir, 'meta.db');
    const db = new Database(file);
    db.exec("CREATE TABLE meta (name TEXT, val TEXT); INSERT INTO meta VALUES ('schema_version', '1'); CREATE TABLE programs (id INTEGER)");
    db.close();
    const rs = await Promise.all(READERS.map((cmd) => bpfscope([cmd[0], file, ...cmd.slice(1)])));
    READERS.forEach((cmd, i) => expectOneSentence(rs[i], cmd[0], file, /: not a bpfscope trace \(its meta table has the columns name, val, not key and value\)$/));
    const c = await bpfscope(['check', file]);
    expect(c).toEqual({ code: 1, stdout: `${file}: not a bpfscope trace (its meta table has the columns name, val, not key and value)\n`, stderr: '' });
  });

  it('an SQLite database of something else, and an empty one', async () => {
    const other = path.join(dir, 'places.sqlite');
    const db = new Database(other);
    db.exec('CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT); CREATE TABLE moz_bookmarks (id INTEGER, fk INTEGER)');
    db.close();
    const r = await bpfscope(['runs', other]);
    expectOneSentence(r, 'runs', other, /: not a bpfscope trace \(an SQLite database with tables moz_bookmarks, moz_places and no meta table\)$/);
    const empty = path.join(dir, 'empty.sqlite');
    new Database(empty).exec('CREATE TABLE t (x); DROP TABLE t').close();
    expectOneSentence(await bpfscope(['show', empty]), 'show', empty, /: not a bpfscope trace \(an SQLite database with no tables\)$/);
  });

  it('a trace whose meta holds a newer version, or no version number, or which lacks its programs table', async () => {
    const cases: [string, string, RegExp][] = [
      ['newer', "UPDATE meta SET value = '99' WHERE key = 'schema_version'", /trace schema version 99 is newer than this bpfscope understands \(1\); update bpfscope$/],
      ['nan', "UPDATE meta SET value = 'x' WHERE key = 'schema_version'", /the trace is damaged \(its schema_version in meta is not a version number\)/],
      ['noversion', "DELETE FROM meta WHERE key = 'schema_version'", /not a bpfscope trace \(its meta table holds no schema_version\)$/],
      ['noprograms', 'PRAGMA foreign_keys = OFF; DROP TABLE runtime_runs; DROP TABLE runtime_objects; DROP TABLE runtime_events; DROP TABLE runtime_maps; DROP TABLE runtime_insn_steps; DROP TABLE runtime_reg_checkpoints; DROP TABLE programs', /the trace is damaged \(it has no table programs\)/],
    ];
    const files = cases.map(([name, sql]) => {
      const file = copy(`${name}.trace`);
      const db = new Database(file);
      db.exec(sql);
      db.close();
      return file;
    });
    const rs = await Promise.all(files.map((file) => bpfscope(['runs', file])));
    cases.forEach(([, , want], i) => expectOneSentence(rs[i], 'runs', files[i], want));
  });
});

describe('the check on open of a large trace', () => {
  it(`over ${QUICK_CHECK_WHOLE_FILE >> 20} MB it checks the tables other than the bulk blocks; bpfscope check still reads it all`, () => {
    const file = copy('large.trace');
    const db = new Database(file);
    // 70 blocks of 1 MB in a bulk table (a giant log's blocks), after the example's own pages.
    const put = db.prepare('INSERT INTO verifier_log_blocks(program_id, block, first_line, line_count, data) VALUES (99, ?, 1, 1, zeroblob(1048576))');
    db.transaction(() => { for (let b = 0; b < 70; b++) put.run(b); })();
    const programsRoot = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'programs'").get() as { rootpage: number }).rootpage;
    db.close();
    const bytes = new Uint8Array(readFileSync(file));
    expect(bytes.length).toBeGreaterThan(QUICK_CHECK_WHOLE_FILE);
    // A page of the blocks' overflow chain: the bounded check on open does not read it, integrity_check does.
    const bulk = path.join(dir, 'large-bulk.trace');
    writeFileSync(bulk, overwritePages(bytes, 11, [Math.floor(bytes.length / PAGE / 2)]));
    const t = performance.now();
    const a = openTrace(bulk);
    const ms = performance.now() - t;
    expect(health.get(a)).toEqual({ problems: [], partial: true });
    expect(fullCheck(a).join('\n')).toMatch(/verifier_log_blocks|overflow|Page \d+/i);
    a.close();
    console.log(`open of a ${(bytes.length / 2 ** 20).toFixed(0)} MB trace with the bounded check: ${ms.toFixed(0)} ms`);
    // The programs table's page: found on open, and the trace reads with a warning.
    const core = path.join(dir, 'large-core.trace');
    writeFileSync(core, overwritePages(bytes, 12, [programsRoot - 1]));
    const b = openTrace(core);
    expect(health.get(b)?.partial).toBe(true);
    expect(damageWarning(b)).toMatch(/^the trace is damaged \(table programs: /);
    b.close();
  });
});

describe('bpfscope check', () => {
  it('says ok (exit 0) for a sound trace, and lists the problems (exit 1) of a damaged one, also as JSON', async () => {
    expect(await bpfscope(['check', EXAMPLE])).toEqual({ code: 0, stdout: `${EXAMPLE}: ok\n`, stderr: '' });
    const j = await bpfscope(['check', EXAMPLE, '--json']);
    expect(JSON.parse(j.stdout)).toEqual({ file: EXAMPLE, ok: true, problems: [] });
    // A dropped index: quick_check does not see it, integrity_check does.
    const file = copy('index.trace');
    const db = new Database(file);
    db.exec('PRAGMA writable_schema = ON');
    const root = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'verifier_messages_step'").get() as { rootpage: number }).rootpage;
    db.close();
    const bytes = new Uint8Array(readFileSync(file));
    writeFileSync(file, overwritePages(bytes, 3, [root - 1]));
    const c = await bpfscope(['check', file, '--json']);
    expect(c.code).toBe(1);
    const out = JSON.parse(c.stdout) as { file: string; ok: boolean; problems: string[] };
    expect(out.ok).toBe(false);
    expect(out.problems.length).toBeGreaterThan(0);
    expect(out.problems.join('\n')).toMatch(/verifier_messages/);
  });
});

describe('a damaged trace, through the API (the app and the browser host)', () => {
  it('trace:open refuses a truncated trace with the sentence, and opens a readable damaged one with info.damage', async () => {
    const { dispatch, close } = createHandlers();
    try {
      const half = copy('api-half.trace');
      truncateSync(half, 133120);
      const err = await dispatch('trace:open', [half]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BpfscopeError);
      expect((err as BpfscopeError).describe()).toBe(
        `${half}: the trace is damaged (truncated: 133120 of the 266240 bytes its header counts); 'bpfscope check' lists what is wrong`,
      );
      const bytes = new Uint8Array(readFileSync(EXAMPLE));
      const one = copy('api-one.trace', overwritePages(bytes, 7, [32]));
      const info = (await dispatch('trace:open', [one])) as { traceId: number; damage?: string; programs: { id: number; name: string }[] };
      expect(info.damage).toMatch(/^the trace is damaged \(table runtime_runs: /);
      expect(info.programs.map((p) => p.name)).toContain('list_push');
      const sound = (await dispatch('trace:open', [EXAMPLE])) as { damage?: string };
      expect(sound.damage).toBeUndefined();
    } finally {
      close();
    }
  });
});
