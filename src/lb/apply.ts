/**
 * Writes an LbImage into a loaded lb object's maps in the order that keeps every packet on a
 * consistent generation (see compile.ts): backends, ring slices, services, then the one write
 * that flips lb_control.active_gen, then cleanup of what the old generation alone used.
 */
import type { BpfMap } from '../bpf/map.js';
import { u32 } from '../bpf/codecs.js';
import type { LbImage } from './compile.js';
import { backendCodec, controlCodec, serviceCodec, serviceKeyCodec } from './layout.js';

export const LB_OBJECT_MAPS = ['lb_services', 'lb_ring', 'lb_backends', 'lb_control', 'lb_conntrack', 'lb_service_stats', 'lb_backend_stats', 'lb_egress', 'lb_too_big'] as const;

/** A loaded lb object, or its pinned maps by name. */
export interface LbMapSource {
  map(name: string): BpfMap;
}

export function applyImage(object: LbMapSource, image: LbImage): void {
  const backends = object.map('lb_backends').withCodecs(u32, backendCodec);
  const ring = object.map('lb_ring').withCodecs(u32, u32);
  const services = object.map('lb_services').withCodecs(serviceKeyCodec, serviceCodec);
  const control = object.map('lb_control').withCodecs(u32, controlCodec);

  if (image.backends.length > 0) backends.setMany(image.backends.map((b) => [b.id, b.value]));
  for (const slice of image.ring) {
    const entries: [number, number][] = new Array(slice.ids.length);
    for (let i = 0; i < slice.ids.length; i++) entries[i] = [slice.offset + i, slice.ids[i]!];
    ring.setMany(entries);
  }
  for (const s of image.services) services.set(s.key, s.value);
  control.set(0, { activeGen: image.generation, src4: image.source.v4, src6: image.source.v6 });
  for (const key of image.staleServices) services.delete(key);
  for (const id of image.staleBackends) {
    backends.set(id, { addr: Buffer.alloc(16), mac: '00:00:00:00:00:00', family: 0, flags: 0, serviceId: 0, cookie: 0 });
  }
}
