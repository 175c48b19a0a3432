/**
 * What a benchmark compares: XDP ceilings, xdpkit's built-ins, and Linux doing the same job
 * (drop UDP to one port) with iptables, nftables and xdp-filter, or not at all (the stack);
 * and forwarders (the minimal XDP forwarder, xdpkit's redirect, kernel forwarding, nftables
 * DNAT) sending every frame on to a sink in a third namespace.
 * A scenario sets itself up on the receiving veth end and tears itself down; the runner
 * measures between the two.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { attachXdp, BpfObject, closeLinkFd, detachXdp, u32, type XdpTarget } from '../bpf/index.js';
import { runCommand } from '../net/index.js';
import { packageRoot } from '../programs/catalogue.js';
import { builtinProgram } from '../programs/catalogue.js';
import { actionStatsCodec } from '../programs/map-codecs.js';

/** Where a scenario runs: the receiver's device and namespace, the port the filters drop. */
export interface ScenarioEnv {
  netns: string;
  ifname: string;
  ifindex: number;
  dropPort: number;
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
  };
}

export interface ScenarioHandle {
  /** fd of the XDP program attached to the receiver (for the kernel's run-time statistics). */
  programFd?: number;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN, large repeat); XDP scenarios only. */
  programCostNs?(frame: Buffer, repeat: number): number;
  /** Verdicts counted by the program itself (xdpkit programs only). */
  verdicts?(): { dropped: bigint; passed: bigint };
  teardown(): Promise<void>;
}

/** filter: frames end at the receiver (judged against touch); forward: the receiver forwards them to the sink (judged against xdp-fwd). */
export type ScenarioGroup = 'filter' | 'forward';

export const BASELINES: Record<ScenarioGroup, string> = { filter: 'touch', forward: 'xdp-fwd' };

export interface Scenario {
  name: string;
  group: ScenarioGroup;
  description: string;
  setup(env: ScenarioEnv): Promise<ScenarioHandle>;
}

/** Loads an XDP object, attaches it natively to the receiver, detaches and closes on teardown. */
async function xdpScenario(env: ScenarioEnv, objectPath: string, program: string, configure?: (o: BpfObject) => void, prepare?: (o: BpfObject) => void): Promise<ScenarioHandle> {
  const object = BpfObject.open(objectPath);
  const target: XdpTarget = { ifindex: env.ifindex, name: env.ifname };
  let linkFd: number | undefined;
  try {
    configure?.(object);
    object.load();
    const fd = object.program(program).fd;
    // In the receiver's namespace: a DEVMAP resolves ifindexes in the namespace of whoever updates it.
    linkFd = await env.inReceiver(() => {
      prepare?.(object);
      return attachXdp(target, fd, { mode: 'native' }).linkFd;
    });
  } catch (error) {
    object.close();
    throw error;
  }
  const hasStats = object.userMapNames().includes('xdp_stats');
  return {
    programFd: object.program(program).fd,
    programCostNs: (frame, repeat) => object.program(program).testRun({ data: frame, repeat }).durationNs,
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
        if (linkFd !== undefined) closeLinkFd(linkFd);
        await env.inReceiver(() => detachXdp(target));
      } finally {
        object.close();
      }
    },
  };
}

const benchObject = (name: string): string => join(packageRoot(), 'build', 'bpf', `${name}.o`);

function inNs(env: ScenarioEnv, argv: string[]): Promise<unknown> {
  return runCommand(['ip', 'netns', 'exec', env.netns, ...argv]);
}

/** Keeps the host's mount namespace (xdp-filter pins its maps in the host's bpffs). */
function inNetOnly(env: ScenarioEnv, argv: string[]): Promise<unknown> {
  return runCommand(['nsenter', `--net=/run/netns/${env.netns}`, ...argv]);
}

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
    name: 'drop_udp',
    group: 'filter',
    description: 'xdpkit drop_udp, dropping UDP to the benchmark port (match_ports = 1)',
    setup: (env) =>
      xdpScenario(
        env,
        builtinProgram('drop_udp').object,
        'xdp_drop_udp',
        (o) => o.setConstants({ match_ports: 1 }),
        (o) => {
          const key = Buffer.alloc(4);
          key.writeUInt32LE(env.dropPort);
          o.map('drop_ports').set(key, Buffer.from([1]));
        },
      ),
  },
  {
    name: 'xdp-filter',
    group: 'filter',
    description: 'xdp-filter (xdp-tools), native, dropping UDP to the benchmark port',
    async setup(env) {
      await inNetOnly(env, ['xdp-filter', 'load', '-m', 'native', '-f', 'udp,ipv4', env.ifname]);
      try {
        await inNetOnly(env, ['xdp-filter', 'port', '-p', 'udp', '-m', 'dst', String(env.dropPort)]);
      } catch (error) {
        await inNetOnly(env, ['xdp-filter', 'unload', env.ifname]).catch(() => {});
        throw error;
      }
      // xdp-filter pins its maps in the host's bpffs: unload it before the testbed's own signal
      // handler removes the namespace (prepended, so it runs first).
      const onSignal = (): void => {
        spawnSync('nsenter', [`--net=/run/netns/${env.netns}`, 'xdp-filter', 'unload', env.ifname], { stdio: 'ignore' });
        removeSignalHandlers();
      };
      const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
      const removeSignalHandlers = (): void => signals.forEach((sig) => process.removeListener(sig, onSignal));
      signals.forEach((sig) => process.prependListener(sig, onSignal));
      return {
        teardown: async () => {
          removeSignalHandlers();
          await inNetOnly(env, ['xdp-filter', 'unload', env.ifname]);
        },
      };
    },
  },
  {
    name: 'iptables',
    group: 'filter',
    description: 'iptables raw PREROUTING drop of UDP to the benchmark port (no XDP)',
    async setup(env) {
      await inNs(env, ['iptables', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', String(env.dropPort), '-j', 'DROP']);
      return { teardown: () => inNs(env, ['iptables', '-t', 'raw', '-F', 'PREROUTING']).then(() => {}) };
    },
  },
  {
    name: 'nftables',
    group: 'filter',
    description: 'nftables netdev ingress drop of UDP to the benchmark port (no XDP)',
    async setup(env) {
      const rules = `table netdev xdpkit_bench {\n chain ingress {\n  type filter hook ingress device "${env.ifname}" priority -500;\n  udp dport ${env.dropPort} drop\n }\n}\n`;
      await runCommand(['ip', 'netns', 'exec', env.netns, 'sh', '-c', 'printf "%s" "$0" | nft -f -', rules]);
      return { teardown: () => inNs(env, ['nft', 'delete', 'table', 'netdev', 'xdpkit_bench']).then(() => {}) };
    },
  },
  {
    name: 'pass',
    group: 'filter',
    description: 'xdpkit pass: every frame goes on to the stack (UDP to a closed port)',
    setup: (env) => xdpScenario(env, builtinProgram('pass').object, 'xdp_pass'),
  },
  {
    name: 'stack',
    group: 'filter',
    description: 'no filter at all: the stack receives every frame (UDP to a closed port)',
    setup: async () => ({ teardown: noTeardown }),
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
        (o) => o.map('fwd_map').set(u32Buffer(0), u32Buffer(env.forward.ifindex)),
      ),
  },
  {
    name: 'redirect',
    group: 'forward',
    description: 'xdpkit redirect: slot 0 of redirect_map is the device towards the sink (MACs left as they are)',
    setup: (env) =>
      xdpScenario(env, builtinProgram('redirect').object, 'xdp_redirect', undefined, (o) => o.map('redirect_map').set(u32Buffer(0), u32Buffer(env.forward.ifindex))),
  },
  {
    name: 'kernel-fwd',
    group: 'forward',
    description: 'plain kernel IPv4 forwarding (no XDP, no netfilter rules)',
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
      const map = env.forward.backends.map((b, i) => `${i} : ${b}`).join(', ');
      const rules = `table ip xdpkit_bench_nat {\n chain pre {\n  type nat hook prerouting priority -100;\n  ip daddr ${env.forward.vip} udp dport ${env.dropPort} dnat to numgen inc mod ${env.forward.backends.length} map { ${map} }\n }\n}\n`;
      await ipForwarding(env, true);
      try {
        await runCommand(['ip', 'netns', 'exec', env.netns, 'sh', '-c', 'printf "%s" "$0" | nft -f -', rules]);
      } catch (error) {
        await ipForwarding(env, false);
        throw error;
      }
      return {
        async teardown() {
          await inNs(env, ['nft', 'delete', 'table', 'ip', 'xdpkit_bench_nat']);
          await ipForwarding(env, false);
        },
      };
    },
  },
];

function u32Buffer(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
}

function macBytes(mac: string): Buffer {
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

async function ipForwarding(env: ScenarioEnv, on: boolean): Promise<void> {
  await inNs(env, ['sysctl', '-q', '-w', `net.ipv4.ip_forward=${on ? 1 : 0}`]);
}

export function scenarioByName(name: string): Scenario | undefined {
  return SCENARIOS.find((s) => s.name === name);
}
