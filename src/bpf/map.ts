/**
 * BpfMap<K, V>: a map fd with codecs for its keys and values. Sizes are checked when codecs are
 * attached (aya style), so a wrong codec fails at once with the sizes named, not with garbage.
 */
import { bytes, type Codec } from './codecs.js';
import {
  BusyError,
  errorFromErrno,
  InvalidArgumentError,
  MapFullError,
  NotFoundError,
  XdpkitError,
} from './errors.js';
import { mapInfo } from './info.js';
import { libbpf, libcCalls } from './libbpf.js';
import { isArrayMapType, isPerCpuMapType, mapTypeName, MapType, type MapTypeName, UpdateFlag, type UpdateMode } from './map-types.js';
import { pinObject, openPinnedFd, unpinPath } from './pin.js';

const ENOENT = 2;
const ENOSPC = 28;
const EINVAL = 22;
const EOPNOTSUPP = 95;
const ENOTSUPP = 524; // kernel-internal "not supported" some map types return for batch ops

export interface MapDescription {
  name: string;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  id: number;
}

let possibleCpus: number | undefined;
/** Number of possible CPUs: the length of every per-CPU value array. */
export function possibleCpuCount(): number {
  if (possibleCpus === undefined) {
    const n = libbpf.numPossibleCpus() as number;
    if (n < 0) throw errorFromErrno('counting possible CPUs', n);
    possibleCpus = n;
  }
  return possibleCpus;
}

export class BpfMap<K = Buffer, V = Buffer> {
  private closed = false;

  private constructor(
    readonly fd: number,
    readonly description: MapDescription,
    readonly keyCodec: Codec<K>,
    readonly valueCodec: Codec<V>,
    /** Whether close() closes the fd (maps owned by a BpfObject are closed with it). */
    private readonly ownsFd: boolean,
  ) {}

  /** Wraps an fd with raw byte codecs; `withCodecs` gives it types. */
  static fromFd(fd: number, options: { ownsFd: boolean; name?: string }): BpfMap<Buffer, Buffer> {
    const info = mapInfo(fd);
    const description: MapDescription = { ...info, name: options.name ?? info.name };
    return new BpfMap(fd, description, bytes(info.keySize), bytes(info.valueSize), options.ownsFd);
  }

  /** Opens a map pinned in bpffs. */
  static openPinned(path: string): BpfMap<Buffer, Buffer> {
    return BpfMap.fromFd(openPinnedFd(path, 'map'), { ownsFd: true });
  }

  /** Opens any loaded map by its kernel id (bpftool map show). */
  static fromId(id: number): BpfMap<Buffer, Buffer> {
    const fd = libbpf.mapGetFdById(id) as number;
    if (fd < 0) throw errorFromErrno(`opening map id ${id}`, fd);
    return BpfMap.fromFd(fd, { ownsFd: true });
  }

  /** Creates a new map in the kernel (not tied to any program until one uses it). */
  static create<K, V>(spec: {
    type: MapTypeName;
    name: string;
    key: Codec<K>;
    value: Codec<V>;
    maxEntries: number;
    flags?: number;
  }): BpfMap<K, V> {
    const fd = libbpf.mapCreate(MapType[spec.type], spec.name.slice(0, 15), spec.key.size, spec.value.size, spec.maxEntries, {
      sz: 48,
      map_flags: spec.flags ?? 0,
    }) as number;
    if (fd < 0) throw errorFromErrno(`creating ${spec.type} map ${spec.name}`, fd);
    return BpfMap.fromFd(fd, { ownsFd: true, name: spec.name }).withCodecs(spec.key, spec.value);
  }

  get name(): string {
    return this.description.name;
  }

  get isPerCpu(): boolean {
    return isPerCpuMapType(this.description.type);
  }

  get typeName(): string {
    return mapTypeName(this.description.type);
  }

  /** The same map with other codecs; fails when their sizes differ from the map's. */
  withCodecs<K2, V2>(key: Codec<K2>, value: Codec<V2>): BpfMap<K2, V2> {
    const d = this.description;
    const problems = [
      key.size !== d.keySize ? `key is ${d.keySize} bytes but the key codec encodes ${key.size}` : '',
      value.size !== d.valueSize ? `value is ${d.valueSize} bytes but the value codec encodes ${value.size}` : '',
    ].filter(Boolean);
    if (problems.length > 0) {
      throw new InvalidArgumentError(`map ${d.name}: ${problems.join('; ')}`, {
        hint: 'the codec must match the C definition of the map exactly',
      });
    }
    return new BpfMap(this.fd, d, key, value, false);
  }

  /** The value for `key`, or undefined when there is none. Per-CPU maps: use getPerCpu/getSummed. */
  get(key: K): V | undefined {
    this.refusePerCpu('get');
    const raw = this.lookupRaw(this.encodeKey(key), this.description.valueSize);
    return raw === undefined ? undefined : this.valueCodec.decode(raw, 0);
  }

  /** Writes `key` → `value`. mode: 'any' (default), 'noexist' (create only), 'exist' (update only). */
  set(key: K, value: V, mode: UpdateMode = 'any'): void {
    this.refusePerCpu('set');
    const raw = Buffer.alloc(this.description.valueSize);
    this.valueCodec.encode(value, raw, 0);
    this.updateRaw(this.encodeKey(key), raw, mode);
  }

  /** Removes `key`; returns false when it was not there. Array maps cannot delete. */
  delete(key: K): boolean {
    if (isArrayMapType(this.description.type)) {
      throw new InvalidArgumentError(`map ${this.name} is an array: its entries cannot be deleted`, {
        hint: 'set the entry to zero instead',
      });
    }
    const rc = libbpf.mapDeleteElem(this.fd, this.encodeKey(key)) as number;
    if (rc === -ENOENT) return false;
    if (rc < 0) throw errorFromErrno(`deleting from map ${this.name}`, rc);
    return true;
  }

  /** Every key, in the kernel's iteration order. */
  *keys(): Generator<K> {
    const size = this.description.keySize;
    let previous: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(size);
      const rc = libbpf.mapGetNextKey(this.fd, previous, next) as number;
      if (rc === -ENOENT) return;
      if (rc < 0) throw errorFromErrno(`iterating map ${this.name}`, rc);
      yield this.keyCodec.decode(next, 0);
      previous = next;
    }
  }

  /** Every [key, value] pair. Entries deleted during the walk are skipped. */
  *entries(): Generator<[K, V]> {
    this.refusePerCpu('entries');
    for (const key of this.keys()) {
      const value = this.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  /** The value of `key` on every possible CPU (index = CPU number). */
  getPerCpu(key: K): V[] | undefined {
    this.requirePerCpu('getPerCpu');
    const stride = this.perCpuStride();
    const raw = this.lookupRaw(this.encodeKey(key), stride * possibleCpuCount());
    if (raw === undefined) return undefined;
    return Array.from({ length: possibleCpuCount() }, (_, cpu) => this.valueCodec.decode(raw, cpu * stride));
  }

  /** Writes one value per possible CPU (shorter arrays are an error: every CPU needs a value). */
  setPerCpu(key: K, values: V[], mode: UpdateMode = 'any'): void {
    this.requirePerCpu('setPerCpu');
    const cpus = possibleCpuCount();
    if (values.length !== cpus) {
      throw new InvalidArgumentError(`map ${this.name} needs ${cpus} per-CPU values, got ${values.length}`);
    }
    const stride = this.perCpuStride();
    const raw = Buffer.alloc(stride * cpus);
    values.forEach((v, cpu) => this.valueCodec.encode(v, raw, cpu * stride));
    this.updateRaw(this.encodeKey(key), raw, mode);
  }

  /** The per-CPU values of `key` added up field by field (numbers and bigints). */
  getSummed(key: K): V | undefined {
    const values = this.getPerCpu(key);
    return values === undefined ? undefined : sumValues(values);
  }

  /**
   * Reads the whole map with BPF_MAP_LOOKUP_BATCH (one syscall per `batchSize` entries); falls
   * back to key-by-key iteration on kernels or map types without batch support.
   */
  readAll(batchSize = 1024): [K, V][] {
    this.refusePerCpu('readAll');
    const { keySize, valueSize } = this.description;
    const out: [K, V][] = [];
    const token = Buffer.alloc(Math.max(keySize, 8));
    let inBatch: Buffer | null = null;
    let size = batchSize;
    for (;;) {
      const keys = Buffer.alloc(keySize * size);
      const values = Buffer.alloc(valueSize * size);
      const count = [size];
      const rc = libbpf.mapLookupBatch(this.fd, inBatch, token, keys, values, count, { sz: 24 }) as number;
      if (rc < 0 && isUnsupported(rc) && inBatch === null) return [...this.entries()];
      // A hash bucket holds more entries than fit in the batch: retry the same bucket, bigger.
      if (-rc === ENOSPC) {
        size *= 2;
        continue;
      }
      if (rc < 0 && -rc !== ENOENT) throw errorFromErrno(`batch-reading map ${this.name}`, rc);
      const n = count[0] ?? 0;
      for (let i = 0; i < n; i++) {
        out.push([this.keyCodec.decode(keys, i * keySize), this.valueCodec.decode(values, i * valueSize)]);
      }
      if (rc < 0) return out; // ENOENT: that was the last batch
      inBatch = Buffer.from(token);
    }
  }

  /** Writes many entries with BPF_MAP_UPDATE_BATCH, or one by one where batches are unsupported. */
  setMany(entries: [K, V][], mode: UpdateMode = 'any'): void {
    this.refusePerCpu('setMany');
    if (entries.length === 0) return;
    const { keySize, valueSize } = this.description;
    const keys = Buffer.alloc(keySize * entries.length);
    const values = Buffer.alloc(valueSize * entries.length);
    entries.forEach(([k, v], i) => {
      this.keyCodec.encode(k, keys, i * keySize);
      this.valueCodec.encode(v, values, i * valueSize);
    });
    const count = [entries.length];
    const rc = libbpf.mapUpdateBatch(this.fd, keys, values, count, { sz: 24, elem_flags: UpdateFlag[mode] }) as number;
    if (rc < 0 && isUnsupported(rc)) {
      for (const [k, v] of entries) this.set(k, v, mode);
      return;
    }
    if (rc < 0) throw this.updateError(rc, `batch-updating map ${this.name} (${count[0]} of ${entries.length} written)`);
  }

  /** Deletes many keys with BPF_MAP_DELETE_BATCH (or one by one); missing keys are an error. */
  deleteMany(keysToDelete: K[]): void {
    if (keysToDelete.length === 0) return;
    const { keySize } = this.description;
    const keys = Buffer.alloc(keySize * keysToDelete.length);
    keysToDelete.forEach((k, i) => this.keyCodec.encode(k, keys, i * keySize));
    const count = [keysToDelete.length];
    const rc = libbpf.mapDeleteBatch(this.fd, keys, count, { sz: 24 }) as number;
    if (rc < 0 && isUnsupported(rc)) {
      const missing = keysToDelete.filter((k) => !this.delete(k));
      if (missing.length > 0) throw new NotFoundError(`map ${this.name}: ${missing.length} keys were not present`);
      return;
    }
    if (rc < 0) throw errorFromErrno(`batch-deleting from map ${this.name} (${count[0]} deleted)`, rc);
  }

  /** Removes every entry (hash-like maps) or zeroes every slot (arrays). */
  clear(): void {
    if (isArrayMapType(this.description.type)) {
      const zero = Buffer.alloc(this.isPerCpu ? this.perCpuStride() * possibleCpuCount() : this.description.valueSize);
      for (let i = 0; i < this.description.maxEntries; i++) {
        const key = Buffer.alloc(4);
        key.writeUInt32LE(i);
        this.updateRaw(key, zero, 'any');
      }
      return;
    }
    const keys = [...this.keys()];
    for (const key of keys) this.delete(key);
  }

  pin(path: string): void {
    pinObject(this.fd, path, `map ${this.name}`);
  }

  unpin(path: string): void {
    unpinPath(path);
  }

  close(): void {
    if (this.closed || !this.ownsFd) return;
    libcCalls.close(this.fd);
    this.closed = true;
  }

  private encodeKey(key: K): Buffer {
    const raw = Buffer.alloc(this.description.keySize);
    this.keyCodec.encode(key, raw, 0);
    return raw;
  }

  private lookupRaw(key: Buffer, size: number): Buffer | undefined {
    const value = Buffer.alloc(size);
    const rc = libbpf.mapLookupElem(this.fd, key, value) as number;
    if (rc === -ENOENT) return undefined;
    if (rc < 0) throw errorFromErrno(`reading map ${this.name}`, rc);
    return value;
  }

  private updateRaw(key: Buffer, value: Buffer, mode: UpdateMode): void {
    const rc = libbpf.mapUpdateElem(this.fd, key, value, UpdateFlag[mode]) as number;
    if (rc < 0) throw this.updateError(rc, `writing map ${this.name}`);
  }

  private updateError(rc: number, doing: string): XdpkitError {
    const { maxEntries, type } = this.description;
    if ((-rc === 7 /* E2BIG */ || -rc === ENOENT) && isArrayMapType(type)) {
      return new InvalidArgumentError(`${doing}: index out of range (0..${maxEntries - 1})`, { errno: -rc });
    }
    if (-rc === 7 /* E2BIG */) {
      return new MapFullError(`${doing}: the map is full (${maxEntries} entries)`, {
        errno: 7,
        hint: 'delete entries first, or load the program with a larger max_entries for this map',
      });
    }
    if (-rc === 17 /* EEXIST */) return new BusyError(`${doing}: the key already exists`, { errno: 17, hint: "use mode 'any' to overwrite" });
    return errorFromErrno(doing, rc);
  }

  /** Per-CPU values are laid out at 8-byte strides, whatever the value size. */
  private perCpuStride(): number {
    return Math.ceil(this.description.valueSize / 8) * 8;
  }

  private refusePerCpu(method: string): void {
    if (this.isPerCpu) {
      throw new InvalidArgumentError(`map ${this.name} is per-CPU: ${method}() does not apply`, {
        hint: 'use getPerCpu/setPerCpu, or getSummed for totals',
      });
    }
  }

  private requirePerCpu(method: string): void {
    if (!this.isPerCpu) throw new InvalidArgumentError(`map ${this.name} is not per-CPU: ${method}() does not apply`);
  }
}

function isUnsupported(rc: number): boolean {
  return -rc === EINVAL || -rc === EOPNOTSUPP || -rc === ENOTSUPP;
}

/** Adds values field by field: numbers and bigints are summed, anything else is taken from the first. */
export function sumValues<V>(values: V[]): V {
  const [first, ...rest] = values;
  if (first === undefined) throw new InvalidArgumentError('nothing to sum');
  return rest.reduce<V>((acc, v) => addValues(acc, v), first);
}

function addValues<V>(a: V, b: V): V {
  if (typeof a === 'bigint' && typeof b === 'bigint') return (a + b) as V;
  if (typeof a === 'number' && typeof b === 'number') return (a + b) as V;
  if (a !== null && typeof a === 'object' && !Buffer.isBuffer(a) && !Array.isArray(a)) {
    const out = { ...a } as Record<string, unknown>;
    for (const [k, v] of Object.entries(a as Record<string, unknown>)) {
      out[k] = addValues(v, (b as Record<string, unknown>)[k]);
    }
    return out as V;
  }
  return a;
}
