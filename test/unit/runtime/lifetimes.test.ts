import { describe, expect, it } from 'vitest';
import { runSession } from '../../../main/runtime/session';
import { DEFAULT_PACKET, examplePrograms } from '../../helpers/ref';
import { loadExample } from './helpers';

const example = (object: string, program: string) => {
  const p = examplePrograms().find((e) => e.object === object && e.program === program);
  if (!p) throw new Error(`no example ${object} ${program}`);
  return loadExample(p.objectPath, p.program);
};

/** Events as `kind#object@owner`, with the kfunc each in-program event was called from. */
function story(object: string, program: string, opts: { repeat?: number; freeMaps?: boolean } = {}) {
  const prog = example(object, program);
  const r = runSession(prog, { input: { data: DEFAULT_PACKET }, ...opts });
  const calls = r.events.map((e) => (e.insn < 0 ? 'map free' : prog.kfuncs.get(e.insn) ?? `helper@${e.insn}`));
  return { r, prog, events: r.events.map((e) => `${e.kind}#${e.object}@${e.owner ?? '-'}`), calls };
}

describe('object lifetimes', () => {
  it('list_push: three news, pushes front/back/front into holders[0], drained in list order on map free', () => {
    const { r, events, calls } = story('list.bpf.o', 'list_push', { freeMaps: true });
    expect(events).toEqual([
      'new#1@prog',
      'new#2@prog',
      'new#3@prog',
      'push_front#1@list holders[0]+8',
      'push_back#2@list holders[0]+8',
      'push_front#3@list holders[0]+8',
      // The list is c, a, b: bpf_list_head_free drops them in that order.
      'drain#3@-',
      'free#3@-',
      'drain#1@-',
      'free#1@-',
      'drain#2@-',
      'free#2@-',
    ]);
    expect(calls.slice(0, 6)).toEqual([
      'bpf_obj_new_impl',
      'bpf_obj_new_impl',
      'bpf_obj_new_impl',
      'bpf_list_push_front_impl',
      'bpf_list_push_back_impl',
      'bpf_list_push_front_impl',
    ]);
    expect(calls.slice(6).every((c) => c === 'map free')).toBe(true);
    expect(r.objects.map((o) => o.freedBy)).toEqual(['drain', 'drain', 'drain']);
    expect(r.objects.every((o) => o.freeSeq !== null)).toBe(true);
    // struct elem is 24 + 16 bytes: with the 8-byte header it takes a 64-byte unit.
    expect(r.objects.map((o) => [o.size, o.unitSize])).toEqual([[40, 64], [40, 64], [40, 64]]);
  });

  it('list_push without --free-maps: every object stays alive, owned by the list', () => {
    const { r } = story('list.bpf.o', 'list_push');
    expect(r.objects.map((o) => [o.freeSeq, o.owner])).toEqual([
      [null, 'list holders[0]+8'],
      [null, 'list holders[0]+8'],
      [null, 'list holders[0]+8'],
    ]);
    expect(r.runs[0].leaked).toEqual([]);
  });

  it('list_mixed twice: pops and drops under the program, the rest drain; freed units are reused after the grace period', () => {
    const { r, events } = story('list.bpf.o', 'list_mixed', { repeat: 2, freeMaps: true });
    const run0 = events.slice(0, 14);
    expect(run0).toEqual([
      'new#1@prog', 'push_back#1@list holders[2]+8',
      'new#2@prog', 'push_front#2@list holders[2]+8',
      'new#3@prog', 'push_back#3@list holders[2]+8',
      'new#4@prog', 'push_front#4@list holders[2]+8',
      'pop_front#4@prog', 'drop#4@-', 'free#4@-',
      'pop_back#3@prog', 'drop#3@-', 'free#3@-',
    ]);
    // Run 1's first two objects get the units of #3 and #4 back (LIFO free list).
    const addr = (id: number) => r.objects[id - 1].addr;
    expect([addr(5), addr(6)]).toEqual([addr(3), addr(4)]);
    // Four objects were in the list at the map free: 2, 1 from run 0 and 6, 5 from run 1 (list 6 2 1 5).
    expect(events.filter((e) => e.startsWith('drain'))).toEqual(['drain#6@-', 'drain#2@-', 'drain#1@-', 'drain#5@-']);
    expect(r.objects.filter((o) => o.freeSeq === null)).toEqual([]);
  });

  it('refcount_double_push: the second push of an owned node drops a reference and returns -EINVAL', () => {
    const { r, events } = story('refcount.bpf.o', 'refcount_double_push', { freeMaps: true });
    expect(r.retval).toBe(22);
    const drop = r.events.find((e) => e.kind === 'drop');
    expect(drop?.detail).toMatch(/already has an owner: -EINVAL, refcount 1/);
    expect(events.at(-2)).toMatch(/^drain#1/);
    expect(r.objects[0].freedBy).toBe('drain');
  });

  it('kptr_roundtrip: objects move between the program and the map kptr slot; the last one is dropped with the map', () => {
    const { r, events } = story('kptr.bpf.o', 'kptr_roundtrip', { freeMaps: true });
    expect(events.filter((e) => e.startsWith('kptr_xchg'))).toEqual([
      'kptr_xchg#1@kptr stash[1]+0',
      'kptr_xchg#2@kptr stash[1]+0',
      'kptr_xchg#1@prog',
      'kptr_xchg#2@prog',
      'kptr_xchg#3@kptr stash[1]+0',
    ]);
    expect(events.slice(-2)).toEqual(['drain#3@-', 'free#3@-']);
    expect(r.objects.every((o) => o.freeSeq !== null)).toBe(true);
  });

  it('rbtree_add_remove: less() orders the tree, first+remove takes key 3, two stay until the map free', () => {
    const { r, events } = story('rbtree.bpf.o', 'rbtree_add_remove', { freeMaps: true });
    expect(events.slice(0, 9)).toEqual([
      'new#1@prog', 'rb_add#1@rb .data.rb[0]+8',
      'new#2@prog', 'rb_add#2@rb .data.rb[0]+8',
      'new#3@prog', 'rb_add#3@rb .data.rb[0]+8',
      'rb_remove#2@prog', 'drop#2@-', 'free#2@-',
    ]);
    // The tree is 5 with 9 as its right child: bpf_rb_root_free drains in post-order, 9 then 5.
    expect(events.filter((e) => e.startsWith('drain'))).toEqual(['drain#3@-', 'drain#1@-']);
    expect(r.retval).toBe(DEFAULT_PACKET.length + 3);
  });

  it('events carry the step and instruction of the call that caused them', () => {
    const { r, prog } = story('new_drop.bpf.o', 'new_drop');
    for (const e of r.events) {
      const insn = prog.insns[e.insn];
      expect(insn.code).toBe(0x85);
      expect(e.step).toBeGreaterThan(0);
      expect(e.step).toBeLessThanOrEqual(r.runs[0].steps);
    }
  });
});
