import { BpfMemAlloc, UNIT_HEADER } from './allocator';
import type { AllocEvent, AllocEventKind, AllocObject } from './events';
import { fault } from './fault';
import { Memory, hex64, type Region } from './memory';
import type { SpecialField, TypeInfo } from './program';
import { RbTree, type RbNode } from './rbtree';

/** Where the event happened: set by the machine before each helper/kfunc call. */
export interface EventClock {
  run: number;
  step: number;
  insn: number;
}

/** A node in a list or tree: which object, through which node field. */
interface GraphNode {
  object: number;
  nodeOff: number;
}

/**
 * The objects of bpf_obj_new and the containers that own them. Containers are
 * keyed by the address of their bpf_list_head / bpf_rb_root; each node field
 * of an object knows its owner (the kernel's bpf_list_node_kern.owner), so a
 * second push of an owned node fails as in __bpf_list_add.
 *
 * Special fields as bpf_obj_init_field leaves them (include/linux/bpf.h,
 * 6.18): every field is zeroed, then bpf_refcount is set to 1, list heads and
 * list nodes point to themselves (INIT_LIST_HEAD), rb nodes to themselves
 * (RB_CLEAR_NODE); rb roots, locks and kptrs stay zero. Only the special
 * fields are written: bpf_obj_new_impl does not clear the rest of the object,
 * which holds what the allocator's unit held (zeroes when fresh).
 */
export class ObjectModel {
  readonly objects: AllocObject[] = [];
  readonly events: AllocEvent[] = [];
  private readonly regionOfObject: Region[] = [];
  private readonly typeOfObject: TypeInfo[] = [];
  private readonly lists = new Map<string, GraphNode[]>();
  private readonly trees = new Map<string, RbTree<GraphNode>>();
  /** `object:nodeOff` → its place in a tree. */
  private readonly rbNodes = new Map<string, RbNode<GraphNode>>();
  /** object id → node offset → owner key (container address key). */
  private readonly nodeOwner = new Map<number, Map<number, string>>();
  private readonly containerLabel = new Map<string, string>();
  readonly globalMa: BpfMemAlloc;
  readonly percpuMa: BpfMemAlloc;

  constructor(
    private readonly memory: Memory,
    readonly clock: EventClock,
  ) {
    this.globalMa = new BpfMemAlloc(memory, 'bpf_global_ma');
    this.percpuMa = new BpfMemAlloc(memory, 'bpf_global_percpu_ma');
  }

  private record(kind: AllocEventKind, obj: AllocObject, owner: string | null, detail?: string): void {
    const ev: AllocEvent = {
      seq: this.events.length + 1,
      run: this.clock.run,
      step: this.clock.step,
      insn: this.clock.insn,
      kind,
      object: obj.id,
      type: obj.type,
      size: obj.size,
      owner,
    };
    if (detail !== undefined) ev.detail = detail;
    this.events.push(ev);
    obj.owner = owner;
  }

  object(id: number): AllocObject {
    return this.objects[id - 1];
  }

  /** The live object a pointer points into, and the pointer's offset from the object's start. */
  objectAt(hi: number, lo: number, what: string): { obj: AllocObject; region: Region; off: number } {
    const r = this.memory.regionOf(hi, lo);
    if (!r || (r.kind !== 'object' && r.kind !== 'percpu_object')) {
      if (hi === 0 && lo === 0) fault('null_deref', `${what}: NULL pointer`);
      fault('bad_arg', `${what}: 0x${hex64(hi, lo)} is not an allocated object`);
    }
    const obj = this.objects[r.owner - 1];
    if (!r.live || obj.freeSeq !== null) fault('use_after_free', `${what}: object#${obj.id} (${obj.type}) was already freed`);
    return { obj, region: r, off: lo - UNIT_HEADER };
  }

  /** bpf_obj_new_impl / bpf_percpu_obj_new_impl. Returns the region or undefined (NULL). */
  newObject(type: TypeInfo, percpu: boolean): Region | undefined {
    const id = this.objects.length + 1;
    const label = `object#${id} (struct ${type.name})`;
    const r = (percpu ? this.percpuMa : this.globalMa).alloc(type.size, label, percpu);
    if (!r) return undefined;
    r.owner = id;
    const obj: AllocObject = {
      id,
      type: type.name,
      typeId: type.id,
      size: type.size,
      unitSize: r.data.length,
      addr: hex64(Memory.hiOf(r), UNIT_HEADER),
      percpu,
      newSeq: this.events.length + 1,
      freeSeq: null,
      freedBy: null,
      refcount: 1,
      owner: 'prog',
    };
    this.objects.push(obj);
    this.regionOfObject[id] = r;
    this.typeOfObject[id] = type;
    initFields(r, UNIT_HEADER, type.fields);
    this.record('new', obj, 'prog', `unit ${obj.unitSize} at 0x${obj.addr}`);
    return r;
  }

  /**
   * __bpf_obj_drop_impl: a refcounted object only loses a reference unless it
   * was the last; then its own fields are freed (drains, kptr drops) and the
   * unit goes back to the allocator after a grace period.
   */
  drop(id: number, kind: 'drop' | 'drain' | 'push' | 'rb_add', ownerAfter: string | null = null): void {
    const obj = this.object(id);
    const type = this.typeOfObject[id];
    const hasRefcount = type.fields.some((f) => f.kind === 'bpf_refcount');
    if (obj.freeSeq !== null) fault('use_after_free', `drop of object#${id} (${obj.type}), already freed`);
    if (kind !== 'drain') {
      const why = kind === 'drop' ? [] : [`${kind === 'push' ? 'list push' : 'rbtree add'} of a node that already has an owner: -EINVAL`];
      if (hasRefcount) why.push(`refcount ${obj.refcount - 1}`);
      this.record('drop', obj, hasRefcount && obj.refcount > 1 ? ownerAfter ?? obj.owner : null, why.length ? why.join(', ') : undefined);
    }
    if (hasRefcount && --obj.refcount > 0) return;
    const r = this.regionOfObject[id];
    this.freeFields(r, UNIT_HEADER, type.fields, `object#${id}`);
    this.record('free', obj, null);
    obj.freeSeq = this.events.length;
    obj.freedBy = kind;
    this.nodeOwner.delete(id);
    (obj.percpu ? this.percpuMa : this.globalMa).free(r);
  }

  /** bpf_obj_free_fields over a value or object at `base` inside `r`. */
  freeFields(r: Region, base: number, fields: readonly SpecialField[], _what?: string): void {
    for (const f of fields) {
      const at = base + f.offset;
      const key = `${r.id}:${at}`;
      if (f.kind === 'bpf_list_head' || f.kind === 'bpf_rb_root') {
        const isList = f.kind === 'bpf_list_head';
        let nodes: GraphNode[];
        if (isList) {
          nodes = this.lists.get(key) ?? [];
          this.lists.delete(key);
        } else {
          nodes = this.trees.get(key)?.postorder() ?? [];
          this.trees.delete(key);
          for (const n of nodes) this.rbNodes.delete(`${n.object}:${n.nodeOff}`);
        }
        // bpf_list_head_free detaches the whole list under the lock, then drops
        // every node's object in list order; bpf_rb_root_free walks the tree in
        // post-order.
        const label = this.containerName(r, at, isList);
        for (const n of nodes) {
          const obj = this.object(n.object);
          this.nodeOwner.get(n.object)?.delete(n.nodeOff);
          this.record('drain', obj, null, `from ${label}`);
          this.drop(n.object, 'drain');
        }
      } else if (f.kind === 'kptr' || f.kind === 'percpu_kptr') {
        const plo = r.view.getInt32(at, true);
        const phi = r.view.getInt32(at + 4, true);
        if (plo === 0 && phi === 0) continue;
        r.view.setInt32(at, 0, true);
        r.view.setInt32(at + 4, 0, true);
        const target = this.memory.regionOf(phi, plo);
        if (target && (target.kind === 'object' || target.kind === 'percpu_object') && target.live) {
          const where = r.kind === 'object' ? `object#${r.owner}` : r.label;
          this.record('drain', this.object(target.owner), null, `from kptr ${where}+${at - base}`);
          this.drop(target.owner, 'drain');
        }
      } else if (f.kind === 'bpf_spin_lock') {
        // nothing to free
      }
    }
  }

  containerName(r: Region, at: number, isList: boolean): string {
    const key = `${r.id}:${at}`;
    let name = this.containerLabel.get(key);
    if (!name) {
      const base = r.kind === 'object' ? UNIT_HEADER : 0;
      const where = r.kind === 'object' ? `object#${r.owner}` : r.label;
      name = `${isList ? 'list' : 'rb'} ${where}+${at - base}`;
      this.containerLabel.set(key, name);
    }
    return name;
  }

  private owners(id: number): Map<number, string> {
    let m = this.nodeOwner.get(id);
    if (!m) this.nodeOwner.set(id, (m = new Map()));
    return m;
  }

  /** __bpf_list_add: 0, or -EINVAL after dropping the object when the node already has an owner. */
  listPush(head: Region, headAt: number, node: { obj: AllocObject; off: number }, front: boolean): number {
    const key = `${head.id}:${headAt}`;
    const label = this.containerName(head, headAt, true);
    const owners = this.owners(node.obj.id);
    if (owners.has(node.off)) {
      // The kernel drops the object: the caller's reference is consumed.
      this.drop(node.obj.id, 'push');
      return -22;
    }
    owners.set(node.off, key);
    let list = this.lists.get(key);
    if (!list) this.lists.set(key, (list = []));
    const n = { object: node.obj.id, nodeOff: node.off };
    if (front) list.unshift(n);
    else list.push(n);
    this.record(front ? 'push_front' : 'push_back', node.obj, label);
    return 0;
  }

  /** bpf_list_pop_front/back: the node's object and node offset, or undefined for an empty list. */
  listPop(head: Region, headAt: number, front: boolean): GraphNode | undefined {
    const key = `${head.id}:${headAt}`;
    const list = this.lists.get(key);
    const n = list && list.length ? (front ? list.shift() : list.pop()) : undefined;
    if (!n) return undefined;
    this.nodeOwner.get(n.object)?.delete(n.nodeOff);
    this.record(front ? 'pop_front' : 'pop_back', this.object(n.object), 'prog');
    return n;
  }

  listPeek(head: Region, headAt: number, front: boolean): GraphNode | undefined {
    const list = this.lists.get(`${head.id}:${headAt}`);
    if (!list || !list.length) return undefined;
    return front ? list[0] : list[list.length - 1];
  }

  /** bpf_rbtree_add: `less(other)` says whether the new node sorts before `other` (the program's callback). */
  rbAdd(root: Region, rootAt: number, node: { obj: AllocObject; off: number }, less: (other: GraphNode) => boolean): number {
    const key = `${root.id}:${rootAt}`;
    const owners = this.owners(node.obj.id);
    if (owners.has(node.off)) {
      this.drop(node.obj.id, 'rb_add');
      return -22;
    }
    owners.set(node.off, key);
    let tree = this.trees.get(key);
    if (!tree) this.trees.set(key, (tree = new RbTree<GraphNode>()));
    const rb = tree.insert({ object: node.obj.id, nodeOff: node.off }, less);
    this.rbNodes.set(`${node.obj.id}:${node.off}`, rb);
    this.record('rb_add', node.obj, this.containerName(root, rootAt, false));
    return 0;
  }

  rbFirst(root: Region, rootAt: number): GraphNode | undefined {
    return this.trees.get(`${root.id}:${rootAt}`)?.leftmost?.value;
  }

  /** bpf_rbtree_root/left/right: a node's place in the tree (non-owning). */
  rbWalk(root: Region, rootAt: number, from: { obj: AllocObject; off: number } | undefined, dir: 'root' | 'left' | 'right'): GraphNode | undefined {
    const tree = this.trees.get(`${root.id}:${rootAt}`);
    if (!tree) return undefined;
    if (dir === 'root') return tree.root?.value;
    const n = from && this.rbNodes.get(`${from.obj.id}:${from.off}`);
    if (!n || this.nodeOwner.get(from!.obj.id)?.get(from!.off) !== `${root.id}:${rootAt}`) return undefined;
    return (dir === 'left' ? n.left : n.right)?.value;
  }

  /** bpf_rbtree_remove: the node, or undefined when it is not in this tree. */
  rbRemove(root: Region, rootAt: number, node: { obj: AllocObject; off: number }): GraphNode | undefined {
    const key = `${root.id}:${rootAt}`;
    if (this.nodeOwner.get(node.obj.id)?.get(node.off) !== key) return undefined;
    const tree = this.trees.get(key)!;
    const rb = this.rbNodes.get(`${node.obj.id}:${node.off}`)!;
    tree.erase(rb);
    this.rbNodes.delete(`${node.obj.id}:${node.off}`);
    this.nodeOwner.get(node.obj.id)!.delete(node.off);
    this.record('rb_remove', node.obj, 'prog');
    return rb.value;
  }

  /** bpf_refcount_acquire_impl: refcount_inc_not_zero; false = NULL. */
  refcountAcquire(obj: AllocObject): boolean {
    if (obj.refcount === 0) return false;
    obj.refcount++;
    this.record('refcount_acquire', obj, obj.owner, `refcount ${obj.refcount}`);
    return true;
  }

  kptrXchg(obj: AllocObject, owner: string): void {
    this.record('kptr_xchg', obj, owner);
  }

  regionOf(id: number): Region {
    return this.regionOfObject[id];
  }
}

/** bpf_obj_init_field for every special field, at `base` inside `r` (see the class comment). */
export function initFields(r: Region, base: number, fields: readonly SpecialField[]): void {
  const hi = Memory.hiOf(r);
  for (const f of fields) {
    const at = base + f.offset;
    r.data.fill(0, at, at + f.size);
    if (f.kind === 'bpf_refcount') r.view.setUint32(at, 1, true);
    else if (f.kind === 'bpf_list_head' || f.kind === 'bpf_list_node') {
      r.view.setInt32(at, at, true);
      r.view.setInt32(at + 4, hi, true);
      r.view.setInt32(at + 8, at, true);
      r.view.setInt32(at + 12, hi, true);
    } else if (f.kind === 'bpf_rb_node') {
      r.view.setInt32(at, at, true);
      r.view.setInt32(at + 4, hi, true);
    }
    if (r.init) r.init.fill(1, at, at + f.size);
  }
}
