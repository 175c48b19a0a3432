/**
 * Rates between two readings of the firewall's counters (`fw stats --watch`): packets and bits
 * per second per rule, per blocklist and per kind. Counters restart from zero in the generation
 * a new policy makes live, so two readings of different generations give no rates.
 */
import type { Counter, FirewallStats } from './live.js';

export interface Rate {
  pps: number;
  /** Bits per second. */
  bps: number;
}

export type RatedCounter = Counter & { rate?: Rate };

export interface RatedStats {
  generation: 0 | 1;
  /** Seconds between the two readings (absent on the first). */
  seconds?: number;
  rules: ({ name: string; action: string } & RatedCounter)[];
  blocklists: ({ name: string } & RatedCounter)[];
  misc: Record<string, RatedCounter>;
}

function rate(before: Counter | undefined, after: Counter, seconds: number): Rate | undefined {
  if (!before || seconds <= 0 || after.packets < before.packets) return undefined;
  return { pps: (after.packets - before.packets) / seconds, bps: ((after.bytes - before.bytes) * 8) / seconds };
}

export function ratesBetween(before: FirewallStats | undefined, after: FirewallStats, seconds: number): RatedStats {
  const same = before !== undefined && before.generation === after.generation;
  const rated = <T extends Counter>(item: T, previous: Counter | undefined): T & { rate?: Rate } => {
    const r = same ? rate(previous, item, seconds) : undefined;
    return r ? { ...item, rate: r } : item;
  };
  return {
    generation: after.generation,
    ...(same && { seconds }),
    // By position and name: a re-apply with the same generation parity is caught by the name check.
    rules: after.rules.map((r, i) => rated(r, before?.rules[i]?.name === r.name ? before.rules[i] : undefined)),
    blocklists: after.blocklists.map((b, i) => rated(b, before?.blocklists[i]?.name === b.name ? before.blocklists[i] : undefined)),
    misc: Object.fromEntries(Object.entries(after.misc).map(([k, c]) => [k, rated(c, before?.misc[k as keyof FirewallStats['misc']])])),
  };
}
