import type { Arena, NativeBuf } from './syscall';

/**
 * `union bpf_attr` layouts, one per command, as byte offsets and sizes taken
 * from include/uapi/linux/bpf.h (facts, checked against the installed header
 * by test/unit/kernel/attr.test.ts). Each command passes only the prefix it
 * knows; the kernel requires every byte past its own idea of the struct to be
 * zero, so a layout's size is the smallest that holds the fields we set.
 */
export interface AttrLayout {
  /** The header's struct name for the anonymous member, for error messages and tests. */
  readonly cmd: string;
  readonly size: number;
  readonly fields: Readonly<Record<string, readonly [offset: number, size: number]>>;
}

function layout<F extends Record<string, readonly [number, number]>>(cmd: string, size: number, fields: F) {
  return { cmd, size, fields } as const;
}

export const MAP_CREATE_ATTR = layout('BPF_MAP_CREATE', 72, {
  map_type: [0, 4],
  key_size: [4, 4],
  value_size: [8, 4],
  max_entries: [12, 4],
  map_flags: [16, 4],
  inner_map_fd: [20, 4],
  numa_node: [24, 4],
  map_name: [28, 16],
  map_ifindex: [44, 4],
  btf_fd: [48, 4],
  btf_key_type_id: [52, 4],
  btf_value_type_id: [56, 4],
  btf_vmlinux_value_type_id: [60, 4],
  map_extra: [64, 8],
});

export const MAP_ELEM_ATTR = layout('BPF_MAP_*_ELEM', 32, {
  map_fd: [0, 4],
  key: [8, 8],
  value: [16, 8], // also next_key for GET_NEXT_KEY
  flags: [24, 8],
});

export const MAP_FREEZE_ATTR = layout('BPF_MAP_FREEZE', 4, { map_fd: [0, 4] });

export const PROG_LOAD_ATTR = layout('BPF_PROG_LOAD', 144, {
  prog_type: [0, 4],
  insn_cnt: [4, 4],
  insns: [8, 8],
  license: [16, 8],
  log_level: [24, 4],
  log_size: [28, 4],
  log_buf: [32, 8],
  kern_version: [40, 4],
  prog_flags: [44, 4],
  prog_name: [48, 16],
  prog_ifindex: [64, 4],
  expected_attach_type: [68, 4],
  prog_btf_fd: [72, 4],
  func_info_rec_size: [76, 4],
  func_info: [80, 8],
  func_info_cnt: [88, 4],
  line_info_rec_size: [92, 4],
  line_info: [96, 8],
  line_info_cnt: [104, 4],
  attach_btf_id: [108, 4],
  attach_prog_fd: [112, 4],
  core_relo_cnt: [116, 4],
  fd_array: [120, 8],
  core_relos: [128, 8],
  core_relo_rec_size: [136, 4],
  // 6.4+: the size the whole log needs, written back by the kernel.
  log_true_size: [140, 4],
});

export const BTF_LOAD_ATTR = layout('BPF_BTF_LOAD', 32, {
  btf: [0, 8],
  btf_log_buf: [8, 8],
  btf_size: [16, 4],
  btf_log_size: [20, 4],
  btf_log_level: [24, 4],
  // 6.4+
  btf_log_true_size: [28, 4],
});

export const PROG_TEST_RUN_ATTR = layout('BPF_PROG_TEST_RUN', 72, {
  prog_fd: [0, 4],
  retval: [4, 4],
  data_size_in: [8, 4],
  data_size_out: [12, 4],
  data_in: [16, 8],
  data_out: [24, 8],
  repeat: [32, 4],
  duration: [36, 4],
  ctx_size_in: [40, 4],
  ctx_size_out: [44, 4],
  ctx_in: [48, 8],
  ctx_out: [56, 8],
  flags: [64, 4],
  cpu: [68, 4],
});

export const GET_ID_ATTR = layout('BPF_*_GET_NEXT_ID', 8, { start_id: [0, 4], next_id: [4, 4] });
export const GET_FD_BY_ID_ATTR = layout('BPF_*_GET_FD_BY_ID', 12, { id: [0, 4], next_id: [4, 4], open_flags: [8, 4] });
export const OBJ_INFO_ATTR = layout('BPF_OBJ_GET_INFO_BY_FD', 16, { bpf_fd: [0, 4], info_len: [4, 4], info: [8, 8] });

/** `struct bpf_btf_info` (for BTF objects found by id: module BTF). */
export const BTF_INFO = layout('bpf_btf_info', 32, {
  btf: [0, 8],
  btf_size: [8, 4],
  id: [12, 4],
  name: [16, 8],
  name_len: [24, 4],
  kernel_btf: [28, 4],
});

export type AttrValue = number | bigint | string | NativeBuf;
type Fields<L extends AttrLayout> = keyof L['fields'] & string;

/** Build an attribute block in native memory; NativeBuf values become their address. */
export function buildAttr<L extends AttrLayout>(
  arena: Arena,
  l: L,
  values: Partial<Record<Fields<L>, AttrValue | undefined>>,
): NativeBuf {
  const buf = arena.alloc(l.size);
  for (const [name, v] of Object.entries(values) as [string, AttrValue | undefined][]) {
    if (v === undefined) continue;
    const [off, size] = l.fields[name];
    writeField(buf, off, size, v);
  }
  return buf;
}

function writeField(buf: NativeBuf, off: number, size: number, v: AttrValue): void {
  if (typeof v === 'string') {
    // Object names: at most 15 bytes plus NUL, as the kernel requires.
    const enc = Buffer.from(v, 'utf8').subarray(0, size - 1);
    buf.bytes.set(enc, off);
    return;
  }
  if (typeof v === 'object') {
    buf.view.setBigUint64(off, v.addr, true);
    return;
  }
  if (size === 8) buf.view.setBigUint64(off, BigInt.asUintN(64, BigInt(v)), true);
  else buf.view.setUint32(off, Number(v) >>> 0, true);
}

/** Read back a u32 field the kernel writes (log_true_size, retval, duration). */
export function readU32<L extends AttrLayout>(buf: NativeBuf, l: L, name: Fields<L>): number {
  const [off] = l.fields[name];
  return buf.view.getUint32(off, true);
}
