import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { DEFAULT_PACKET, PROGS_DIR, REPO_ROOT, refLoad, type RefMapEntry } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { testRunInputs } from '../../../main/kernel/test-run';
import { parseObject } from '../../../main/object/object';
import { fromObject } from '../../../main/runtime/load';
import { runSession, type MapDump } from '../../../main/runtime/session';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { expectRefusedAsLibbpf } from './libbpf-refusal';

/**
 * The two program types whose BPF_PROG_TEST_RUN differs from tc's, from
 * resources/progs/ctx_types.bpf.o: a socket
 * filter (the run strips the Ethernet header and hands it back zeroed in
 * data_out) and a syscall program (no packet: its argument is the context,
 * copied back after the run). `record --run` and the runtime must both give
 * what the kernel gives through libbpf (test/ref/refload) on the same input:
 * return value, output bytes, maps.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f2-ctx-'));
const obj = path.join(PROGS_DIR, 'ctx_types.bpf.o');
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The default packet with another EtherType and a first network byte that is not IPv4's. */
function arpPacket(): Uint8Array {
  const p = Uint8Array.from(DEFAULT_PACKET.subarray(0, 42));
  p[12] = 0x08;
  p[13] = 0x06;
  p[14] = 0x00;
  return p;
}
/** IPv4 with a 24-byte header (IHL 6). */
function ihl6Packet(): Uint8Array {
  const p = Uint8Array.from(DEFAULT_PACKET);
  p[14] = 0x46;
  return p;
}
function args(a: number, b: number, pad = 0): Uint8Array {
  const c = new Uint8Array(8 + pad).fill(0x5a);
  new DataView(c.buffer).setUint32(0, a, true);
  new DataView(c.buffer).setUint32(4, b, true);
  return c;
}

const hex = (b?: Uint8Array | null): string => Buffer.from(b ?? []).toString('hex');
const refMaps = (m: Record<string, RefMapEntry[]> = {}): Record<string, Record<string, string>> =>
  Object.fromEntries(Object.entries(m).map(([name, es]) => [name, Object.fromEntries(es.map((e) => [e.key, e.value]))]));
const runtimeMaps = (m: Record<string, MapDump>): Record<string, Record<string, string>> =>
  Object.fromEntries(Object.entries(m).map(([name, d]) => [name, Object.fromEntries(d.entries.map((e) => [e.key, e.value]))]));

interface Case {
  program: 'socket_trim' | 'syscall_alloc';
  what: string;
  data?: Uint8Array;
  ctx?: Uint8Array;
  repeat: number;
  /** What the program's comment says it returns, so a case cannot pass by both sides being wrong alike. */
  expect: number;
}
const cases: Case[] = [
  { program: 'socket_trim', what: 'default packet (IPv4)', repeat: 1, expect: 20 },
  { program: 'socket_trim', what: 'default packet, 3 runs', repeat: 3, expect: 20 },
  { program: 'socket_trim', what: 'IPv4 with IHL 6', data: ihl6Packet(), repeat: 1, expect: 24 },
  { program: 'socket_trim', what: 'not IPv4: skb->len without the Ethernet header', data: arpPacket(), repeat: 1, expect: 42 - 14 },
  { program: 'syscall_alloc', what: 'default packet as context', repeat: 1, expect: 0x0202 },
  { program: 'syscall_alloc', what: 'a = 1000, b = 7', ctx: args(1000, 7), repeat: 1, expect: 1007 },
  { program: 'syscall_alloc', what: 'a + b carries past 32 bits, 24-byte context', ctx: args(0xffffffff, 2, 16), repeat: 1, expect: 1 },
];

// syscall_alloc calls bpf_obj_new: where the kernel lacks it, libbpf refuses the whole object
// (socket_trim too); bpfscope must refuse both alike, and there is no kernel run to compare with.
const missing = kernelSkipReason() ? undefined : objectUnsupported(obj);

describe.skipIf(!!kernelSkipReason())(kernelTitle('socket filter and syscall programs: record --run and run vs BPF_PROG_TEST_RUN'), () => {
  if (missing) {
    for (const program of ['socket_trim', 'syscall_alloc']) {
      it(`${program}: refused as libbpf refuses it (${missing})`, async () => {
        const db = createTrace(path.join(work, `${program}-refused.trace`));
        try {
          const [o] = await recordObject(db, obj, { programs: [program], logLevel: 1, run: true });
          await expectRefusedAsLibbpf(db, o, obj, 1);
          expect(db.prepare('SELECT count(*) AS n FROM test_runs').get()).toEqual({ n: 0 });
        } finally {
          db.close();
        }
      });
    }
  }

  for (const c of cases) {
    it.skipIf(!!missing)(withSkipReason(`${c.program}: ${c.what}`, missing), async () => {
      // refload takes a syscall program's context as its data and reports the context after the run as data_out.
      const refInput = c.program === 'syscall_alloc' ? (c.ctx ?? DEFAULT_PACKET) : (c.data ?? DEFAULT_PACKET);
      const ref = await refLoad(obj, c.program, { logLevel: 1, run: true, dumpMaps: true, repeat: c.repeat, data: refInput });
      expect(ref.verdict).toBe('accepted');
      expect(ref.runErrno).toBeUndefined();
      expect(ref.retval).toBe(c.expect);

      // The recorder, through BPF_PROG_TEST_RUN of its own load.
      const db = createTrace(path.join(work, `${c.program}-${cases.indexOf(c)}.trace`));
      try {
        const [o] = await recordObject(db, obj, { programs: [c.program], logLevel: 1, run: true, data: c.data, ctx: c.ctx, repeat: c.repeat });
        expect(o.verdict).toBe('accepted');
        expect(o.retval).toBe(ref.retval);
        const run = db.prepare('SELECT id, errno, data_out FROM test_runs WHERE program_id = ?').get(o.programId) as { id: number; errno: number | null; data_out: Buffer | null };
        expect(run.errno).toBeNull();
        expect(hex(run.data_out)).toBe(hex(ref.dataOut));
        const rows = db.prepare('SELECT map, key, value FROM test_run_maps WHERE run_id = ?').all(run.id) as { map: string; key: Buffer; value: Buffer }[];
        const recorded: Record<string, Record<string, string>> = {};
        for (const r of rows) (recorded[r.map] ??= {})[hex(r.key)] = hex(r.value);
        expect(recorded).toEqual(refMaps(ref.maps));
      } finally {
        db.close();
      }

      // The runtime, on the inputs `bpfscope run` gives it.
      const prog = fromObject(parseObject(readFileSync(obj), obj), c.program);
      const ours = runSession(prog, { repeat: c.repeat, input: testRunInputs(prog.progType, c.data, c.ctx) });
      expect(ours.runs.map((r) => r.fault)).toEqual(ours.runs.map(() => undefined));
      expect(ours.retval).toBe(ref.retval);
      expect(ours.runs[ours.runs.length - 1].dataOut).toBe(hex(ref.dataOut));
      expect(runtimeMaps(ours.maps)).toEqual(refMaps(ref.maps));
      if (c.program === 'syscall_alloc') {
        // The pair object's life: new, dropped by the program, its unit freed; nothing left alive.
        expect(ours.events.map((e) => e.kind)).toEqual(['new', 'drop', 'free']);
        expect(ours.objects.every((x) => x.freeSeq !== null)).toBe(true);
      }
    });
  }

  it.skipIf(!!missing)(withSkipReason('bpfscope run and bpfscope record --run from the command line give the kernel its default inputs', missing), async () => {
    const ref = await refLoad(obj, 'syscall_alloc', { logLevel: 1, run: true, dumpMaps: true, data: DEFAULT_PACKET });
    const cli = (argv: string[]): string => execFileSync('node', [path.join(REPO_ROOT, 'main/bin.mjs'), ...argv], { encoding: 'utf8' });
    const json = JSON.parse(cli(['run', obj, '-p', 'syscall_alloc', '--json'])) as { retval: number; maps: Record<string, MapDump> };
    expect(json.retval).toBe(ref.retval);
    expect(runtimeMaps(json.maps)).toEqual(refMaps(ref.maps));
    const trace = path.join(work, 'cli.trace');
    expect(cli(['record', obj, '--run', '-o', trace])).toMatch(/syscall_alloc: accepted, \d+ insns processed, retval 514/);
    const runs = JSON.parse(cli(['runs', trace, '--json'])) as { program: string; retval?: number }[];
    expect(Object.fromEntries(runs.map((r) => [r.program, r.retval]))).toEqual({ socket_trim: 20, syscall_alloc: 514 });
    writeFileSync(path.join(work, 'ctx.bin'), args(40, 2));
    expect(cli(['record', obj, '-p', 'syscall_alloc', '--run', '--ctx', path.join(work, 'ctx.bin'), '-o', path.join(work, 'cli2.trace')])).toMatch(/retval 42\b/);
  });
});
