/**
 * Shared pieces of the netns tests (real traffic through real attachments): running the program
 * manager inside a testbed namespace, reading the xdp_stats of whatever program is attached,
 * what `ip -d link` says, classifying the stack's own control packets, and checking that a test
 * left no pin, record or attachment behind.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { programInfoById, XDP_ACTION_NAMES, XDPKIT_PIN_ROOT, type XdpActionName } from '../../src/bpf/index.js';
import { assertTestAddress, findLayer, runCommand, withNetnsSync, type CapturedPacket, type ParsedPacket, type Testbed } from '../../src/net/index.js';
import { ipFamily } from '../../src/net/test-addresses.js';
import { readActionCounters } from '../../src/observe/xdp-stats.js';
import { unloadFromInterface } from '../../src/programs/manager.js';
import { RECORD_DIR } from '../../src/programs/records.js';

export const root = process.getuid?.() === 0;
/** For describe(…, { skip }): these tests create namespaces and attach XDP programs. */
export const skip: string | false = root ? false : 'needs root (network namespaces, XDP attach)';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs synchronous work (the program manager, the binding) inside a testbed namespace. */
export function inNs<T>(bed: Testbed, ns: string, fn: () => T): T {
  return withNetnsSync(bed.netns(ns), fn);
}

export type ActionPackets = Record<XdpActionName, bigint>;

/**
 * Packets per verdict, summed over CPUs, from the xdp_stats map of the attached program `programId`
 * (found through the kernel: program id → map ids), so it works for programs whose object is closed.
 */
export function programStats(programId: number): ActionPackets {
  const counters = readActionCounters(programInfoById(programId).mapIds) ?? assert.fail(`program ${programId} has no xdp_stats map`);
  return Object.fromEntries(XDP_ACTION_NAMES.map((name) => [name, counters[name].packets])) as ActionPackets;
}

/** after − before, per verdict. */
export function statsDelta(before: ActionPackets, after: ActionPackets): ActionPackets {
  return Object.fromEntries(XDP_ACTION_NAMES.map((name) => [name, after[name] - before[name]])) as ActionPackets;
}

/** Polls the program's counters until `done` holds or the timeout passes; returns the last read. */
export async function waitForStats(programId: number, done: (stats: ActionPackets) => boolean, timeoutMs = 3000): Promise<ActionPackets> {
  const deadline = Date.now() + timeoutMs;
  let stats = programStats(programId);
  while (!done(stats) && Date.now() < deadline) {
    await sleep(20);
    stats = programStats(programId);
  }
  return stats;
}

export interface IpLinkXdp {
  /** The word `ip link` prints after the MTU: xdp (native), xdpgeneric, xdpoffload, or none. */
  mode: 'xdp' | 'xdpgeneric' | 'xdpoffload' | 'none';
  id?: number;
  name?: string;
  tag?: string;
}

/** What iproute2 reports about XDP on an interface (`ip -d link show`), for interop checks. */
export async function ipLinkXdp(bed: Testbed, ns: string, ifname: string): Promise<IpLinkXdp> {
  const { stdout } = await bed.exec(ns, ['ip', '-d', 'link', 'show', 'dev', ifname]);
  const mode = /\bmtu \d+ (xdp|xdpgeneric|xdpoffload)\b/.exec(stdout)?.[1] as IpLinkXdp['mode'] | undefined;
  const prog = /prog\/xdp id (\d+) name (\S+) tag ([0-9a-f]{16})/.exec(stdout);
  if (!mode) return { mode: 'none' };
  return { mode, ...(prog ? { id: Number(prog[1]), name: prog[2], tag: prog[3] } : {}) };
}

const ETH_P_ARP = 0x0806;
/** MLD (130–132, 143) and neighbour discovery (133–137). */
const ICMPV6_CONTROL = new Set([130, 131, 132, 133, 134, 135, 136, 137, 143]);

/**
 * Packets the stack sends on its own, not the test: ARP, IPv6 neighbour discovery (router
 * solicitations after link up, neighbour solicitations/advertisements) and MLD reports. Their
 * number and timing depend on timers, so exact counter checks allow exactly these and no more.
 */
export function isStackControl(packet: ParsedPacket): boolean {
  if (findLayer(packet, 'eth')?.etherType === ETH_P_ARP) return true;
  const icmp6 = findLayer(packet, 'icmpv6');
  return icmp6 !== undefined && ICMPV6_CONTROL.has(icmp6.icmpType);
}

/** Splits a capture into the packets the test sent (`ours`), stack control packets, and the rest. */
export function classify(packets: CapturedPacket[], ours: (packet: ParsedPacket) => boolean): { ours: CapturedPacket[]; control: CapturedPacket[]; other: CapturedPacket[] } {
  const out = { ours: [] as CapturedPacket[], control: [] as CapturedPacket[], other: [] as CapturedPacket[] };
  for (const p of packets) {
    if (ours(p.packet)) out.ours.push(p);
    else if (isStackControl(p.packet)) out.control.push(p);
    else out.other.push(p);
  }
  return out;
}

/**
 * Runs `traffic` while capturing everything `ns` transmits on `ifname` and reads the counters of
 * the program `programId` (on the peer) before and after. The capture starts before the first
 * read and stops after the second, so every frame counted in between is in the capture: the
 * counters can then be checked against what was really sent, packet for packet.
 */
export async function countWhileSending<T>(
  bed: Testbed,
  sender: { ns: string; ifname: string },
  programId: number,
  traffic: () => Promise<T>,
): Promise<{ delta: ActionPackets; sent: CapturedPacket[]; result: T }> {
  const capture = await bed.capture(sender.ns, sender.ifname, { direction: 'out' });
  try {
    const before = programStats(programId);
    const result = await traffic();
    const after = programStats(programId);
    return { delta: statsDelta(before, after), sent: await capture.stop(), result };
  } finally {
    await capture.stop();
  }
}

/**
 * A counter that sees every frame the sender transmits equals the test's own packets plus some
 * of the stack's ARP/ND/MLD packets (timer-driven; those in the capture but outside the counting
 * window are not counted). Anything else the sender transmitted fails the check.
 */
export function assertCountsSent(counted: bigint, sent: CapturedPacket[], ours: (packet: ParsedPacket) => boolean, expectedOurs: number, what: string): { ours: number; control: number } {
  const split = classify(sent, ours);
  assert.equal(split.ours.length, expectedOurs, `${what}: the sender transmitted the test's ${expectedOurs} packets`);
  assert.deepEqual(split.other, [], `${what}: the sender transmitted nothing but the test traffic and ARP/ND/MLD:\n${describePackets(split.other)}`);
  assert.ok(
    counted >= BigInt(expectedOurs) && counted <= BigInt(expectedOurs + split.control.length),
    `${what}: counted ${counted}; expected the ${expectedOurs} test packets + at most ${split.control.length} ARP/ND/MLD:\n${describePackets(split.control)}`,
  );
  return { ours: expectedOurs, control: Number(counted) - expectedOurs };
}

/** One line per packet, for assertion messages. */
export function describePackets(packets: CapturedPacket[]): string {
  return packets
    .map(({ packet }) =>
      packet.layers
        .filter((l) => l.type !== 'payload' && l.type !== 'trailer')
        .map((l) => {
          if (l.type === 'ipv4' || l.type === 'ipv6') return `${l.type} ${l.src}>${l.dst}`;
          if (l.type === 'udp' || l.type === 'tcp') return `${l.type} ${l.srcPort}>${l.dstPort}`;
          if (l.type === 'icmp' || l.type === 'icmpv6') return `${l.type} type ${l.icmpType}`;
          if (l.type === 'eth') return `eth 0x${l.etherType.toString(16)}`;
          return l.type;
        })
        .join(' / '),
    )
    .join('\n');
}

/** Pin directories and records that belong to this testbed's namespaces (keys are NETNS:IFNAME). */
export function leftovers(bed: Testbed): string[] {
  const prefixes = bed.namespaces.map((ns) => `${bed.netns(ns)}:`);
  const ours = (name: string): boolean => prefixes.some((p) => name.startsWith(p));
  const list = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter(ours).map((n) => `${dir}/${n}`) : []);
  return [...list(XDPKIT_PIN_ROOT), ...list(RECORD_DIR)];
}

/**
 * Cleanup for after hooks: unloads whatever XDP program (ours or foreign) each listed interface
 * has, ignoring interfaces or namespaces already gone, so the bed can be destroyed without
 * leaving pins or records.
 */
export function unloadAll(bed: Testbed, interfaces: [ns: string, ifname: string][]): void {
  for (const [ns, ifname] of interfaces) {
    try {
      inNs(bed, ns, () => unloadFromInterface(ifname));
    } catch {
      // Namespace or interface already gone: nothing left attached there.
    }
  }
}

/**
 * The after hook of a netns suite: unloads the listed interfaces, destroys the bed, and fails
 * when a pin, a record or a namespace of the bed is left behind.
 */
export async function tearDown(bed: Testbed, interfaces: [ns: string, ifname: string][]): Promise<void> {
  unloadAll(bed, interfaces);
  const names = bed.namespaces.map((ns) => bed.netns(ns));
  await bed.destroy();
  assert.deepEqual(leftovers(bed), [], 'no pin directory or record of this test is left');
  const list = (await runCommand(['ip', 'netns', 'list'])).stdout;
  for (const name of names) assert.ok(!list.includes(name), `namespace ${name} removed`);
}

/**
 * Sends exactly `count` echo requests (no deadline: `ping -w` would keep sending until `count`
 * replies came back, hiding losses) and reports how many went out and how many were answered.
 */
export async function pingExact(bed: Testbed, ns: string, address: string, options: { count: number; intervalMs: number }): Promise<{ transmitted: number; received: number }> {
  assertTestAddress(address);
  const argv = ['ping', `-${ipFamily(address)}`, '-n', '-q', '-c', String(options.count), '-i', String(options.intervalMs / 1000), '-W', '1', address];
  const timeoutMs = options.count * options.intervalMs + 15_000;
  const result = await bed.exec(ns, argv, { check: false, timeoutMs });
  const match = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(result.stdout);
  assert.ok(match, `ping gave no summary: ${result.stdout}${result.stderr}`);
  return { transmitted: Number(match[1]), received: Number(match[2]) };
}

/** Adds a permanent neighbour entry (so no ARP/ND is needed, or to point an address at a MAC). */
export async function staticNeighbour(bed: Testbed, ns: string, ifname: string, address: string, mac: string): Promise<void> {
  await bed.exec(ns, ['ip', 'neigh', 'replace', address, 'lladdr', mac, 'dev', ifname, 'nud', 'permanent']);
}
