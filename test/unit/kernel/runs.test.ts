import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { DEFAULT_PACKET } from '../../../main/kernel/test-run';
import { objectUnsupported } from '../../helpers/support';
import { expectRefusedAsLibbpf } from './libbpf-refusal';

/**
 * BPF_PROG_TEST_RUN through bpfscope against `bpftool prog run` on the same
 * program and input (bpftool loads the object into a private bpffs mount), and
 * the --data / --ctx / --repeat inputs.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-runs-'));
const bpffs = path.join(work, 'bpffs');
let mounted = false;
afterAll(() => {
  if (mounted) execFileSync('umount', [bpffs]);
  rmSync(work, { recursive: true, force: true });
});

async function ours(obj: string, prog: string, opts: { data?: Uint8Array; ctx?: Uint8Array; repeat?: number } = {}) {
  const db = createTrace(path.join(work, `${prog}-${Math.random().toString(36).slice(2)}.trace`));
  try {
    const [o] = await recordObject(db, obj, { programs: [prog], logLevel: 1, run: true, ...opts });
    const run = db.prepare('SELECT repeat, retval, duration_ns, data_out, errno FROM test_runs WHERE program_id = ?').get(o.programId) as {
      repeat: number; retval: number | null; duration_ns: number | null; data_out: Buffer | null; errno: number | null;
    };
    return { outcome: o, run };
  } finally {
    db.close();
  }
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('test runs'), () => {
  beforeAll(() => {
    mkdirSync(bpffs);
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;
  });

  // new_drop's kfuncs are missing on kernels before 6.2: bpftool (libbpf) refuses the object
  // there, and bpfscope must refuse it alike; compute runs on every kernel.
  const newDropMissing = objectUnsupported(path.join(PROGS_DIR, 'new_drop.bpf.o'));
  it(`retval equals \`bpftool prog run\` for the same program and packet${newDropMissing ? ` (new_drop.bpf.o refused by both: ${newDropMissing})` : ''}`, async () => {
    const udp = Uint8Array.from(DEFAULT_PACKET);
    udp[36] = 0x10; // UDP destination port 0x1092 instead of 8080
    udp[37] = 0x92;
    const packets = { default: DEFAULT_PACKET, udp4242: udp };
    // bpftool loads every program of the object with shared maps; a fresh load per
    // (program, packet) gives each run the fresh maps bpfscope's recording gives it.
    let compared = 0;
    for (const [objName, progs] of [['compute', ['parse_udp', 'ip_checksum', 'count_bytes', 'loop_callback']], ['new_drop', ['new_drop', 'new_two_drop']]] as const) {
      const obj = path.join(PROGS_DIR, `${objName}.bpf.o`);
      const missing = objectUnsupported(obj);
      if (missing) {
        const pin = path.join(bpffs, `${objName}-refused`);
        const r = spawnSync('bpftool', ['prog', 'loadall', obj, pin, 'type', 'tc'], { encoding: 'utf8' });
        expect(r.status, r.stderr).not.toBe(0);
        expect(r.stderr).toMatch(/libbpf: extern \(func ksym\) '[^']+': not found in kernel or module BTFs/);
        for (const prog of progs) {
          const db = createTrace(path.join(work, `${prog}-refused.trace`));
          try {
            const [o] = await recordObject(db, obj, { programs: [prog], logLevel: 1, run: true });
            await expectRefusedAsLibbpf(db, o, obj, 1);
            expect(db.prepare('SELECT count(*) AS n FROM test_runs').get()).toEqual({ n: 0 });
          } finally {
            db.close();
          }
        }
        continue;
      }
      for (const prog of progs) {
        for (const [pname, pkt] of Object.entries(packets)) {
          const pin = path.join(bpffs, `${objName}-${prog}-${pname}`);
          execFileSync('bpftool', ['prog', 'loadall', obj, pin, 'type', 'tc']);
          try {
            const file = path.join(work, `${pname}.pkt`);
            writeFileSync(file, pkt);
            const out = execFileSync('bpftool', ['prog', 'run', 'pinned', path.join(pin, prog), 'data_in', file, 'repeat', '1'], { encoding: 'utf8' });
            const theirs = Number(/Return value: (\d+)/.exec(out)![1]);
            const { run } = await ours(obj, prog, { data: pkt });
            expect(run.retval, `${objName} ${prog} ${pname}`).toBe(theirs);
            compared++;
          } finally {
            rmSync(pin, { recursive: true, force: true });
          }
        }
      }
    }
    expect(compared).toBe(newDropMissing ? 8 : 12);
  });

  it('a custom packet: same answer as libbpf given the same bytes', async () => {
    const pkt = Uint8Array.from(DEFAULT_PACKET);
    pkt[36] = 0x00;
    pkt[37] = 0x35; // port 53
    const obj = path.join(PROGS_DIR, 'compute.bpf.o');
    const { run } = await ours(obj, 'parse_udp', { data: pkt });
    const ref = await refLoad('compute.bpf.o', 'parse_udp', { logLevel: 0, run: true, data: pkt });
    expect(run.retval).toBe(ref.retval);
    expect(run.data_out!.toString('hex')).toBe(Buffer.from(ref.dataOut!).toString('hex'));
  });

  it('a syscall program gets its context from --ctx; --repeat is passed on', async () => {
    const obj = compileBpf(work, 'sys', `#include "bpfscope.h"
struct args { __u32 a; __u32 b; };
SEC("syscall") int sum3(struct args *ctx) { return ctx->a * 3 + ctx->b; }
char LICENSE[] SEC("license") = "GPL";
`);
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setUint32(0, 1000, true);
    new DataView(ctx.buffer).setUint32(4, 7, true);
    const { outcome, run } = await ours(obj, 'sum3', { ctx, repeat: 1 });
    expect(outcome.verdict).toBe('accepted');
    expect(run.errno).toBeNull();
    expect(run.retval).toBe(1000 * 3 + 7);
    const tc = await ours(path.join(PROGS_DIR, 'compute.bpf.o'), 'parse_udp', { repeat: 50 });
    expect(tc.run.repeat).toBe(50);
    expect(tc.run.duration_ns).toBeGreaterThan(0);
  });
});
