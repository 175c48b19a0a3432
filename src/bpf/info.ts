/**
 * What the kernel knows about loaded programs, maps and links (BPF_OBJ_GET_INFO_BY_FD),
 * for objects xdpkit loaded and for foreign ones found by id. Layouts follow linux/bpf.h;
 * the kernel accepts a shorter info struct, so these prefixes work on every kernel ≥ 5.x.
 */
import { errorFromErrno } from './errors.js';
import { koffi, libbpf, libcCalls } from './libbpf.js';

export interface ProgramInfo {
  id: number;
  type: number;
  /**
   * The program's name: the kernel keeps 15 characters, so a name that long is completed from
   * the program's BTF (its main function's name), as bpftool does.
   */
  name: string;
  /** The program's tag (sha of its instructions) as 16 hex digits, as bpftool prints it. */
  tag: string;
  /** Bytes of JIT-compiled code; 0 when the program runs in the interpreter. */
  jitedLength: number;
  mapIds: number[];
  btfId: number;
  /** Run count and total run time; non-zero only while kernel.bpf_stats_enabled is on. */
  runCount: bigint;
  runTimeNs: bigint;
  verifiedInstructions: number;
}

export interface MapInfo {
  id: number;
  type: number;
  name: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  btfId: number;
}

export interface LinkInfo {
  id: number;
  type: number;
  programId: number;
  /** For XDP links: the interface the link attaches to. */
  ifindex: number;
}

const PROG_INFO_SIZE = 232;
const MAP_INFO_SIZE = 88;
const LINK_INFO_SIZE = 48;
const BPF_OBJ_NAME_LEN = 16;
const FUNC_INFO_REC_SIZE = 8;

function readInfo(fd: number, size: number, what: string): Buffer {
  const info = Buffer.alloc(size);
  const len = [size];
  const rc = libbpf.objGetInfoByFd(fd, info, len) as number;
  if (rc < 0) throw errorFromErrno(`reading ${what} info`, rc);
  return info;
}

function cName(buf: Buffer, offset: number): string {
  const raw = buf.subarray(offset, offset + BPF_OBJ_NAME_LEN);
  const end = raw.indexOf(0);
  return raw.subarray(0, end < 0 ? raw.length : end).toString('utf8');
}

export function programInfo(fd: number): ProgramInfo {
  const first = readInfo(fd, PROG_INFO_SIZE, 'program');
  const mapCount = first.readUInt32LE(52);
  // A second call with a buffer for the map ids: the kernel fills it only when asked.
  const info = Buffer.alloc(PROG_INFO_SIZE);
  const mapIds = Buffer.alloc(4 * mapCount);
  info.writeUInt32LE(mapCount, 52);
  info.writeBigUInt64LE(mapCount > 0 ? koffi.address(mapIds) : 0n, 56);
  // The first func_info record (struct bpf_func_info {insn_off, type_id}) is the main function.
  const funcInfo = Buffer.alloc(FUNC_INFO_REC_SIZE);
  const hasFuncInfo = first.readUInt32LE(144) > 0;
  if (hasFuncInfo) {
    info.writeUInt32LE(FUNC_INFO_REC_SIZE, 132);
    info.writeBigUInt64LE(koffi.address(funcInfo), 136);
    info.writeUInt32LE(1, 144);
  }
  const len = [PROG_INFO_SIZE];
  const rc = libbpf.objGetInfoByFd(fd, info, len) as number;
  if (rc < 0) throw errorFromErrno('reading program info', rc);
  const shortName = cName(info, 64);
  const btfId = info.readUInt32LE(128);
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    tag: info.subarray(8, 16).toString('hex'),
    jitedLength: info.readUInt32LE(16),
    mapIds: Array.from({ length: mapCount }, (_, i) => mapIds.readUInt32LE(4 * i)),
    name:
      shortName.length === BPF_OBJ_NAME_LEN - 1 && hasFuncInfo && btfId !== 0
        ? (btfFunctionName(btfId, funcInfo.readUInt32LE(4), shortName) ?? shortName)
        : shortName,
    btfId,
    runTimeNs: info.readBigUInt64LE(192),
    runCount: info.readBigUInt64LE(200),
    verifiedInstructions: info.readUInt32LE(216),
  };
}

/** The name of BTF type `typeId` in kernel BTF object `btfId`, if it extends `prefix`. */
function btfFunctionName(btfId: number, typeId: number, prefix: string): string | undefined {
  const btf = libbpf.btfLoadFromKernelById(btfId);
  if (!btf) return undefined;
  try {
    const type = libbpf.btfTypeById(btf, typeId);
    if (!type) return undefined;
    const nameOffset = koffi.decode(type, 'uint32_t') as number; // struct btf_type: name_off first
    const name = libbpf.btfNameByOffset(btf, nameOffset) as string | null;
    return name && name.startsWith(prefix) ? name : undefined;
  } finally {
    libbpf.btfFree(btf);
  }
}

export function mapInfo(fd: number): MapInfo {
  const info = readInfo(fd, MAP_INFO_SIZE, 'map');
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    flags: info.readUInt32LE(20),
    name: cName(info, 24),
    btfId: info.readUInt32LE(64),
  };
}

export function linkInfo(fd: number): LinkInfo {
  const info = readInfo(fd, LINK_INFO_SIZE, 'link');
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    programId: info.readUInt32LE(8),
    ifindex: info.readUInt32LE(16),
  };
}

/** Opens a program by id, runs `fn` on its fd, and closes the fd again. */
export function withProgramFd<T>(id: number, fn: (fd: number) => T): T {
  return withFd(libbpf.progGetFdById(id) as number, `opening program id ${id}`, fn);
}

export function withLinkFd<T>(id: number, fn: (fd: number) => T): T {
  return withFd(libbpf.linkGetFdById(id) as number, `opening link id ${id}`, fn);
}

function withFd<T>(fd: number, doing: string, fn: (fd: number) => T): T {
  if (fd < 0) throw errorFromErrno(doing, fd);
  try {
    return fn(fd);
  } finally {
    libcCalls.close(fd);
  }
}

export function programInfoById(id: number): ProgramInfo {
  return withProgramFd(id, programInfo);
}

/** Ids of every link in the system (links of all types; filter by LinkInfo.type). */
export function listLinkIds(): number[] {
  return listIds(libbpf.linkGetNextId, 'links');
}

function listIds(next: (start: number, out: number[]) => unknown, what: string): number[] {
  const ids: number[] = [];
  let current = 0;
  for (;;) {
    const out = [0];
    const rc = next(current, out) as number;
    if (rc < 0) {
      if (-rc === 2 /* ENOENT: end of list */) return ids;
      throw errorFromErrno(`listing BPF ${what}`, rc);
    }
    current = out[0] ?? 0;
    ids.push(current);
  }
}
