/**
 * From windows to figures. In each slot the windows alternate baseline and scenario
 * (B S B … S B); the slot's ratio is the baseline's ns/packet over the scenario's, each pooled
 * over its windows (CPU time over frames, so a window in which the generator hardly ran counts
 * little), with the first and last baseline windows weighted ½: the baseline is then centred in
 * time on the scenario's windows, and a cost that drifts linearly while the slot runs (the
 * host moving the vCPUs) cancels. A round's ratio is its slot's; a scenario's figure is the
 * median over rounds, with the best round and the spread (max − min) beside it.
 */
import type { ScenarioGroup } from './scenarios.js';
import { BASELINES, type Scenario } from './scenarios.js';
import type { Measurement } from './window.js';

export interface ScenarioSummary {
  scenario: string;
  group: ScenarioGroup;
  description: string;
  /** Medians over its windows. */
  mpps: number;
  nsPerPacket: number;
  /** Share of the time the receiver's NAPI thread ran: well under 1, it spends part of each frame's cost waking up. */
  busy: number;
  /** Median frames per NAPI-thread run (wake-up). */
  framesPerRun: number;
  /** What the ratio is to: touch (filters) or xdp-fwd (forwarders). */
  baseline: string;
  /**
   * Baseline ns/packet ÷ this ns/packet from the windows of one slot (1 = as cheap as the
   * baseline): median over rounds, best round, max − min; 1 for the baseline itself.
   */
  ratio: number;
  ratioBest: number;
  ratioSpread: number;
  /** Scenario windows (each between two baseline windows) the ratio is made of. */
  pairs: number;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN), when it is an XDP program we load. */
  programNs?: number;
  /** ns per run while it ran live (kernel run-time statistics), median; any XDP program on the receiver. */
  liveProgramNs?: number;
  /** cpumap: median CPU time of its thread on the other CPU per frame that got there, and the median share of frames that did. */
  otherCpuNsPerPacket?: number;
  otherCpuShare?: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The ratio of each slot of `scenario`, by round (baseline windows at even places, the scenario's at odd). */
function slotRatios(measurements: readonly Measurement[], scenario: string): Map<number, { ratio: number; pairs: number }> {
  const out = new Map<number, { ratio: number; pairs: number }>();
  const windows = measurements.filter((m) => m.slot === scenario);
  for (const round of new Set(windows.map((m) => m.round))) {
    const slot = windows.filter((m) => m.round === round && Number.isFinite(m.nsPerPacket)).sort((a, b) => a.window - b.window);
    const own = slot.filter((m) => m.scenario === scenario);
    const base = slot.filter((m) => m.scenario !== scenario);
    if (own.length === 0 || base.length !== own.length + 1) continue;
    const weight = (i: number): number => (i === 0 || i === base.length - 1 ? 0.5 : 1);
    const pooled = (windows: Measurement[], w: (i: number) => number): number =>
      windows.reduce((sum, m, i) => sum + w(i) * m.nsPerPacket * m.received, 0) / windows.reduce((sum, m, i) => sum + w(i) * m.received, 0);
    out.set(round, { ratio: pooled(base, weight) / pooled(own, () => 1), pairs: own.length });
  }
  return out;
}

export function summarise(scenarios: readonly Scenario[], measurements: readonly Measurement[], programNs: ReadonlyMap<string, number>): ScenarioSummary[] {
  return scenarios.map((scenario) => {
    const baseline = BASELINES[scenario.group];
    const own = measurements.filter((m) => m.scenario === scenario.name);
    const perRound = [...slotRatios(measurements, scenario.name).values()];
    const ratios = perRound.map((r) => r.ratio).filter((r) => Number.isFinite(r));
    const isBaseline = scenario.name === baseline;
    const summary: ScenarioSummary = {
      scenario: scenario.name,
      group: scenario.group,
      description: scenario.description,
      mpps: median(own.map((m) => m.mpps)),
      nsPerPacket: median(own.map((m) => m.nsPerPacket)),
      busy: median(own.map((m) => m.busy)),
      framesPerRun: median(own.map((m) => m.framesPerRun)),
      baseline,
      ratio: ratios.length ? median(ratios) : isBaseline ? 1 : Number.NaN,
      ratioBest: ratios.length ? Math.max(...ratios) : isBaseline ? 1 : Number.NaN,
      ratioSpread: ratios.length ? Math.max(...ratios) - Math.min(...ratios) : isBaseline ? 0 : Number.NaN,
      pairs: perRound.reduce((n, r) => n + r.pairs, 0),
    };
    const live = own.map((m) => m.liveProgramNs).filter((v): v is number => v !== undefined);
    if (live.length > 0) summary.liveProgramNs = median(live);
    const other = own.map((m) => m.otherCpuNsPerPacket).filter((v): v is number => v !== undefined);
    if (other.length > 0) summary.otherCpuNsPerPacket = median(other);
    const share = own.filter((m) => m.otherCpuFrames !== undefined && m.received > 0).map((m) => (m.otherCpuFrames ?? 0) / m.received);
    if (share.length > 0) summary.otherCpuShare = median(share);
    const ns = programNs.get(scenario.name);
    if (ns !== undefined) summary.programNs = ns;
    return summary;
  });
}
