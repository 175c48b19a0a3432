/**
 * What a benchmark compares: XDP ceilings, xdpkit's built-ins, and Linux doing the same job
 * (drop the benchmark traffic) with iptables, nftables and xdp-filter, or not at all (the
 * stack); and forwarders (the minimal XDP forwarder, xdpkit's redirect and reflect, kernel
 * forwarding, nftables DNAT) sending every frame on, to a sink in a third namespace or back.
 * A scenario sets itself up on the receiving veth end for one slot of a round and tears itself
 * down after it; the runner alternates its windows with the baseline's in between.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { attachXdp, BpfObject, closeLinkFd, detachXdp, ensureBpffs, u32, XdpkitError, type XdpTarget } from '../bpf/index.js';
import { runCommand, type TemplateProtocol } from '../net/index.js';
import { builtinProgram, packageRoot, type BuiltinName } from '../programs/catalogue.js';
import { builtinSetup, setRedirectTarget, type BuiltinOptions } from '../programs/configure.js';
import { actionStatsCodec } from '../programs/map-codecs.js';
import { stackReceived, threadsNamed } from './receiver.js';
import { firewallScenarios } from './scenarios-firewall.js';
import { lbScenarios } from './scenarios-lb.js';

/** The traffic the generator sends: the filters' rules match its protocol and family. */
export interface Traffic {
  protocol: TemplateProtocol;
  family: 4 | 6;
}

/** Where a scenario runs: the receiver's device and namespace, the port the filters drop. */
export interface ScenarioEnv {
  netns: string;
  ifname: string;
  ifindex: number;
  dropPort: number;
  traffic: Traffic;
  /** Runs fn in the receiver's network namespace. */
  inReceiver<T>(fn: () => T | Promise<T>): Promise<T>;
  /** Forwarding: the receiver's device towards the sink (third namespace) and the sink's end. */
  forward: {
    ifname: string;
    ifindex: number;
    mac: string;
    sinkMac: string;
    /** The address the forwarding templates are sent to, and the DNAT backends behind it. */
    vip: string;
    backends: readonly string[];
    /** Flows of the forwarding traffic (what a forwarder's connection table must hold). */
    flows: number;
  };
}

/**
 * A scenario set up for one slot of a round. What would hide the baseline (an XDP program on
 * the receiver) is switched on and off per measured window with activate/deactivate, so the
 * runner can alternate baseline and scenario windows; what the baseline's XDP program shadows
 * anyway (netfilter rules, sysctls) stays in place for the whole slot.
 */
export interface ScenarioHandle {
  activate?(): Promise<void>;
  deactivate?(): Promise<void>;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN, large repeat); XDP scenarios only. */
  programCostNs?(frame: Buffer, repeat: number): number;
  /** Verdicts counted by the program itself (xdpkit programs only). */
  verdicts?(): { dropped: bigint; passed: bigint };
  /**
   * The scenario's work on another CPU (cpumap): its threads, whose time is counted apart, and
   * how many frames got there (the receiver's stack, whichever CPU ran it).
   */
  otherCpu?: { threads(): number[]; frames(): Promise<bigint> };
  teardown(): Promise<void>;
}

/** filter: frames end at the receiver (judged against touch); forward: the receiver sends them on (judged against xdp-fwd). */
export type ScenarioGroup = 'filter' | 'forward';

export const BASELINES: Record<ScenarioGroup, string> = { filter: 'touch', forward: 'xdp-fwd' };

export interface Scenario {
  name: string;
  group: ScenarioGroup;
  description: string;
  /** A suite run only when asked for by name (`--scenarios firewall`), never in the default run. */
  suite?: string;
  /** Forwarders: where the frames go, the sink in the third namespace (default) or back to the sender. */
  deliversTo?: 'sink' | 'sender';
  /** Why the scenario cannot run with this traffic (undefined: it can). */
  unsupported?(traffic: Traffic): string | undefined;
  setup(env: ScenarioEnv): Promise<ScenarioHandle>;
}

/**
 * Loads an XDP object (configure: before load, prepare: after, in the receiver's namespace);
 * activate attaches it natively to the receiver, deactivate detaches it, teardown closes it.
 */
async function xdpScenario(env: ScenarioEnv, objectPath: string, program: string, configure?: (o: BpfObject) => void, prepare?: (o: BpfObject) => void): Promise<ScenarioHandle> {
  const object = BpfObject.open(objectPath);
  const target: XdpTarget = { ifindex: env.ifindex, name: env.ifname };
  let linkFd: number | undefined;
  try {
    configure?.(object);
    object.load();
    // In the receiver's namespace: a DEVMAP resolves ifindexes in the namespace of whoever updates it.
    if (prepare) await env.inReceiver(() => prepare(object));
  } catch (error) {
    object.close();
    throw error;
  }
  const fd = object.program(program).fd;
  const detach = async (): Promise<void> => {
    const fd = linkFd;
    linkFd = undefined;
    if (fd !== undefined) closeLinkFd(fd);
    await env.inReceiver(() => detachXdp(target));
  };
  const hasStats = object.userMapNames().includes('xdp_stats');
  return {
    activate: async () => {
      linkFd = await env.inReceiver(() => attachXdp(target, fd, { mode: 'native' }).linkFd);
    },
    deactivate: detach,
    // The least of three: a busy machine only ever adds to a test run's time.
    programCostNs: (frame, repeat) => Math.min(...[0, 1, 2].map(() => object.program(program).testRun({ data: frame, repeat }).durationNs)),
    ...(hasStats
      ? {
          verdicts: () => {
            const stats = object.map('xdp_stats').withCodecs(u32, actionStatsCodec);
            return { dropped: stats.getSummed(1)?.packets ?? 0n, passed: stats.getSummed(2)?.packets ?? 0n };
          },
        }
      : {}),
    async teardown() {
      try {
        if (linkFd !== undefined) await detach();
      } finally {
        object.close();
      }
    },
  };
}

/** A built-in configured the way `xdpkit prog load` would configure it with these options. */
function builtinScenario(env: ScenarioEnv, name: BuiltinName, options: BuiltinOptions = {}): Promise<ScenarioHandle> {
  const setup = builtinSetup(name, options);
  const program = builtinProgram(name);
  return xdpScenario(env, program.object, program.program, (o) => o.setConstants(setup.constants), setup.configure);
}

const benchObject = (name: string): string => join(packageRoot(), 'build', 'bpf', `${name}.o`);

function inNs(env: ScenarioEnv, argv: string[]): Promise<unknown> {
  return runCommand(['ip', 'netns', 'exec', env.netns, ...argv]);
}

/** Feeds a ruleset to nft inside the receiver's namespace. */
function nftApply(env: ScenarioEnv, rules: string): Promise<unknown> {
  return inNs(env, ['sh', '-c', 'printf "%s" "$0" | nft -f -', rules]);
}

/** Keeps the host's mount namespace (xdp-filter pins its maps in the host's bpffs). */
function inNetOnly(env: ScenarioEnv, argv: string[]): Promise<unknown> {
  return runCommand(['nsenter', `--net=/run/netns/${env.netns}`, ...argv]);
}

/** xdp-filter's one lock (/run/xdp-filter.lck) is shared by every xdp-filter on the host. */
const XDP_FILTER_LOCK = /lock/i;

/**
 * Runs xdp-filter in the receiver's namespace; while another xdp-filter on the host (another
 * run) holds its lock, tries again for up to two seconds.
 */
async function xdpFilter(env: ScenarioEnv, args: string[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await inNetOnly(env, ['xdp-filter', ...args]);
      return;
    } catch (error) {
      const busy = error instanceof XdpkitError && XDP_FILTER_LOCK.test(error.details ?? '');
      if (!busy || attempt >= 40) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** nftables' name of the traffic's upper-layer protocol, and its match (port for TCP/UDP). */
function nftMatch(env: ScenarioEnv): string {
  const { protocol, family } = env.traffic;
  if (protocol === 'icmp') return `meta l4proto ${family === 4 ? 'icmp' : 'ipv6-icmp'}`;
  return `${protocol} dport ${env.dropPort}`;
}

const onlyUdp = (traffic: Traffic): string | undefined => (traffic.protocol === 'udp' ? undefined : 'drops UDP only');

const noTeardown = async (): Promise<void> => {};

export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'empty',
    group: 'filter',
    description: 'empty XDP_DROP (never reads the packet): the upper ceiling',
    setup: (env) => xdpScenario(env, benchObject('bench_empty'), 'xdp_bench_empty'),
  },
  {
    name: 'touch',
    group: 'filter',
    description: 'touch and drop (reads the EtherType): the ceiling programs are judged against',
    setup: (env) => xdpScenario(env, benchObject('bench_touch'), 'xdp_bench_touch'),
  },
  {
    name: 'touch-again',
    group: 'filter',
    description: 'the touch ceiling again, loaded on its own: the A/A control, whose distance from 1.00 is the method\'s noise',
    setup: (env) => xdpScenario(env, benchObject('bench_touch'), 'xdp_bench_touch'),
  },
  {
    name: 'drop_udp',
    group: 'filter',
    description: 'xdpkit drop_udp, dropping UDP to the benchmark port (--port)',
    unsupported: onlyUdp,
    setup: (env) => builtinScenario(env, 'drop_udp', { ports: [env.dropPort] }),
  },
  {
    name: 'xdp-filter',
    group: 'filter',
    description: 'xdp-filter (xdp-tools), native, dropping the benchmark port',
    unsupported: (traffic) => (traffic.protocol === 'icmp' ? 'filters ports and addresses only' : undefined),
    async setup(env) {
      const { protocol, family } = env.traffic;
      // xdp-filter refuses to load without bpffs, which a fresh machine has not mounted.
      ensureBpffs();
      // xdp-filter pins its maps in the host's bpffs: unload it before the testbed's own signal
      // handler removes the namespace (prepended, so it runs first).
      let loaded = false;
      // The same Ctrl-C stops an xdp-filter command that may be running (it holds xdp-filter's
      // lock until it has exited), and another run's may hold it: retry for a moment.
      const unloadNow = (): void => {
        for (let attempt = 0; attempt < 20; attempt++) {
          if (spawnSync('nsenter', [`--net=/run/netns/${env.netns}`, 'xdp-filter', 'unload', env.ifname], { stdio: 'ignore' }).status === 0) return;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
        }
      };
      const onSignal = (): void => {
        if (loaded) unloadNow();
        removeSignalHandlers();
      };
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      const removeSignalHandlers = (): void => signals.forEach((sig) => process.removeListener(sig, onSignal));
      signals.forEach((sig) => process.prependListener(sig, onSignal));
      const unload = async (): Promise<void> => {
        if (!loaded) return;
        // Still "loaded" while the command runs: a Ctrl-C now stops it, and the handler unloads.
        await xdpFilter(env, ['unload', env.ifname]);
        loaded = false;
      };
      return {
        async activate() {
          loaded = true;
          await xdpFilter(env, ['load', '-m', 'native', '-f', `${protocol},ipv${family}`, env.ifname]);
          await xdpFilter(env, ['port', '-p', protocol, '-m', 'dst', String(env.dropPort)]);
        },
        deactivate: unload,
        async teardown() {
          try {
            await unload();
          } finally {
            removeSignalHandlers();
          }
        },
      };
    },
  },
  {
    name: 'iptables',
    group: 'filter',
    description: 'iptables (ip6tables) raw PREROUTING drop of the benchmark traffic (no XDP)',
    async setup(env) {
      const { protocol, family } = env.traffic;
      const tool = family === 4 ? 'iptables' : 'ip6tables';
      const match = protocol === 'icmp' ? ['-p', family === 4 ? 'icmp' : 'ipv6-icmp'] : ['-p', protocol, '--dport', String(env.dropPort)];
      await inNs(env, [tool, '-t', 'raw', '-A', 'PREROUTING', ...match, '-j', 'DROP']);
      return { teardown: () => inNs(env, [tool, '-t', 'raw', '-F', 'PREROUTING']).then(() => {}) };
    },
  },
  {
    name: 'nftables',
    group: 'filter',
    description: 'nftables netdev ingress drop of the benchmark traffic (no XDP)',
    async setup(env) {
      await nftApply(env, `table netdev xdpkit_bench {\n chain ingress {\n  type filter hook ingress device "${env.ifname}" priority -500;\n  ${nftMatch(env)} drop\n }\n}\n`);
      return { teardown: () => inNs(env, ['nft', 'delete', 'table', 'netdev', 'xdpkit_bench']).then(() => {}) };
    },
  },
  {
    name: 'pass',
    group: 'filter',
    description: 'xdpkit pass: every frame goes on to the stack (closed port)',
    setup: (env) => builtinScenario(env, 'pass'),
  },
  {
    name: 'stack',
    group: 'filter',
    description: 'no filter at all: the stack receives every frame (closed port)',
    setup: async () => ({ teardown: noTeardown }),
  },
  {
    name: 'cpumap',
    group: 'filter',
    description: 'xdpkit cpumap steering every flow to the generator\'s CPU, where the stack receives it; ns/pkt is the receiving CPU, other ns the cpumap thread per frame that reached the stack',
    async setup(env) {
      const before = new Set(threadsNamed(`cpumap/${STEER_CPU}/`));
      const handle = await builtinScenario(env, 'cpumap', { cpus: [STEER_CPU] });
      // The CPU's queue comes with a kthread (cpumap/<cpu>/map:<id>): the new one is ours.
      return {
        ...handle,
        otherCpu: {
          threads: () => threadsNamed(`cpumap/${STEER_CPU}/`).filter((pid) => !before.has(pid)),
          frames: () => env.inReceiver(() => stackReceived(env.traffic.family)),
        },
      };
    },
  },
  {
    name: 'xdp-fwd',
    group: 'forward',
    description: 'minimal XDP forwarder: rewrites both MACs, redirects (DEVMAP) to the sink: the forwarding baseline',
    setup: (env) =>
      xdpScenario(
        env,
        benchObject('bench_fwd'),
        'xdp_bench_fwd',
        (o) => o.setConstants({ src_mac: macBytes(env.forward.mac), dst_mac: macBytes(env.forward.sinkMac) }),
        (o) => setRedirectTarget(o.map('fwd_map'), 0, String(env.forward.ifindex)),
      ),
  },
  {
    name: 'redirect',
    group: 'forward',
    description: 'xdpkit redirect: slot 0 of redirect_map is the device towards the sink (MACs left as they are)',
    setup: (env) => builtinScenario(env, 'redirect', { target: env.forward.ifname }),
  },
  {
    name: 'reflect',
    group: 'forward',
    description: 'xdpkit reflect: XDP_TX back to the sender with MACs, addresses and ports (ICMP: echo reply) swapped',
    deliversTo: 'sender',
    setup: (env) => builtinScenario(env, 'reflect'),
  },
  {
    name: 'kernel-fwd',
    group: 'forward',
    description: 'plain kernel forwarding (no XDP, no netfilter rules)',
    async setup(env) {
      await ipForwarding(env, true);
      return { teardown: () => ipForwarding(env, false) };
    },
  },
  {
    name: 'nft-dnat',
    group: 'forward',
    description: 'kernel forwarding with nftables DNAT of the VIP over three backends (numgen round robin per connection, conntrack)',
    async setup(env) {
      const family = env.traffic.family === 4 ? 'ip' : 'ip6';
      const map = env.forward.backends.map((b, i) => `${i} : ${b}`).join(', ');
      const rules = `table ${family} xdpkit_bench_nat {\n chain pre {\n  type nat hook prerouting priority -100;\n  ${family} daddr ${env.forward.vip} ${nftMatch(env)} dnat to numgen inc mod ${env.forward.backends.length} map { ${map} }\n }\n}\n`;
      await ipForwarding(env, true);
      try {
        await nftApply(env, rules);
      } catch (error) {
        await ipForwarding(env, false);
        throw error;
      }
      return {
        async teardown() {
          await inNs(env, ['nft', 'delete', 'table', family, 'xdpkit_bench_nat']);
          await ipForwarding(env, false);
        },
      };
    },
  },
  ...lbScenarios(xdpScenario),
  ...firewallScenarios(xdpScenario),
];

/** cpumap steers to this CPU: the generator's, so the receiving CPU keeps only the steering. */
export const STEER_CPU = 0;

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

async function ipForwarding(env: ScenarioEnv, on: boolean): Promise<void> {
  const key = env.traffic.family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
  await inNs(env, ['sysctl', '-q', '-w', `${key}=${on ? 1 : 0}`]);
}
