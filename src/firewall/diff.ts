/**
 * What applying a policy would change against the live one (`fw diff`, `fw apply --dry-run`):
 * rules added, removed, changed (by name, with each changed field's old and new text) and moved;
 * blocklists added, removed and changed (prefixes added and removed); default, malformed and
 * mitigation. Pure: both sides are PolicySnapshots (snapshot.ts).
 *
 * A rule counts as moved when its place among the rules both policies have changed relative to
 * the others, not merely its index: inserting one rule at the top moves nothing. The rules that
 * stay are a longest increasing subsequence of the old positions in the new order; the rest moved.
 */
import { matchByKey } from '../config/match.js';
import { PREFIX_RECORD, RULE_FIELDS, type BlocklistSnapshot, type PolicySnapshot, type RuleSnapshot } from './snapshot.js';
import type { Verdict } from './schema.js';

export interface FieldChange {
  field: string;
  /** Absent: the old rule did not give the field (matched any). */
  from?: string;
  /** Absent: the new rule does not give it. */
  to?: string;
}

export interface PolicyDiff {
  /** Whether there was a live policy to compare with (false: everything is added). */
  live: boolean;
  unchanged: boolean;
  default?: { from: Verdict; to: Verdict };
  malformed?: { from: Verdict; to: Verdict };
  /** Mitigation as text; null where there is none. */
  mitigation?: { from: string | null; to: string | null };
  rules: {
    added: { name: string; position: number; fields: Record<string, string> }[];
    removed: { name: string; position: number }[];
    changed: { name: string; changes: FieldChange[] }[];
    moved: { name: string; from: number; to: number }[];
  };
  blocklists: {
    added: { name: string; prefixes: number }[];
    removed: { name: string; prefixes: number }[];
    /** Distinct prefixes added and removed; `prefixes` is the new list's length. */
    changed: { name: string; added: number; removed: number; prefixes: number }[];
  };
}

const EMPTY: PolicySnapshot = { default: 'pass', malformed: 'drop', rules: [], blocklists: [] };

export function diffPolicies(before: PolicySnapshot | undefined, after: PolicySnapshot): PolicyDiff {
  const old = before ?? EMPTY;
  const diff: PolicyDiff = {
    live: before !== undefined,
    unchanged: false,
    rules: diffRules(old.rules, after.rules),
    blocklists: diffBlocklists(old.blocklists, after.blocklists),
  };
  if (before && before.default !== after.default) diff.default = { from: before.default, to: after.default };
  if (before && before.malformed !== after.malformed) diff.malformed = { from: before.malformed, to: after.malformed };
  if ((old.mitigation ?? null) !== (after.mitigation ?? null)) diff.mitigation = { from: old.mitigation ?? null, to: after.mitigation ?? null };
  const r = diff.rules;
  const b = diff.blocklists;
  diff.unchanged =
    before !== undefined &&
    !diff.default &&
    !diff.malformed &&
    !diff.mitigation &&
    [r.added, r.removed, r.changed, r.moved, b.added, b.removed, b.changed].every((l) => l.length === 0);
  return diff;
}

function diffRules(before: RuleSnapshot[], after: RuleSnapshot[]): PolicyDiff['rules'] {
  const oldAt = new Map(before.map((r, i) => [r.name, i]));
  const newNames = new Set(after.map((r) => r.name));
  const out: PolicyDiff['rules'] = {
    added: after.flatMap((r, i) => (oldAt.has(r.name) ? [] : [{ name: r.name, position: i, fields: r.fields }])),
    removed: before.flatMap((r, i) => (newNames.has(r.name) ? [] : [{ name: r.name, position: i }])),
    changed: [],
    moved: [],
  };
  const kept = after.flatMap((r, i) => {
    const at = oldAt.get(r.name);
    return at === undefined ? [] : [{ rule: r, from: at, to: i }];
  });
  for (const { rule, from } of kept) {
    const changes = fieldChanges(before[from]!.fields, rule.fields);
    if (changes.length > 0) out.changed.push({ name: rule.name, changes });
  }
  const stay = longestIncreasing(kept.map((k) => k.from));
  out.moved = kept.filter((_, i) => !stay.has(i)).map((k) => ({ name: k.rule.name, from: k.from, to: k.to }));
  return out;
}

function fieldChanges(from: Record<string, string>, to: Record<string, string>): FieldChange[] {
  return RULE_FIELDS
    .filter((f) => from[f] !== to[f])
    .map((f) => ({ field: f, ...(from[f] !== undefined && { from: from[f] }), ...(to[f] !== undefined && { to: to[f] }) }));
}

/** Indexes (into `values`) of one longest strictly increasing subsequence (patience sorting). */
function longestIncreasing(values: number[]): Set<number> {
  const tails: number[] = []; // tails[k]: index of the smallest tail of an increasing run of length k+1
  const previous: number[] = new Array<number>(values.length).fill(-1);
  values.forEach((v, i) => {
    let lo = 0;
    let hi = tails.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (values[tails[mid]!]! < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) previous[i] = tails[lo - 1]!;
    tails[lo] = i;
  });
  const out = new Set<number>();
  for (let i = tails.length > 0 ? tails[tails.length - 1]! : -1; i >= 0; i = previous[i]!) out.add(i);
  return out;
}

function diffBlocklists(before: BlocklistSnapshot[], after: BlocklistSnapshot[]): PolicyDiff['blocklists'] {
  const { added, removed, kept } = matchByKey(before, after, (b) => b.name);
  return {
    added: added.map((b) => ({ name: b.name, prefixes: b.prefixes })),
    removed: removed.map((b) => ({ name: b.name, prefixes: b.prefixes })),
    changed: kept.flatMap(([o, b]) => {
      if (o.packed === b.packed) return [];
      const delta = prefixChanges(Buffer.from(o.packed, 'base64'), Buffer.from(b.packed, 'base64'));
      return delta.added > 0 || delta.removed > 0 ? [{ name: b.name, ...delta, prefixes: b.prefixes }] : [];
    }),
  };
}

/** Distinct prefixes only in `after` and only in `before`. */
function prefixChanges(before: Buffer, after: Buffer): { added: number; removed: number } {
  const records = (b: Buffer): Set<string> => {
    const set = new Set<string>();
    for (let i = 0; i < b.length; i += PREFIX_RECORD) set.add(b.toString('latin1', i, i + PREFIX_RECORD));
    return set;
  };
  const was = records(before);
  const now = records(after);
  let kept = 0;
  for (const r of now) if (was.has(r)) kept++;
  return { added: now.size - kept, removed: was.size - kept };
}

/** "1 prefix", "1,000 prefixes". */
export function counted(n: number, one: string, many: string): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
}

/** The diff as lines for people: `+ rule x`, `- rule y`, `~ rule z: dstPorts 53 → 53, 5353`, … */
export function describeDiff(diff: PolicyDiff): string[] {
  if (diff.unchanged) return ['no changes: the live policy is the same'];
  const lines: string[] = [];
  const show = (v: string | null | undefined): string => v ?? '(none)';
  if (diff.default) lines.push(`~ default: ${diff.default.from} → ${diff.default.to}`);
  if (diff.malformed) lines.push(`~ malformed: ${diff.malformed.from} → ${diff.malformed.to}`);
  if (diff.mitigation) lines.push(`~ mitigation: ${show(diff.mitigation.from)} → ${show(diff.mitigation.to)}`);
  for (const b of diff.blocklists.added) lines.push(`+ blocklist ${b.name} (${counted(b.prefixes, 'prefix', 'prefixes')})`);
  for (const b of diff.blocklists.removed) lines.push(`- blocklist ${b.name} (${counted(b.prefixes, 'prefix', 'prefixes')})`);
  for (const b of diff.blocklists.changed) lines.push(`~ blocklist ${b.name}: +${b.added} -${b.removed} prefixes (${b.prefixes} now)`);
  for (const r of diff.rules.added) {
    const fields = Object.entries(r.fields).map(([k, v]) => (k === 'action' ? v : `${k} ${v}`));
    lines.push(`+ rule ${r.name} at #${r.position}: ${fields.join('; ')}`);
  }
  for (const r of diff.rules.removed) lines.push(`- rule ${r.name} (was #${r.position})`);
  for (const r of diff.rules.changed) {
    lines.push(`~ rule ${r.name}: ${r.changes.map((c) => `${c.field} ${show(c.from)} → ${show(c.to)}`).join('; ')}`);
  }
  for (const r of diff.rules.moved) lines.push(`↕ rule ${r.name}: #${r.from} → #${r.to}`);
  return lines;
}
