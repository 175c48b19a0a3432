/**
 * Reading mitigation's per-source state (fw_mit_rate, fw_mit_block) for `fw top`: the heaviest
 * sources now and the sources mitigation blocks, with the time they have left. Times are on the
 * kernel's clock (bpf_ktime_get_ns = CLOCK_MONOTONIC = process.hrtime).
 */
import ipaddr from 'ipaddr.js';
import type { MapSource } from './apply.js';
import { FW_STATE_MAPS } from './apply.js';
import { monotonicNs } from './blocks.js';
import { fwMitBlockCodec, fwMitRateCodec, fwSrcKeyCodec } from './layout.js';

export interface SourceRate {
  source: string;
  /** Packets in the last full second or in the current one, whichever is higher. */
  pps: number;
}

export interface MitigatedSource {
  source: string;
  expiresIn: number;
  dropped: number;
}

const SECOND = 1_000_000_000n;

function sourceText(k: { family: number; addr: number[] }): string {
  return ipaddr.fromByteArray(k.family === 4 ? k.addr.slice(0, 4) : k.addr).toString();
}

/** Sources by packet rate, heaviest first (sources idle for two seconds or more are left out). */
export function heaviestSources(maps: MapSource, limit: number): SourceRate[] {
  const now = monotonicNs();
  const rates = maps(FW_STATE_MAPS.mitRate).withCodecs(fwSrcKeyCodec, fwMitRateCodec).readAll();
  const out: SourceRate[] = [];
  for (const [k, v] of rates) {
    const age = now - v.window_ns;
    // A window younger than a second is still counting: the previous one may be the better figure.
    const pps = age >= 2n * SECOND ? 0n : age >= SECOND ? v.packets : v.packets > v.prev_packets ? v.packets : v.prev_packets;
    if (pps > 0n) out.push({ source: sourceText(k), pps: Number(pps) });
  }
  return out.sort((a, b) => b.pps - a.pps || a.source.localeCompare(b.source)).slice(0, limit);
}

/** Sources mitigation blocks now, longest remaining first. */
export function mitigatedSources(maps: MapSource): MitigatedSource[] {
  const now = monotonicNs();
  return maps(FW_STATE_MAPS.mitBlock)
    .withCodecs(fwSrcKeyCodec, fwMitBlockCodec)
    .readAll()
    .filter(([, v]) => v.until_ns > now)
    .map(([k, v]) => ({ source: sourceText(k), expiresIn: Number(v.until_ns - now) / 1e9, dropped: Number(v.dropped) }))
    .sort((a, b) => b.expiresIn - a.expiresIn || a.source.localeCompare(b.source));
}
