import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseObject } from '../../../main/object/object';
import { objNewZeroedRanges, structLayout } from '../../../main/object/layout';
import { UNIT_HEADER, unitSizeFor } from '../../../main/runtime/allocator';
import { buildCtx } from '../../../main/runtime/ctx';
import { Machine } from '../../../main/runtime/machine';
import { Memory } from '../../../main/runtime/memory';
import { DEFAULT_PACKET, examplePrograms } from '../../helpers/ref';
import { loadExample } from './helpers';

/**
 * bpf_obj_new's memory, checked against the object model's account of
 * bpf_obj_init (helper A's objNewZeroedRanges, from program BTF): every
 * special field initialised as 6.18 does, the rest never-written.
 */
describe('bpf_obj_new memory', () => {
  it('size classes follow bpf_mem_cache_idx (size + 8-byte header)', () => {
    expect([1, 8, 9, 24, 25, 56, 57, 88, 89, 120, 121, 184, 185, 248, 249, 4088, 4089].map((s) => unitSizeFor(s))).toEqual([
      16, 16, 32, 32, 64, 64, 96, 96, 128, 128, 192, 192, 256, 256, 512, 4096, undefined,
    ]);
  });

  for (const [object, program] of [
    ['list.bpf.o', 'list_push'],
    ['refcount.bpf.o', 'refcount_push_keep'],
    ['nested.bpf.o', 'nested_drop'],
    ['rbtree.bpf.o', 'rbtree_add_remove'],
  ] as const) {
    it(`${object} ${program}: special fields as bpf_obj_init leaves them`, () => {
      const p = examplePrograms().find((e) => e.object === object && e.program === program)!;
      const obj = parseObject(readFileSync(p.objectPath), p.objectPath);
      const prog = loadExample(p.objectPath, p.program);
      const m = new Machine(prog);
      // Snapshot every object's bytes the moment bpf_obj_new returns.
      const snapshots = new Map<number, Uint8Array>();
      const shadows = new Map<number, Uint8Array>();
      const newObject = m.objects.newObject.bind(m.objects);
      m.objects.newObject = (type, percpu) => {
        const r = newObject(type, percpu);
        if (r) {
          snapshots.set(r.owner, r.data.slice());
          shadows.set(r.owner, r.init!.slice());
        }
        return r;
      };
      const ctx = buildCtx(m.memory, prog.progType, { data: DEFAULT_PACKET });
      m.packet = ctx.packet;
      m.runMain(Memory.hiOf(ctx.region), 0);
      expect(snapshots.size).toBeGreaterThan(0);
      for (const o of m.objects.objects) {
        const bytes = snapshots.get(o.id)!;
        const view = new DataView(bytes.buffer);
        const hi = Memory.hiOf(m.objects.regionOf(o.id));
        const ranges = objNewZeroedRanges(structLayout(obj.btf!, o.typeId));
        expect(ranges.length).toBeGreaterThan(0);
        for (const f of ranges) {
          const at = UNIT_HEADER + f.offset;
          const self = [view.getInt32(at, true), view.getInt32(at + 4, true)];
          switch (f.init) {
            case 'refcount=1':
              expect(view.getUint32(at, true)).toBe(1);
              break;
            case 'list_head=self':
              expect(self).toEqual([at, hi]);
              expect([view.getInt32(at + 8, true), view.getInt32(at + 12, true)]).toEqual([at, hi]);
              expect([...bytes.subarray(at + 16, at + f.size)].every((b) => b === 0)).toBe(true);
              break;
            case 'rb_node=cleared':
              expect(self).toEqual([at, hi]);
              expect([...bytes.subarray(at + 8, at + f.size)].every((b) => b === 0)).toBe(true);
              break;
            default:
              expect([...bytes.subarray(at, at + f.size)].every((b) => b === 0)).toBe(true);
          }
        }
        // Exactly the special fields count as written; every other byte is
        // what the allocator's unit held (uninitialized for the program).
        const expected = new Uint8Array(o.unitSize);
        for (const f of ranges) expected.fill(1, UNIT_HEADER + f.offset, UNIT_HEADER + f.offset + f.size);
        expect([...shadows.get(o.id)!]).toEqual([...expected]);
      }
    });
  }
});
