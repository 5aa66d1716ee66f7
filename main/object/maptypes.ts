/** enum bpf_map_type names, in UAPI order (a test checks them against vmlinux BTF). */
export const MAP_TYPES = [
  'unspec', 'hash', 'array', 'prog_array', 'perf_event_array', 'percpu_hash', 'percpu_array', 'stack_trace',
  'cgroup_array', 'lru_hash', 'lru_percpu_hash', 'lpm_trie', 'array_of_maps', 'hash_of_maps', 'devmap',
  'sockmap', 'cpumap', 'xskmap', 'sockhash', 'cgroup_storage', 'reuseport_sockarray', 'percpu_cgroup_storage',
  'queue', 'stack', 'sk_storage', 'devmap_hash', 'struct_ops', 'ringbuf', 'inode_storage', 'task_storage',
  'bloom_filter', 'user_ringbuf', 'cgrp_storage', 'arena',
] as const;

export function mapTypeName(type: number): string {
  return MAP_TYPES[type] ?? `map_type_${type}`;
}

/** enum libbpf_pin_type. */
export const PIN_TYPES = ['none', 'by_name'] as const;
