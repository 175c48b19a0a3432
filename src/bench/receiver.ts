/**
 * The receiving side of a benchmark: its NAPI kthreads (threaded NAPI, `napi/<dev>-<id>`),
 * pinned away from the generator's CPU, and what they cost. The receiver's cost is the CPU time
 * of those threads (/proc/<pid>/schedstat, first field, ns) over the packets received, which
 * does not depend on how fast the generator is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { runCommand } from '../net/index.js';

/** Thread ids of the kthreads whose name starts with `prefix` (names are cut at 15 characters). */
export function threadsNamed(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith(prefix)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** Thread ids of the NAPI kthreads of `ifname` (names are global: give the device a unique name). */
export function napiThreads(ifname: string): number[] {
  return threadsNamed(`napi/${ifname}-`);
}

/** Summed run time in ns of the given threads and the times they were scheduled in (0 for one that is gone). */
export function schedStats(pids: readonly number[]): { ns: bigint; runs: bigint } {
  let ns = 0n;
  let runs = 0n;
  for (const pid of pids) {
    try {
      // schedstat: time on the CPU (ns), time waiting to run (ns), timeslices run.
      const fields = readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(' ');
      ns += BigInt(fields[0] ?? '0');
      runs += BigInt(fields[2] ?? '0');
    } catch {
      // Gone: counts nothing.
    }
  }
  return { ns, runs };
}

/**
 * IP packets the stack of the calling thread's network namespace has received (Ip InReceives,
 * or Ip6InReceives), whichever CPU it ran on; call inside the namespace.
 */
export function stackReceived(family: 4 | 6): bigint {
  if (family === 6) {
    const line = readFileSync('/proc/thread-self/net/snmp6', 'utf8').split('\n').find((l) => l.startsWith('Ip6InReceives'));
    return BigInt(line?.trim().split(/\s+/)[1] ?? '0');
  }
  const [names, values] = readFileSync('/proc/thread-self/net/snmp', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('Ip:'))
    .map((l) => l.trim().split(/\s+/));
  return BigInt(values?.[names?.indexOf('InReceives') ?? -1] ?? '0');
}

/** Pins a thread (or this process's main thread) to one CPU. */
export async function pinThread(pid: number, cpu: number): Promise<void> {
  await runCommand(['taskset', '-p', '-c', String(cpu), String(pid)]);
}

/** The CPU list a thread may run on, as taskset prints it (to restore it later). */
export async function threadAffinity(pid: number): Promise<string> {
  const result = await runCommand(['taskset', '-p', '-c', String(pid)]);
  return result.stdout.trim().split(':').pop()?.trim() ?? '';
}

export async function restoreAffinity(pid: number, cpus: string): Promise<void> {
  if (cpus) await runCommand(['taskset', '-p', '-c', cpus, String(pid)]);
}

/** veth queue counters (`ethtool -S`), summed over queues: frames received, XDP drops, frames sent by XDP. */
export interface VethCounters {
  /** Frames that reached the device's receive loop (rx_queue_*_xdp_packets). */
  received: bigint;
  /** XDP_DROP verdicts (rx_queue_*_xdp_drops). */
  xdpDrops: bigint;
  /** Frames this end transmitted with ndo_xdp_xmit (tx_queue_*_xdp_xmit) and the ones refused. */
  xdpXmit: bigint;
  xdpXmitErrors: bigint;
}

/** Reads a veth's counters; `argvPrefix` runs ethtool in the right namespace (`ip netns exec NS`). */
export async function vethCounters(netns: string | undefined, ifname: string): Promise<VethCounters> {
  const argv = netns ? ['ip', 'netns', 'exec', netns, 'ethtool', '-S', ifname] : ['ethtool', '-S', ifname];
  const { stdout } = await runCommand(argv);
  const sum = (pattern: RegExp): bigint => {
    let total = 0n;
    for (const line of stdout.split('\n')) {
      const match = /^\s*([\w]+):\s*(\d+)/.exec(line);
      if (match && pattern.test(match[1]!)) total += BigInt(match[2]!);
    }
    return total;
  };
  return {
    received: sum(/^rx_queue_\d+_xdp_packets$/),
    xdpDrops: sum(/^rx_queue_\d+_xdp_drops$/),
    xdpXmit: sum(/^tx_queue_\d+_xdp_xmit$/),
    xdpXmitErrors: sum(/^tx_queue_\d+_xdp_xmit_errors$/),
  };
}
