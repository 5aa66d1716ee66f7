import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RbTree, type RbNode } from '../../../main/runtime/rbtree';
import { runSession } from '../../../main/runtime/session';
import { kernelSkipReason, kernelTitle } from '../../helpers/kernel';
import { PROGS_DIR, refLoad } from '../../helpers/ref';
import { objectUnsupported, withSkipReason } from '../../helpers/support';
import { genPacket, mulberry32 } from './genprog';
import { comparableMaps, loadExample } from './helpers';

function check<T>(t: RbTree<T>, cmp: (a: T, b: T) => number): void {
  const height = (n: RbNode<T> | null): number => {
    if (!n) return 1;
    if (n.red) {
      expect(n.left?.red ?? false).toBe(false);
      expect(n.right?.red ?? false).toBe(false);
    }
    if (n.left) expect(n.left.parent).toBe(n);
    if (n.right) expect(n.right.parent).toBe(n);
    const l = height(n.left);
    expect(height(n.right)).toBe(l);
    return l + (n.red ? 0 : 1);
  };
  expect(t.root?.red ?? false).toBe(false);
  height(t.root);
  const order = t.inorder();
  expect(order.length).toBe(t.size);
  for (let i = 1; i < order.length; i++) expect(cmp(order[i - 1], order[i])).toBeLessThanOrEqual(0);
  expect(t.leftmost?.value).toBe(order[0]);
}

describe('red-black tree', () => {
  it('keeps the red-black invariants through random inserts and erases', () => {
    const rnd = mulberry32(99);
    const t = new RbTree<number>();
    const nodes: RbNode<number>[] = [];
    for (let i = 0; i < 2000; i++) {
      if (nodes.length && rnd() < 0.4) {
        const [n] = nodes.splice(Math.floor(rnd() * nodes.length), 1);
        t.erase(n);
      } else {
        const v = Math.floor(rnd() * 500);
        nodes.push(t.insert(v, (other) => v < other));
      }
      if (i % 50 === 0) check(t, (a, b) => a - b);
    }
    check(t, (a, b) => a - b);
  });
});

/**
 * The tree's shape is observable through less(): a callback that logs every
 * comparison into a global shows the path of each insert. Random keys from
 * the packet, adds, removals of the first node and more adds: the log, the
 * node count and the sum drained must equal the kernel's, call for call.
 */
const SRC = `#include "bpfscope.h"
struct node_t {
	long key;
	struct bpf_rb_node rb;
};
private(t) struct bpf_spin_lock lock;
private(t) struct bpf_rb_root root __contains(node_t, rb);
__u64 calls[160];
__u32 ncalls;
long removed[8];

static bool less(struct bpf_rb_node *a, const struct bpf_rb_node *b)
{
	struct node_t *na = container_of(a, struct node_t, rb);
	const struct node_t *nb = container_of(b, struct node_t, rb);
	__u32 i = ncalls;

	if (i < 160)
		calls[i] = (na->key << 16) | nb->key;
	ncalls = i + 1;
	return na->key < nb->key;
}

static __always_inline int add(long key)
{
	struct node_t *n = bpf_obj_new(struct node_t);

	if (!n)
		return 1;
	n->key = key;
	bpf_spin_lock(&lock);
	bpf_rbtree_add(&root, &n->rb, less);
	bpf_spin_unlock(&lock);
	return 0;
}

static __always_inline long pop(void)
{
	struct bpf_rb_node *r;
	long k;

	bpf_spin_lock(&lock);
	r = bpf_rbtree_first(&root);
	if (!r) {
		bpf_spin_unlock(&lock);
		return -1;
	}
	r = bpf_rbtree_remove(&root, r);
	bpf_spin_unlock(&lock);
	if (!r)
		return -2;
	k = container_of(r, struct node_t, rb)->key;
	bpf_obj_drop(container_of(r, struct node_t, rb));
	return k;
}

SEC("tc") int shape(struct __sk_buff *skb)
{
	__u8 k[24];
	int err = 0;

	if (bpf_skb_load_bytes(skb, 14, k, sizeof(k)))
		return 1;
#define A(i) err |= add(k[i] & 63)
	A(0); A(1); A(2); A(3); A(4); A(5); A(6); A(7); A(8); A(9); A(10); A(11);
	removed[0] = pop(); removed[1] = pop(); removed[2] = pop();
	A(12); A(13); A(14); A(15); A(16); A(17);
	removed[3] = pop();
	A(18); A(19); A(20); A(21); A(22); A(23);
	removed[4] = pop(); removed[5] = pop();
	return err ? 2 : ncalls;
}
char LICENSE[] SEC("license") = "GPL";
`;

const work = mkdtempSync(path.join(os.tmpdir(), 'bpfscope-rbtree-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!!kernelSkipReason())(kernelTitle('rbtree shape: less() calls vs BPF_PROG_TEST_RUN'), () => {
  const src = path.join(work, 'shape.bpf.c');
  const obj = path.join(work, 'shape.bpf.o');
  writeFileSync(src, SRC);
  execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-mcpu=v3', `-I${PROGS_DIR}`, '-c', src, '-o', obj]);
  // The rbtree kfuncs (bpf_rbtree_add_impl, bpf_obj_new_impl...) are not in every kernel's BTF (6.1 has none).
  const unsupported = kernelSkipReason() ? undefined : objectUnsupported(obj);
  for (const seed of [1, 2, 3]) {
    for (const repeat of [1, 2]) {
      it.skipIf(!!unsupported)(withSkipReason(`packet seed ${seed} x${repeat}`, unsupported), async () => {
        const data = genPacket(seed);
        const ref = await refLoad(obj, 'shape', { run: true, dumpMaps: true, data, repeat, logLevel: 1 });
        expect(ref.verdict, ref.log.slice(-600)).toBe('accepted');
        const ours = runSession(loadExample(obj, 'shape'), { input: { data }, repeat });
        expect(ours.runs.at(-1)!.fault).toBeUndefined();
        expect(ours.retval).toBe(ref.retval);
        expect(ours.retval).toBeGreaterThan(24);
        const cmp = comparableMaps(ours.maps, ref.maps ?? {});
        expect(cmp.ours).toEqual(cmp.theirs);
      });
    }
  }
});
