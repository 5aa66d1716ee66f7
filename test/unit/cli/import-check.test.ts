import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bpfscopeInProcess } from '../../helpers/cli';
import { LogCheck, SAMPLE_BYTES, type LogProblem } from '../../../main/verifier/logCheck';
import { rng } from '../../helpers/fuzz';
import { FIXTURE_LOGS_DIR, REPO_ROOT } from '../../helpers/ref';

/**
 * `import` of something that is no verifier log is refused with a sentence
 * naming the file and the line or offset, exit 1, nothing written; every
 * real log still imports.
 */
const dir = realpathSync(mkdtempSync(path.join(os.tmpdir(), 'bpfscope-import-check-')));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const BIN = path.join(REPO_ROOT, 'main/bin.mjs');
const README = path.join(REPO_ROOT, 'README.md');

function randomBytes(seed: number, n: number): Buffer {
  const next = rng(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(next(), i);
  return b;
}

function check(bytes: Uint8Array, chunk = bytes.length || 1): LogProblem | null {
  const c = new LogCheck();
  for (let i = 0; i < bytes.length; i += chunk) c.feed(bytes.subarray(i, i + chunk));
  return c.finish();
}

/** Every log under a folder, its subfolders (6.1/, 6.12/) included. */
function logsUnder(d: string): string[] {
  return readdirSync(d, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.log')).map((f) => path.join(d, f)).sort();
}
const FIXTURES = logsUnder(FIXTURE_LOGS_DIR);
const HAND_WRITTEN = logsUnder(path.join(REPO_ROOT, 'test/unit/verifier/logs'));

/** Level-1 logs of loads refused before any instruction was walked: the error alone. */
const BARE_ERRORS = [
  'back-edge from insn 3 to 1',
  'unreachable insn 5',
  'jump out of range from insn 1 to 10',
  'last insn is not an exit or jmp',
  'unknown opcode 8d',
  'invalid func unknown#195896080',
  'R0 !read_ok',
  'BTF is required, but is missing or corrupted.',
  'the call stack of 9 frames is too deep !',
  'program of this type cannot use helper bpf_probe_read#4',
  'misaligned stack access off (0x0; 0x0)+-7+0 size 8',
  'invalid BPF_LD_IMM insn',
  'calling kernel function bpf_obj_new_impl is not allowed',
  'function calls are not allowed while holding a lock',
];

describe('LogCheck', () => {
  it('random bytes, a program binary: binary data at the offset of the first byte that is no text', () => {
    for (const seed of [1, 2, 3, 0x13]) {
      const p = check(randomBytes(seed, 2 << 20), 1 << 20);
      expect(p?.message, `seed ${seed}`).toMatch(/^not a verifier log: binary data \(\d+% of the first 65536 bytes are not text\)$/);
    }
    const ls = readFileSync('/bin/ls');
    expect(check(ls)).toEqual({ message: expect.stringMatching(/binary data/), where: { offset: 0 } });
    // After some text, the offset is where the binary part starts.
    const mixed = Buffer.concat([Buffer.from('0: (b7) r0 = 0\n'), randomBytes(9, 8192)]);
    const p = check(mixed);
    expect(p?.message).toMatch(/binary data/);
    expect((p?.where as { offset: number }).offset).toBeGreaterThanOrEqual(15);
  });

  it('an empty file, blank lines, prose: each its own sentence, with the line', () => {
    expect(check(Buffer.alloc(0))).toEqual({ message: 'not a verifier log: the file is empty', where: { offset: 0 } });
    expect(check(Buffer.from('\n  \n\r\n'))).toEqual({ message: 'not a verifier log: it has only blank lines', where: { line: 1 } });
    expect(check(Buffer.from('\n\nhello world\n'))).toEqual({
      message: "not a verifier log: its one line is not one the verifier prints (an instruction, a register state, 'processed N insns', an error message)",
      where: { line: 3 },
    });
    const readme = check(readFileSync(README));
    expect(readme?.message).toMatch(/^not a verifier log: none of its \d+ lines is one the verifier prints/);
    expect(readme?.where).toEqual({ line: 1 });
  });

  it('a short log of verifier error words is a level-1 rejection; a long one of prose is not', () => {
    for (const e of BARE_ERRORS) {
      expect(check(Buffer.from(`${e}\n`)), e).toBeNull();
      expect(check(Buffer.from(e)), `${e} (no newline)`).toBeNull();
    }
    expect(check(Buffer.from('libbpf: prog \'p\': BPF program load failed: Invalid argument\nback-edge from insn 3 to 1\n'))).toBeNull();
    // The same words in a long text (documentation quoting an error) are no log.
    expect(check(Buffer.from(`${BARE_ERRORS.join('\n')}\n`))).not.toBeNull();
  });

  it('every committed log is a verifier log, whole or fed in random chunks', () => {
    const next = rng(0x13b);
    expect(FIXTURES.length).toBeGreaterThan(60);
    for (const f of [...FIXTURES, ...HAND_WRITTEN]) {
      const bytes = readFileSync(f);
      expect(check(bytes), f).toBeNull();
      expect(check(bytes, 1 + (next() % 4096)), f).toBeNull();
    }
    // The level-1 logs that are one `processed N insns` line.
    expect(FIXTURES.some((f) => /^processed \d+ insns/.test(readFileSync(f, 'utf8')) && readFileSync(f, 'utf8').trim().split('\n').length === 1)).toBe(true);
  });

  it('the answer does not depend on how the bytes are cut into chunks', () => {
    const next = rng(7);
    const inputs = [readFileSync(README), randomBytes(5, SAMPLE_BYTES + 1000), Buffer.from(`a\n${BARE_ERRORS[0]}\nb\n`), Buffer.from('é\r\nprocessed 1 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0')];
    for (const input of inputs) {
      const whole = check(input);
      for (let k = 0; k < 20; k++) expect(check(input, 1 + (next() % 300))).toEqual(whole);
    }
  });
});

const cli = bpfscopeInProcess;

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('bpfscope import of what is no verifier log', () => {
  const cases = (): { name: string; file: string; where: RegExp }[] => {
    const random = path.join(dir, 'random.bin');
    writeFileSync(random, randomBytes(0x13, 2 << 20));
    const empty = path.join(dir, 'empty.log');
    writeFileSync(empty, '');
    return [
      { name: '2 MB of random bytes', file: random, where: /at offset 0x[0-9a-f]+: not a verifier log: binary data/ },
      { name: '/bin/ls', file: '/bin/ls', where: /at offset 0x0: not a verifier log: binary data/ },
      { name: 'an empty file', file: empty, where: /at offset 0x0: not a verifier log: the file is empty/ },
      { name: 'README.md', file: README, where: /line 1: not a verifier log: none of its \d+ lines/ },
    ];
  };

  it('is refused naming the file and the place, exit 1, no trace created, an existing one untouched', async () => {
    const d = path.join(dir, 'out');
    mkdirSync(d);
    const existing = path.join(d, 'existing.trace');
    const made = await cli(['import', FIXTURES[0], '-o', existing]);
    expect(made.code, made.err).toBe(0);
    const before = sha(existing);
    for (const c of cases()) {
      // With -p the check reads only as far as it needs to; without, the whole file (for the programs a wrapper names).
      for (const [target, extra] of [[path.join(d, 'new.trace'), []], [existing, []], [existing, ['-p', 'list_push']]] as const) {
        const r = await cli(['import', c.file, ...extra, '-o', target]);
        expect([r.code, r.out], c.name).toEqual([1, '']);
        expect(r.err, c.name).toMatch(new RegExp(`^bpfscope import: ${c.file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${c.where.source}.*\n$`));
        // No new trace, no temporary file, the old trace as it was (a reader's -shm/-wal may stay beside it).
        expect(readdirSync(d).filter((f) => !/-(shm|wal)$/.test(f)), c.name).toEqual(['existing.trace']);
        expect(sha(existing), c.name).toBe(before);
      }
    }
  });

  it('on standard input too: refused, nothing written; a real log from standard input imports', () => {
    const target = path.join(dir, 'stdin.trace');
    const bad = spawnSync(process.execPath, [BIN, 'import', '-', '-o', target], { input: readFileSync('/bin/ls'), encoding: 'utf8' });
    expect([bad.status, bad.stderr]).toEqual([1, expect.stringMatching(/^bpfscope import: standard input: at offset 0x0: not a verifier log: binary data .*\n$/)]);
    const prose = spawnSync(process.execPath, [BIN, 'import', '-', '-o', target], { input: readFileSync(README), encoding: 'utf8' });
    expect([prose.status, prose.stderr]).toEqual([1, expect.stringMatching(/^bpfscope import: standard input: line 1: not a verifier log: none of its/)]);
    expect(readdirSync(dir).filter((f) => f.startsWith('stdin.trace') || f.startsWith('.stdin.trace'))).toEqual([]);
    const good = spawnSync(process.execPath, [BIN, 'import', '-', '-o', target], { input: readFileSync(path.join(FIXTURE_LOGS_DIR, 'list.list_push.log')), encoding: 'utf8' });
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toMatch(/verdict accepted/);
  });

  it('every committed log imports (6.1/ and 6.12/ included, level-1 logs of one line), and a one-line rejection', async () => {
    const d = path.join(dir, 'all');
    mkdirSync(d);
    const oneLine = path.join(d, 'back-edge.log');
    writeFileSync(oneLine, 'back-edge from insn 3 to 1\n');
    for (const [i, f] of [...FIXTURES, oneLine].entries()) {
      const r = await cli(['import', f, '-o', path.join(d, `${i}.trace`)]);
      expect(r.code, `${f}: ${r.err}`).toBe(0);
      expect(r.out).toMatch(/\nwrote /);
    }
    const named = await cli(['import', path.join(FIXTURE_LOGS_DIR, 'list.list_push.log'), '-p', 'list_push', '-o', path.join(d, 'p.trace')]);
    expect([named.code, named.out]).toEqual([0, expect.stringMatching(/^list_push: program 1, .*verdict accepted/)]);
  });
});
