/**
 * BpfObject: one ELF object file opened with libbpf — its programs, maps and .rodata constants —
 * loaded into the kernel with the verifier log kept for the error when the verifier says no.
 */
import { existsSync, statSync } from 'node:fs';
import { errorFromErrno, InvalidArgumentError, NotFoundError, PermissionDeniedError, VerifierError, XdpkitError } from './errors.js';
import { captureLibbpfLog, libbpfMessagesText } from './libbpf-log.js';
import { BPF_PROG_TYPE_XDP, BPF_XDP, koffi, libbpf } from './libbpf.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';
import { readRodataLayout, type RodataVariable } from './rodata.js';
import { extractLoadLog, trimVerifierLog, verifierComplaint } from './verifier-log.js';

export interface OpenOptions {
  /** Object name override (also the prefix of internal map names). */
  name?: string;
}

export interface LoadOptions {
  /** Verifier log level: 0 = only on failure (default), 1 = always, 2 = verbose. */
  logLevel?: 0 | 1 | 2;
  /** Size of the verifier log buffer per program when logLevel > 0 (default 4 MiB). */
  logSize?: number;
}

export type ConstantValue = number | bigint | boolean | Buffer;

type Handle = unknown;

const PROG_TYPE_UNSPEC = 0;

export class BpfObject {
  readonly programs: BpfProgram[];
  private loaded = false;
  private closed = false;
  private readonly mapCache = new Map<string, BpfMap>();

  private constructor(
    private readonly handle: Handle,
    /** Where the object came from, for messages. */
    readonly source: string,
    /** Keeps an in-memory ELF alive: libbpf reads from it until close. */
    readonly image: Buffer | undefined,
  ) {
    this.programs = [];
    for (let p = libbpf.objectNextProgram(handle, null); p; p = libbpf.objectNextProgram(handle, p)) {
      this.programs.push(new BpfProgram(p));
    }
    // Objects written for old loaders use section names libbpf 1.x no longer knows
    // (SEC("xdp_drop_udp")); they were always XDP programs, so say so before loading. The
    // attach type too, as SEC("xdp") gets it: a BPF link swaps programs only between equal
    // types and attach types, so without it `--force` could not replace one with the other.
    for (const program of this.programs) {
      if (program.type === PROG_TYPE_UNSPEC) {
        program.setType(BPF_PROG_TYPE_XDP);
        program.setExpectedAttachType(BPF_XDP);
      }
    }
  }

  /** Opens an object file, or an object image held in memory. Nothing is loaded yet. */
  static open(source: string | Buffer, options: OpenOptions = {}): BpfObject {
    const label = typeof source === 'string' ? source : (options.name ?? 'in-memory object');
    if (typeof source === 'string' && existsSync(source) && statSync(source).isDirectory()) {
      throw new InvalidArgumentError(`${source} is a directory, not a BPF object file`, {
        hint: 'give the path of the .o file inside it (clang -O2 -g -target bpf -c prog.c -o prog.o)',
      });
    }
    if (typeof source === 'string' && !existsSync(source)) {
      throw new NotFoundError(`object file ${source} does not exist`, {
        hint: 'give the path of a compiled BPF object (clang -O2 -g -target bpf -c prog.c -o prog.o) or a built-in program name',
      });
    }
    const opts = { sz: 80, object_name: options.name ?? null };
    const { result: handle, messages } = captureLibbpfLog(() =>
      typeof source === 'string' ? libbpf.objectOpenFile(source, opts) : libbpf.objectOpenMem(source, source.length, opts),
    );
    if (!handle) {
      const errno = koffi.errno();
      throw new InvalidArgumentError(`cannot open ${label} as a BPF object`, {
        errno,
        details: libbpfMessagesText(messages) || undefined,
        hint: 'is it an ELF file compiled with clang -target bpf?',
      });
    }
    return new BpfObject(handle, label, typeof source === 'string' ? undefined : source);
  }

  get name(): string {
    return libbpf.objectName(this.handle) as string;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  /** The ELF sections that hold programs, as the user would pass to --section. */
  sections(): string[] {
    return this.programs.map((p) => p.section);
  }

  /** A program by function name or by section name (function names win). */
  program(nameOrSection: string): BpfProgram {
    const found =
      this.programs.find((p) => p.name === nameOrSection) ?? this.programs.find((p) => p.section === nameOrSection);
    if (!found) {
      throw new NotFoundError(`${this.source} has no program or section named "${nameOrSection}"`, {
        details: this.describePrograms(),
        hint: 'pass one of the names or sections listed above with --section',
      });
    }
    return found;
  }

  /** The only program in the object; an error listing them when there are several. */
  soleProgram(): BpfProgram {
    const [first, ...rest] = this.programs;
    if (!first) throw new NotFoundError(`${this.source} contains no BPF programs`);
    if (rest.length > 0) {
      throw new InvalidArgumentError(`${this.source} has ${this.programs.length} programs: which one?`, {
        details: this.describePrograms(),
        hint: 'choose one with --section NAME',
      });
    }
    return first;
  }

  /**
   * Sets `const volatile` globals in .rodata before load, by name. Values are checked against
   * the variable's size from BTF; unknown names list the ones that exist.
   */
  setConstants(values: Record<string, ConstantValue>): void {
    if (this.loaded) throw new InvalidArgumentError('constants can only be set before the object is loaded');
    const entries = Object.entries(values);
    if (entries.length === 0) return;
    const layout = this.rodataLayout();
    const data = this.rodataImage();
    for (const [name, value] of entries) {
      const variable = layout.find((v) => v.name === name);
      if (!variable) {
        throw new NotFoundError(`${this.source} has no constant named "${name}"`, {
          details: layout.length ? `constants: ${layout.map((v) => `${v.name} (${v.size} bytes)`).join(', ')}` : 'it has no .rodata constants',
          hint: 'settable constants are `const volatile` globals in the program',
        });
      }
      writeConstant(data, variable, value);
    }
  }

  /** Current values of the .rodata constants as raw bytes, by name. */
  constants(): Record<string, Buffer> {
    const data = this.rodataImage();
    return Object.fromEntries(this.rodataLayout().map((v) => [v.name, Buffer.from(data.subarray(v.offset, v.offset + v.size))]));
  }

  /** Loads every program and creates every map; a verifier rejection carries the log. */
  load(options: LoadOptions = {}): void {
    if (this.loaded) return;
    const logLevel = options.logLevel ?? 0;
    const logBuffers = new Map<BpfProgram, Buffer>();
    if (logLevel > 0) {
      for (const program of this.programs) logBuffers.set(program, program.attachLogBuffer(logLevel, options.logSize ?? 4 << 20));
    }
    const { result: rc, messages } = captureLibbpfLog(() => libbpf.objectLoad(this.handle) as number);
    for (const [program, buffer] of logBuffers) program.verifierLog = cString(buffer);
    if (rc < 0) throw this.loadError(rc, libbpfMessagesText(messages));
    this.loaded = true;
  }

  /** A map of this object, raw (bytes) until given codecs with withCodecs(). */
  map(name: string): BpfMap {
    this.requireLoaded(`map ${name}`);
    const cached = this.mapCache.get(name);
    if (cached) return cached;
    const handle = this.mapHandles().find((m) => libbpf.mapName(m) === name);
    if (!handle) {
      throw new NotFoundError(`${this.source} has no map named "${name}"`, {
        details: `maps: ${this.mapNames().join(', ') || '(none)'}`,
      });
    }
    const map = BpfMap.fromFd(libbpf.mapFd(handle) as number, { ownsFd: false, name });
    this.mapCache.set(name, map);
    return map;
  }

  /** Names of the object's maps, including internal ones such as NAME.rodata. */
  mapNames(): string[] {
    return this.mapHandles().map((m) => libbpf.mapName(m) as string);
  }

  /** Names of the maps the object declares itself (no .rodata/.bss/.data). */
  userMapNames(): string[] {
    return this.mapHandles()
      .filter((m) => !libbpf.mapIsInternal(m))
      .map((m) => libbpf.mapName(m) as string);
  }

  /** Changes a map's size before load (e.g. a larger blocklist). */
  setMaxEntries(mapName: string, maxEntries: number): void {
    if (this.loaded) throw new InvalidArgumentError('map sizes can only be changed before the object is loaded');
    const handle = this.mapHandles().find((m) => libbpf.mapName(m) === mapName);
    if (!handle) throw new NotFoundError(`${this.source} has no map named "${mapName}"`);
    const rc = libbpf.mapSetMaxEntries(handle, maxEntries) as number;
    if (rc < 0) throw errorFromErrno(`resizing map ${mapName}`, rc);
  }

  /** Closes the object: unloads its programs and maps unless something else holds them (a link, a pin). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    libbpf.objectClose(this.handle);
  }

  private mapHandles(): Handle[] {
    const out: Handle[] = [];
    for (let m = libbpf.objectNextMap(this.handle, null); m; m = libbpf.objectNextMap(this.handle, m)) out.push(m);
    return out;
  }

  private rodataHandle(): Handle {
    const handle = this.mapHandles().find((m) => libbpf.mapIsInternal(m) && (libbpf.mapName(m) as string).endsWith('.rodata'));
    if (!handle) throw new NotFoundError(`${this.source} has no .rodata constants`, { hint: 'declare them as `const volatile` globals' });
    return handle;
  }

  private rodataImage(): Buffer {
    const size = [0];
    const pointer = libbpf.mapInitialValue(this.rodataHandle(), size);
    const length = size[0] ?? 0;
    return Buffer.from(koffi.view(pointer, length));
  }

  private rodataLayout(): RodataVariable[] {
    return readRodataLayout(libbpf.objectBtf(this.handle), libbpf.mapBtfValueTypeId(this.rodataHandle()) as number);
  }

  private describePrograms(): string {
    return this.programs.map((p) => `program ${p.name}  section ${p.section}`).join('\n');
  }

  private requireLoaded(what: string): void {
    if (!this.loaded) throw new InvalidArgumentError(`${what} is not available before the object is loaded`);
  }

  private loadError(rc: number, libbpfText: string): XdpkitError {
    const failed = this.programs.find((p) => p.verifierLog) ?? this.programs[0];
    const log = failed?.verifierLog || extractLoadLog(libbpfText);
    if (-rc === 1) {
      return new PermissionDeniedError(`loading ${this.source}: permission denied`, {
        errno: 1,
        // libbpf's own lines here (RLIMIT_MEMLOCK, "make sure your kernel supports BPF") mislead.
        hint: 'run as root (sudo xdpkit …) or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON',
      });
    }
    if (log && (-rc === 13 || -rc === 22 || -rc === 7)) {
      return new VerifierError(`the verifier rejected ${this.source}: ${verifierComplaint(log) ?? 'see the log'}`, log, {
        errno: -rc,
        details: trimVerifierLog(log),
        hint: 'fix the program at the instruction shown (bounds checks before every packet access); --log-level 2 prints the full log',
      });
    }
    return errorFromErrno(`loading ${this.source}`, rc, { details: libbpfText || undefined });
  }
}


function cString(buffer: Buffer): string {
  const end = buffer.indexOf(0);
  return buffer.subarray(0, end < 0 ? buffer.length : end).toString('utf8');
}

function writeConstant(data: Buffer, variable: RodataVariable, value: ConstantValue): void {
  const { name, offset, size } = variable;
  if (Buffer.isBuffer(value)) {
    if (value.length > size) throw new InvalidArgumentError(`constant ${name} holds ${size} bytes, got ${value.length}`);
    data.fill(0, offset, offset + size);
    value.copy(data, offset);
    return;
  }
  const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
  const bits = BigInt(size * 8);
  if (![1, 2, 4, 8].includes(size) || n < -(1n << (bits - 1n)) || n >= 1n << bits) {
    throw new InvalidArgumentError(`constant ${name} (${size} bytes) cannot hold ${value}`);
  }
  let rest = BigInt.asUintN(size * 8, n);
  for (let i = 0; i < size; i++) {
    data[offset + i] = Number(rest & 0xffn); // BPF targets here are little-endian (bpfel)
    rest >>= 8n;
  }
}
