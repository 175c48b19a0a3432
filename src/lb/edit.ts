/**
 * Edits of a LoadBalancer model, as `lb service add|del` and `lb backend add|del|drain|undrain|weight`
 * make them: pure functions from one model to the next, or an error that says what to do. The
 * caller applies the result as one generation flip (deploy.ts), so a refused edit changes nothing.
 *
 * A service is named on the command line by its name (`web`), its key (`198.18.0.10:80/tcp`), or
 * its VIP with or without port (`198.18.0.10:80`, `198.18.0.10`) when that names one service.
 */
import { InvalidArgumentError, NotFoundError } from '../bpf/errors.js';
import { DEFAULT_TABLE_SIZE, formatServiceKey, type BackendState, type HealthCheck, type LbBackend, type LbHashMode, type LbMode, type LbService, type LoadBalancer } from './model.js';
import { parseAddress, parseVip } from './schema.js';

export interface NewService {
  /** `198.18.0.10:80/tcp` */
  vip: string;
  name?: string;
  mode?: LbMode;
  hash?: LbHashMode;
  tableSize?: number;
  healthCheck?: HealthCheck;
}

export interface NewBackend {
  address: string;
  weight?: number;
  mac?: string;
}

const listOf = (lb: LoadBalancer): string =>
  lb.services.length === 0 ? 'it has no services yet' : `its services: ${lb.services.map((s) => `${s.name} (${formatServiceKey(s)})`).join(', ')}`;

/** The service a command-line reference names, or a NotFoundError listing the services. */
export function findService(lb: LoadBalancer, ref: string): LbService {
  const byName = lb.services.find((s) => s.name === ref);
  if (byName) return byName;
  const matches = lb.services.filter((s) => {
    const key = formatServiceKey(s);
    const host = s.vip.family === 6 ? `[${s.vip.address}]` : s.vip.address;
    return [key, key.replace(/\/(tcp|udp)$/, ''), s.vip.address, host].includes(normaliseRef(ref));
  });
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new InvalidArgumentError(`"${ref}" names ${matches.length} services: ${matches.map((s) => formatServiceKey(s)).join(', ')}`, {
      hint: `name one of them by its name or full ADDRESS:PORT/PROTO, e.g. ${formatServiceKey(matches[0]!)}`,
    });
  }
  throw new NotFoundError(`no service "${ref}" on this load balancer; ${listOf(lb)}`, { hint: 'see xdpkit lb service list IFACE, or add it: xdpkit lb service add IFACE ADDRESS:PORT/PROTO' });
}

/** The reference with its address normalised (2001:DB8:0::10 → 2001:db8::10), when it parses. */
function normaliseRef(ref: string): string {
  try {
    const { vip, port, proto } = parseVip(ref);
    return formatServiceKey({ vip, port, proto });
  } catch {
    // not ADDRESS[:PORT]/PROTO: try ADDRESS or ADDRESS:PORT below
  }
  const withPort = /^(\[[^\]]+\]|[^:[\]]+):(\d+)$/.exec(ref);
  try {
    if (withPort) {
      const a = parseAddress(withPort[1]!.replace(/^\[|\]$/g, ''));
      return `${a.family === 6 ? `[${a.address}]` : a.address}:${withPort[2]}`;
    }
    return parseAddress(ref.replace(/^\[|\]$/g, '')).address;
  } catch {
    return ref;
  }
}

const reindex = (services: LbService[]): LoadBalancer => ({
  services: services.map((s, index) => ({ ...s, index, backends: s.backends.map((b, bi) => ({ ...b, index: bi })) })),
});

const replaceService = (lb: LoadBalancer, service: LbService, change: (s: LbService) => LbService): LoadBalancer =>
  reindex(lb.services.map((s) => (s === service ? change(s) : s)));

export function addService(lb: LoadBalancer, spec: NewService): LoadBalancer {
  const { vip, port, proto } = parseVip(spec.vip);
  const key = formatServiceKey({ vip, port, proto });
  const same = lb.services.find((s) => formatServiceKey(s) === key);
  if (same) {
    throw new InvalidArgumentError(`${key} is already the service ${same.name}`, { hint: `add backends to it: xdpkit lb backend add IFACE ${key} ADDRESS` });
  }
  let name = spec.name;
  if (name === undefined) {
    for (let i = lb.services.length; name === undefined; i++) if (!lb.services.some((s) => s.name === `svc-${i}`)) name = `svc-${i}`;
  } else if (lb.services.some((s) => s.name === name)) {
    throw new InvalidArgumentError(`the name "${name}" is taken by ${formatServiceKey(lb.services.find((s) => s.name === name)!)}`, { hint: 'give the new service another --name' });
  }
  const service: LbService = {
    index: lb.services.length,
    name,
    vip,
    port,
    proto,
    mode: spec.mode ?? 'dsr-l2',
    hash: spec.hash ?? '5-tuple',
    tableSize: spec.tableSize ?? DEFAULT_TABLE_SIZE,
    backends: [],
    ...(spec.healthCheck && { healthCheck: spec.healthCheck }),
  };
  return reindex([...lb.services, service]);
}

export function removeService(lb: LoadBalancer, ref: string): LoadBalancer {
  const service = findService(lb, ref);
  return reindex(lb.services.filter((s) => s !== service));
}

function findBackend(service: LbService, address: string): LbBackend {
  const a = parseAddress(address);
  const backend = service.backends.find((b) => b.address === a.address);
  if (!backend) {
    const list = service.backends.length === 0 ? 'it has none' : `its backends: ${service.backends.map((b) => b.address).join(', ')}`;
    throw new NotFoundError(`${a.address} is not a backend of ${service.name} (${formatServiceKey(service)}); ${list}`, {
      hint: `add it: xdpkit lb backend add IFACE ${formatServiceKey(service)} ${a.address}`,
    });
  }
  return backend;
}

export function addBackend(lb: LoadBalancer, ref: string, spec: NewBackend): LoadBalancer {
  const service = findService(lb, ref);
  const a = parseAddress(spec.address);
  if (service.backends.some((b) => b.address === a.address)) {
    throw new InvalidArgumentError(`${a.address} is already a backend of ${service.name} (${formatServiceKey(service)})`, {
      hint: `list each backend once; change its share with lb backend weight ${formatServiceKey(service)} ${a.address} W, or drain it`,
    });
  }
  if (service.backends.length + 1 > service.tableSize) {
    throw new InvalidArgumentError(`${service.name}'s Maglev table (${service.tableSize} slots) cannot hold ${service.backends.length + 1} backends`, {
      hint: 'delete the service and add it again with a bigger prime --table-size (≥ 100× the backends)',
    });
  }
  const backend: LbBackend = { ...a, index: service.backends.length, weight: spec.weight ?? 1, state: 'active', ...(spec.mac !== undefined && { mac: spec.mac }) };
  return replaceService(lb, service, (s) => ({ ...s, backends: [...s.backends, backend] }));
}

export function removeBackend(lb: LoadBalancer, ref: string, address: string): LoadBalancer {
  const service = findService(lb, ref);
  const backend = findBackend(service, address);
  return replaceService(lb, service, (s) => ({ ...s, backends: s.backends.filter((b) => b !== backend) }));
}

/**
 * Draining: no new flows, existing ones stay; active: back in the Maglev table. Idempotent (as
 * `kubectl drain` is): a backend already in that state gives back the same model object.
 */
export function setBackendState(lb: LoadBalancer, ref: string, address: string, state: BackendState): LoadBalancer {
  const service = findService(lb, ref);
  const backend = findBackend(service, address);
  if (backend.state === state) return lb;
  return replaceService(lb, service, (s) => ({ ...s, backends: s.backends.map((b) => (b === backend ? { ...b, state } : b)) }));
}

/** A new share of new flows; the backend keeps its id and cookie, so its established flows stay. */
export function setBackendWeight(lb: LoadBalancer, ref: string, address: string, weight: number): LoadBalancer {
  const service = findService(lb, ref);
  const backend = findBackend(service, address);
  if (backend.weight === weight) return lb;
  return replaceService(lb, service, (s) => ({ ...s, backends: s.backends.map((b) => (b === backend ? { ...b, weight } : b)) }));
}
