/**
 * `lb explain`: which backend the data plane gives a 5-tuple and why, read from the live maps the
 * way bpf/lb.c reads them: the service (exact port, then port 0), the conntrack entry when its
 * backend is still in use, up and has the same cookie, else the Maglev slot hash % size of the
 * live generation's ring slice.
 */
import { u32 } from '../bpf/codecs.js';
import { formatServiceKey, PROTO_NUMBERS, type LbProto } from './model.js';
import type { LbMapSource } from './apply.js';
import { lbFlowHash } from './hash.js';
import { backendCodec, controlCodec, ctValueCodec, flowKeyCodec, LB_BACKEND_DOWN, LB_BACKEND_IN_USE, LB_HASH, LB_MODE, serviceCodec, serviceKeyCodec } from './layout.js';
import type { LbImage } from './compile.js';
import { parseAddress } from './schema.js';

export interface FlowTuple {
  proto: LbProto;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

export interface LbExplanation {
  flow: string;
  verdict: 'pass' | 'drop' | 'backend';
  reason: string;
  /** `198.18.0.10:80/tcp` */
  service?: string;
  /** Its name in the config (`web`). */
  serviceName?: string;
  mode?: keyof typeof LB_MODE;
  backend?: { id: number; address: string };
  via?: 'conntrack' | 'maglev';
  generation?: number;
  slot?: number;
  hash?: number;
}

/** `tcp 198.18.0.1:40000 198.18.0.10:80` pieces; IPv6 as `[2001:db8::1]:40000`. */
export function parseEndpoint(text: string): { address: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || Number(m[2]) > 65535) throw new Error(`"${text}" is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)`);
  return { address: parseAddress(m[1]!).address, port: Number(m[2]) };
}

export function explainFlow(maps: LbMapSource, image: Pick<LbImage, 'backends' | 'services'>, t: FlowTuple): LbExplanation {
  const src = parseAddress(t.src);
  const dst = parseAddress(t.dst);
  const flow = `${t.proto} ${formatServiceKey({ vip: src, port: t.srcPort, proto: t.proto }).replace(/\/.*$/, '')} → ${formatServiceKey({ vip: dst, port: t.dstPort, proto: t.proto }).replace(/\/.*$/, '')}`;
  const services = maps.map('lb_services').withCodecs(serviceKeyCodec, serviceCodec);
  const proto = PROTO_NUMBERS[t.proto];
  let svcPort = t.dstPort;
  let svc = services.get({ vip: dst.bytes, port: t.dstPort, proto, family: dst.family });
  if (!svc) {
    svcPort = 0;
    svc = services.get({ vip: dst.bytes, port: 0, proto, family: dst.family });
  }
  if (!svc) return { flow, verdict: 'pass', reason: 'not a VIP:port/proto of any service: passed untouched' };
  const service = formatServiceKey({ vip: dst, port: svcPort, proto: t.proto });
  // The service's name beside its key, when the live image knows it (it does unless the state file is gone).
  const serviceName = image.services.find((s) => s.text === service)?.name;
  const named = { service, ...(serviceName !== undefined && { serviceName }) };
  const g = maps.map('lb_control').withCodecs(u32, controlCodec).get(0)!.activeGen & 1;
  const gen = svc.gen[g]!;
  if (!gen.present) return { flow, verdict: 'pass', ...named, generation: g, reason: 'the service is absent from the live generation' };
  const mode = (Object.keys(LB_MODE) as (keyof typeof LB_MODE)[]).find((k) => LB_MODE[k] === gen.mode)!;
  const backends = maps.map('lb_backends').withCodecs(u32, backendCodec);
  const name = (id: number) => image.backends.find((b) => b.id === id)?.address ?? backends.get(id)?.addr.toString('hex') ?? `#${id}`;

  const key = { src: src.bytes, dst: dst.bytes, srcPort: t.srcPort, dstPort: t.dstPort, proto, family: dst.family, pad: Buffer.alloc(2) };
  const ct = maps.map('lb_conntrack').withCodecs(flowKeyCodec, ctValueCodec).get(key);
  let stale = '';
  if (ct) {
    const b = backends.get(ct.backendId);
    const usable = b && b.flags & LB_BACKEND_IN_USE && !(b.flags & LB_BACKEND_DOWN) && b.cookie === ct.cookie;
    if (usable) {
      return { flow, verdict: 'backend', ...named, mode, generation: g, via: 'conntrack', backend: { id: ct.backendId, address: name(ct.backendId) }, reason: 'conntrack hit: an established flow stays on its backend' };
    }
    stale = `conntrack names backend ${ct.backendId}, which is ${!b || !(b.flags & LB_BACKEND_IN_USE) || b.cookie !== ct.cookie ? 'removed' : 'down (failed health checks)'}; `;
  }
  const hashMode = (Object.keys(LB_HASH) as (keyof typeof LB_HASH)[]).find((k) => LB_HASH[k] === gen.hash)!;
  const hash = lbFlowHash({ src: src.bytes, dst: dst.bytes, srcPort: t.srcPort, dstPort: t.dstPort, proto, family: dst.family }, hashMode);
  if (gen.ringSize === 0) return { flow, verdict: 'drop', ...named, mode, generation: g, hash, reason: `${stale}the service has no table: new flows drop` };
  const slot = hash % gen.ringSize;
  const id = maps.map('lb_ring').withCodecs(u32, u32).get(gen.ringOff + slot);
  if (id === undefined || id === 0xffffffff) return { flow, verdict: 'drop', ...named, mode, generation: g, hash, slot, reason: `${stale}Maglev slot ${slot} is empty (no active backend): new flows drop` };
  return {
    flow,
    verdict: 'backend',
    ...named,
    mode,
    generation: g,
    via: 'maglev',
    hash,
    slot,
    backend: { id, address: name(id) },
    reason: `${stale}${ct ? '' : 'no conntrack entry; '}Maglev slot ${slot} of ${gen.ringSize} (hash ${hash >>> 0}, ${hashMode}, generation ${g})`,
  };
}
