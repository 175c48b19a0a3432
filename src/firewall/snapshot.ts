/**
 * The policy that is live on an interface, as `fw diff` and `fw apply --dry-run` compare it:
 * each rule's fields as text the user reads (`src: 198.18.1.0/24, 2001:db8:1::/48`), each
 * blocklist as the set of its prefixes, default, malformed and mitigation. Kept in
 * /run/xdpkit/<key>.fw.policy.json, a state file of the firewall's program record (removed with
 * it); the small live summary beside it (<key>.fw.json) is what `fw show` and `fw stats` read.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RECORD_DIR } from '../programs/records.js';
import { formatCidr, type Cidr } from './cidr.js';
import { protoName, type FirewallPolicy, type FirewallRule, type PortRange, type Verdict } from './schema.js';

export interface RuleSnapshot {
  name: string;
  /** Field → its value as text; fields the rule does not give are absent. */
  fields: Record<string, string>;
}

export interface BlocklistSnapshot {
  name: string;
  prefixes: number;
  /**
   * Every prefix as a 17-byte record (address bytes, IPv4 zero-padded to 16, then the prefix
   * length with bit 7 set for IPv6), in list order, base64: a million prefixes pack in ≈ 0.1 s
   * and compare in a few ms when unchanged (strings per prefix took seconds).
   */
  packed: string;
}

export const PREFIX_RECORD = 17;

function packPrefixes(entries: Cidr[]): string {
  const out = Buffer.alloc(entries.length * PREFIX_RECORD);
  entries.forEach((c, i) => {
    out.set(c.addr, i * PREFIX_RECORD);
    out[i * PREFIX_RECORD + 16] = c.prefixLen | (c.family === 6 ? 0x80 : 0);
  });
  return out.toString('base64');
}

export interface PolicySnapshot {
  default: Verdict;
  malformed: Verdict;
  /** "50000 pps for 60s", or undefined without mitigation. */
  mitigation?: string;
  rules: RuleSnapshot[];
  blocklists: BlocklistSnapshot[];
}

const cidrs = (list: Cidr[]): string => list.map(formatCidr).join(', ');
const ports = (list: PortRange[]): string => list.map((p) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`)).join(', ');

/** Rule fields in the order the policy format lists them (and the diff shows them). */
export const RULE_FIELDS = ['action', 'proto', 'src', 'dst', 'srcPorts', 'dstPorts', 'tcpFlags', 'rate'] as const;

/** The fields of a rule as text, in RULE_FIELDS order. */
export function ruleFields(rule: FirewallRule): Record<string, string> {
  const f: Record<string, string> = { action: rule.action };
  if (rule.proto !== undefined) f.proto = protoName(rule.proto);
  if (rule.src) f.src = cidrs(rule.src);
  if (rule.dst) f.dst = cidrs(rule.dst);
  if (rule.srcPorts) f.srcPorts = ports(rule.srcPorts);
  if (rule.dstPorts) f.dstPorts = ports(rule.dstPorts);
  if (rule.tcpFlags) f.tcpFlags = rule.tcpFlags.text;
  if (rule.rate) f.rate = `${rule.rate.pps} pps, burst ${rule.rate.burst}`;
  return f;
}

export function snapshotPolicy(policy: FirewallPolicy): PolicySnapshot {
  return {
    default: policy.default,
    malformed: policy.malformed,
    ...(policy.mitigation && { mitigation: `${policy.mitigation.thresholdPps} pps for ${policy.mitigation.blockForSeconds}s` }),
    rules: policy.rules.map((r) => ({ name: r.name, fields: ruleFields(r) })),
    blocklists: policy.blocklists.map((b) => ({ name: b.name, prefixes: b.entries.length, packed: packPrefixes(b.entries) })),
  };
}

export const policySnapshotPath = (key: string): string => join(RECORD_DIR, `${key}.fw.policy.json`);

export function writePolicySnapshot(key: string, snapshot: PolicySnapshot): void {
  mkdirSync(RECORD_DIR, { recursive: true });
  // Write then rename: a diff running at the same time reads the old snapshot or the new one.
  const path = policySnapshotPath(key);
  writeFileSync(`${path}.tmp`, JSON.stringify(snapshot));
  renameSync(`${path}.tmp`, path);
}

export function readPolicySnapshot(key: string): PolicySnapshot | undefined {
  const path = policySnapshotPath(key);
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as PolicySnapshot) : undefined;
}
