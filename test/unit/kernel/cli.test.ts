import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { examplePrograms, PROGS_DIR, REPO_ROOT, refLoad } from '../../helpers/ref';
import { compileBpf } from '../../helpers/bpfcc';
import { objectUnsupported } from '../../helpers/support';
import { createTrace } from '../../../main/trace/db';

/** The CLI as users and the app's recorder child process run it. */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string; raw: Buffer } {
  const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'main/bin.mjs'), ...args], { maxBuffer: 256 << 20 });
  return { status: r.status, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
}

/** The kernel's closing error of a rejected load, from its own log: the lines between the last instruction and `processed N insns`. */
function kernelClosing(log: string): { lines: string[]; processed: number } {
  const lines = log.split('\n');
  const at = lines.findIndex((l) => /^processed \d+ insns/.test(l));
  let from = at;
  while (from > 0 && !/^\d+: /.test(lines[from - 1])) from--;
  return { lines: lines.slice(from, at), processed: Number(/^processed (\d+) insns/.exec(lines[at])![1]) };
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(!!kernelSkipReason())(kernelTitle('bpfscope record / log / runs / probe'), () => {
  // The CLI's features need programs this kernel loads: list.bpf.o where its kfuncs exist,
  // compute.bpf.o (no kfuncs) elsewhere; a program the kernel rejects: reject_leak where it
  // loads, else one compiled here that reads packet data without a bounds check.
  const listMissing = objectUnsupported(path.join(PROGS_DIR, 'list.bpf.o'));
  const list = path.join(PROGS_DIR, listMissing ? 'compute.bpf.o' : 'list.bpf.o');
  const progs = examplePrograms().filter((p) => p.objectPath === list).map((p) => p.program);
  const trace = path.join(work, 'list.trace');
  const leakMissing = objectUnsupported(path.join(PROGS_DIR, 'reject_leak.bpf.o'));
  const rejectedProg = leakMissing ? 'unchecked_packet_read' : 'leak_on_branch';
  const note = [listMissing && `compute.bpf.o in place of list.bpf.o: ${listMissing}`, leakMissing && `a compiled unchecked packet read in place of reject_leak.bpf.o: ${leakMissing}`].filter(Boolean).join('; ');

  let recorded: ReturnType<typeof cli>;
  let rejected: ReturnType<typeof cli>;
  let rejectedObj: string;
  beforeAll(() => {
    rejectedObj = leakMissing
      ? compileBpf(work, 'unchecked_read', `#include "bpfscope.h"
SEC("tc") int unchecked_packet_read(struct __sk_buff *skb) { return *(int *)(long)skb->data; }
char LICENSE[] SEC("license") = "GPL";
`)
      : path.join(PROGS_DIR, 'reject_leak.bpf.o');
    // The recordings the tests below read (log, runs), whatever subset of them runs.
    recorded = cli('record', list, '-o', trace, '--run', '--log-level', '2');
    rejected = cli('record', rejectedObj, '-o', path.join(work, 'leak.trace'));
  });

  if (note) it(`the programs the CLI tests below use (${note})`, () => expect(progs.length).toBeGreaterThan(1));

  it('record prints one line per program and exits 0 with rejected programs too', async () => {
    const r = recorded;
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n');
    // Each line as libbpf's load and run of the same program on this kernel has it.
    const want: string[] = [];
    for (const p of progs) {
      const ref = await refLoad(list, p, { logLevel: 2, run: true });
      expect(ref.verdict).toBe('accepted');
      want.push(`${p}: accepted, ${kernelClosing(ref.log).processed} insns processed, retval ${ref.retval}`);
    }
    expect(lines).toEqual(want);
    if (!listMissing) {
      expect(lines).toEqual([
        expect.stringMatching(/^list_push: accepted, \d+ insns processed, retval 3$/),
        expect.stringMatching(/^list_pop: accepted, \d+ insns processed, retval \d+$/),
        expect.stringMatching(/^list_mixed: accepted, \d+ insns processed, retval \d+$/),
      ]);
    }
    const rej = rejected;
    expect(rej.status).toBe(0);
    // The closing error the kernel printed for the same program (6.12 prints only the
    // `Unreleased reference` line for a leak, 6.18 a `BPF_EXIT ... reference leak` line after it).
    const ref = await refLoad(rejectedObj, rejectedProg, { logLevel: 2 });
    expect(ref.verdict).toBe('rejected');
    const closing = kernelClosing(ref.log);
    expect(closing.lines.length).toBeGreaterThan(0);
    expect(rej.stdout).toBe(`${rejectedProg}: rejected, ${closing.processed} insns processed: ${closing.lines.join(' / ')}\n`);
    if (!leakMissing) expect(rej.stdout).toMatch(/^leak_on_branch: rejected, \d+ insns processed: Unreleased reference id=\d+ alloc_insn=\d+/);
  });

  it('log prints the stored log byte for byte: the kernel log libbpf got too', async () => {
    const r = cli('log', trace, '-p', progs[0]);
    expect(r.status).toBe(0);
    const logPath = path.join(work, 'ref.log');
    await refLoad(list, progs[0], { logLevel: 2, logOut: logPath });
    const ref = readFileSync(logPath);
    // Map addresses differ per load; everything else is the same bytes.
    // (6.18's direct map starts 0xffff…, a 6.12 or 6.1 guest's may start 0xff…: any 16-digit address.)
    const mask = (b: Buffer): string => b.toString('latin1').replace(/(\(18\) r\d+ = )0x[0-9a-f]{16}\b/g, '$10xADDR');
    expect(r.raw.length).toBe(ref.length);
    expect(mask(r.raw)).toBe(mask(ref));
    const several = cli('log', trace);
    expect(several.status).toBe(1);
    expect(several.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`holds ${progs.length} programs; name one with -p`))]);
  });

  it('log says why when the stored log is empty, instead of printing nothing', () => {
    const quiet = path.join(work, 'quiet.trace');
    expect(cli('record', list, '-p', progs[0], '--log-level', '0', '-o', quiet).status).toBe(0);
    const r = cli('log', quiet);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`program '${progs[0]}' has an empty log: it was recorded with --log-level 0`))]);
  });

  it('runs --json gives the documented shape', async () => {
    const r = cli('runs', trace, '--json');
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as unknown[];
    expect(rows).toEqual(progs.map((program) => ({
      program, verdict: 'accepted', errno: null, error: null, errors: [], processedInsns: expect.any(Number),
      retval: program === 'list_push' ? 3 : expect.any(Number), kernel: os.release(),
    })));
    const table = cli('runs', path.join(work, 'leak.trace'));
    // The recording kernel comes first: release and build (uname -v), as this process sees them.
    expect(table.stdout.split('\n')[0]).toBe(`kernel ${os.release()} (${os.version()})`);
    const ref = await refLoad(rejectedObj, rejectedProg, { logLevel: 2 });
    expect(table.stdout.split('\n')[2]).toMatch(new RegExp(`^${rejectedProg}\\s+rejected\\s+${ref.errno}\\s+\\d+\\s+${escape(kernelClosing(ref.log).lines.at(-1)!.slice(0, 20))}`));
    // The kernel's final line first, the earlier ones after it (6.18 ends on `BPF_EXIT instruction ... reference leak`
    // after `Unreleased reference`; 6.12 prints only the latter).
    if (!leakMissing) {
      const c = kernelClosing(ref.log).lines;
      const after = c.length > 1 ? ` \\(after: ${escape(c.at(-2)!.slice(0, 20))}` : '';
      expect(table.stdout.split('\n')[2]).toMatch(new RegExp(`^leak_on_branch\\s+rejected\\s+22\\s+\\d+\\s+${escape(c.at(-1)!)}${after}`));
    }
  });

  it('--progress prints JSON lines the app can follow', () => {
    const r = cli('record', list, '-p', progs[1], '-o', path.join(work, 'p.trace'), '--progress');
    expect(r.status).toBe(0);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; verdict?: string });
    expect(events.map((e) => e.event)).toEqual(['object', 'loading', 'program', 'done']);
    expect(events[2]).toMatchObject({ program: progs[1], verdict: 'accepted', index: 0, total: 1 });
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
