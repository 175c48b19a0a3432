/**
 * Per-service and per-backend counters of the lb program (lb_service_stats, lb_backend_stats:
 * per-CPU arrays indexed by the ids the compiler hands out), summed over CPUs and named through
 * the image that is live (which id is which service and backend).
 */
import type { BpfMap } from '../bpf/map.js';
import { u32 } from '../bpf/codecs.js';
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
}

/** Anything that gives the two raw maps: a loaded BpfObject, or maps opened from their pins. */
export interface LbStatsMaps {
  serviceStats: BpfMap;
  backendStats: BpfMap;
}

const ZERO: LbCounters = { packets: 0n, bytes: 0n, newFlows: 0n };

export function readLbStats(maps: LbStatsMaps, image: Pick<LbImage, 'services' | 'backends'>): LbStats {
  const svc = maps.serviceStats.withCodecs(u32, countersCodec);
  const be = maps.backendStats.withCodecs(u32, countersCodec);
  return {
    services: image.services.map((s) => ({ id: s.value.id, name: s.name, service: s.text, ...(svc.getSummed(s.value.id) ?? ZERO) })),
    backends: image.backends.map((b) => ({ id: b.id, service: b.service, address: b.address, ...(be.getSummed(b.id) ?? ZERO) })),
  };
}

/** Per-second rates between two readings `seconds` apart (for `lb stats --watch`). */
export function rates(before: LbCounters, after: LbCounters, seconds: number): { pps: number; bps: number; newFlowsPerSecond: number } {
  const per = (a: bigint, b: bigint) => (seconds > 0 ? Number(b - a) / seconds : 0);
  return { pps: per(before.packets, after.packets), bps: per(before.bytes, after.bytes) * 8, newFlowsPerSecond: per(before.newFlows, after.newFlows) };
}
