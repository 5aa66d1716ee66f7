import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, REPO_ROOT, refLoad } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';

/** The CLI as users and the app's recorder child process run it. */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string; raw: Buffer } {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'main/bin.mjs'), ...args], { maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('bpfscope record / log / runs / probe'), () => {
  const list = path.join(PROGS_DIR, 'list.bpf.o');
  const trace = path.join(work, 'list.trace');

  let recorded: ReturnType<typeof cli>;
  let rejected: ReturnType<typeof cli>;
  beforeAll(() => {
    // The recordings the tests below read (log, runs), whatever subset of them runs.
    recorded = cli('record', list, '-o', trace, '--run', '--log-level', '2');
    rejected = cli('record', path.join(PROGS_DIR, 'reject_leak.bpf.o'), '-o', path.join(work, 'leak.trace'));
  });

  it('record prints one line per program and exits 0 with rejected programs too', () => {
    const r = recorded;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/^list_push: accepted, \d+ insns processed, retval 3$/),
      expect.stringMatching(/^list_pop: accepted, \d+ insns processed, retval \d+$/),
      expect.stringMatching(/^list_mixed: accepted, \d+ insns processed, retval \d+$/),
    ]);
    const rej = rejected;
    expect(rej.status).toBe(0);
    expect(rej.stdout).toMatch(/^leak_on_branch: rejected, \d+ insns processed: Unreleased reference id=\d+ alloc_insn=\d+ \/ BPF_EXIT instruction in main prog would lead to reference leak\n$/);
  });

  it('log prints the stored log byte for byte: the kernel log libbpf got too', async () => {
    const r = cli('log', trace, '-p', 'list_push');
    expect(r.status).toBe(0);
    const logPath = path.join(work, 'ref.log');
    await refLoad(list, 'list_push', { logLevel: 2, logOut: logPath });
    const ref = readFileSync(logPath);
    // Map addresses differ per load; everything else is the same bytes.
    const mask = (b: Buffer): string => b.toString('latin1').replace(/0xffff[0-9a-f]{12}/g, '0xADDR');
    expect(r.raw.length).toBe(ref.length);
    expect(mask(r.raw)).toBe(mask(ref));
    const several = cli('log', trace);
    expect(several.status).toBe(1);
    expect(several.stderr.trim().split('\n')).toEqual([expect.stringMatching(/holds 3 programs; name one with -p/)]);
  });

  it('runs --json gives the documented shape', () => {
    const r = cli('runs', trace, '--json');
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as unknown[];
    expect(rows).toEqual([
      { program: 'list_push', verdict: 'accepted', errno: null, error: null, processedInsns: expect.any(Number), retval: 3, kernel: os.release() },
      { program: 'list_pop', verdict: 'accepted', errno: null, error: null, processedInsns: expect.any(Number), retval: expect.any(Number), kernel: os.release() },
      { program: 'list_mixed', verdict: 'accepted', errno: null, error: null, processedInsns: expect.any(Number), retval: expect.any(Number), kernel: os.release() },
    ]);
    const table = cli('runs', path.join(work, 'leak.trace'));
    // The recording kernel comes first: release and build (uname -v), as this process sees them.
    expect(table.stdout.split('\n')[0]).toBe(`kernel ${os.release()} (${os.version()})`);
    expect(table.stdout.split('\n')[2]).toMatch(/^leak_on_branch\s+rejected\s+22\s+\d+\s+Unreleased reference/);
  });

  it('--progress prints JSON lines the app can follow', () => {
    const r = cli('record', list, '-p', 'list_pop', '-o', path.join(work, 'p.trace'), '--progress');
    expect(r.status).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; verdict?: string });
    expect(events.map((e) => e.event)).toEqual(['object', 'loading', 'program', 'done']);
    expect(events[2]).toMatchObject({ program: 'list_pop', verdict: 'accepted', index: 0, total: 1 });
  });

  it('probe --json reports this root process as able to record', () => {
    const r = cli('probe', '--json');
    expect(r.status).toBe(0);
    const p = JSON.parse(r.stdout) as { canRecord: boolean; kernelRelease: string; vmlinuxBtf: { present: boolean } };
    expect(p.canRecord).toBe(true);
    expect(p.kernelRelease).toBe(os.release());
    expect(p.vmlinuxBtf.present).toBe(true);
  });

  it('a bad object leaves an existing trace alone', () => {
    const junk = path.join(work, 'junk.o');
    writeFileSync(junk, 'not an object');
    const kept = path.join(work, 'kept.trace');
    createTrace(kept).close();
    const before = readFileSync(kept);
    const r = cli('record', junk, '-o', kept);
    expect(r.status).toBe(1);
    expect(r.stderr.startsWith(`bpfscope record: ${junk}: at offset 0x0: `)).toBe(true);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(kept).equals(before)).toBe(true);
  });

  it('usage errors and bad files are one line each, exit 1', () => {
    for (const args of [
      ['record', list],
      ['record', path.join(work, 'nope.o'), '-o', path.join(work, 'x.trace')],
      ['record', list, '-o', path.join(work, 'y.trace'), '-p', 'no_such_prog'],
      ['record', list, '-o', path.join(work, 'z.trace'), '--log-level', '9'],
      ['log', path.join(work, 'nope.trace')],
      ['runs', list],
    ]) {
      const r = cli(...args);
      expect(r.status, args.join(' ')).toBe(1);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
  });
});
