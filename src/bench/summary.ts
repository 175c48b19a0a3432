/**
 * From windows to figures. In each slot the windows alternate baseline and scenario (B S B S B),
 * and each scenario window is compared with the mean of the two baseline windows around it,
 * which cancels a cost that drifts while the slot runs (the host moving the vCPUs). A round's
 * ratio is the median of its slot's pair ratios; a scenario's figure is the median over rounds,
 * with the best round and the spread (max − min) beside it.
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
  /** What the ratio is to: touch (filters) or xdp-fwd (forwarders). */
  baseline: string;
  /**
   * Baseline ns/packet ÷ this ns/packet, from adjacent windows (1 = as cheap as the baseline):
   * median over rounds, best round, max − min. For the baseline itself: each baseline window
   * against its two neighbours, the noise floor of the comparison.
   */
  ratio: number;
  ratioBest: number;
  ratioSpread: number;
  /** Pairs (scenario window between two baseline windows) the ratio is made of. */
  pairs: number;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN), when it is an XDP program we load. */
  programNs?: number;
  /** ns per run while it ran live (kernel run-time statistics), median; any XDP program on the receiver. */
  liveProgramNs?: number;
  /** cpumap: median CPU time per frame of its thread on the other CPU. */
  otherCpuNsPerPacket?: number;
}

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Ratios per round: for every window of `scenario` (in any slot), the mean ns/packet of the
 * baseline windows right before and after it over its own ns/packet. For the baseline itself,
 * its nearest baseline neighbours (two windows away).
 */
function pairRatios(measurements: readonly Measurement[], scenario: string, baseline: string): Map<number, number[]> {
  const bySlot = new Map<string, Measurement[]>();
  for (const m of measurements) {
    const key = `${m.round}/${m.slot}`;
    const list = bySlot.get(key) ?? [];
    list.push(m);
    bySlot.set(key, list);
  }
  const rounds = new Map<number, number[]>();
  for (const windows of bySlot.values()) {
    const byIndex = new Map(windows.map((w) => [w.window, w]));
    const step = scenario === baseline ? 2 : 1;
    for (const w of windows) {
      if (w.scenario !== scenario) continue;
      const before = byIndex.get(w.window - step);
      const after = byIndex.get(w.window + step);
      if (before?.scenario !== baseline || after?.scenario !== baseline) continue;
      const ratio = (before.nsPerPacket + after.nsPerPacket) / 2 / w.nsPerPacket;
      if (!Number.isFinite(ratio)) continue;
      const list = rounds.get(w.round) ?? [];
      list.push(ratio);
      rounds.set(w.round, list);
    }
  }
  return rounds;
}

export function summarise(scenarios: readonly Scenario[], measurements: readonly Measurement[], programNs: ReadonlyMap<string, number>): ScenarioSummary[] {
  return scenarios.map((scenario) => {
    const baseline = BASELINES[scenario.group];
    const own = measurements.filter((m) => m.scenario === scenario.name);
    const perRound = pairRatios(measurements, scenario.name, baseline);
    const ratios = [...perRound.values()].map(median).filter((r) => Number.isFinite(r));
    const isBaseline = scenario.name === baseline;
    const summary: ScenarioSummary = {
      scenario: scenario.name,
      group: scenario.group,
      description: scenario.description,
      mpps: median(own.map((m) => m.mpps)),
      nsPerPacket: median(own.map((m) => m.nsPerPacket)),
      baseline,
      ratio: ratios.length ? median(ratios) : isBaseline ? 1 : Number.NaN,
      ratioBest: ratios.length ? Math.max(...ratios) : isBaseline ? 1 : Number.NaN,
      ratioSpread: ratios.length ? Math.max(...ratios) - Math.min(...ratios) : isBaseline ? 0 : Number.NaN,
      pairs: [...perRound.values()].reduce((n, list) => n + list.length, 0),
    };
    const live = own.map((m) => m.liveProgramNs).filter((v): v is number => v !== undefined);
    if (live.length > 0) summary.liveProgramNs = median(live);
    const other = own.map((m) => m.otherCpuNsPerPacket).filter((v): v is number => v !== undefined);
    if (other.length > 0) summary.otherCpuNsPerPacket = median(other);
    const ns = programNs.get(scenario.name);
    if (ns !== undefined) summary.programNs = ns;
    return summary;
  });
}
