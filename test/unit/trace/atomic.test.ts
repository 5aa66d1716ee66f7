import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BpfscopeError } from '../../../main/errors';
import { checkReplaceable, removeStaleTemps, tempPathFor, writeTraceAtomically } from '../../../main/trace/atomic';
import { createTrace, openTrace } from '../../../main/trace/db';

const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bpfscope-atomic-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => {
  const d = path.join(dir, `case${n++}`);
  mkdirSync(d);
  return d;
};
const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

function addProgram(name: string) {
  return (db: Database.Database): number =>
    Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')").run(name).lastInsertRowid);
}

/** A folder with a trace `a.trace` holding one program, 'old'. */
async function withOldTrace(): Promise<{ d: string; t: string }> {
  const d = fresh();
  const t = path.join(d, 'a.trace');
  await writeTraceAtomically(t, 'empty', addProgram('old'));
  return { d, t };
}

function programs(file: string): string[] {
  const db = openTrace(file);
  try {
    return (db.prepare('SELECT name FROM programs ORDER BY id').all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
}

/** A writer killed before its checkpoint: the rows it added live in TRACE-wal only. */
function crashedWriter(trace: string, names: string[]): void {
  const script = `
    const db = new (require('better-sqlite3'))(process.argv[1]);
    db.pragma('journal_mode = WAL');
    db.pragma('wal_autocheckpoint = 0');
    const put = db.prepare("INSERT INTO programs(name, origin, created_at) VALUES (?, 'import', 'now')");
    for (const n of JSON.parse(process.argv[2])) put.run(n);
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['-e', script, trace, JSON.stringify(names)], { cwd: path.resolve(__dirname, '../../..') });
  expect(r.signal).toBe('SIGKILL');
  expect(readFileSync(`${trace}-wal`).length).toBeGreaterThan(0);
}

async function refusal(p: Promise<unknown>): Promise<BpfscopeError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(BpfscopeError);
    return err as BpfscopeError;
  }
  throw new Error('expected a refusal');
}

describe('writeTraceAtomically', () => {
  it('a new trace appears complete, with no WAL and no temporary file beside it', async () => {
    const d = fresh();
    const t = path.join(d, 'a.trace');
    const id = await writeTraceAtomically(t, 'empty', addProgram('p'));
    expect(id).toBe(1);
    expect(programs(t)).toEqual(['p']);
    expect(readdirSync(d).filter((f) => f !== 'a.trace-shm' && f !== 'a.trace-wal')).toEqual(['a.trace']);
  });

  it("'empty' replaces the old trace, 'target' adds to it", async () => {
    const { t } = await withOldTrace();
    await writeTraceAtomically(t, 'target', addProgram('added'));
    expect(programs(t)).toEqual(['old', 'added']);
    await writeTraceAtomically(t, 'empty', addProgram('new'));
    expect(programs(t)).toEqual(['new']);
  });

  it('while the write runs the target is the old trace; an error leaves it byte for byte and removes the temporary file', async () => {
    const { d, t } = await withOldTrace();
    const before = sha(t);
    for (const start of ['empty', 'target'] as const) {
      const err = await refusal(writeTraceAtomically(t, start, (db) => {
        addProgram('half')(db);
        // The temporary file holds the half-written trace; the target does not.
        expect(existsSync(tempPathFor(t))).toBe(true);
        expect(programs(t)).toEqual(['old']);
        throw new BpfscopeError('the log ended early', 'x.log', { line: 3 });
      }));
      expect(err.describe()).toBe('x.log: line 3: the log ended early');
      expect(sha(t)).toBe(before);
      expect(readdirSync(d).filter((f) => f.includes('.tmp'))).toEqual([]);
    }
  });

  it('an error where no trace was leaves no file at all', async () => {
    const d = fresh();
    await refusal(writeTraceAtomically(path.join(d, 'a.trace'), 'target', () => {
      throw new BpfscopeError('no');
    }));
    expect(readdirSync(d)).toEqual([]);
  });

  it('what is still in the WAL of the trace added to is kept', async () => {
    const { t } = await withOldTrace();
    crashedWriter(t, ['in-wal']);
    await writeTraceAtomically(t, 'target', addProgram('added'));
    expect(programs(t)).toEqual(['old', 'in-wal', 'added']);
  });

  it('an old WAL beside the target is not applied to the new trace', async () => {
    const { t } = await withOldTrace();
    crashedWriter(t, Array.from({ length: 50 }, (_, i) => `wal${i}`));
    await writeTraceAtomically(t, 'empty', addProgram('new'));
    expect(programs(t)).toEqual(['new']);
    const db = openTrace(t);
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('temporary files of dead processes are removed, those of live ones left alone', async () => {
    const d = fresh();
    const t = path.join(d, 'a.trace');
    // A pid no process has (above the kernel's pid_max default of 2^22) and a live one of ours.
    const dead = 4_194_999;
    const live = spawn('sleep', ['30']);
    try {
      const stale = [tempPathFor(t, dead), `${tempPathFor(t, dead)}-wal`, `${tempPathFor(t, dead)}-shm`];
      for (const f of stale) writeFileSync(f, 'SQLite format 3\0 half a trace');
      writeFileSync(tempPathFor(t, live.pid), 'in progress');
      // Another target's temporary file in the same folder is not this target's business.
      writeFileSync(tempPathFor(path.join(d, 'b.trace'), dead), 'b');
      await writeTraceAtomically(t, 'empty', addProgram('p'));
      expect(readdirSync(d).filter((f) => f.includes('.tmp')).sort()).toEqual(
        [path.basename(tempPathFor(t, live.pid)), path.basename(tempPathFor(path.join(d, 'b.trace'), dead))].sort(),
      );
      expect(programs(t)).toEqual(['p']);
      expect(removeStaleTemps(t)).toEqual([]);
    } finally {
      live.kill();
    }
  });

  it('a temporary file is hidden and no .trace: the target is not mistaken for it, nor it for a trace', () => {
    const t = path.join(dir, 'x', 'run.trace');
    const tmp = path.basename(tempPathFor(t, 123));
    expect(tmp).toBe('.run.trace.123.tmp');
    expect(tmp.endsWith('.trace')).toBe(false);
  });

  it('refuses to replace a file that is no trace, a directory, or a target in a missing folder', async () => {
    const d = fresh();
    const notTrace = path.join(d, 'notes.txt');
    writeFileSync(notTrace, 'my notes');
    const e1 = await refusal(writeTraceAtomically(notTrace, 'empty', addProgram('p')));
    expect(e1.describe()).toBe(`${notTrace}: at offset 0x0: exists and is not a bpfscope trace (not an SQLite file): not replacing it`);
    expect(readFileSync(notTrace, 'utf8')).toBe('my notes');
    expect(() => checkReplaceable(notTrace)).toThrow(/not replacing it/);
    const e2 = await refusal(writeTraceAtomically(notTrace, 'target', addProgram('p')));
    expect(e2.describe()).toMatch(/notes\.txt: at offset 0x0: not a bpfscope trace/);
    // The file is named as the user wrote it, not as resolved.
    const relative = path.relative(process.cwd(), notTrace);
    const e5 = await refusal(writeTraceAtomically(relative, 'target', addProgram('p')));
    expect(e5.file).toBe(relative);
    expect(readFileSync(notTrace, 'utf8')).toBe('my notes');
    const e3 = await refusal(writeTraceAtomically(d, 'empty', addProgram('p')));
    expect(e3.describe()).toBe(`${d}: is a directory, not a trace file`);
    const e4 = await refusal(writeTraceAtomically(path.join(d, 'nope', 'a.trace'), 'empty', addProgram('p')));
    expect(e4.message).toMatch(/^no such folder .*nope to write the trace in$/);
    expect(readdirSync(d)).toEqual(['notes.txt']);
    // An empty file (made by mktemp, say) is no one's data: it becomes the trace.
    const empty = path.join(d, 'empty.trace');
    writeFileSync(empty, '');
    await writeTraceAtomically(empty, 'target', addProgram('p'));
    expect(programs(empty)).toEqual(['p']);
  });

  it("another program's SQLite database is neither replaced, added to, nor written into", async () => {
    const d = fresh();
    const other = path.join(d, 'places.sqlite');
    const raw = new Database(other);
    raw.exec("CREATE TABLE moz_places(id INTEGER PRIMARY KEY, url TEXT); INSERT INTO moz_places(url) VALUES ('https://kernel.org')");
    raw.close();
    const before = sha(other);
    const why = 'not a bpfscope trace (an SQLite database with tables moz_places and no meta table)';
    const e1 = await refusal(writeTraceAtomically(other, 'empty', addProgram('p')));
    expect(e1.describe()).toBe(`${other}: exists and is ${why}: not replacing it`);
    const e2 = await refusal(writeTraceAtomically(other, 'target', addProgram('p')));
    expect(e2.describe()).toBe(`${other}: ${why}`);
    expect(() => createTrace(other)).toThrow(BpfscopeError);
    expect(() => createTrace(other)).toThrow(`${why}: not writing a trace into it`);
    // Not even the switch to WAL: the file is byte for byte as it was, with nothing beside it.
    expect(sha(other)).toBe(before);
    expect(readdirSync(d)).toEqual(['places.sqlite']);
  });

  it('a symbolic link stays a link: the trace it names is replaced', async () => {
    const d = fresh();
    const real = path.join(d, 'real.trace');
    await writeTraceAtomically(real, 'empty', addProgram('old'));
    const link = path.join(d, 'link.trace');
    symlinkSync(real, link);
    await writeTraceAtomically(link, 'empty', addProgram('new'));
    expect(realpathSync(link)).toBe(real);
    expect(programs(real)).toEqual(['new']);
  });

  it('copyOf: a copy of another trace, which stays as it was', async () => {
    const d = fresh();
    const src = path.join(d, 'vm.trace');
    await writeTraceAtomically(src, 'empty', addProgram('in-vm'));
    const before = sha(src);
    const t = path.join(d, 'a.trace');
    await writeTraceAtomically(t, { copyOf: src }, addProgram('host'));
    expect(programs(t)).toEqual(['in-vm', 'host']);
    expect(sha(src)).toBe(before);
  });
});
