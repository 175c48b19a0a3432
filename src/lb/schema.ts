/**
 * The LoadBalancer document (apiVersion xdpkit/v1, kind LoadBalancer) and its loader. Every
 * problem becomes one line of an LbConfigError: `services[1].backends[0].weight: what is wrong
 * and the fix`.
 *
 *   apiVersion: xdpkit/v1
 *   kind: LoadBalancer
 *   defaults:                           # optional
 *     mode: dsr-l2
 *     hash: 5-tuple
 *     tableSize: 65537
 *     healthCheck: { type: tcp }        # for every service without its own healthCheck
 *   services:
 *     - name: web                       # optional, default svc-<index>
 *       vip: 198.18.0.10:80/tcp         # [2001:db8::10]:443/tcp; no port = all ports
 *       mode: dsr-l2                    # or ipip
 *       hash: 5-tuple                   # or addresses
 *       tableSize: 65537                # a prime
 *       backends:
 *         - { address: 198.18.1.1, weight: 2, mac: "02:00:00:00:01:01" }
 *         - { address: 198.18.1.2, state: draining }
 *       healthCheck:                    # optional: run by `xdpkit lb health IF`
 *         { type: http, port: 80, path: /healthz, interval: 2s, timeout: 1s, rise: 2, fall: 3,
 *           expect: 200, host: www.example.com }
 *
 * Semantics decided here: weight defaults to 1 (0 = no new flows), state to active; a VIP:port/
 * proto appears once; a backend address appears once per service; the table size is a prime of
 * at least the number of backends (the Maglev paper wants it ≫ backends: 100× keeps every
 * backend's share within ±1 % of its weight).
 *
 * Health checks go to each backend's own address and the check's port (the service's unless
 * given), as keepalived's TCP_CHECK/HTTP_GET do. An http check is healthy on 2xx/3xx, as
 * HAProxy's `option httpchk`, unless `expect` says otherwise (200, 2xx, 200-299, [200, 301]);
 * `host` sets the Host header (name-based virtual hosts). defaults.healthCheck applies to every
 * service that has no healthCheck of its own; a service's own replaces it whole (fields are not
 * merged, so what a service checks is all in one place), and `{ type: none }` turns it off for
 * that service (a UDP service, say, that no TCP check can see).
 */
import { readFileSync } from 'node:fs';
import ipaddr from 'ipaddr.js';
import YAML from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../bpf/errors.js';
import { fromParser, issuesFromZod as issuesFromDocument, requiredOr, type DocumentIssue } from '../config/document.js';
import {
  DEFAULT_HTTP_EXPECT,
  DEFAULT_TABLE_SIZE,
  MAX_TABLE_SIZE,
  MAX_WEIGHT,
  formatServiceKey,
  isPrime,
  nearestPrimes,
  type HealthCheck,
  type LbAddress,
  type LbProto,
  type LoadBalancer,
  type StatusRange,
} from './model.js';

export type LbIssue = DocumentIssue;

export class LbConfigError extends InvalidArgumentError {
  constructor(
    readonly source: string,
    readonly issues: LbIssue[],
  ) {
    const lines = issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message));
    super(issues.length === 1 ? `${source}: ${lines[0]}` : `${source}: ${issues.length} problems`, {
      ...(issues.length > 1 && { details: lines.map((l) => `  ${l}`).join('\n') }),
      hint: 'fix the load balancer config and try again (apiVersion xdpkit/v1, kind LoadBalancer; see src/lb/schema.ts)',
    });
  }
}

// ---- field parsers (throw Error with a message that says the fix) ----

export function parseAddress(text: string): LbAddress {
  const t = text.trim();
  if (!ipaddr.isValid(t)) throw new Error(`"${text}" is not an IPv4 or IPv6 address; write e.g. 198.18.1.1 or 2001:db8::1`);
  let a = ipaddr.parse(t);
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()) a = (a as ipaddr.IPv6).toIPv4Address();
  if (a.kind() === 'ipv4' && !ipaddr.IPv4.isValidFourPartDecimal(t) && !t.includes(':')) {
    throw new Error(`"${text}" is not a dotted-quad IPv4 address; write all four parts, e.g. 198.18.1.1`);
  }
  const bytes = Buffer.alloc(16);
  Buffer.from(a.toByteArray()).copy(bytes);
  return { address: a.toString(), family: a.kind() === 'ipv4' ? 4 : 6, bytes };
}

export interface ParsedVip {
  vip: LbAddress;
  port: number;
  proto: LbProto;
}

/** `198.18.0.10:80/tcp`, `[2001:db8::10]:443/udp`, `198.18.0.10/tcp` or `2001:db8::10/tcp` (all ports). */
export function parseVip(text: string): ParsedVip {
  const example = 'write ADDRESS:PORT/PROTO, e.g. 198.18.0.10:80/tcp or [2001:db8::10]:443/tcp (no :PORT = all ports)';
  const slash = text.lastIndexOf('/');
  if (slash < 0) throw new Error(`"${text}" has no protocol; ${example}`);
  const protoText = text.slice(slash + 1).trim().toLowerCase();
  if (protoText !== 'tcp' && protoText !== 'udp') throw new Error(`"${protoText}" in "${text}" is not tcp or udp; ${example}`);
  const hostPort = text.slice(0, slash).trim();
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(.*))?$/.exec(hostPort);
  if (v6) {
    host = v6[1]!;
    portText = v6[2];
  } else if ((hostPort.match(/:/g) ?? []).length === 1) {
    [host, portText] = hostPort.split(':') as [string, string];
  } else {
    host = hostPort; // IPv4 without port, or bare IPv6 without port
  }
  let port = 0;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) throw new Error(`port "${portText}" in "${text}" is not a number in 0..65535; ${example}`);
    port = Number(portText);
  }
  let vip: LbAddress;
  try {
    vip = parseAddress(host);
  } catch (e) {
    throw new Error(`${(e as Error).message} (in VIP "${text}"; ${example})`);
  }
  return { vip, port, proto: protoText };
}

export function parseMac(text: string): string {
  const m = /^([0-9a-f]{1,2})([:-])([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})\2([0-9a-f]{1,2})$/i.exec(text.trim());
  if (!m) throw new Error(`"${text}" is not a MAC address; write six hex bytes such as 02:00:00:00:01:01`);
  const parts = [m[1], m[3], m[4], m[5], m[6], m[7]].map((p) => p!.padStart(2, '0').toLowerCase());
  if ((parseInt(parts[0]!, 16) & 1) === 1) throw new Error(`"${text}" is a multicast MAC; a backend's MAC is unicast (first byte even)`);
  return parts.join(':');
}

export function checkTableSize(n: number): number {
  if (!Number.isInteger(n)) throw new Error(`${n} is not a whole number; use a prime such as ${DEFAULT_TABLE_SIZE}`);
  if (n < 3 || n > MAX_TABLE_SIZE) throw new Error(`${n} is outside 3..${MAX_TABLE_SIZE}; use a prime such as ${DEFAULT_TABLE_SIZE}`);
  if (!isPrime(n)) {
    const p = nearestPrimes(n);
    throw new Error(`${n} is not a prime (Maglev needs a prime table size); use ${p.below !== undefined ? `${p.below} or ` : ''}${p.above}`);
  }
  return n;
}

/** `2s`, `500ms`, `1.5s` or a number of seconds → milliseconds. */
export function parseDuration(value: string | number): number {
  const m = typeof value === 'number' ? [String(value), String(value), 's'] : /^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$/.exec(value);
  if (!m) throw new Error(`"${value}" is not a duration; write e.g. 2s or 500ms`);
  const ms = Math.round(Number(m[1]) * (m[2] === 'ms' ? 1 : 1000));
  if (!Number.isFinite(ms) || ms < 10 || ms > 3_600_000) throw new Error(`${value} is outside 10ms..3600s; write e.g. 2s or 500ms`);
  return ms;
}

export const HEALTH_DEFAULTS = { intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 } as const;

const EXPECT_EXAMPLE = 'write a status such as 200, a class such as 2xx, a range such as 200-299, or a list: [200, 301]';

function parseStatusRange(item: unknown): StatusRange {
  if (typeof item !== 'number' && typeof item !== 'string') throw new Error(`${JSON.stringify(item)} is not an HTTP status; ${EXPECT_EXAMPLE}`);
  const text = String(item).trim();
  const cls = /^([1-5])xx$/i.exec(text);
  if (cls) return [Number(cls[1]) * 100, Number(cls[1]) * 100 + 99];
  const range = /^(\d{3})(?:\s*-\s*(\d{3}))?$/.exec(text);
  if (!range) throw new Error(`"${text}" is not an HTTP status; ${EXPECT_EXAMPLE}`);
  const first = Number(range[1]);
  const last = Number(range[2] ?? range[1]);
  for (const n of [first, last]) if (n < 100 || n > 599) throw new Error(`${n} is not an HTTP status (100..599); ${EXPECT_EXAMPLE}`);
  if (first > last) throw new Error(`"${text}" runs backwards; write the lower status first: ${last}-${first}`);
  return [first, last];
}

/** `200`, `"2xx"`, `"200-299"`, `[200, 301]` or `"200, 301"` → status ranges. */
export function parseExpect(value: unknown): StatusRange[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : [value];
  if (items.length === 0) throw new Error(`is an empty list; ${EXPECT_EXAMPLE}`);
  return items.map(parseStatusRange);
}

// ---- zod schema ----

const modeSchema = z.enum(['dsr-l2', 'ipip'], { error: requiredOr('must be dsr-l2 or ipip') });
const hashSchema = z.enum(['5-tuple', 'addresses'], { error: requiredOr('must be 5-tuple or addresses') });
const tableSizeSchema = z.number({ error: requiredOr(`must be a prime number such as ${DEFAULT_TABLE_SIZE}`) }).transform(fromParser(checkTableSize));

const durationSchema = z.union([z.string(), z.number()], { error: requiredOr('must be a duration such as 2s or 500ms') }).transform(fromParser(parseDuration));
const thresholdSchema = z
  .number({ error: requiredOr('must be a number of checks in a row, 1..100') })
  .int({ error: 'must be a whole number of checks, 1..100' })
  .min(1, { error: 'must be 1..100 checks in a row' })
  .max(100, { error: 'must be 1..100 checks in a row' });

const healthCheckSchema = z
  .strictObject(
    {
      type: z.enum(['tcp', 'http', 'none'], { error: requiredOr('must be tcp (connect) or http (GET, healthy on 2xx/3xx unless expect says); none turns a default check off') }),
      port: z.number({ error: requiredOr('must be a port 1..65535') }).int({ error: 'must be a port 1..65535' }).min(1, { error: 'must be a port 1..65535' }).max(65535, { error: 'must be a port 1..65535' }).optional(),
      path: z.string({ error: requiredOr('must be a path such as /healthz') }).regex(/^\/\S*$/, { error: 'must start with / and hold no spaces, e.g. /healthz' }).optional(),
      expect: z.unknown().transform(fromParser(parseExpect)).optional(),
      host: z
        .string({ error: requiredOr('must be a host name such as www.example.com') })
        .regex(/^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/, {
          error: 'must be a host name such as www.example.com, optionally with :PORT (it is sent as the Host header)',
        })
        .optional(),
      interval: durationSchema.optional(),
      timeout: durationSchema.optional(),
      rise: thresholdSchema.optional(),
      fall: thresholdSchema.optional(),
    },
    { error: requiredOr('must be a health check: { type: tcp|http|none, port, path, expect, host, interval, timeout, rise, fall }') },
  )
  .superRefine((h, ctx) => {
    const given = (Object.keys(h) as (keyof typeof h)[]).filter((k) => k !== 'type' && h[k] !== undefined);
    if (h.type === 'none') {
      for (const field of given) ctx.addIssue({ code: 'custom', path: [field], message: 'type none turns the checks off; remove it, or give a type: tcp or http' });
      return;
    }
    if (h.type === 'tcp') {
      if (h.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'a tcp check only connects; remove path, or use type: http' });
      for (const field of ['expect', 'host'] as const) {
        if (h[field] !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `a tcp check sends no request; remove ${field}, or use type: http` });
      }
    }
    const interval = h.interval ?? HEALTH_DEFAULTS.intervalMs;
    const timeout = h.timeout ?? Math.min(HEALTH_DEFAULTS.timeoutMs, interval);
    if (timeout > interval) ctx.addIssue({ code: 'custom', path: ['timeout'], message: `${timeout} ms is longer than the interval (${interval} ms); a check must end before the next starts: make timeout ≤ interval` });
  });

const backendSchema = z.strictObject(
  {
    address: z.string({ error: requiredOr('must be an address string such as 198.18.1.1') }).transform(fromParser(parseAddress)),
    weight: z
      .number({ error: requiredOr(`must be a number 0..${MAX_WEIGHT}`) })
      .int({ error: `must be a whole number 0..${MAX_WEIGHT}` })
      .min(0, { error: `must be 0..${MAX_WEIGHT} (0 = no new flows)` })
      .max(MAX_WEIGHT, { error: `must be 0..${MAX_WEIGHT}; scale all weights of the service down together` })
      .default(1),
    state: z.enum(['active', 'draining'], { error: requiredOr('must be active or draining') }).default('active'),
    mac: z.string({ error: requiredOr('must be a MAC string such as 02:00:00:00:01:01') }).transform(fromParser(parseMac)).optional(),
  },
  { error: requiredOr('must be a backend: { address, weight, state, mac }') },
);

const serviceSchema = z.strictObject(
  {
    name: z.string({ error: requiredOr('must be a string') }).min(1, { error: 'must not be empty; omit it for svc-<index>' }).optional(),
    vip: z.string({ error: requiredOr('must be a string such as 198.18.0.10:80/tcp') }).transform(fromParser(parseVip)),
    mode: modeSchema.optional(),
    hash: hashSchema.optional(),
    tableSize: tableSizeSchema.optional(),
    backends: z.array(backendSchema, { error: requiredOr('must be a list of backends: [{ address: 198.18.1.1 }]') }).default([]),
    healthCheck: healthCheckSchema.optional(),
  },
  { error: requiredOr('must be a service: { name, vip, mode, hash, tableSize, backends, healthCheck }') },
);

export const lbDocumentSchema = z
  .strictObject(
    {
      apiVersion: z.literal('xdpkit/v1', { error: requiredOr('must be xdpkit/v1') }),
      kind: z.literal('LoadBalancer', { error: requiredOr('must be LoadBalancer') }),
      defaults: z
        .strictObject(
          {
            mode: modeSchema.default('dsr-l2'),
            hash: hashSchema.default('5-tuple'),
            tableSize: tableSizeSchema.default(DEFAULT_TABLE_SIZE),
            healthCheck: healthCheckSchema.optional(),
          },
          { error: requiredOr('must be { mode, hash, tableSize, healthCheck }') },
        )
        .default({ mode: 'dsr-l2', hash: '5-tuple', tableSize: DEFAULT_TABLE_SIZE }),
      services: z.array(serviceSchema, { error: requiredOr('must be a list of services') }).default([]),
    },
    { error: 'a load balancer config must be a mapping with apiVersion: xdpkit/v1 and kind: LoadBalancer' },
  )
  .superRefine((doc, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const keys = new Map<string, number>();
    const names = new Map<string, number>();
    doc.services.forEach((s, i) => {
      const key = formatServiceKey(s.vip);
      const prevKey = keys.get(key);
      if (prevKey !== undefined) issue(['services', i, 'vip'], `${key} is already services[${prevKey}]; merge their backends into one service`);
      else keys.set(key, i);
      const name = s.name ?? `svc-${i}`;
      const prevName = names.get(name);
      if (prevName !== undefined) issue(['services', i, 'name'], `"${name}" is already the name of services[${prevName}]; give each service its own name`);
      else names.set(name, i);
      const addrs = new Map<string, number>();
      s.backends.forEach((b, j) => {
        const prev = addrs.get(b.address.address);
        if (prev !== undefined) issue(['services', i, 'backends', j, 'address'], `${b.address.address} is already backends[${prev}]; list each backend once (use weight for a bigger share)`);
        else addrs.set(b.address.address, j);
      });
      const check = s.healthCheck ?? doc.defaults.healthCheck;
      if (check && check.type !== 'none' && check.port === undefined && s.vip.port === 0) {
        if (s.healthCheck) issue(['services', i, 'healthCheck', 'port'], `is required: ${key} takes every port, so say which one to check, e.g. port: 80`);
        else issue(['services', i, 'healthCheck'], `is required: ${key} takes every port and defaults.healthCheck gives none to check; give this service its own, e.g. { type: tcp, port: 80 }, or { type: none }`);
      }
      const size = s.tableSize ?? doc.defaults.tableSize;
      if (s.backends.length > size) {
        issue(['services', i, 'tableSize'], `${size} slots cannot hold ${s.backends.length} backends; use a prime ≥ ${100 * s.backends.length} (100× the backends)`);
      }
    });
  });

export type LbDocument = z.output<typeof lbDocumentSchema>;

const KNOWN_FIELDS = ['apiVersion', 'kind', 'defaults', 'services', 'name', 'vip', 'mode', 'hash', 'tableSize', 'backends', 'address', 'weight', 'state', 'mac', 'healthCheck', 'type', 'port', 'path', 'expect', 'host', 'interval', 'timeout', 'rise', 'fall'];

export function issuesFromZod(error: z.ZodError): LbIssue[] {
  return issuesFromDocument(error, KNOWN_FIELDS);
}

/** Validates an already parsed object (YAML/JSON document, HTTP body). */
export function loadBalancerFromObject(value: unknown, source = 'load balancer'): LoadBalancer {
  const parsed = lbDocumentSchema.safeParse(value ?? undefined);
  if (!parsed.success) throw new LbConfigError(source, issuesFromZod(parsed.error));
  const doc = parsed.data;
  return {
    services: doc.services.map((s, index) => ({
      index,
      name: s.name ?? `svc-${index}`,
      vip: s.vip.vip,
      port: s.vip.port,
      proto: s.vip.proto,
      mode: s.mode ?? doc.defaults.mode,
      hash: s.hash ?? doc.defaults.hash,
      tableSize: s.tableSize ?? doc.defaults.tableSize,
      backends: s.backends.map((b, bi) => ({
        ...b.address,
        index: bi,
        weight: b.weight,
        state: b.state,
        ...(b.mac !== undefined && { mac: b.mac }),
      })),
      ...healthCheckOf(s.healthCheck ?? doc.defaults.healthCheck, s.vip.port),
    })),
  };
}

type HealthCheckInput = z.output<typeof healthCheckSchema>;

/** `{ healthCheck }` for a service's effective check, or nothing (none given, or type none). */
function healthCheckOf(h: HealthCheckInput | undefined, servicePort: number): { healthCheck?: HealthCheck } {
  if (h === undefined || h.type === 'none') return {};
  const intervalMs = h.interval ?? HEALTH_DEFAULTS.intervalMs;
  return {
    healthCheck: {
      type: h.type,
      port: h.port ?? servicePort,
      ...(h.type === 'http' && { path: h.path ?? '/', expect: h.expect ?? DEFAULT_HTTP_EXPECT.map((r): StatusRange => [...r]) }),
      ...(h.host !== undefined && { host: h.host }),
      intervalMs,
      timeoutMs: h.timeout ?? Math.min(HEALTH_DEFAULTS.timeoutMs, intervalMs),
      rise: h.rise ?? HEALTH_DEFAULTS.rise,
      fall: h.fall ?? HEALTH_DEFAULTS.fall,
    },
  };
}

/** `lb service add --health-expect/--health-host`: the http-only fields of a command-line check. */
export interface HealthCheckFlags {
  expect?: string;
  host?: string;
}

const FLAG_OF: Record<string, string> = { expect: '--health-expect', host: '--health-host' };

/**
 * A health check given on the command line (`--health-check http:8080/healthz`): TYPE[:PORT][/PATH],
 * with `flags` for the http-only fields and the document's defaults for the rest, checked by the
 * same schema.
 */
export function parseHealthCheckSpec(text: string, servicePort: number, flags: HealthCheckFlags = {}): HealthCheck {
  const m = /^(\w+)(?::(\d+))?(\/\S*)?$/.exec(text.trim());
  const example = 'write TYPE[:PORT][/PATH], e.g. tcp, tcp:8080 or http:80/healthz';
  if (!m) throw new InvalidArgumentError(`--health-check "${text}" is not TYPE[:PORT][/PATH]`, { hint: example });
  if (m[1] === 'none') throw new InvalidArgumentError(`--health-check none: a service added on the command line is not checked unless told`, { hint: 'leave --health-check out' });
  const parsed = healthCheckSchema.safeParse({
    type: m[1],
    ...(m[2] !== undefined && { port: Number(m[2]) }),
    ...(m[3] !== undefined && { path: m[3] }),
    ...(flags.expect !== undefined && { expect: flags.expect }),
    ...(flags.host !== undefined && { host: flags.host }),
  });
  if (!parsed.success) {
    const problems = issuesFromZod(parsed.error).map((i) => (FLAG_OF[i.path] ? `${FLAG_OF[i.path]}: ${i.message}` : i.path ? `${i.path}: ${i.message}` : i.message));
    throw new InvalidArgumentError(`--health-check "${text}": ${problems.join('; ')}`, { hint: example });
  }
  const { healthCheck } = healthCheckOf(parsed.data, servicePort);
  if (healthCheck!.port === 0) throw new InvalidArgumentError(`--health-check "${text}" has no port, and the service takes every port`, { hint: 'give the port to check, e.g. tcp:80' });
  return healthCheck!;
}

/** Parses YAML or JSON text. */
export function parseLoadBalancerText(text: string, source = 'load balancer'): LoadBalancer {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new LbConfigError(source, doc.errors.map((e) => ({ path: '', message: `not valid YAML/JSON: ${e.message.split('\n')[0]}` })));
  }
  return loadBalancerFromObject(doc.toJS(), source);
}

export function loadLoadBalancerFile(path: string): LoadBalancer {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new LbConfigError(path, [{ path: '', message: code === 'ENOENT' ? 'file does not exist; check the -f path' : `cannot read: ${(e as Error).message}` }]);
  }
  return parseLoadBalancerText(text, path);
}
