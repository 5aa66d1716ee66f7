import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { brotliDecompressSync, deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { createTrace, type TraceDb } from '../../../main/trace/db';
import { logFileChunks, writeVerifierLog } from '../../../main/trace/verifier';
import { errorsAndWarnings, logInfo, readLogLines, readStep, readSteps, stateAtStep } from '../../../main/trace/verifierRead';
import { MAX_LINE } from '../../../main/verifier/lines';
import { BpfscopeError } from '../../../main/errors';
import { bpfscopeInProcess } from '../../helpers/cli';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-robust-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const FIXTURE = path.resolve(__dirname, '../../fixtures/logs/list.list_push.log');

let n = 0;
function program(): { db: TraceDb; pid: number } {
  const db = createTrace(path.join(tmp, `t${n++}.trace`));
  const pid = Number(db.prepare("INSERT INTO programs(name, origin, created_at) VALUES ('p', 'import', 'now')").run().lastInsertRowid);
  return { db, pid };
}

describe('bad and odd input', () => {
  it('an empty log: no steps, no verdict, no error', async () => {
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, '');
    expect([s.lines, s.steps, s.verdict]).toEqual([0, 0, null]);
    expect(readSteps(db, pid, 0, 10)).toEqual([]);
    db.close();
  });

  it('a log cut in the middle of a line: the steps before it, no verdict, a warning that says so', async () => {
    const text = readFileSync(FIXTURE, 'utf8');
    const cut = text.slice(0, Math.floor(text.length * 0.6));
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, cut);
    expect(s.steps).toBeGreaterThan(10);
    expect(s.verdict).toBeNull();
    expect(errorsAndWarnings(db, pid).some((m) => /cut short/.test(m.text))).toBe(true);
    for (let i = 0; i < s.steps; i++) stateAtStep(db, pid, i);
    db.close();
  });

  it('binary garbage between the lines: flagged as unknown, the states around it intact', async () => {
    const lines = readFileSync(FIXTURE, 'utf8').split('\n');
    let seed = 7;
    const rnd = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const out: string[] = [];
    for (const l of lines) {
      out.push(l);
      if (rnd() < 0.1) out.push(Array.from({ length: 40 }, () => String.fromCharCode(Math.floor(rnd() * 256))).join('').replace(/\n/g, ''));
    }
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, Buffer.from(out.join('\n'), 'latin1').toString('utf8'));
    expect(s.unknownLines).toBeGreaterThan(0);
    const clean = program();
    const ref = await writeVerifierLog(clean.db, clean.pid, readFileSync(FIXTURE, 'utf8'));
    expect(s.steps).toBe(ref.steps);
    expect(s.mismatches).toBe(0);
    expect(stateAtStep(db, pid, s.steps - 1).frames).toEqual(stateAtStep(clean.db, clean.pid, ref.steps - 1).frames);
    db.close();
    clean.db.close();
  });

  it('a 2 GB log of one line, streamed: the line is cut at MAX_LINE and flagged, memory stays bounded', async () => {
    const chunk = 'x'.repeat(1 << 20);
    async function* twoGigabytes(): AsyncGenerator<string> {
      for (let i = 0; i < 2048; i++) yield chunk;
    }
    const { db, pid } = program();
    const before = process.memoryUsage().rss;
    const s = await writeVerifierLog(db, pid, twoGigabytes());
    const grew = process.memoryUsage().rss - before;
    expect(s.lines).toBe(1);
    expect(s.cutLines).toBe(1);
    expect(s.steps).toBe(0);
    expect(grew).toBeLessThan(200 << 20);
    expect(readLogLines(db, pid, 1, 1)[0].text.length).toBe(MAX_LINE);
    db.close();
  }, 60000);
});

describe('damaged traces', () => {
  it('a corrupt checkpoint or log block gives a BpfscopeError, not a crash', async () => {
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, readFileSync(FIXTURE, 'utf8'), { checkpointEvery: 8 });
    // Step 9 is replayed from an earlier checkpoint through the log lines
    // (a new connection: the readers cache blocks per connection).
    stateAtStep(db, pid, 9);
    db.prepare('UPDATE verifier_log_blocks SET data = randomblob(100) WHERE program_id = ?').run(pid);
    const fresh = createTrace(path.join(tmp, `t${n - 1}.trace`));
    expect(() => stateAtStep(fresh, pid, 9)).toThrow(BpfscopeError);
    fresh.prepare("UPDATE verifier_checkpoints SET state = '{not json' WHERE program_id = ?").run(pid);
    expect(() => stateAtStep(fresh, pid, 9)).toThrow(/checkpoint at step \d+ .* is corrupt/);
    fresh.close();
    expect(() => stateAtStep(db, pid, s.steps + 5)).toThrow(/no step/);
    db.close();
  });
});

describe('stored blocks', () => {
  it('brotli blocks, and the raw DEFLATE log blocks and undeflated step blocks of older traces, read the same; a damaged one is named', async () => {
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, readFileSync(FIXTURE, 'utf8'));
    const steps = readSteps(db, pid, 0, s.steps);
    const lines = readLogLines(db, pid, 1, s.lines);
    const states = Array.from({ length: s.steps }, (_, i) => stateAtStep(db, pid, i));
    const row = db.prepare('SELECT step_count n, data FROM verifier_step_blocks WHERE program_id = ? AND block = 0').get(pid) as { n: number; data: Buffer };
    expect(row.data.length).toBeLessThan(row.n * 20);
    db.prepare('UPDATE verifier_step_blocks SET data = ? WHERE program_id = ? AND block = 0').run(brotliDecompressSync(row.data), pid);
    const logRows = db.prepare('SELECT block, data FROM verifier_log_blocks WHERE program_id = ?').all(pid) as { block: number; data: Buffer }[];
    const put = db.prepare('UPDATE verifier_log_blocks SET data = ? WHERE program_id = ? AND block = ?');
    for (const r of logRows) put.run(deflateRawSync(brotliDecompressSync(r.data)), pid, r.block);
    const old = createTrace(path.join(tmp, `t${n - 1}.trace`));
    expect(readSteps(old, pid, 0, s.steps)).toEqual(steps);
    expect(readLogLines(old, pid, 1, s.lines)).toEqual(lines);
    for (let i = 0; i < s.steps; i++) expect(stateAtStep(old, pid, i)).toEqual(states[i]);
    old.prepare('UPDATE verifier_step_blocks SET data = randomblob(77) WHERE program_id = ?').run(pid);
    const bad = createTrace(path.join(tmp, `t${n - 1}.trace`));
    expect(() => readSteps(bad, pid, 0, 1)).toThrow(/step block 0 of program \d+ is corrupt/);
    bad.close();
    old.close();
    db.close();
  });
});

describe('re-import on the same connection', () => {
  it('the readers drop what they decoded from the old log', async () => {
    const { db, pid } = program();
    const first = readFileSync(path.resolve(__dirname, '../../fixtures/logs/new_drop.new_drop.log'), 'utf8');
    const a = await writeVerifierLog(db, pid, first, { checkpointEvery: 4 });
    const before = Array.from({ length: a.steps }, (_, i) => stateAtStep(db, pid, i));
    expect(logInfo(db, pid)?.stepCount).toBe(a.steps);
    const b = await writeVerifierLog(db, pid, readFileSync(FIXTURE, 'utf8'), { checkpointEvery: 4 });
    expect(b.steps).not.toBe(a.steps);
    expect(logInfo(db, pid)?.stepCount).toBe(b.steps);
    const fresh = createTrace(path.join(tmp, `t${n - 1}.trace`));
    for (let i = 0; i < b.steps; i++) expect(stateAtStep(db, pid, i)).toEqual(stateAtStep(fresh, pid, i));
    expect(readStep(db, pid, a.steps - 1)).toEqual(readStep(fresh, pid, a.steps - 1));
    expect(before.length).toBe(a.steps);
    fresh.close();
    db.close();
  }, 60000);
});

describe('line splitting', () => {
  it('a log file read in small synchronous chunks stores the same trace as the whole text', async () => {
    const file = path.join(tmp, 'chunks.log');
    writeFileSync(file, readFileSync(FIXTURE));
    const text = program();
    const chunks = program();
    const s1 = await writeVerifierLog(text.db, text.pid, readFileSync(FIXTURE, 'utf8'));
    const s2 = await writeVerifierLog(chunks.db, chunks.pid, logFileChunks(file, 777));
    expect({ ...s2, programId: 0 }).toEqual({ ...s1, programId: 0 });
    expect(readLogLines(chunks.db, chunks.pid, 1, s2.lines)).toEqual(readLogLines(text.db, text.pid, 1, s1.lines));
    for (let i = 0; i < s1.steps; i++) expect(stateAtStep(chunks.db, chunks.pid, i)).toEqual(stateAtStep(text.db, text.pid, i));
    text.db.close();
    chunks.db.close();
  }, 60000);

  it('a long line in byte chunks is cut too, and the lines after it are intact', async () => {
    const mb = Buffer.alloc(1 << 20, 0x78);
    async function* bytes(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < 64; i++) yield mb;
      yield Buffer.from('\nfunc#0 @0\n0: R1=ctx() R10=fp0\n');
    }
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, bytes());
    expect([s.lines, s.cutLines, s.steps]).toEqual([3, 1, 1]);
    expect(readLogLines(db, pid, 1, 3).map((l) => l.text.length)).toEqual([MAX_LINE, 9, 19]);
    db.close();
  });

  it('CRLF endings and non-ASCII text: the stored lines are the lines the parser saw', async () => {
    const lines = ['func#0 @0', '0: R1=ctx() R10=fp0', '; résumé — ünïcode @ x.c:1', '0: (b7) r0 = 0                        ; R0=0', '1: (95) exit'];
    const { db, pid } = program();
    const s = await writeVerifierLog(db, pid, `${lines.join('\r\n')}\r\n`);
    expect(s.steps).toBe(3);
    expect(readLogLines(db, pid, 1, 10).map((l) => l.text)).toEqual(lines);
    const plain = program();
    await writeVerifierLog(plain.db, plain.pid, `${lines.join('\n')}\n`);
    expect(readLogLines(plain.db, plain.pid, 1, 10).map((l) => l.text)).toEqual(lines);
    db.close();
    plain.db.close();
  });
});

describe('cli import and show', () => {
  const cli = bpfscopeInProcess;

  it('imports every program of a bpftool -d log and shows a step as JSON', async () => {
    const a = readFileSync(path.resolve(__dirname, 'logs/v6.6.log'), 'utf8');
    const b = readFileSync(FIXTURE, 'utf8');
    const wrapped = `${a}libbpf: prog 'list_push': -- BEGIN PROG LOAD LOG --\n${b}-- END PROG LOAD LOG --\n`;
    const log = path.join(tmp, 'two.log');
    writeFileSync(log, wrapped);
    const trace = path.join(tmp, 'two.trace');
    const r = await cli(['import', log, '-o', trace]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/new_drop: program 1, .* verdict accepted, 0 mismatches/);
    expect(r.out).toMatch(/list_push: program 2, /);
    const many = await cli(['show', trace, '--step', '3']);
    expect(many.code).toBe(1);
    expect(many.err).toMatch(/pick one with -p/);
    const one = await cli(['show', trace, '-p', 'new_drop', '--step', '6', '--json']);
    expect(one.code).toBe(0);
    const j = JSON.parse(one.out) as { step: number; line: number; insn: number; frames: { regs: Record<string, { raw: string }> }[]; refs: { refObjId: number }[] };
    expect([j.step, j.insn]).toEqual([6, 5]);
    expect(j.frames[0].regs.R0.raw).toBe('ptr_elem(ref_obj_id=2,off=0,imm=0)');
    expect(j.refs.map((x) => x.refObjId)).toEqual([2]);
    // `line` is the 1-based line of the raw log.
    expect(wrapped.split('\n')[j.line - 1]).toMatch(/^5: \(15\) if r0 == 0x0 goto pc\+6/);
    const range = await cli(['show', trace, '-p', 'list_push', '--steps', '0..3', '--json']);
    expect((JSON.parse(range.out) as unknown[]).length).toBe(4);
    const text = await cli(['show', trace, '-p', 'new_drop', '--step', '7']);
    expect(text.out).toMatch(/refs: 2 \(bpf_obj_new_impl at insn 4\)/);
    const past = await cli(['show', trace, '-p', 'new_drop', '--step', '999']);
    expect(past.err).toMatch(/step 999 is past the end/);
  });

  it('an object that is not ELF is refused with its name', async () => {
    const bad = path.join(tmp, 'bad.bpf.o');
    writeFileSync(bad, 'not an object');
    const r = await cli(['import', path.resolve(__dirname, '../../fixtures/logs/6.12/list.list_push.log'), '--object', bad, '-o', path.join(tmp, 'bad.trace')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.bpf\.o/);
  });

  it('names the file when the log or the trace is missing', async () => {
    const r = await cli(['import', path.join(tmp, 'nope.log'), '-o', path.join(tmp, 'x.trace')]);
    expect([r.code, r.err]).toEqual([1, expect.stringMatching(/nope\.log: no such log file/)]);
    const s = await cli(['show', path.join(tmp, 'nope.trace'), '--step', '0']);
    expect(s.err).toMatch(/nope\.trace: no such trace file/);
  });
});
