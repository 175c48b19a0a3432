/**
 * What applying a LoadBalancer document would change against the live config (`lb diff -f`,
 * `lb apply --dry-run`, and the report of `lb apply`): services added, removed and changed, and
 * within a service its backends added, removed and changed, each change with the old and new
 * text. `lb apply` replaces the whole live config, so this is also how the edits made since with
 * `lb service` / `lb backend` show before a file undoes them. Pure: both sides are models.
 *
 * A service is the same service while its VIP:port/proto is (that is its identity in the data
 * plane: it keeps its id and counters); renaming it is a change. A backend is the same while its
 * address is, within its service. A backend without an explicit MAC in the file takes it from
 * the neighbour table at apply time; that shows as `mac 02:… → (neighbour table)`.
 */
import { matchByKey } from '../config/match.js';
import { formatHealthCheck, formatServiceKey, type LbBackend, type LbService, type LoadBalancer } from './model.js';

export interface LbFieldChange {
  field: string;
  from: string;
  to: string;
}

export interface LbBackendDiff {
  added: { address: string; weight: number; state: string }[];
  removed: { address: string }[];
  changed: { address: string; changes: LbFieldChange[] }[];
}

export interface LbDiff {
  /** Whether there was a live config to compare with (false: everything is added). */
  live: boolean;
  unchanged: boolean;
  services: {
    added: { name: string; vip: string; mode: string; backends: number }[];
    removed: { name: string; vip: string; backends: number }[];
    /** Services whose own fields or whose backends changed. */
    changed: { name: string; vip: string; changes: LbFieldChange[]; backends: LbBackendDiff }[];
  };
}

const NO_MAC = '(neighbour table)';

function fieldChanges(pairs: [field: string, from: string, to: string][]): LbFieldChange[] {
  return pairs.filter(([, from, to]) => from !== to).map(([field, from, to]) => ({ field, from, to }));
}

function serviceFields(s: LbService): [string, string][] {
  return [
    ['name', s.name],
    ['mode', s.mode],
    ['hash', s.hash],
    ['tableSize', String(s.tableSize)],
    ['healthCheck', s.healthCheck ? formatHealthCheck(s.healthCheck, true) : '(none)'],
  ];
}

const backendFields = (b: LbBackend): [string, string][] => [
  ['weight', String(b.weight)],
  ['state', b.state],
  ['mac', b.mac ?? NO_MAC],
];

function zipFields(before: [string, string][], after: [string, string][]): [string, string, string][] {
  return before.map(([field, from], i) => [field, from, after[i]![1]]);
}

function diffBackends(before: LbBackend[], after: LbBackend[]): LbBackendDiff {
  const { added, removed, kept } = matchByKey(before, after, (b) => b.address);
  return {
    added: added.map((b) => ({ address: b.address, weight: b.weight, state: b.state })),
    removed: removed.map((b) => ({ address: b.address })),
    changed: kept.flatMap(([o, b]) => {
      const changes = fieldChanges(zipFields(backendFields(o), backendFields(b)));
      return changes.length > 0 ? [{ address: b.address, changes }] : [];
    }),
  };
}

export function diffLoadBalancers(before: LoadBalancer | undefined, after: LoadBalancer): LbDiff {
  const { added, removed, kept } = matchByKey(before?.services ?? [], after.services, formatServiceKey);
  const services: LbDiff['services'] = {
    added: added.map((s) => ({ name: s.name, vip: formatServiceKey(s), mode: s.mode, backends: s.backends.length })),
    removed: removed.map((s) => ({ name: s.name, vip: formatServiceKey(s), backends: s.backends.length })),
    changed: kept.flatMap(([o, s]) => {
      const changes = fieldChanges(zipFields(serviceFields(o), serviceFields(s)));
      const backends = diffBackends(o.backends, s.backends);
      const same = changes.length === 0 && backends.added.length + backends.removed.length + backends.changed.length === 0;
      return same ? [] : [{ name: s.name, vip: formatServiceKey(s), changes, backends }];
    }),
  };
  const unchanged = before !== undefined && services.added.length + services.removed.length + services.changed.length === 0;
  return { live: before !== undefined, unchanged, services };
}

const changesText = (changes: LbFieldChange[]): string => changes.map((c) => `${c.field} ${c.from} → ${c.to}`).join('; ');

/**
 * The diff as lines for people, in the style of `fw diff`: `+ service …`, `- service …`,
 * `~ service …: mode dsr-l2 → ipip` with its backends' `+ backend`, `- backend`, `~ backend`
 * lines indented below it.
 */
export function describeLbDiff(diff: LbDiff): string[] {
  if (diff.unchanged) return ['no changes: the live config is the same'];
  const lines: string[] = [];
  for (const s of diff.services.added) lines.push(`+ service ${s.name} ${s.vip}: ${s.mode}, backends: ${s.backends}`);
  for (const s of diff.services.removed) lines.push(`- service ${s.name} ${s.vip} (backends: ${s.backends})`);
  for (const s of diff.services.changed) {
    lines.push(`~ service ${s.name} ${s.vip}${s.changes.length > 0 ? `: ${changesText(s.changes)}` : ''}`);
    for (const b of s.backends.added) lines.push(`    + backend ${b.address} weight ${b.weight}${b.state === 'active' ? '' : `, ${b.state}`}`);
    for (const b of s.backends.removed) lines.push(`    - backend ${b.address}`);
    for (const b of s.backends.changed) lines.push(`    ~ backend ${b.address}: ${changesText(b.changes)}`);
  }
  return lines;
}

/** Whether applying undoes something live: a service or backend removed, or a field changed. */
export function undoesLiveConfig(diff: LbDiff): boolean {
  return diff.services.removed.length > 0 || diff.services.changed.some((s) => s.changes.length > 0 || s.backends.removed.length > 0 || s.backends.changed.length > 0);
}
