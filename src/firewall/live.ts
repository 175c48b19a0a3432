/** The firewall attached to an interface: its live policy summary file and its counters. */
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_DIR } from '../programs/records.js';
import { MAX_RULES } from './compile.js';
import { MAX_BLOCKLISTS, MISC, MISC_SLOTS, FW_STATS_MAPS, type MapSource } from './apply.js';
import { u32 } from './compile.js';
import type { FirewallPolicy } from './schema.js';

export interface LiveSummary {
  file: string;
  appliedAt: string;
  generation: 0 | 1;
  default: string;
  malformed: string;
  rules: { name: string; action: string }[];
  blocklists: { name: string; entries: number }[];
}

export const liveSummaryPath = (key: string): string => join(RECORD_DIR, `${key}.fw.json`);

export function summarize(policy: FirewallPolicy, file: string, generation: 0 | 1): LiveSummary {
  return {
    file,
    appliedAt: new Date().toISOString(),
    generation,
    default: policy.default,
    malformed: policy.malformed,
    rules: policy.rules.map((r) => ({ name: r.name, action: r.action })),
    blocklists: policy.blocklists.map((b) => ({ name: b.name, entries: b.entries.length })),
  };
}

export function writeLiveSummary(key: string, s: LiveSummary): void {
  mkdirSync(RECORD_DIR, { recursive: true });
  writeFileSync(liveSummaryPath(key), JSON.stringify(s, null, 2) + '\n');
}

export function readLiveSummary(key: string): LiveSummary | undefined {
  const p = liveSummaryPath(key);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as LiveSummary) : undefined;
}

export interface Counter {
  packets: number;
  bytes: number;
}

function summed(maps: MapSource, name: string, index: number): Counter {
  const values = maps(name).getPerCpu(u32(index)) ?? [];
  let packets = 0n;
  let bytes = 0n;
  for (const v of values) {
    packets += v.readBigUInt64LE(0);
    bytes += v.readBigUInt64LE(8);
  }
  return { packets: Number(packets), bytes: Number(bytes) };
}

export interface FirewallStats {
  generation: 0 | 1;
  rules: ({ name: string; action: string } & Counter)[];
  blocklists: ({ name: string } & Counter)[];
  misc: Record<keyof typeof MISC, Counter>;
}

export function readStats(maps: MapSource, summary: LiveSummary, generation: 0 | 1): FirewallStats {
  const misc = Object.fromEntries(Object.entries(MISC).map(([k, i]) => [k, summed(maps, FW_STATS_MAPS.misc, generation * MISC_SLOTS + i)])) as FirewallStats['misc'];
  return {
    generation,
    rules: summary.rules.map((r, i) => ({ ...r, ...summed(maps, FW_STATS_MAPS.rules, generation * MAX_RULES + i) })),
    blocklists: summary.blocklists.map((b, i) => ({ name: b.name, ...summed(maps, FW_STATS_MAPS.lists, generation * MAX_BLOCKLISTS + i) })),
    misc,
  };
}
