/** What happened to an allocated object, in the kernel's words. */
export type AllocEventKind =
  | 'new'
  | 'drop'
  | 'push_front'
  | 'push_back'
  | 'pop_front'
  | 'pop_back'
  | 'rb_add'
  | 'rb_remove'
  | 'refcount_acquire'
  | 'kptr_xchg'
  | 'drain'
  | 'free';

export interface AllocEvent {
  /** 1-based, over the whole session (all runs, then the map frees). */
  seq: number;
  /** Which run of `--repeat` (0-based); the map free after the runs has run = number of runs. */
  run: number;
  /** The step of the instruction that caused the event: 1-based count of instructions executed in this run (0 outside the program). */
  step: number;
  /** The instruction index, or -1 for events outside the program (map free). */
  insn: number;
  kind: AllocEventKind;
  object: number;
  /** BTF struct name. */
  type: string;
  /** The requested size (sizeof the struct). */
  size: number;
  /** The object's owner after the event: `prog`, `list holders[0]+8`, `rb obj#2+16`, `kptr stash[1]+0`, or null once freed. */
  owner: string | null;
  /** Extra facts: the refcount after a drop, `-EINVAL` of a failed push... */
  detail?: string;
}

export interface AllocObject {
  id: number;
  type: string;
  typeId: number;
  size: number;
  /** The allocator's unit (size class), header included. */
  unitSize: number;
  /** The address bpf_obj_new returned, as hex. */
  addr: string;
  percpu: boolean;
  newSeq: number;
  freeSeq: number | null;
  /** The event kind that ended the object's life: drop, drain (map value freed), push (failed push)... */
  freedBy: string | null;
  refcount: number;
  owner: string | null;
}
