/**
 * Per-service and per-backend counters of the lb program (lb_service_stats, lb_backend_stats:
 * per-CPU arrays indexed by the ids the compiler hands out), summed over CPUs and named through
 * the image that is live (which id is which service and backend), and the ipip packets too big
 * for the egress MTU (lb_too_big: answered with ICMP, or dropped).
 */
import { u32, u64 } from '../bpf/codecs.js';
import type { LbMapSource } from './apply.js';
import type { LbImage } from './compile.js';
import { countersCodec, type LbCounters } from './layout.js';

export interface LbServiceStats extends LbCounters {
  id: number;
  name: string;
  /** `198.18.0.10:80/tcp` */
  service: string;
}

export interface LbBackendStats extends LbCounters {
  id: number;
  /** The service's name. */
  service: string;
  address: string;
}

export interface LbStats {
  services: LbServiceStats[];
  backends: LbBackendStats[];
  /** ipip packets over the egress MTU: answered with ICMP "fragmentation needed" / "packet too big", or dropped. */
  tooBig: { icmp: bigint; dropped: bigint };
}

const ZERO: LbCounters = { packets: 0n, bytes: 0n, newFlows: 0n };

/** `maps`: a loaded lb object, or its pinned maps (openLbMaps). */
export function readLbStats(maps: LbMapSource, image: Pick<LbImage, 'services' | 'backends'>): LbStats {
  const svc = maps.map('lb_service_stats').withCodecs(u32, countersCodec);
  const be = maps.map('lb_backend_stats').withCodecs(u32, countersCodec);
  const tooBig = maps.map('lb_too_big').withCodecs(u32, u64);
  return {
    tooBig: { icmp: tooBig.getSummed(0) ?? 0n, dropped: tooBig.getSummed(1) ?? 0n },
    services: image.services.map((s) => ({ id: s.value.id, name: s.name, service: s.text, ...(svc.getSummed(s.value.id) ?? ZERO) })),
    backends: image.backends.map((b) => ({ id: b.id, service: b.service, address: b.address, ...(be.getSummed(b.id) ?? ZERO) })),
  };
}

/** Per-second rates between two readings `seconds` apart (for `lb stats --watch`). */
export function rates(before: LbCounters, after: LbCounters, seconds: number): { pps: number; bps: number; newFlowsPerSecond: number } {
  const per = (a: bigint, b: bigint) => (seconds > 0 ? Number(b - a) / seconds : 0);
  return { pps: per(before.packets, after.packets), bps: per(before.bytes, after.bytes) * 8, newFlowsPerSecond: per(before.newFlows, after.newFlows) };
}
