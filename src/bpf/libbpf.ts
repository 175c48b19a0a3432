/**
 * Raw FFI declarations for the system libbpf (libbpf.so.1, Debian 12 ships 1.1) and the few
 * libc calls the binding needs. Nothing else in the project calls koffi for libbpf: the typed
 * wrappers in this folder (object.ts, map.ts, xdp.ts, …) are the only users of this file.
 *
 * libbpf ≥ 1.0 returns negative errno values from int functions and NULL + errno from pointer
 * functions; the wrappers turn both into XdpkitError subclasses.
 */
import koffi from 'koffi';
import { NotFoundError } from './errors.js';

/** The shared library; XDPKIT_LIBBPF points elsewhere (e.g. a newer libbpf built by hand). */
export const LIBBPF_PATH = process.env.XDPKIT_LIBBPF ?? 'libbpf.so.1';

type KoffiLib = ReturnType<typeof koffi.load>;

const libc = koffi.load('libc.so.6');

function openLibbpf(): KoffiLib {
  try {
    return koffi.load(LIBBPF_PATH);
  } catch (cause) {
    throw new NotFoundError(`cannot load ${LIBBPF_PATH}: libbpf is not installed`, {
      hint: 'apt-get install libbpf1 (or run scripts/setup.sh)',
      details: (cause as Error).message,
      cause,
    });
  }
}

// Opaque libbpf handles.
export const BpfObjectHandle = koffi.pointer('bpf_object', koffi.opaque());
export const BpfProgramHandle = koffi.pointer('bpf_program', koffi.opaque());
export const BpfMapHandle = koffi.pointer('bpf_map', koffi.opaque());
export const BtfHandle = koffi.pointer('btf', koffi.opaque());
export const RingBufferHandle = koffi.pointer('ring_buffer', koffi.opaque());

/** Matches struct bpf_object_open_opts of libbpf 1.1 (sz tells libbpf which fields exist). */
export const ObjectOpenOpts = koffi.struct('bpf_object_open_opts', {
  sz: 'size_t',
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  attach_prog_fd_stub: 'uint32_t',
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: 'size_t',
  kernel_log_level: 'uint32_t',
});

export const TestRunOpts = koffi.struct('bpf_test_run_opts', {
  sz: 'size_t',
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: 'uint32_t',
  data_size_out: 'uint32_t',
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: 'uint32_t',
  ctx_size_out: 'uint32_t',
  retval: 'uint32_t',
  repeat: 'int',
  duration: 'uint32_t',
  flags: 'uint32_t',
  cpu: 'uint32_t',
  batch_size: 'uint32_t',
});

export const XdpQueryOpts = koffi.struct('bpf_xdp_query_opts', {
  sz: 'size_t',
  prog_id: 'uint32_t',
  drv_prog_id: 'uint32_t',
  hw_prog_id: 'uint32_t',
  skb_prog_id: 'uint32_t',
  attach_mode: 'uint8_t',
});

export const XdpAttachOpts = koffi.struct('bpf_xdp_attach_opts', {
  sz: 'size_t',
  old_prog_fd: 'int',
});

/** struct bpf_link_create_opts: only sz and flags matter for XDP links (the union is unused). */
export const LinkCreateOpts = koffi.struct('bpf_link_create_opts', {
  sz: 'size_t',
  flags: 'uint32_t',
  iter_info: 'void *',
  iter_info_len: 'uint32_t',
  target_btf_id: 'uint32_t',
  union_space: koffi.array('uint64_t', 5),
});

export const LinkUpdateOpts = koffi.struct('bpf_link_update_opts', {
  sz: 'size_t',
  flags: 'uint32_t',
  old_prog_fd: 'uint32_t',
});

export const MapBatchOpts = koffi.struct('bpf_map_batch_opts', {
  sz: 'size_t',
  elem_flags: 'uint64_t',
  flags: 'uint64_t',
});

export const MapCreateOpts = koffi.struct('bpf_map_create_opts', {
  sz: 'size_t',
  btf_fd: 'uint32_t',
  btf_key_type_id: 'uint32_t',
  btf_value_type_id: 'uint32_t',
  btf_vmlinux_value_type_id: 'uint32_t',
  inner_map_fd: 'uint32_t',
  map_flags: 'uint32_t',
  map_extra: 'uint64_t',
  numa_node: 'uint32_t',
  map_ifindex: 'uint32_t',
});

/** The callback libbpf calls for every message; `args` is a va_list, passed on to vsnprintf. */
export const PrintFn = koffi.proto('int libbpf_print_fn(int level, const char *fmt, uintptr_t args)');
/** Ring buffer sample callback: (ctx, data, size) → 0 to continue. */
export const RingBufferSampleFn = koffi.proto('int ring_buffer_sample_fn(void *ctx, void *data, size_t size)');

function declareLibbpf(lib: KoffiLib) {
  return {
    versionString: lib.func('const char *libbpf_version_string(void)'),
    setPrint: lib.func('void *libbpf_set_print(libbpf_print_fn *fn)'),
    numPossibleCpus: lib.func('int libbpf_num_possible_cpus(void)'),

    objectOpenFile: lib.func('bpf_object *bpf_object__open_file(const char *path, const bpf_object_open_opts *opts)'),
    objectOpenMem: lib.func(
      'bpf_object *bpf_object__open_mem(const void *buf, size_t size, const bpf_object_open_opts *opts)',
    ),
    objectLoad: lib.func('int bpf_object__load(bpf_object *obj)'),
    objectClose: lib.func('void bpf_object__close(bpf_object *obj)'),
    objectName: lib.func('const char *bpf_object__name(const bpf_object *obj)'),
    objectBtf: lib.func('btf *bpf_object__btf(const bpf_object *obj)'),
    objectNextProgram: lib.func('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prev)'),
    objectNextMap: lib.func('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *prev)'),

    programName: lib.func('const char *bpf_program__name(const bpf_program *prog)'),
    programSectionName: lib.func('const char *bpf_program__section_name(const bpf_program *prog)'),
    programFd: lib.func('int bpf_program__fd(const bpf_program *prog)'),
    programType: lib.func('int bpf_program__type(const bpf_program *prog)'),
    programSetType: lib.func('int bpf_program__set_type(bpf_program *prog, int type)'),
    programSetExpectedAttachType: lib.func('int bpf_program__set_expected_attach_type(bpf_program *prog, int type)'),
    programSetLogLevel: lib.func('int bpf_program__set_log_level(bpf_program *prog, uint32_t level)'),
    programSetLogBuf: lib.func('int bpf_program__set_log_buf(bpf_program *prog, void *buf, size_t size)'),

    mapName: lib.func('const char *bpf_map__name(const bpf_map *map)'),
    mapFd: lib.func('int bpf_map__fd(const bpf_map *map)'),
    mapSetMaxEntries: lib.func('int bpf_map__set_max_entries(bpf_map *map, uint32_t max)'),
    mapIsInternal: lib.func('bool bpf_map__is_internal(const bpf_map *map)'),
    mapInitialValue: lib.func('void *bpf_map__initial_value(bpf_map *map, _Out_ size_t *size)'),
    mapBtfValueTypeId: lib.func('uint32_t bpf_map__btf_value_type_id(const bpf_map *map)'),

    btfTypeById: lib.func('const void *btf__type_by_id(const btf *btf, uint32_t id)'),
    btfNameByOffset: lib.func('const char *btf__name_by_offset(const btf *btf, uint32_t offset)'),
    btfLoadFromKernelById: lib.func('btf *btf__load_from_kernel_by_id(uint32_t id)'),
    btfFree: lib.func('void btf__free(btf *btf)'),

    mapCreate: lib.func(
      'int bpf_map_create(int type, const char *name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const bpf_map_create_opts *opts)',
    ),
    mapLookupElem: lib.func('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    mapUpdateElem: lib.func('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    mapDeleteElem: lib.func('int bpf_map_delete_elem(int fd, const void *key)'),
    mapGetNextKey: lib.func('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    mapLookupBatch: lib.func(
      'int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    mapUpdateBatch: lib.func(
      'int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
    ),
    mapDeleteBatch: lib.func(
      'int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const bpf_map_batch_opts *opts)',
    ),

    objPin: lib.func('int bpf_obj_pin(int fd, const char *path)'),
    objGet: lib.func('int bpf_obj_get(const char *path)'),
    objGetInfoByFd: lib.func('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
    progGetFdById: lib.func('int bpf_prog_get_fd_by_id(uint32_t id)'),
    mapGetFdById: lib.func('int bpf_map_get_fd_by_id(uint32_t id)'),
    linkGetFdById: lib.func('int bpf_link_get_fd_by_id(uint32_t id)'),
    linkGetNextId: lib.func('int bpf_link_get_next_id(uint32_t start, _Out_ uint32_t *next)'),
    enableStats: lib.func('int bpf_enable_stats(int type)'),

    progTestRun: lib.func('int bpf_prog_test_run_opts(int fd, _Inout_ bpf_test_run_opts *opts)'),

    linkCreate: lib.func('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const bpf_link_create_opts *opts)'),
    linkUpdate: lib.func('int bpf_link_update(int link_fd, int new_prog_fd, const bpf_link_update_opts *opts)'),
    linkDetach: lib.func('int bpf_link_detach(int link_fd)'),

    xdpAttach: lib.func('int bpf_xdp_attach(int ifindex, int prog_fd, uint32_t flags, const bpf_xdp_attach_opts *opts)'),
    xdpDetach: lib.func('int bpf_xdp_detach(int ifindex, uint32_t flags, const bpf_xdp_attach_opts *opts)'),
    xdpQuery: lib.func('int bpf_xdp_query(int ifindex, int flags, _Inout_ bpf_xdp_query_opts *opts)'),

    ringBufferNew: lib.func(
      'ring_buffer *ring_buffer__new(int map_fd, ring_buffer_sample_fn *cb, void *ctx, const void *opts)',
    ),
    ringBufferConsume: lib.func('int ring_buffer__consume(ring_buffer *rb)'),
    ringBufferEpollFd: lib.func('int ring_buffer__epoll_fd(const ring_buffer *rb)'),
    ringBufferFree: lib.func('void ring_buffer__free(ring_buffer *rb)'),
  };
}

type Libbpf = ReturnType<typeof declareLibbpf>;
let loaded: Libbpf | undefined;

/**
 * libbpf's functions, declared on first use: a machine without libbpf1 then gets a NotFoundError
 * with the fix from the command that needed it, while --help and doctor still run.
 */
export const libbpf = new Proxy({} as Libbpf, {
  get: (_target, name) => (loaded ??= declareLibbpf(openLibbpf()))[name as keyof Libbpf],
});

export const libcCalls = {
  vsnprintf: libc.func('int vsnprintf(_Out_ char *buf, size_t size, const char *fmt, uintptr_t args)'),
  close: libc.func('int close(int fd)'),
};

export { koffi };

/** libbpf's own version, e.g. "v1.1". */
export function libbpfVersion(): string {
  return libbpf.versionString() as string;
}

// Kernel UAPI constants (linux/bpf.h, linux/if_link.h) used by the wrappers.
export const BPF_PROG_TYPE_XDP = 6;
export const BPF_XDP = 37;
export const BPF_STATS_RUN_TIME = 0;
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;

export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_HW_MODE = 1 << 3;
export const XDP_FLAGS_REPLACE = 1 << 4;

export const XDP_ATTACHED_DRV = 1;
export const XDP_ATTACHED_SKB = 2;
export const XDP_ATTACHED_HW = 3;
export const XDP_ATTACHED_MULTI = 4;
