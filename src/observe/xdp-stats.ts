/**
 * Statistics of the XDP programs on interfaces: packets and bytes per verdict from xdpkit's
 * per-CPU `xdp_stats` map (any program that declares it), and for every program, foreign ones
 * too, run count and ns per run from the kernel's run-time statistics.
 */
import { MapType, programInfoById, queryXdp, u32, XDP_ACTION_NAMES, type XdpActionName, type XdpTarget } from '../bpf/index.js';
import { withProgramMaps } from '../programs/attached.js';
import { actionStatsCodec } from '../programs/map-codecs.js';

export interface ActionCounters {
  packets: bigint;
  bytes: bigint;
}

export interface ProgramSample {
  ifname: string;
  ifindex: number;
  programId: number;
  programName: string;
  mode: string;
  /** Per-verdict counters, when the program has an xdpkit-style xdp_stats map. */
  actions?: Record<XdpActionName, ActionCounters>;
  runCount: bigint;
  runTimeNs: bigint;
  /** When the sample was taken (ms, monotonic). */
  at: number;
}

export function sampleTargets(targets: XdpTarget[]): ProgramSample[] {
  const samples: ProgramSample[] = [];
  for (const target of targets) {
    for (const attachment of queryXdp(target)) {
      const info = programInfoById(attachment.programId);
      const actions = readActionCounters(info.mapIds);
      samples.push({
        ifname: target.name,
        ifindex: target.ifindex,
        programId: attachment.programId,
        programName: attachment.programName,
        mode: attachment.mode,
        ...(actions ? { actions } : {}),
        runCount: info.runCount,
        runTimeNs: info.runTimeNs,
        at: performance.now(),
      });
    }
  }
  return samples;
}

/** Per-verdict counters from the program's xdp_stats map (found among `mapIds`), summed over CPUs. */
export function readActionCounters(mapIds: number[]): Record<XdpActionName, ActionCounters> | undefined {
  return withProgramMaps(mapIds, (maps) => {
    const stats = maps.find(
      (m) =>
        m.name === 'xdp_stats' &&
        m.description.type === MapType.percpu_array &&
        m.description.keySize === 4 &&
        m.description.valueSize === actionStatsCodec.size,
    );
    if (!stats) return undefined;
    const typed = stats.withCodecs(u32, actionStatsCodec);
    return Object.fromEntries(
      XDP_ACTION_NAMES.map((name, code) => [name, typed.getSummed(code) ?? { packets: 0n, bytes: 0n }]),
    ) as Record<XdpActionName, ActionCounters>;
  });
}

export interface ProgramRates {
  /** Packets and bytes per second per verdict over the interval. */
  actions?: Record<XdpActionName, { pps: number; bps: number }>;
  /** Program runs per second and mean ns per run (needs run-time stats on during the interval). */
  runsPerSecond: number;
  nsPerRun?: number;
}

/** Rates between two samples of the same program; undefined when the program changed. */
export function ratesBetween(before: ProgramSample, after: ProgramSample): ProgramRates | undefined {
  if (before.programId !== after.programId) return undefined;
  const seconds = (after.at - before.at) / 1000;
  if (seconds <= 0) return undefined;
  const runs = Number(after.runCount - before.runCount);
  const runTime = Number(after.runTimeNs - before.runTimeNs);
  const rates: ProgramRates = { runsPerSecond: runs / seconds, ...(runs > 0 ? { nsPerRun: runTime / runs } : {}) };
  if (before.actions && after.actions) {
    const a = after.actions;
    const b = before.actions;
    rates.actions = Object.fromEntries(
      XDP_ACTION_NAMES.map((name) => [
        name,
        { pps: Number(a[name].packets - b[name].packets) / seconds, bps: Number(a[name].bytes - b[name].bytes) / seconds },
      ]),
    ) as Record<XdpActionName, { pps: number; bps: number }>;
  }
  return rates;
}
