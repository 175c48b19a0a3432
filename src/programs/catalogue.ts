/**
 * The built-in XDP programs: what each one does, which object file and program it is, the maps
 * it declares and the .rodata constants it reads. Pure data (no libbpf), so the CLI can list
 * and validate before anything touches the kernel. The C side (bpf/*.c) is the source of truth:
 * names, sizes and defaults here must match it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUILTIN_NAMES = ['pass', 'drop_udp', 'redirect', 'cpumap', 'reflect'] as const;
export type BuiltinName = (typeof BUILTIN_NAMES)[number];

/** Map kinds used by the built-ins (names as in the binding's MapType). */
export type MapKind = 'array' | 'percpu_array' | 'devmap' | 'cpumap';

/** A key or value layout: its C type, size in bytes and meaning. */
export interface FieldSpec {
  type: string;
  size: number;
  description: string;
}

export interface MapSpec {
  kind: MapKind;
  maxEntries: number;
  key: FieldSpec;
  value: FieldSpec;
  description: string;
}

/** A `const volatile` global in .rodata, set before load. */
export interface OptionSpec {
  name: string;
  type: 'u8' | 'u32';
  default: number;
  description: string;
}

export interface BuiltinProgram {
  name: BuiltinName;
  description: string;
  /** Absolute path of the BPF object (build/bpf/NAME.o under the package root). */
  object: string;
  /** The C function, which is also the libbpf program name. */
  program: string;
  /** ELF section of the program. */
  section: 'xdp';
  maps: Readonly<Record<string, MapSpec>>;
  options: readonly OptionSpec[];
}

type BuiltinEntry = Omit<BuiltinProgram, 'object'>;

const u32Key = (description: string): FieldSpec => ({ type: '__u32', size: 4, description });

/** Every built-in declares this map (bpf/include/xdpkit/stats.h). */
const XDP_STATS: MapSpec = {
  kind: 'percpu_array',
  maxEntries: 5,
  key: u32Key('XDP action: 0 aborted, 1 drop, 2 pass, 3 tx, 4 redirect'),
  value: { type: 'struct xdpkit_action_stats { __u64 packets; __u64 bytes; }', size: 16, description: 'packets and bytes per CPU' },
  description: 'per-CPU verdict counters',
};

const ENTRIES: Readonly<Record<BuiltinName, BuiltinEntry>> = {
  pass: {
    name: 'pass',
    description: 'Passes every packet to the stack and counts it: checks that attach works, measures the cost of XDP itself.',
    program: 'xdp_pass',
    section: 'xdp',
    maps: { xdp_stats: XDP_STATS },
    options: [],
  },
  drop_udp: {
    name: 'drop_udp',
    description:
      'Drops UDP over IPv4 and IPv6 (later fragments included); with match_ports, only UDP to the destination ports listed in drop_ports (later fragments, having no port, pass). Everything else passes, malformed packets too.',
    program: 'xdp_drop_udp',
    section: 'xdp',
    maps: {
      xdp_stats: XDP_STATS,
      drop_ports: {
        kind: 'array',
        maxEntries: 65536,
        key: u32Key('UDP destination port, host order'),
        value: { type: '__u8', size: 1, description: 'nonzero = drop' },
        description: 'ports to drop when match_ports is 1',
      },
    },
    options: [{ name: 'match_ports', type: 'u8', default: 0, description: '1 = drop only UDP to ports listed in drop_ports; 0 = drop all UDP' }],
  },
  redirect: {
    name: 'redirect',
    description: 'Redirects every packet to the interface in slot 0 of redirect_map; when the slot is empty or its device is gone, returns fallback_action.',
    program: 'xdp_redirect',
    section: 'xdp',
    maps: {
      xdp_stats: XDP_STATS,
      redirect_map: {
        kind: 'devmap',
        maxEntries: 64,
        key: u32Key('slot (only 0 is used)'),
        value: { type: '__u32', size: 4, description: 'target ifindex' },
        description: 'the redirect target',
      },
    },
    options: [
      {
        name: 'fallback_action',
        type: 'u32',
        default: 2,
        description: 'verdict when slot 0 is empty: 0 aborted, 1 drop, 2 pass, 3 tx (larger values count as aborted)',
      },
    ],
  },
  cpumap: {
    name: 'cpumap',
    description:
      'Spreads packets over CPUs: CPU cpus_available[flow hash % nr_cpus], with a symmetric hash over addresses, protocol and ports (fragments without ports); non-IP and malformed packets use slot 0. Passes when the CPU has no cpu_map entry or nr_cpus is 0.',
    program: 'xdp_cpumap',
    section: 'xdp',
    maps: {
      xdp_stats: XDP_STATS,
      cpu_map: {
        kind: 'cpumap',
        maxEntries: 64,
        key: u32Key('CPU id'),
        value: {
          type: 'struct bpf_cpumap_val { __u32 qsize; __u32 bpf_prog_fd_or_id; }',
          size: 8,
          description: 'queue size of the CPU (e.g. 2048); program 0 = none',
        },
        description: 'per-CPU queues packets are steered to',
      },
      cpus_available: {
        kind: 'array',
        maxEntries: 64,
        key: u32Key('slot 0..nr_cpus-1'),
        value: { type: '__u32', size: 4, description: 'CPU id (a key of cpu_map)' },
        description: 'the CPUs in use, in slot order',
      },
    },
    options: [
      { name: 'nr_cpus', type: 'u32', default: 0, description: 'slots of cpus_available in use (1..64); 0 = unconfigured, every packet passes' },
      { name: 'hash_seed', type: 'u32', default: 0, description: 'seed of the flow hash' },
    ],
  },
  reflect: {
    name: 'reflect',
    description:
      'Answers with XDP_TX: swaps MACs, IP addresses and TCP/UDP ports; turns ICMP and ICMPv6 echo requests into replies (checksum updated). Other packets, fragments and packets to group MAC addresses pass.',
    program: 'xdp_reflect',
    section: 'xdp',
    maps: { xdp_stats: XDP_STATS },
    options: [],
  },
};

let cachedRoot: string | undefined;

/**
 * The package root: the nearest directory above this module holding xdpkit's package.json
 * (src/programs when run through tsx, dist/programs when compiled).
 */
export function packageRoot(): string {
  if (cachedRoot !== undefined) return cachedRoot;
  let fallback: string | undefined;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      fallback ??= dir;
      if (manifestName(manifest) === 'xdpkit') return (cachedRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  if (fallback === undefined) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
  return (cachedRoot = fallback);
}

function manifestName(path: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof parsed === 'object' && parsed !== null && 'name' in parsed && typeof parsed.name === 'string' ? parsed.name : undefined;
  } catch {
    return undefined;
  }
}

/** The names, as plain strings so callers can test any user input with includes(); the typed
 * list is BUILTIN_NAMES, and isBuiltinName narrows a string. */
export function builtinNames(): string[] {
  return [...BUILTIN_NAMES];
}

export function isBuiltinName(name: string): name is BuiltinName {
  return (BUILTIN_NAMES as readonly string[]).includes(name);
}

/** The built-in called `name`, with its object path resolved; undefined for another name. */
export function builtinProgram(name: BuiltinName): BuiltinProgram;
export function builtinProgram(name: string): BuiltinProgram | undefined;
export function builtinProgram(name: string): BuiltinProgram | undefined {
  if (!isBuiltinName(name)) return undefined;
  const entry = ENTRIES[name];
  return { ...entry, object: join(packageRoot(), 'build', 'bpf', `${name}.o`) };
}

/** Every built-in, in catalogue order. */
export function builtinPrograms(): BuiltinProgram[] {
  return BUILTIN_NAMES.map((name) => builtinProgram(name));
}
