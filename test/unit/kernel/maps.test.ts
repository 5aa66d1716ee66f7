import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileBpf } from '../../helpers/bpfcc';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
import { createTrace } from '../../../main/trace/db';
import { recordObject } from '../../../main/kernel/record';
import { objectUnsupported } from '../../helpers/support';

/**
 * Maps as bpfscope creates them, against the maps bpftool (libbpf) creates
 * for the same object (`bpftool prog loadall ... pinmaps`, then `bpftool map
 * show`), and their contents after a run against refload's dump.
 */
const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-f-maps-'));
const bpffs = path.join(work, 'bpffs');
let mounted = false;
afterAll(() => {
  if (mounted) execFileSync('umount', [bpffs]);
  rmSync(work, { recursive: true, force: true });
});

const MAP_TYPES_SOURCE = `#include "bpfscope.h"
struct { __uint(type, BPF_MAP_TYPE_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 64); __uint(map_flags, BPF_F_NO_PREALLOC); } h SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_HASH); __type(key, __u32); __type(value, __u64); __uint(max_entries, 16); } ph SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_HASH); __type(key, __u64); __type(value, __u32); __uint(max_entries, 32); } lh SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH); __type(key, __u32); __type(value, __u32); __uint(max_entries, 8); } lph SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 4); } pa SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_RINGBUF); __uint(max_entries, 4096); } rb SEC(".maps");
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __type(key, __u32); __type(value, __u64); __uint(max_entries, 2); } a SEC(".maps");
SEC("tc") int touch_all(struct __sk_buff *skb) {
	__u32 k = skb->len; __u64 v = skb->len * 2, k64 = 7; __u32 v32 = 9, z = 0;
	bpf_map_update_elem(&h, &k, &v, 0);
	bpf_map_update_elem(&ph, &k, &v, 0);
	bpf_map_update_elem(&lh, &k64, &v32, 0);
	bpf_map_update_elem(&lph, &k, &v32, 0);
	__u64 *p = bpf_map_lookup_elem(&pa, &z); if (p) *p += 5;
	__u64 *q = bpf_map_lookup_elem(&a, &z); if (q) *q = 0x1122334455667788;
	bpf_ringbuf_output(&rb, &v, sizeof(v), 0);
	return 0;
}
char LICENSE[] SEC("license") = "GPL";
`;

interface MapRow {
  name: string;
  map_type_name: string;
  key_size: number;
  value_size: number;
  max_entries: number;
  map_flags: number;
  btf_value_type_id: number | null;
  frozen: number;
  kind: string;
}

describe.skipIf(!!kernelSkipReason())(kernelTitle('maps'), () => {
  let mapTypesObj = '';
  beforeAll(() => {
    mkdirSync(bpffs);
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    mounted = true;
    mapTypesObj = compileBpf(work, 'maptypes', MAP_TYPES_SOURCE);
  });

  // bpftool (libbpf) creates no map of an object whose kfuncs this kernel lacks: it refuses the
  // object first. Those are left out here (the examples test checks the refusal); the rest are compared.
  const examples = ['list', 'kptr', 'compute', 'percpu', 'rbtree'].map((n) => path.join(PROGS_DIR, `${n}.bpf.o`));
  const refused = examples.filter((o) => objectUnsupported(o)).map((o) => `${path.basename(o)}: ${objectUnsupported(o)}`);
  it(`.maps definitions are created with the attributes libbpf gives them (bpftool map show)${refused.length ? ` [not compared, libbpf refuses them: ${refused.join('; ')}]` : ''}`, async () => {
    const objs = [mapTypesObj, ...examples.filter((o) => !objectUnsupported(o))];
    let compared = 0;
    for (const obj of objs) {
      const db = createTrace(path.join(work, `${path.basename(obj)}.trace`));
      await recordObject(db, obj, { logLevel: 1 });
      const ours = db.prepare("SELECT * FROM load_maps WHERE kind = 'btf' AND program_id = (SELECT min(id) FROM programs)").all() as MapRow[];
      db.close();
      const pin = path.join(bpffs, path.basename(obj, '.bpf.o'));
      execFileSync('bpftool', ['prog', 'loadall', obj, `${pin}-p`, 'type', 'tc', 'pinmaps', `${pin}-m`]);
      try {
        for (const m of ours) {
          const j = JSON.parse(execFileSync('bpftool', ['map', 'show', 'pinned', path.join(`${pin}-m`, m.name), '-j'], { encoding: 'utf8' })) as {
            type: string; name: string; flags: number; bytes_key: number; bytes_value: number; max_entries: number; frozen: number; btf_id?: number;
          };
          expect({ type: m.map_type_name, name: m.name, flags: m.map_flags, key: m.key_size, value: m.value_size, max: m.max_entries, frozen: m.frozen, btf: m.btf_value_type_id !== null }, `${obj} ${m.name}`).toEqual({
            type: j.type, name: j.name, flags: j.flags, key: j.bytes_key, value: j.bytes_value, max: j.max_entries, frozen: j.frozen, btf: j.btf_id !== undefined,
          });
          compared++;
        }
      } finally {
        rmSync(`${pin}-p`, { recursive: true, force: true });
        rmSync(`${pin}-m`, { recursive: true, force: true });
      }
    }
    // maptypes alone has 7 .maps; every example object has at least one.
    expect(compared).toBeGreaterThanOrEqual(7 + objs.length - 1);
    if (refused.length === 0) expect(compared).toBeGreaterThanOrEqual(12);
  });

  it('array, hash, per-CPU, LRU maps hold after a run what libbpf finds in them', async () => {
    const db = createTrace(path.join(work, 'touch.trace'));
    const [o] = await recordObject(db, mapTypesObj, { logLevel: 1, run: true });
    const rows = db.prepare('SELECT map, hex(key) AS k, hex(value) AS v FROM test_run_maps m JOIN test_runs r ON r.id = m.run_id WHERE r.program_id = ? ORDER BY map, k').all(o.programId) as { map: string; k: string; v: string }[];
    db.close();
    const ref = await refLoad(mapTypesObj, 'touch_all', { logLevel: 0, run: true, dumpMaps: true });
    // Per-CPU values hold one slot per CPU; which CPU ran the program differs run to run.
    const perCpu = new Set(['ph', 'lph', 'pa']);
    const slots = (map: string, v: string): string => (perCpu.has(map) ? (v.match(/.{16}/g) ?? []).sort().join('') : v);
    for (const r of rows) r.v = slots(r.map, r.v);
    const theirs = Object.entries(ref.maps ?? {}).flatMap(([map, es]) => es.map((e) => ({ map, k: e.key.toUpperCase(), v: slots(map, e.value.toUpperCase()) })));
    theirs.sort((x, y) => (x.map < y.map ? -1 : x.map > y.map ? 1 : x.k < y.k ? -1 : x.k > y.k ? 1 : 0));
    expect(rows).toEqual(theirs);
    expect(new Set(rows.map((r) => r.map))).toEqual(new Set(['a', 'h', 'lh', 'lph', 'pa', 'ph']));
  });

  it('global data maps: .rodata* frozen and read-only for programs; hidden (private) sections not mmapable, visible ones mmapable', async () => {
    const rowsOf = async (obj: string, prog: string) => {
      const db = createTrace(path.join(work, `${prog}-g.trace`));
      await recordObject(db, path.join(PROGS_DIR, obj), { logLevel: 1, programs: [prog] });
      const rows = db.prepare("SELECT * FROM load_maps WHERE kind != 'btf'").all() as (MapRow & { section: string; initial: Buffer | null })[];
      db.close();
      return rows;
    };
    const g = await rowsOf('globals.bpf.o', 'globals_update');
    const bySec = new Map(g.map((r) => [r.section, r]));
    expect(bySec.get('.rodata.table')).toMatchObject({ name: '.rodata.table', frozen: 1, kind: 'rodata' });
    expect(bySec.get('.rodata.table')!.map_flags & 0x80).toBe(0x80);
    expect(bySec.get('.data.counters')).toMatchObject({ frozen: 0, map_flags: 0x400 });
    expect(bySec.get('.bss.seen')).toMatchObject({ kind: 'bss', initial: null });
    for (const r of g) expect([r.map_type_name, r.key_size, r.max_entries]).toEqual(['array', 4, 1]);
    const rb = await rowsOf('rbtree.bpf.o', 'rbtree_add_remove');
    const priv = rb.find((r) => r.section === '.data.rb')!;
    expect(priv.map_flags & 0x400).toBe(0);
    expect(priv.btf_value_type_id).not.toBeNull();
  });
});
