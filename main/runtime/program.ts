import type { RawInsn } from '../object/insn/raw';

/**
 * What the runtime needs to run one program: the linked instructions, what
 * each ld_imm64/call slot refers to, the maps, and the BTF facts about the
 * program's own types (sizes and special fields). Built from the object model
 * by `fromObject` (load.ts); tests may build it by hand from clang output.
 */

/** The special fields the kernel's btf_record knows (include/linux/bpf.h, enum btf_field_type). */
export type SpecialFieldKind =
  | 'bpf_spin_lock'
  | 'bpf_list_head'
  | 'bpf_list_node'
  | 'bpf_rb_root'
  | 'bpf_rb_node'
  | 'bpf_refcount'
  | 'kptr'
  | 'kptr_untrusted'
  | 'percpu_kptr'
  | 'uptr'
  | 'bpf_res_spin_lock'
  | 'bpf_timer'
  | 'bpf_wq'
  | 'bpf_task_work';

export interface SpecialField {
  kind: SpecialFieldKind;
  offset: number;
  size: number;
  /** list_head/rb_root: the type the container holds (`contains:TYPE:FIELD`). */
  valueTypeId?: number;
  /** list_head/rb_root: offset of the node field inside the contained type. */
  nodeOffset?: number;
  /** kptr: the pointee's program-BTF type id when it is a local (allocated) type. */
  pointeeTypeId?: number;
}

/** A struct of program BTF as the allocator and the drains need it. */
export interface TypeInfo {
  id: number;
  name: string;
  size: number;
  /** Sorted by offset; nested structs' special fields are flattened in. */
  fields: SpecialField[];
}

/** BPF_MAP_TYPE_* numbers (include/uapi/linux/bpf.h). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  PROG_ARRAY: 3,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  RINGBUF: 27,
} as const;

export interface MapSpec {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** The value's BTF struct (special fields), when the map has BTF. */
  valueType?: TypeInfo;
  /** Global data (.data, .bss, .rodata...): the section's bytes, one array entry. */
  initial?: Uint8Array;
  readonly?: boolean;
  /**
   * Initial slots (`__array(values, …)`), key = slot index: for a map of maps
   * the inner map's name (one of the program's maps), for a prog array the
   * program's name (one of `RuntimeProgram.tailTargets`); null when empty.
   */
  slots?: (string | null)[];
}

/** What an ld_imm64 slot loads once relocated. */
export type Imm64Ref =
  | { kind: 'map'; map: number } // BPF_PSEUDO_MAP_FD / MAP_IDX
  | { kind: 'map_value'; map: number; offset: number } // BPF_PSEUDO_MAP_VALUE / IDX_VALUE
  | { kind: 'func'; target: number }; // BPF_PSEUDO_FUNC: a callback's first slot

export interface RuntimeProgram {
  name: string;
  /** libbpf's section-derived type: 'sched_cls', 'xdp', 'socket_filter', 'syscall', ... */
  progType: string;
  insns: RawInsn[];
  /** ld_imm64 slot index → what it refers to (maps, globals, callbacks). */
  imm64Refs: Map<number, Imm64Ref>;
  /** call slot index → kfunc name (BPF_PSEUDO_KFUNC_CALL). */
  kfuncs: Map<number, string>;
  maps: MapSpec[];
  /**
   * The programs the object's prog arrays name, by name, built on the same
   * maps (the same indexes): what bpf_tail_call jumps to. They load with
   * the program as bpfscope's loader loads them (main/kernel/prog-array.ts).
   */
  tailTargets?: Map<string, RuntimeProgram>;
  /** Program-BTF structs by id: what bpf_obj_new's first argument names (undefined: not a struct). */
  typeById(id: number): TypeInfo | undefined;
}
