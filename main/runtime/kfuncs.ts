import { UNIT_HEADER } from './allocator';
import { fault } from './fault';
import type { Machine } from './machine';
import { FUNC_TAG, Memory, type Region } from './memory';

/**
 * The allocator kfuncs (kernel/bpf/helpers.c). On 6.18 only the `_impl`
 * names exist for new/drop/refcount_acquire/push/add; newer kernels add the
 * bare names with the same arguments, so both are accepted. The hidden
 * arguments the verifier rewrites (meta, node offset, and bpf_obj_new's type
 * id → size) are not needed here: the machine knows the type from program
 * BTF and finds the node's object from the node pointer.
 */
export function callKfunc(m: Machine, name: string): void {
  const base = name.replace(/_impl$/, '');
  switch (base) {
    case 'bpf_obj_new':
    case 'bpf_percpu_obj_new': {
      const typeId = m.lo[1] >>> 0;
      let type;
      try {
        type = m.prog.typeById(typeId);
      } catch (err) {
        fault('bad_arg', `${name}: type id ${typeId}: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!type || m.hi[1] !== 0) fault('bad_arg', `${name}: type id ${m.reg64(1)} is not a struct of the program's BTF`);
      const r = m.objects.newObject(type, base === 'bpf_percpu_obj_new');
      if (r) m.setR0(UNIT_HEADER, Memory.hiOf(r));
      else m.setR0(0, 0);
      return;
    }
    case 'bpf_obj_drop':
    case 'bpf_percpu_obj_drop': {
      const { obj, off } = m.objects.objectAt(m.hi[1], m.lo[1], name);
      if (off !== 0) fault('bad_arg', `${name}: pointer is object#${obj.id}+${off}, not the object's start`);
      m.objects.drop(obj.id, 'drop');
      m.setR0(0, 0);
      return;
    }
    case 'bpf_refcount_acquire': {
      const { obj, off } = m.objects.objectAt(m.hi[1], m.lo[1], name);
      if (off !== 0) fault('bad_arg', `${name}: pointer is object#${obj.id}+${off}, not the object's start`);
      if (m.objects.refcountAcquire(obj)) m.setR0(m.lo[1], m.hi[1]);
      else m.setR0(0, 0);
      return;
    }
    case 'bpf_list_push_front':
    case 'bpf_list_push_back': {
      const [head, at] = container(m, 1, name);
      requireLock(m, name, head);
      const node = m.objects.objectAt(m.hi[2], m.lo[2], name);
      const r = m.objects.listPush(head, at, node, base === 'bpf_list_push_front');
      m.setR0(r | 0, r < 0 ? -1 : 0);
      return;
    }
    case 'bpf_list_pop_front':
    case 'bpf_list_pop_back':
    case 'bpf_list_front':
    case 'bpf_list_back': {
      const [head, at] = container(m, 1, name);
      requireLock(m, name, head);
      const front = base.endsWith('front');
      const n = base.includes('pop') ? m.objects.listPop(head, at, front) : m.objects.listPeek(head, at, front);
      setNode(m, n);
      return;
    }
    case 'bpf_rbtree_add': {
      const [root, at] = container(m, 1, name);
      requireLock(m, name, root);
      const node = m.objects.objectAt(m.hi[2], m.lo[2], name);
      if (m.hi[3] !== FUNC_TAG) fault('bad_arg', `${name}: R3 is not a callback`);
      const less = m.lo[3];
      const nodeAddr: [number, number] = [m.lo[2], m.hi[2]];
      const r = m.objects.rbAdd(root, at, node, (other) => {
        const o = m.objects.regionOf(other.object);
        const [r0] = m.callFunc(less, [nodeAddr, [UNIT_HEADER + other.nodeOff, Memory.hiOf(o)]]);
        return (r0 & 0xff) !== 0;
      });
      m.setR0(r | 0, r < 0 ? -1 : 0);
      return;
    }
    case 'bpf_rbtree_first': {
      const [root, at] = container(m, 1, name);
      requireLock(m, name, root);
      setNode(m, m.objects.rbFirst(root, at));
      return;
    }
    case 'bpf_rbtree_root':
    case 'bpf_rbtree_left':
    case 'bpf_rbtree_right': {
      // 6.16+: non-owning pointers to the root, or a node's children.
      const [root, at] = container(m, 1, name);
      requireLock(m, name, root);
      const dir = base === 'bpf_rbtree_root' ? 'root' : base === 'bpf_rbtree_left' ? 'left' : 'right';
      const from = dir === 'root' ? undefined : m.objects.objectAt(m.hi[2], m.lo[2], name);
      setNode(m, m.objects.rbWalk(root, at, from, dir));
      return;
    }
    case 'bpf_rbtree_remove': {
      const [root, at] = container(m, 1, name);
      requireLock(m, name, root);
      const node = m.objects.objectAt(m.hi[2], m.lo[2], name);
      setNode(m, m.objects.rbRemove(root, at, node));
      return;
    }
    case 'bpf_rcu_read_lock':
      // One CPU, no grace period inside a run: only the nesting is checked.
      m.rcuDepth++;
      m.setR0(0, 0);
      return;
    case 'bpf_rcu_read_unlock':
      if (m.rcuDepth === 0) fault('lock', `${name} without bpf_rcu_read_lock`);
      m.rcuDepth--;
      m.setR0(0, 0);
      return;
    default:
      fault('bad_call', `call to kfunc ${name}, which the runtime does not model`);
  }

  function setNode(mm: Machine, n: { object: number; nodeOff: number } | undefined): void {
    if (!n) return mm.setR0(0, 0);
    mm.setR0(UNIT_HEADER + n.nodeOff, Memory.hiOf(mm.objects.regionOf(n.object)));
  }
}

/** A bpf_list_head / bpf_rb_root argument: its region and offset (16 bytes must be in bounds). */
function container(m: Machine, reg: number, what: string): [Region, number] {
  const r = m.memory.check(m.hi[reg], m.lo[reg], 16, true);
  if (!r) fault('bad_arg', `${what}: R${reg} is not a container`);
  return [r, m.lo[reg]];
}

/** List and rbtree operations need the bpf_spin_lock of the allocation that holds the head or root. */
function requireLock(m: Machine, what: string, container: Region): void {
  if (m.lockHeld === null) fault('lock', `${what} without the bpf_spin_lock held (the verifier requires it)`);
  if (m.lockRegion !== container.id) fault('lock', `${what} on ${container.label} while holding ${m.lockHeld}, a lock of another allocation`);
}
