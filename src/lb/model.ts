/**
 * The load balancer model: what `kind: LoadBalancer` documents, the CLI and the API describe,
 * after validation (schema.ts). Everything downstream (maglev.ts, compile.ts, the applier) works
 * on these types only.
 */

export type LbProto = 'tcp' | 'udp';
/** dsr-l2: rewrite the destination MAC and send back out (backends hold the VIP on loopback).
 *  ipip: encapsulate in IPv4/IPv6 toward the backend (decapsulated by `lb decap`). */
export type LbMode = 'dsr-l2' | 'ipip';
/** 5-tuple: addresses, ports and protocol; addresses: source and destination address only
 *  (for protocols that change ports between connections of one session). */
export type LbHashMode = '5-tuple' | 'addresses';
export type BackendState = 'active' | 'draining';
/** tcp: a TCP connect to the backend; http: GET path, healthy on an expected status (2xx or 3xx unless told). */
export type HealthCheckType = 'tcp' | 'http';

/** HTTP statuses from first to last (inclusive) that count as healthy. */
export type StatusRange = [first: number, last: number];
/** What an HTTP check accepts unless told: 2xx and 3xx, as HAProxy's `option httpchk`. */
export const DEFAULT_HTTP_EXPECT: readonly StatusRange[] = [[200, 399]];

/**
 * Health check of a service's backends, run by `xdpkit lb health` from the load balancer's
 * namespace toward each backend's own address. A backend goes down after `fall` failed checks in
 * a row and comes back after `rise` good ones (HAProxy's defaults: 2 s, rise 2, fall 3).
 */
export interface HealthCheck {
  type: HealthCheckType;
  /** Backend port to check; the service's port unless given. */
  port: number;
  /** http only: the path to GET. */
  path?: string;
  /** http only: the statuses that count as healthy (DEFAULT_HTTP_EXPECT unless the config says). */
  expect?: StatusRange[];
  /** http only: the Host header (default: the backend's address and the check port, as Node sends it). */
  host?: string;
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

export const PROTO_NUMBERS: Readonly<Record<LbProto, number>> = { tcp: 6, udp: 17 };
export const DEFAULT_TABLE_SIZE = 65537;
/** Largest Maglev table a service may ask for (a prime; the data plane's ring has a fixed size). */
export const MAX_TABLE_SIZE = 1_048_573;
export const MAX_WEIGHT = 65535;

export interface LbAddress {
  /** Normalised text form (ipaddr.js toString). */
  address: string;
  family: 4 | 6;
  /** 16 bytes as union xdpkit_addr holds it: IPv4 in the first four, zeros after. */
  bytes: Buffer;
}

export interface LbBackend extends LbAddress {
  index: number;
  /** Relative share of new flows; 0 = no new flows (like draining). */
  weight: number;
  state: BackendState;
  /** Next-hop MAC for dsr-l2, lower-case aa:bb:cc:dd:ee:ff; resolved at apply time when absent. */
  mac?: string;
}

export interface LbService {
  index: number;
  name: string;
  vip: LbAddress;
  /** 0 = every port of the VIP. */
  port: number;
  proto: LbProto;
  mode: LbMode;
  hash: LbHashMode;
  /** Maglev lookup table size, a prime. */
  tableSize: number;
  backends: LbBackend[];
  healthCheck?: HealthCheck;
}

export interface LoadBalancer {
  services: LbService[];
}

/** `198.18.0.10:80/tcp`, `[2001:db8::10]:443/tcp`, `198.18.0.10/udp` (all ports). */
export function formatServiceKey(s: Pick<LbService, 'vip' | 'port' | 'proto'>): string {
  const host = s.vip.family === 6 ? `[${s.vip.address}]` : s.vip.address;
  return s.port === 0 ? `${host}/${s.proto}` : `${host}:${s.port}/${s.proto}`;
}

/** `200`, `200-299`, `200-399, 404`: the statuses an HTTP check accepts. */
export function formatExpect(ranges: readonly StatusRange[]): string {
  return ranges.map(([first, last]) => (first === last ? String(first) : `${first}-${last}`)).join(', ');
}

/** Whether an HTTP check takes `status` as healthy. */
export function statusExpected(check: Pick<HealthCheck, 'expect'>, status: number): boolean {
  return (check.expect ?? DEFAULT_HTTP_EXPECT).some(([first, last]) => status >= first && status <= last);
}

/**
 * A health check in one line: `tcp:80 every 2s`, `http:80/healthz every 2s expect 200 host www.example.com`
 * (expect only when it is not the default); `full` adds the timeout and thresholds, so that any
 * change of the check shows (lb diff).
 */
export function formatHealthCheck(h: HealthCheck, full = false): string {
  const target = h.type === 'tcp' ? `tcp:${h.port}` : `http:${h.port}${h.path ?? '/'}`;
  const parts = [target, `every ${h.intervalMs / 1000}s`];
  if (full) parts.push(`timeout ${h.timeoutMs / 1000}s`, `rise ${h.rise}`, `fall ${h.fall}`);
  if (h.expect && formatExpect(h.expect) !== formatExpect(DEFAULT_HTTP_EXPECT)) parts.push(`expect ${formatExpect(h.expect)}`);
  if (h.host !== undefined) parts.push(`host ${h.host}`);
  return parts.join(' ');
}

/** How compile options and the live state name one backend of one service. */
export const backendRef = (service: Pick<LbService, 'name'>, address: string): string => `${service.name}|${address}`;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/** The largest table size ≤ n (a prime, at most MAX_TABLE_SIZE), or undefined below 3. */
export function largestPrimeAtMost(n: number): number | undefined {
  for (let p = Math.min(Math.floor(n), MAX_TABLE_SIZE); p >= 3; p--) if (isPrime(p)) return p;
  return undefined;
}

/** The nearest primes below and above n (for error messages). */
export function nearestPrimes(n: number): { below?: number; above: number } {
  let below: number | undefined;
  for (let p = Math.floor(n) - 1; p >= 2; p--) if (isPrime(p)) { below = p; break; }
  let above = Math.max(2, Math.ceil(n) + 1);
  while (!isPrime(above)) above++;
  return below === undefined ? { above } : { below, above };
}
