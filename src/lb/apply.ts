/**
 * Writes an LbImage into a loaded lb object's maps in three phases that keep every packet on a
 * consistent generation (see compile.ts):
 *
 *   1. prepareGeneration: what the new generation reads and the live one does not change its
 *      mind about: new backends' records, backends coming back (DOWN cleared), MACs and modes,
 *      the new ring slices, the services' gen[g] entries.
 *   2. flipGeneration: the one write of lb_control.active_gen.
 *   3. retireGeneration: what would change the old generation's verdicts: backends going DOWN or
 *      DRAINING get their flag, removed backends are cleared, removed services deleted.
 *
 * Why DOWN waits for the flip: until then new flows and re-picked flows go through the old ring,
 * which still holds that backend, while a conntrack hit on it is refused once DOWN is set. Set
 * before the flip, a flow of that backend is re-picked through the old ring, lands on it again
 * (or moves and moves back after the flip), and new flows keep being sent to a backend already
 * marked down. Set after it, the backend serves the old generation to its last packet, and the
 * flows re-picked from then on see the new ring only. Removed backends are cleared after the
 * flip for the same reason (the old ring refers to them); new ones are written before it (the
 * new ring does).
 */
import type { BpfMap } from '../bpf/map.js';
import { u32 } from '../bpf/codecs.js';
import type { LbImage } from './compile.js';
import { backendCodec, controlCodec, LB_BACKEND_DOWN, LB_BACKEND_DRAINING, LB_BACKEND_IN_USE, serviceCodec, serviceKeyCodec, type BackendValue } from './layout.js';

export const LB_OBJECT_MAPS = ['lb_services', 'lb_ring', 'lb_backends', 'lb_control', 'lb_conntrack', 'lb_service_stats', 'lb_backend_stats', 'lb_egress', 'lb_too_big'] as const;

/** Flags that take a backend out of the old generation's service: set only after the flip. */
const LEAVING = LB_BACKEND_DOWN | LB_BACKEND_DRAINING;

/** A loaded lb object, or its pinned maps by name. */
export interface LbMapSource {
  map(name: string): BpfMap;
}

const backendsOf = (object: LbMapSource) => object.map('lb_backends').withCodecs(u32, backendCodec);
const servicesOf = (object: LbMapSource) => object.map('lb_services').withCodecs(serviceKeyCodec, serviceCodec);

/** The flags a backend's record may have before the flip: LEAVING bits only if it had them already (same backend). */
function flagsBeforeFlip(live: BackendValue | undefined, next: BackendValue): number {
  const same = live !== undefined && live.flags & LB_BACKEND_IN_USE && live.cookie === next.cookie;
  if (!same) return next.flags;
  return next.flags & ~(LEAVING & ~live.flags);
}

/** Phase 1. Returns the backends whose records still need their LEAVING flags after the flip. */
export function prepareGeneration(object: LbMapSource, image: LbImage): LbImage['backends'] {
  const backends = backendsOf(object);
  const ring = object.map('lb_ring').withCodecs(u32, u32);
  const later: LbImage['backends'] = [];
  const now: [number, BackendValue][] = [];
  for (const b of image.backends) {
    const flags = flagsBeforeFlip(backends.get(b.id), b.value);
    now.push([b.id, { ...b.value, flags }]);
    if (flags !== b.value.flags) later.push(b);
  }
  if (now.length > 0) backends.setMany(now);
  for (const slice of image.ring) {
    const entries: [number, number][] = new Array(slice.ids.length);
    for (let i = 0; i < slice.ids.length; i++) entries[i] = [slice.offset + i, slice.ids[i]!];
    ring.setMany(entries);
  }
  const services = servicesOf(object);
  for (const s of image.services) services.set(s.key, s.value);
  return later;
}

/** Phase 2: the new generation goes live. */
export function flipGeneration(object: LbMapSource, image: LbImage): void {
  object.map('lb_control').withCodecs(u32, controlCodec).set(0, { activeGen: image.generation, src4: image.source.v4, src6: image.source.v6 });
}

/** Phase 3: `leaving` (from prepareGeneration) get their flags; what only the old generation used goes. */
export function retireGeneration(object: LbMapSource, image: LbImage, leaving: LbImage['backends']): void {
  const backends = backendsOf(object);
  if (leaving.length > 0) backends.setMany(leaving.map((b) => [b.id, b.value]));
  const services = servicesOf(object);
  for (const key of image.staleServices) services.delete(key);
  for (const id of image.staleBackends) {
    backends.set(id, { addr: Buffer.alloc(16), mac: '00:00:00:00:00:00', family: 0, flags: 0, serviceId: 0, cookie: 0 });
  }
}

export function applyImage(object: LbMapSource, image: LbImage): void {
  const leaving = prepareGeneration(object, image);
  flipGeneration(object, image);
  retireGeneration(object, image, leaving);
}
