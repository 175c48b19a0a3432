/** BPF map types (linux/bpf.h enum bpf_map_type) and what the binding needs to know about them. */
export const MapType = {
  hash: 1,
  array: 2,
  prog_array: 3,
  perf_event_array: 4,
  percpu_hash: 5,
  percpu_array: 6,
  stack_trace: 7,
  cgroup_array: 8,
  lru_hash: 9,
  lru_percpu_hash: 10,
  lpm_trie: 11,
  array_of_maps: 12,
  hash_of_maps: 13,
  devmap: 14,
  sockmap: 15,
  cpumap: 16,
  xskmap: 17,
  sockhash: 18,
  cgroup_storage: 19,
  reuseport_sockarray: 20,
  percpu_cgroup_storage: 21,
  queue: 22,
  stack: 23,
  sk_storage: 24,
  devmap_hash: 25,
  struct_ops: 26,
  ringbuf: 27,
  inode_storage: 28,
  task_storage: 29,
  bloom_filter: 30,
} as const;
export type MapTypeName = keyof typeof MapType;

const namesByNumber = new Map<number, MapTypeName>(
  (Object.entries(MapType) as [MapTypeName, number][]).map(([name, value]) => [value, name]),
);

export function mapTypeName(type: number): string {
  return namesByNumber.get(type) ?? `type ${type}`;
}

const PER_CPU_TYPES: ReadonlySet<number> = new Set([
  MapType.percpu_hash,
  MapType.percpu_array,
  MapType.lru_percpu_hash,
  MapType.percpu_cgroup_storage,
]);

export function isPerCpuMapType(type: number): boolean {
  return PER_CPU_TYPES.has(type);
}

/** Array-like maps: every key in 0..max_entries-1 exists and entries cannot be deleted. */
const ARRAY_TYPES: ReadonlySet<number> = new Set([MapType.array, MapType.percpu_array]);

export function isArrayMapType(type: number): boolean {
  return ARRAY_TYPES.has(type);
}

/** Update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST). */
export const UpdateFlag = { any: 0, noexist: 1, exist: 2 } as const;
export type UpdateMode = keyof typeof UpdateFlag;
