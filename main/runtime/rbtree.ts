/**
 * A red-black tree with the shape the kernel's lib/rbtree.c gives it, so that
 * bpf_rbtree_add calls the program's less() on the same nodes in the same
 * order as the kernel, and a drain walks the nodes in the same post-order.
 * The algorithms are the textbook ones the kernel implements (insert fix-up
 * by recolouring and rotations; erase replacing a two-child node by its
 * in-order successor, which takes the node's colour; then the erase fix-up).
 */
export interface RbNode<T> {
  value: T;
  left: RbNode<T> | null;
  right: RbNode<T> | null;
  parent: RbNode<T> | null;
  red: boolean;
}

export class RbTree<T> {
  root: RbNode<T> | null = null;
  /** rb_root_cached's leftmost node: bpf_rbtree_first. */
  leftmost: RbNode<T> | null = null;
  size = 0;

  /** __bpf_rbtree_add: walk down with less(new, parent): left when true, right otherwise. */
  insert(value: T, less: (other: T) => boolean): RbNode<T> {
    let parent: RbNode<T> | null = null;
    let cur = this.root;
    let goLeft = false;
    let leftmost = true;
    while (cur) {
      parent = cur;
      if (less(cur.value)) {
        goLeft = true;
        cur = cur.left;
      } else {
        goLeft = false;
        leftmost = false;
        cur = cur.right;
      }
    }
    const node: RbNode<T> = { value, left: null, right: null, parent, red: true };
    if (!parent) this.root = node;
    else if (goLeft) parent.left = node;
    else parent.right = node;
    if (leftmost) this.leftmost = node;
    this.size++;
    this.insertFixup(node);
    return node;
  }

  private rotateLeft(x: RbNode<T>): void {
    const y = x.right!;
    x.right = y.left;
    if (y.left) y.left.parent = x;
    this.replaceChild(x, y);
    y.left = x;
    x.parent = y;
  }

  private rotateRight(x: RbNode<T>): void {
    const y = x.left!;
    x.left = y.right;
    if (y.right) y.right.parent = x;
    this.replaceChild(x, y);
    y.right = x;
    x.parent = y;
  }

  /** Put `y` where `x` hangs (y takes x's parent). */
  private replaceChild(x: RbNode<T>, y: RbNode<T> | null): void {
    const p = x.parent;
    if (y) y.parent = p;
    if (!p) this.root = y;
    else if (p.left === x) p.left = y;
    else p.right = y;
  }

  private insertFixup(node: RbNode<T>): void {
    let z = node;
    while (z.parent && z.parent.red) {
      const p = z.parent;
      const g = p.parent!;
      if (p === g.left) {
        const uncle = g.right;
        if (uncle && uncle.red) {
          p.red = false;
          uncle.red = false;
          g.red = true;
          z = g;
          continue;
        }
        if (z === p.right) {
          this.rotateLeft(p);
          z = p;
        }
        z.parent!.red = false;
        g.red = true;
        this.rotateRight(g);
      } else {
        const uncle = g.left;
        if (uncle && uncle.red) {
          p.red = false;
          uncle.red = false;
          g.red = true;
          z = g;
          continue;
        }
        if (z === p.left) {
          this.rotateRight(p);
          z = p;
        }
        z.parent!.red = false;
        g.red = true;
        this.rotateLeft(g);
      }
    }
    this.root!.red = false;
  }

  private static first<T>(n: RbNode<T>): RbNode<T> {
    while (n.left) n = n.left;
    return n;
  }

  /** In-order successor, for the cached leftmost after an erase. */
  private static next<T>(n: RbNode<T>): RbNode<T> | null {
    if (n.right) return RbTree.first(n.right);
    let c = n;
    while (c.parent && c.parent.right === c) c = c.parent;
    return c.parent;
  }

  erase(node: RbNode<T>): void {
    if (this.leftmost === node) this.leftmost = RbTree.next(node);
    this.size--;
    let rebalanceParent: RbNode<T> | null = null;
    let needFix = false;
    if (!node.left || !node.right) {
      const child = node.left ?? node.right;
      const parent = node.parent;
      this.replaceChild(node, child);
      // The only child takes the node's place and colour (black: a node with
      // one child is black, the child red); a black leaf leaves a hole.
      if (child) child.red = node.red;
      else if (!node.red) {
        needFix = true;
        rebalanceParent = parent;
      }
    } else {
      const succ = RbTree.first(node.right);
      let parent: RbNode<T>;
      const child2 = succ.right;
      if (succ === node.right) {
        parent = succ;
      } else {
        parent = succ.parent!;
        parent.left = child2;
        if (child2) child2.parent = parent;
        succ.right = node.right;
        node.right.parent = succ;
      }
      succ.left = node.left;
      node.left.parent = succ;
      const succWasRed = succ.red;
      succ.red = node.red;
      this.replaceChild(node, succ);
      if (child2) child2.red = false;
      else if (!succWasRed) {
        needFix = true;
        rebalanceParent = parent;
      }
    }
    node.parent = node.left = node.right = null;
    if (needFix && rebalanceParent) this.eraseFixup(rebalanceParent);
  }

  /** The erase fix-up, starting with a missing black node (x = null) under `parent`. */
  private eraseFixup(startParent: RbNode<T>): void {
    let x: RbNode<T> | null = null;
    let parent: RbNode<T> | null = startParent;
    while (parent && (!x || !x.red) && x !== this.root) {
      if (x === parent.left) {
        let w = parent.right!;
        if (w.red) {
          w.red = false;
          parent.red = true;
          this.rotateLeft(parent);
          w = parent.right!;
        }
        if ((!w.left || !w.left.red) && (!w.right || !w.right.red)) {
          w.red = true;
          x = parent;
          parent = x.parent;
        } else {
          if (!w.right || !w.right.red) {
            w.left!.red = false;
            w.red = true;
            this.rotateRight(w);
            w = parent.right!;
          }
          w.red = parent.red;
          parent.red = false;
          w.right!.red = false;
          this.rotateLeft(parent);
          x = this.root;
          parent = null;
        }
      } else {
        let w = parent.left!;
        if (w.red) {
          w.red = false;
          parent.red = true;
          this.rotateRight(parent);
          w = parent.left!;
        }
        if ((!w.left || !w.left.red) && (!w.right || !w.right.red)) {
          w.red = true;
          x = parent;
          parent = x.parent;
        } else {
          if (!w.left || !w.left.red) {
            w.right!.red = false;
            w.red = true;
            this.rotateLeft(w);
            w = parent.left!;
          }
          w.red = parent.red;
          parent.red = false;
          w.left!.red = false;
          this.rotateRight(parent);
          x = this.root;
          parent = null;
        }
      }
    }
    if (x) x.red = false;
  }

  /** rbtree_postorder_for_each_entry_safe order: left subtree, right subtree, node. */
  postorder(): T[] {
    const out: T[] = [];
    const walk = (n: RbNode<T> | null): void => {
      if (!n) return;
      walk(n.left);
      walk(n.right);
      out.push(n.value);
    };
    walk(this.root);
    return out;
  }

  inorder(): T[] {
    const out: T[] = [];
    for (let n = this.root ? RbTree.first(this.root) : null; n; n = RbTree.next(n)) out.push(n.value);
    return out;
  }
}
