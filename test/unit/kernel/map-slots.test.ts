import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { DEFAULT_PACKET, PROGS_DIR, refLoad } from '../../helpers/ref';
import { testRunInputs } from '../../../main/kernel/test-run';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { BpfscopeError } from '../../../main/errors';
import { parseObject } from '../../../main/object/object';
import { fromObject } from '../../../main/runtime/load';
import { runSession } from '../../../main/runtime/session';

/**
 * Map-in-map and prog-array initial values through bpfscope's loader, each
 * case against libbpf 1.1 (refload) on the same object: the decisions the
 * trace records (inner templates, slots, the programs loaded with the
 * recorded one) and, where libbpf refuses, the same verdict and errno.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-slots-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

type Row = Record<string, unknown>;

async function record(obj: string, program: string): Promise<{ verdict: string; errno: number; error: string | null; maps: Row[]; slots: Row[]; retval?: number }> {
  const db = createTrace(path.join(work, `${path.basename(obj)}.${program}.trace`));
  try {
    const [o] = await recordObject(db, obj, { programs: [program], logLevel: 1, run: true });
    return {
      verdict: o.verdict,
      errno: o.errno ?? 0,
      error: o.error,
      maps: db.prepare('SELECT name, kind, map_type_name AS type, error FROM load_maps WHERE program_id = ? ORDER BY id').all(o.programId) as Row[],
      slots: db.prepare('SELECT kind, symbol, target FROM load_relocations WHERE program_id = ? AND insn_idx = -1 ORDER BY id').all(o.programId) as Row[],
      retval: o.retval,
    };
  } finally {
    db.close();
  }
}

const HEAD = `#include "bpfscope.h"
struct inner { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 2); };
`;

describe('object model: __array(values, …) as libbpf reads it', () => {
  const parse = (name: string, src: string): (() => unknown) => {
    const obj = compileBpf(work, name, `${HEAD}${src}\nchar LICENSE[] SEC("license") = "GPL";\n`);
    return () => parseObject(new Uint8Array(readFileSync(obj)), obj);
  };

  it('a prog array: value size 4, slots name entry-point programs', () => {
    const o = parseObject(new Uint8Array(readFileSync(path.join(PROGS_DIR, 'tail_call.bpf.o'))), 'tail_call.bpf.o');
    const jt = o.maps.find((m) => m.name === 'jump_table')!;
    expect([jt.typeName, jt.keySize, jt.valueSize, jt.inner, jt.values]).toEqual(['prog_array', 4, 4, undefined, [null, 'tail_double', null, 'tail_count']]);
  });

  it('refuses what libbpf refuses at open: values on a plain array, a map-in-map slot that is not a map', () => {
    expect(parse('values_on_array', `struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2); __type(key, __u32); __array(values, struct inner); } bad SEC(".maps");
SEC("tc") int p(struct __sk_buff *skb) { return 0; }`)).toThrow(/map 'bad': values needs a map-in-map or a prog array/);
    expect(parse('slot_not_map', `SEC("tc") int p(struct __sk_buff *skb) { return 0; }
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 2); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = { .values = { [1] = (void *)&p } };`)).toThrow(BpfscopeError);
  });
});

describe.skipIf(!!kernelSkipReason())(kernelTitle('map-in-map and prog-array initial values vs libbpf'), () => {
  it('map_in_map mim_array_lookup: inner templates created and closed, slots set, the same result as libbpf', async () => {
    const obj = path.join(PROGS_DIR, 'map_in_map.bpf.o');
    const ours = await record(obj, 'mim_array_lookup');
    const ref = await refLoad(obj, 'mim_array_lookup', { logLevel: 1, run: true });
    expect([ours.verdict, ours.errno, ours.retval]).toEqual([ref.verdict, ref.errno, ref.retval]);
    expect(ours.maps).toEqual([
      { name: 'inner_a', kind: 'btf', type: 'array', error: null },
      { name: 'inner_b', kind: 'btf', type: 'array', error: null },
      { name: 'outer_arr.inner', kind: 'inner', type: 'array', error: null },
      { name: 'outer_arr', kind: 'btf', type: 'array_of_maps', error: null },
      { name: 'outer_hash.inner', kind: 'inner', type: 'array', error: null },
      { name: 'outer_hash', kind: 'btf', type: 'hash_of_maps', error: null },
    ]);
    expect(ours.slots.map((s) => [s.kind, s.symbol, String(s.target).replace(/fd \d+/, 'fd N')])).toEqual([
      ['map_slot', 'outer_arr[0]', "map 'inner_a' (fd N)"],
      ['map_slot', 'outer_arr[2]', "map 'inner_b' (fd N)"],
      ['map_slot', 'outer_hash[0]', "map 'inner_b' (fd N)"],
      ['map_slot', 'outer_hash[1]', "map 'inner_a' (fd N)"],
    ]);
  });

  it('an inner map declared extern before its outer map and defined after it: what libbpf does, slot and all', async () => {
    // libbpf creates maps in .maps order and sets a map-in-map's slots right away: an inner map
    // created later would fail the slot with EBADF (bpfscope says which); clang's .maps order decides.
    const obj = compileBpf(work, 'late_inner', `${HEAD}
extern struct inner late SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS); __uint(max_entries, 1); __type(key, __u32); __array(values, struct inner); } outer SEC(".maps") = { .values = { [0] = &late } };
struct inner late SEC(".maps");
SEC("tc") int use_outer(struct __sk_buff *skb) { __u32 k = 0; return bpf_map_lookup_elem(&outer, &k) ? 1 : 0; }
char LICENSE[] SEC("license") = "GPL";
`);
    const ours = await record(obj, 'use_outer');
    const ref = await refLoad(obj, 'use_outer', { logLevel: 1, run: true });
    expect([ours.verdict, ours.errno, ours.retval]).toEqual([ref.verdict, ref.errno, ref.retval]);
    const order = parseObject(new Uint8Array(readFileSync(obj)), obj).maps.map((m) => m.name);
    if (order.indexOf('late') > order.indexOf('outer')) {
      expect(ours.error).toBe("map 'outer': failed to initialize slot [0] to map 'late': 'late' is defined after 'outer' in .maps, and maps are created in definition order");
    } else {
      expect(ours.slots.map((s) => [s.kind, s.symbol, String(s.target).replace(/fd \d+/, 'fd N')])).toEqual([['map_slot', 'outer[0]', "map 'late' (fd N)"]]);
      expect(ours.retval).toBe(1);
    }
  });

  it('tail_call tail_entry: the programs the slots name load with it, the slots are set after, and the run tail-calls as in the kernel', async () => {
    const obj = path.join(PROGS_DIR, 'tail_call.bpf.o');
    const ours = await record(obj, 'tail_entry');
    const ref = await refLoad(obj, 'tail_entry', { logLevel: 1, run: true });
    expect([ours.verdict, ours.errno, ours.retval]).toEqual([ref.verdict, ref.errno, ref.retval]);
    expect(ours.slots.map((s) => [s.kind, s.symbol])).toEqual([
      ['prog_array_load', 'tail_double'],
      ['prog_array_load', 'tail_count'],
      ['prog_slot', 'jump_table[1]'],
      ['prog_slot', 'jump_table[3]'],
    ]);
    const prog = fromObject(parseObject(new Uint8Array(readFileSync(obj)), obj), 'tail_entry');
    const machine = runSession(prog, { input: testRunInputs(prog.progType, DEFAULT_PACKET) });
    expect(machine.retval).toBe(ref.retval);
  });

  it('a slot program the kernel rejects: the recorded program is refused with its errno, naming it, as libbpf fails the load', async () => {
    // clang puts `bad` first in the section, so libbpf (and bpfscope) load it before `entry`,
    // which is then never loaded: no log of its own.
    const obj = compileBpf(work, 'bad_target', `#include "bpfscope.h"
int bad(struct __sk_buff *skb);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 2); __type(key, __u32); __array(values, int (void *)); } jt SEC(".maps") = { .values = { [0] = (void *)&bad } };
SEC("tc") int entry(struct __sk_buff *skb) { bpf_tail_call(skb, &jt, 0); return 1; }
SEC("tc") int bad(struct __sk_buff *skb) { return *(int *)(long)skb->data; }
char LICENSE[] SEC("license") = "GPL";
`);
    const ours = await record(obj, 'entry');
    const ref = await refLoad(obj, 'entry', { logLevel: 1 });
    expect([ours.verdict, ours.errno]).toEqual([ref.verdict, ref.errno]);
    expect(ours.verdict).toBe('rejected');
    expect(ours.error).toMatch(/^program 'bad', which a prog array's initial slot names and which libbpf loads before 'entry', was refused: BPF_PROG_LOAD failed: EACCES: /);
    expect(ours.slots).toEqual([{ kind: 'prog_array_load', symbol: 'bad', target: expect.stringContaining('EACCES') }]);
    expect(ref.log).toBe('');
  });
});
