import { Memory, type Region } from './memory';

/**
 * bpf_mem_alloc's model (kernel/bpf/memalloc.c, 6.18):
 * - bpf_global_ma has 11 per-CPU caches of units 16, 32, 64, 96, 128, 192,
 *   256, 512, 1024, 2048, 4096 bytes; bpf_mem_alloc(size) picks the smallest
 *   unit holding size + 8 (the llist_node header in front of every object;
 *   the caller gets unit + 8) and returns NULL past 4096.
 * - Fresh units come from kmalloc(... | __GFP_ZERO): zero-filled. Freed
 *   objects (bpf_mem_free_rcu, which __bpf_obj_drop_impl uses) wait for an
 *   RCU grace period before their unit returns to the free list, and a reused
 *   unit keeps its stale bytes: the allocator never clears it again.
 * Programs run with migration disabled on one CPU, so one CPU's caches are
 * modelled (CPU 0). A grace period is modelled between two runs.
 */
export const SIZE_CLASSES = [16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096] as const;
export const UNIT_HEADER = 8;

/** The unit size bpf_mem_alloc uses for a request of `size` bytes, or undefined (NULL). */
export function unitSizeFor(size: number): number | undefined {
  if (size <= 0) return undefined;
  const need = size + UNIT_HEADER;
  return SIZE_CLASSES.find((c) => c >= need);
}

interface Cache {
  /** Units ready for reuse, most recently freed last (llist push/pop at the head). */
  free: Region[];
  /** Freed in this run, reusable after the grace period. */
  waitingForGp: Region[];
}

export class BpfMemAlloc {
  private readonly caches = new Map<number, Cache>();

  constructor(
    private readonly memory: Memory,
    readonly name: string,
  ) {}

  private cache(unit: number): Cache {
    let c = this.caches.get(unit);
    if (!c) this.caches.set(unit, (c = { free: [], waitingForGp: [] }));
    return c;
  }

  /** A unit for `size` bytes; the object starts at offset 8. Undefined when bpf_mem_alloc returns NULL. */
  alloc(size: number, label: string, percpu: boolean): Region | undefined {
    const unit = unitSizeFor(size);
    if (unit === undefined) return undefined;
    const c = this.cache(unit);
    let r = c.free.pop();
    if (r) {
      r.live = true;
      r.label = label;
      r.init!.fill(0); // stale bytes are there, but the program never wrote them
    } else {
      r = this.memory.add(percpu ? 'percpu_object' : 'object', unit, label, { init: new Uint8Array(unit) });
    }
    // Per-CPU objects too: a reused unit keeps its per-CPU memory with the
    // previous object's bytes (seen here: a second test run counting on from
    // the first run's freed counter), so their bytes start uninitialized.
    r.start = UNIT_HEADER;
    r.end = UNIT_HEADER + size;
    return r;
  }

  free(r: Region): void {
    r.live = false;
    this.cache(r.data.length).waitingForGp.push(r);
  }

  /** An RCU grace period passed: freed units may be handed out again. */
  gracePeriod(): void {
    for (const c of this.caches.values()) {
      while (c.waitingForGp.length) c.free.push(c.waitingForGp.shift()!);
    }
  }
}
