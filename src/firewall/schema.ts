/**
 * The FirewallPolicy schema (apiVersion xdpkit/v1). Parsing with `policyDocumentSchema` checks
 * the shape and normalizes every value (CIDRs to bytes, ports to ranges, flags to mask/value);
 * `load.ts` then reads blocklist files and turns zod issues into a PolicyError whose every
 * line names the path (`rules[2].dstPorts[1]`) and the fix.
 *
 * Semantics decided here (the reference evaluator and the compiler rely on them):
 * - `default` defaults to pass, `malformed` to drop.
 * - A rule's name defaults to `rule-<index>`; rule and blocklist names are unique.
 * - A CIDR with host bits set is an error (the fix names the network and the host address).
 * - Ports need proto tcp/udp/6/17 or no proto (then they match TCP and UDP); tcpFlags need
 *   proto tcp. `rate` is required with action rate-limit and refused with any other action.
 * - A rule whose src lists only one family and dst only the other could never match: refused.
 */
import { z } from 'zod';
import { parseCidr, type Cidr } from './cidr.js';
import { fromParser, requiredOr } from '../config/document.js';

export type Verdict = 'pass' | 'drop';
export type RuleAction = 'pass' | 'drop' | 'rate-limit';

export interface PortRange {
  from: number;
  to: number;
}

/** Matches when (tcp flags & mask) == value. */
export interface TcpFlagsMatch {
  mask: number;
  value: number;
  text: string;
}

export interface RateSpec {
  pps: number;
  burst: number;
}

export interface FirewallRule {
  index: number;
  name: string;
  action: RuleAction;
  /** IP protocol number (IPv4 protocol / IPv6 final next header); undefined = any. */
  proto?: number;
  src?: Cidr[];
  dst?: Cidr[];
  srcPorts?: PortRange[];
  dstPorts?: PortRange[];
  tcpFlags?: TcpFlagsMatch;
  rate?: RateSpec;
}

export interface Blocklist {
  index: number;
  name: string;
  /** Where the entries came from: the file path as written, or "entries". */
  source: string;
  entries: Cidr[];
}

export interface Mitigation {
  thresholdPps: number;
  blockForSeconds: number;
}

export interface FirewallPolicy {
  default: Verdict;
  malformed: Verdict;
  blocklists: Blocklist[];
  rules: FirewallRule[];
  mitigation?: Mitigation;
}

export const PROTO_NAMES: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmpv6: 58 };
export const TCP_FLAG_BITS: Readonly<Record<string, number>> = {
  fin: 0x01,
  syn: 0x02,
  rst: 0x04,
  psh: 0x08,
  ack: 0x10,
  urg: 0x20,
  ece: 0x40,
  cwr: 0x80,
};

export function protoName(p: number): string {
  for (const [name, num] of Object.entries(PROTO_NAMES)) if (num === p) return name;
  return String(p);
}

// ---- field parsers (throw Error with a message that says the fix) ----

export function parsePortSpec(v: number | string): PortRange {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 65535) throw new Error(`port ${v} is not an integer in 0..65535`);
    return { from: v, to: v };
  }
  const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(v);
  if (!m) throw new Error(`"${v}" is not a port or a range; write a number (53) or "low-high" ("1024-65535")`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  if (from > 65535 || to > 65535) throw new Error(`"${v}" is outside 0..65535`);
  if (from > to) throw new Error(`"${v}" has its low end above its high end; write "${to}-${from}"`);
  return { from, to };
}

export function parseTcpFlags(text: string): TcpFlagsMatch {
  const names = Object.keys(TCP_FLAG_BITS).join(', ');
  const parts = text.split(',').map((p) => p.trim().toLowerCase());
  if (parts.length === 0 || parts.some((p) => p === '' || p === '!')) {
    throw new Error(`"${text}" is not a flag list; write flags separated by commas, "!" for must-be-clear, e.g. "syn,!ack" (flags: ${names})`);
  }
  let mask = 0;
  let value = 0;
  for (const p of parts) {
    const neg = p.startsWith('!');
    const name = neg ? p.slice(1).trim() : p;
    const bit = TCP_FLAG_BITS[name];
    if (bit === undefined) throw new Error(`"${name}" is not a TCP flag; use ${names}`);
    if (mask & bit) throw new Error(`flag "${name}" is given twice in "${text}"; give each flag once`);
    mask |= bit;
    if (!neg) value |= bit;
  }
  return { mask, value, text };
}

export function parseDuration(v: number | string): number {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) throw new Error(`${v} is not a positive number of seconds`);
    return v;
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(v);
  if (!m) throw new Error(`"${v}" is not a duration; write e.g. 60s, 5m or 1h`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const seconds = unit === 'ms' ? n / 1000 : unit === 's' ? n : unit === 'm' ? n * 60 : n * 3600;
  if (seconds <= 0) throw new Error(`"${v}" must be longer than zero`);
  return seconds;
}

// ---- zod schema ----

const verdictSchema = z.enum(['pass', 'drop'], { error: requiredOr('must be pass or drop') });
const cidrSchema = z.string({ error: requiredOr('must be an address or CIDR string such as 198.18.0.0/15') }).transform(fromParser(parseCidr));
const cidrListSchema = z
  .array(cidrSchema, { error: requiredOr('must be a list of addresses or CIDRs, e.g. [198.18.1.0/24]') })
  .min(1, { error: 'an empty list matches nothing; omit the field to match any address' });
const portSchema = z
  .union([z.number(), z.string()], { error: requiredOr('must be a port number or a "low-high" range string') })
  .transform(fromParser(parsePortSpec));
const portListSchema = z
  .array(portSchema, { error: requiredOr('must be a list of ports and ranges, e.g. [53, "1024-65535"]') })
  .min(1, { error: 'an empty list matches nothing; omit the field to match any port' });
const protoSchema = z
  .union([z.string(), z.number()], { error: requiredOr('must be tcp, udp, icmp, icmpv6 or a number 0..255') })
  .transform(
    fromParser((v: string | number): number => {
      if (typeof v === 'number') {
        if (!Number.isInteger(v) || v < 0 || v > 255) throw new Error(`protocol ${v} is not an integer in 0..255`);
        return v;
      }
      const p = PROTO_NAMES[v.toLowerCase()];
      if (p === undefined) throw new Error(`"${v}" is not a protocol; use tcp, udp, icmp, icmpv6 or a number 0..255`);
      return p;
    }),
  );
const positiveInt = (what: string) =>
  z.number({ error: requiredOr(`must be a number (${what})`) }).int({ error: `${what} must be a whole number` }).positive({ error: `${what} must be at least 1` });

const rateSchema = z.strictObject(
  { pps: positiveInt('pps'), burst: positiveInt('burst').optional() },
  { error: requiredOr('must be { pps: N, burst: M } (packets per second and bucket size)') },
);

const ruleSchema = z.strictObject(
  {
    name: z.string({ error: 'must be a string' }).min(1, { error: 'must not be empty' }).optional(),
    action: z.enum(['pass', 'drop', 'rate-limit'], { error: requiredOr('must be pass, drop or rate-limit') }),
    proto: protoSchema.optional(),
    src: cidrListSchema.optional(),
    dst: cidrListSchema.optional(),
    srcPorts: portListSchema.optional(),
    dstPorts: portListSchema.optional(),
    tcpFlags: z.string({ error: requiredOr('must be a string such as "syn,!ack"') }).transform(fromParser(parseTcpFlags)).optional(),
    rate: rateSchema.optional(),
  },
  { error: requiredOr('must be a rule: { name, action, proto, src, dst, srcPorts, dstPorts, tcpFlags, rate }') },
).superRefine((r, ctx) => {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
  if (r.action === 'rate-limit' && r.rate === undefined) issue(['rate'], 'action rate-limit needs rate: { pps: N, burst: M }');
  if (r.action !== 'rate-limit' && r.rate !== undefined) issue(['rate'], `rate is only for action rate-limit; remove it or set action: rate-limit (action is ${r.action})`);
  const p = r.proto;
  const protoText = p === undefined ? 'no proto' : `proto ${protoName(p)}`;
  if (r.tcpFlags !== undefined && p !== 6) issue(['tcpFlags'], `tcpFlags need proto: tcp (this rule has ${protoText}); add proto: tcp or remove tcpFlags`);
  for (const f of ['srcPorts', 'dstPorts'] as const) {
    if (r[f] !== undefined && p !== undefined && p !== 6 && p !== 17) {
      issue([f], `ports need proto tcp or udp (this rule has ${protoText}); set proto: tcp or udp, or remove ${f}`);
    }
  }
  const fams = (l: Cidr[] | undefined) => (l === undefined ? undefined : new Set(l.map((c) => c.family)));
  const sf = fams(r.src);
  const df = fams(r.dst);
  if (sf && df && ![...sf].some((f) => df.has(f))) {
    issue(['dst'], `src lists only IPv${[...sf][0]} and dst only IPv${[...df][0]}: the rule can never match; use the same family in both`);
  }
});

const blocklistSchema = z.strictObject(
  {
    name: z.string({ error: requiredOr('must be a string') }).min(1, { error: requiredOr('must not be empty') }),
    file: z.string({ error: requiredOr('must be a file path') }).min(1, { error: requiredOr('must not be empty') }).optional(),
    entries: z.array(cidrSchema, { error: requiredOr('must be a list of addresses or CIDRs') }).optional(),
  },
  { error: requiredOr('must be a blocklist: { name, file } or { name, entries: [...] }') },
).superRefine((b, ctx) => {
  if ((b.file === undefined) === (b.entries === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [],
      message: b.file === undefined ? 'needs file: PATH or entries: [...]' : 'has both file and entries; keep one (put the entries in the file)',
    });
  }
});

const mitigationSchema = z.strictObject(
  {
    threshold: z.strictObject({ pps: positiveInt('pps') }, { error: requiredOr('must be { pps: N }') }),
    blockFor: z
      .union([z.string(), z.number()], { error: requiredOr('must be a duration such as 60s') })
      .transform(fromParser(parseDuration)),
  },
  { error: requiredOr('must be { threshold: { pps: N }, blockFor: 60s }') },
);

export const policyDocumentSchema = z
  .strictObject(
    {
      apiVersion: z.literal('xdpkit/v1', { error: requiredOr('must be xdpkit/v1') }),
      kind: z.literal('FirewallPolicy', { error: requiredOr('must be FirewallPolicy') }),
      default: verdictSchema.default('pass'),
      malformed: verdictSchema.default('drop'),
      blocklists: z.array(blocklistSchema, { error: requiredOr('must be a list of blocklists') }).default([]),
      rules: z.array(ruleSchema, { error: requiredOr('must be a list of rules') }).default([]),
      mitigation: mitigationSchema.optional(),
    },
    { error: 'a policy must be a mapping with apiVersion: xdpkit/v1 and kind: FirewallPolicy' },
  )
  .superRefine((doc, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const listNames = new Map<string, number>();
    doc.blocklists.forEach((b, i) => {
      const prev = listNames.get(b.name);
      if (prev !== undefined) issue(['blocklists', i, 'name'], `"${b.name}" is already the name of blocklists[${prev}]; give each blocklist its own name`);
      else listNames.set(b.name, i);
    });
    const ruleNames = new Map<string, number>();
    doc.rules.forEach((r, i) => {
      const name = r.name ?? `rule-${i}`;
      const prev = ruleNames.get(name);
      if (prev !== undefined) issue(['rules', i, 'name'], `"${name}" is already the name of rules[${prev}]; give each rule its own name`);
      else ruleNames.set(name, i);
    });
  })
  .transform((doc) => ({
    ...doc,
    rules: doc.rules.map(
      (r, index): FirewallRule => ({
        index,
        name: r.name ?? `rule-${index}`,
        action: r.action,
        ...(r.proto !== undefined && { proto: r.proto }),
        ...(r.src !== undefined && { src: r.src }),
        ...(r.dst !== undefined && { dst: r.dst }),
        ...(r.srcPorts !== undefined && { srcPorts: r.srcPorts }),
        ...(r.dstPorts !== undefined && { dstPorts: r.dstPorts }),
        ...(r.tcpFlags !== undefined && { tcpFlags: r.tcpFlags }),
        ...(r.rate !== undefined && { rate: { pps: r.rate.pps, burst: r.rate.burst ?? r.rate.pps } }),
      }),
    ),
    mitigation: doc.mitigation && { thresholdPps: doc.mitigation.threshold.pps, blockForSeconds: doc.mitigation.blockFor },
  }));

export type PolicyDocument = z.output<typeof policyDocumentSchema>;
