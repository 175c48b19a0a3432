/**
 * Pure compiler: LoadBalancer model (+ the image currently live) → the next map image.
 *
 * Two generations. An image writes only the generation that is not live: its services' ring
 * slices in that half of lb_ring, and in each lb_service value the entry gen[g] (gen[1-g] is
 * copied from the live image, so rewriting the value does not disturb packets in flight). Then one
 * write, lb_control.active_gen = g, makes the whole new backend set live at once.
 *
 * Apply order (apply.ts says why): 1. backends (a backend going DOWN or DRAINING keeps its old
 * flags), 2. ring slice of gen g, 3. services, 4. control (the flip), 5. the DOWN/DRAINING flags,
 * delete `staleServices`, clear `staleBackends`.
 *
 * Ids are stable across images: a service keeps its id while its VIP:port/proto exists (its
 * counters stay), a backend keeps its id while it stays in its service. Every new backend gets a
 * fresh cookie, so a conntrack entry left by a removed backend whose id was reused does not match
 * (the data plane compares the cookie and picks again through Maglev).
 */
import { InvalidArgumentError } from '../bpf/errors.js';
import { MAGLEV_EMPTY, maglevTable } from './maglev.js';
import { formatServiceKey, PROTO_NUMBERS, type LbAddress, type LbBackend, type LbService, type LoadBalancer } from './model.js';
import {
  ABSENT_GEN,
  LB_BACKEND_DOWN,
  LB_BACKEND_DRAINING,
  LB_BACKEND_IN_USE,
  LB_BACKEND_IPIP,
  LB_HASH,
  LB_MAX_BACKENDS,
  LB_MAX_SERVICES,
  LB_MODE,
  LB_RING_PER_GEN,
  type BackendValue,
  type ServiceKey,
  type ServiceValue,
} from './layout.js';

export interface CompiledService {
  name: string;
  /** `198.18.0.10:80/tcp` */
  text: string;
  key: ServiceKey;
  value: ServiceValue;
}

export interface RingSlice {
  service: string;
  /** Absolute index into lb_ring. */
  offset: number;
  /** Backend ids; MAGLEV_EMPTY when the service has no backend for new flows. */
  ids: Uint32Array;
}

export interface CompiledBackend {
  id: number;
  service: string;
  address: string;
  value: BackendValue;
}

export interface LbIds {
  /** service text → id */
  services: Record<string, number>;
  /** `${service text}|${address}` → id and cookie */
  backends: Record<string, { id: number; cookie: number }>;
  nextCookie: number;
}

export interface LbImage {
  /** The generation this image fills; writing lb_control.active_gen = generation makes it live. */
  generation: 0 | 1;
  services: CompiledService[];
  ring: RingSlice[];
  backends: CompiledBackend[];
  /** Keys to delete after the flip (services gone since the previous image). */
  staleServices: ServiceKey[];
  /** Backend ids to clear (flags 0) after the flip. */
  staleBackends: number[];
  ids: LbIds;
  /** Outer source addresses of ipip packets (lb_control.src4 / src6); zeros when unused. */
  source: { v4: Buffer; v6: Buffer };
  /** Notes for the user (a service without backends for new flows, …). */
  warnings: string[];
}

export interface CompileOptions {
  /** The image that is live now; without it the first image fills generation 0. */
  previous?: LbImage;
  /** MACs for dsr-l2 backends that the model does not give (from the neighbour table). */
  macs?: ReadonlyMap<string, string>;
  /** The load balancer's own addresses, outer sources of ipip packets (needed per family in use). */
  source?: { v4?: LbAddress; v6?: LbAddress };
  /** Backends failing health checks, as `${service name}|${address}`. */
  down?: ReadonlySet<string>;
  ringPerGen?: number;
  maxServices?: number;
  maxBackends?: number;
}

export class LbCompileError extends InvalidArgumentError {}

function lowestFree(used: Set<number>, max: number, what: string, hint: string): number {
  for (let i = 0; i < max; i++) if (!used.has(i)) return i;
  throw new LbCompileError(`more than ${max} ${what}`, { hint });
}

export function compileLoadBalancer(lb: LoadBalancer, options: CompileOptions = {}): LbImage {
  const prev = options.previous;
  const generation: 0 | 1 = prev === undefined ? 0 : prev.generation === 0 ? 1 : 0;
  const ringPerGen = options.ringPerGen ?? LB_RING_PER_GEN;
  const maxServices = options.maxServices ?? LB_MAX_SERVICES;
  const maxBackends = options.maxBackends ?? LB_MAX_BACKENDS;
  const problems: string[] = [];
  const warnings: string[] = [];

  // ---- ids: keep the previous ones, hand out the lowest free ----
  const ids: LbIds = { services: {}, backends: {}, nextCookie: prev?.ids.nextCookie ?? 1 };
  const usedServiceIds = new Set<number>();
  const usedBackendIds = new Set<number>();
  for (const s of lb.services) {
    const id = prev?.ids.services[formatServiceKey(s)];
    if (id !== undefined) {
      ids.services[formatServiceKey(s)] = id;
      usedServiceIds.add(id);
    }
    for (const b of s.backends) {
      const k = `${formatServiceKey(s)}|${b.address}`;
      const old = prev?.ids.backends[k];
      if (old !== undefined) {
        ids.backends[k] = old;
        usedBackendIds.add(old.id);
      }
    }
  }
  // Ids of backends removed in the previous image are cleared only after its flip: not reused yet.
  for (const id of prev?.staleBackends ?? []) usedBackendIds.add(id);
  for (const s of lb.services) {
    const text = formatServiceKey(s);
    if (ids.services[text] === undefined) {
      const id = lowestFree(usedServiceIds, maxServices, 'services', 'remove services or raise LB_MAX_SERVICES');
      ids.services[text] = id;
      usedServiceIds.add(id);
    }
    for (const b of s.backends) {
      const k = `${text}|${b.address}`;
      if (ids.backends[k] === undefined) {
        const id = lowestFree(usedBackendIds, maxBackends, 'backends', 'remove backends or raise LB_MAX_BACKENDS');
        ids.backends[k] = { id, cookie: ids.nextCookie++ >>> 0 };
        usedBackendIds.add(id);
      }
    }
  }

  // ---- backends, rings, services ----
  const backends: CompiledBackend[] = [];
  const ring: RingSlice[] = [];
  const services: CompiledService[] = [];
  const prevByText = new Map((prev?.services ?? []).map((s) => [s.text, s]));
  let cursor = 0;
  for (const s of lb.services) {
    const text = formatServiceKey(s);
    const serviceId = ids.services[text]!;
    const live: { b: LbBackend; id: number }[] = [];
    s.backends.forEach((b, j) => {
      const { id, cookie } = ids.backends[`${text}|${b.address}`]!;
      const down = options.down?.has(`${s.name}|${b.address}`) ?? false;
      const macText = b.mac ?? options.macs?.get(b.address);
      if (s.mode === 'dsr-l2' && macText === undefined) {
        problems.push(`services[${s.index}].backends[${j}].mac: dsr-l2 needs the MAC of ${b.address}; add mac: or let the load balancer host learn it (ping ${b.address})`);
      }
      if (s.mode === 'ipip' && macText === undefined) {
        problems.push(`services[${s.index}].backends[${j}].mac: ipip needs the MAC of the next hop toward ${b.address}; add mac: or let the load balancer host learn it (ping ${b.address})`);
      }
      if (s.mode === 'ipip' && options.source?.[b.family === 4 ? 'v4' : 'v6'] === undefined) {
        problems.push(`services[${s.index}].backends[${j}]: ipip to the IPv${b.family} backend ${b.address} needs the load balancer's own IPv${b.family} address as outer source; give it (lb apply --source ADDRESS)`);
      }
      const flags = LB_BACKEND_IN_USE | (b.state === 'draining' ? LB_BACKEND_DRAINING : 0) | (down ? LB_BACKEND_DOWN : 0) | (s.mode === 'ipip' ? LB_BACKEND_IPIP : 0);
      backends.push({
        id,
        service: s.name,
        address: b.address,
        value: { addr: b.bytes, mac: macText ?? '00:00:00:00:00:00', family: b.family, flags, serviceId, cookie },
      });
      if (b.state === 'active' && !down && b.weight > 0) live.push({ b, id });
    });
    if (live.length === 0) warnings.push(`${s.name} (${text}) has no active backend: new flows to it are dropped`);
    const table = maglevTable(live.map(({ b, id }) => ({ id, key: b.bytes, weight: b.weight })), s.tableSize);
    if (cursor + s.tableSize > ringPerGen) {
      problems.push(`services[${s.index}].tableSize: the tables of services[0..${s.index}] need ${cursor + s.tableSize} slots, the ring holds ${ringPerGen} per generation; use smaller prime tableSize values (e.g. 4099 or 16411) for small services`);
    }
    const offset = generation * ringPerGen + cursor;
    ring.push({ service: s.name, offset, ids: table });
    cursor += s.tableSize;
    const mine = { ringOff: offset, ringSize: s.tableSize, mode: LB_MODE[s.mode], hash: LB_HASH[s.hash], present: 1, pad: 0 };
    const other = prevByText.get(text)?.value.gen[1 - generation] ?? ABSENT_GEN;
    services.push({
      name: s.name,
      text,
      key: serviceKey(s),
      value: { id: serviceId, gen: generation === 0 ? [mine, other] : [other, mine] },
    });
  }
  if (problems.length > 0) {
    throw new LbCompileError(problems.length === 1 ? problems[0]! : `${problems.length} problems in the load balancer config`, {
      ...(problems.length > 1 && { details: problems.map((p) => `  ${p}`).join('\n') }),
      hint: 'fix the config and apply again',
    });
  }

  const current = new Set(services.map((s) => s.text));
  const staleServices = (prev?.services ?? []).filter((s) => !current.has(s.text)).map((s) => s.key);
  const liveIds = new Set(backends.map((b) => b.id));
  const staleBackends = (prev?.backends ?? []).map((b) => b.id).filter((id) => !liveIds.has(id));
  const source = { v4: Buffer.from(options.source?.v4?.bytes.subarray(0, 4) ?? Buffer.alloc(4)), v6: Buffer.from(options.source?.v6?.bytes ?? Buffer.alloc(16)) };
  return { generation, services, ring, backends, staleServices, staleBackends, ids, source, warnings };
}

export function serviceKey(s: Pick<LbService, 'vip' | 'port' | 'proto'>): ServiceKey {
  return { vip: s.vip.bytes, port: s.port, proto: PROTO_NUMBERS[s.proto], family: s.vip.family };
}

/**
 * Reference of the data plane's choice for a new flow: the backend id in the live generation's
 * ring at slot hash % size, or undefined when the slot is empty.
 */
export function pickBackend(image: LbImage, serviceText: string, hash: number): number | undefined {
  const svc = image.services.find((s) => s.text === serviceText);
  if (svc === undefined) return undefined;
  const g = svc.value.gen[image.generation]!;
  const slice = image.ring.find((r) => r.offset === g.ringOff);
  const id = slice?.ids[hash % g.ringSize];
  return id === undefined || id === MAGLEV_EMPTY ? undefined : id;
}
