/**
 * `xdpkit fw …`: the firewall (issue 8).
 *   fw explain --src --dst [--proto --sport --dport --flags] -f policy.yaml
 *       the reference evaluator's verdict and the rule or blocklist that decides it;
 *   fw test -f policy.yaml --pcap in.pcap [--json] [--reference]
 *       every packet through the compiled program in the kernel (BPF_PROG_TEST_RUN on a private
 *       instance that records each decision), or through the reference evaluator: per packet
 *       {index, verdict, kind, rule}, and a summary;
 *   fw apply -f policy.yaml --iface IF [--dry-run], fw diff -f policy.yaml [--iface IF]
 *       what the policy changes against the live one (diff.ts); apply loads the firewall on
 *       first use, then swaps generations (progress on a terminal);
 *   fw show / fw stats [--watch] / fw unload IF: the live policy, its counters and rates.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { compilePolicy } from '../../firewall/compile.js';
import { FirewallTestInstance } from '../../firewall/instance.js';
import { loadPolicyFile } from '../../firewall/load.js';
import { createReferenceEvaluator, type Decision } from '../../firewall/reference.js';
import { PROTO_NAMES, type FirewallPolicy } from '../../firewall/schema.js';
import { buildPacket, type LayerSpec } from '../../net/packet.js';
import { readPcap, LINKTYPE_ETHERNET } from '../../net/pcap.js';
import { CommandLineError } from '../errors.js';
import { formatBytes, formatCount, formatRate, outputFor, type Cell, type Column, type Output } from '../output.js';
import { argParser, parseMode, parsePort, parsePositiveNumber } from '../validate.js';
import { watchLoop } from '../watch.js';
import type { XdpModeRequest } from '../../bpf/xdp.js';
import { NotFoundError } from '../../bpf/index.js';
import { activeGeneration, applyCompiled, hasPolicy, type ApplyPhase, type ApplyResult } from '../../firewall/apply.js';
import { firewallFeature, firewallInterfaces, hasFirewall, withFirewallMaps } from '../../firewall/attached.js';
import { counted, describeDiff, diffPolicies, type PolicyDiff } from '../../firewall/diff.js';
import { firewallObjectPath, FIREWALL_PROGRAM } from '../../firewall/instance.js';
import { readLiveSummary, readStats, summarize, writeLiveSummary, type FirewallStats, type LiveSummary } from '../../firewall/live.js';
import { ratesBetween, type RatedCounter, type RatedStats } from '../../firewall/rates.js';
import { readPolicySnapshot, snapshotPolicy, writePolicySnapshot, type PolicySnapshot } from '../../firewall/snapshot.js';
import { interfaceKey } from '../../programs/interface-key.js';
import { loadOnInterface, unloadFromInterface } from '../../programs/manager.js';
import { fwBlockCommand } from './fw-block.js';
import { fwTopCommand } from './fw-top.js';

interface PacketResult {
  index: number;
  verdict: 'pass' | 'drop';
  kind: string;
  rule?: string;
  blocklist?: string;
  rateLimited?: boolean;
}

function named(policy: FirewallPolicy, d: { kind: string; index?: number; verdict: 'pass' | 'drop'; rateLimited?: boolean }, index: number): PacketResult {
  const out: PacketResult = { index, verdict: d.verdict, kind: d.kind };
  if (d.kind === 'rule' && d.index !== undefined) {
    out.rule = policy.rules[d.index]?.name ?? `#${d.index}`;
    if (d.rateLimited) out.rateLimited = true;
  }
  if (d.kind === 'blocklist' && d.index !== undefined) out.blocklist = policy.blocklists[d.index]?.name ?? `#${d.index}`;
  return out;
}

function fromReference(policy: FirewallPolicy, d: Decision, index: number): PacketResult {
  const i = d.kind === 'rule' ? d.rule : d.kind === 'blocklist' ? d.blocklist : undefined;
  return named(policy, { kind: d.kind, verdict: d.verdict, ...(i !== undefined && { index: i }), ...(d.kind === 'rule' && d.rateLimited && { rateLimited: true }) }, index);
}

function parseProto(value: string): number {
  const n = PROTO_NAMES[value.toLowerCase()] ?? (/^\d{1,3}$/.test(value) ? Number(value) : NaN);
  if (!(n >= 0 && n <= 255)) throw new CommandLineError(`--proto "${value}" is not a protocol`, { hint: 'use tcp, udp, icmp, icmpv6 or a number 0..255' });
  return n;
}

function describeResult(r: PacketResult): string {
  return r.kind === 'rule' ? `rule ${r.rule}${r.rateLimited ? ' (rate-limited)' : ''}` : r.kind === 'blocklist' ? `blocklist ${r.blocklist}` : r.kind;
}

interface ExplainOptions {
  file: string;
  src: string;
  dst: string;
  proto: string;
  sport?: number;
  dport?: number;
  flags?: string;
}

function explainFrame(o: ExplainOptions): Buffer {
  const v6 = o.src.includes(':');
  if (v6 !== o.dst.includes(':')) throw new CommandLineError('--src and --dst are of different address families', { hint: 'give two IPv4 or two IPv6 addresses' });
  const proto = parseProto(o.proto);
  const layers: LayerSpec[] = [{ type: 'eth' }, v6 ? { type: 'ipv6', src: o.src, dst: o.dst, nextHeader: proto } : { type: 'ipv4', src: o.src, dst: o.dst, protocol: proto }];
  if (proto === 6) {
    let flags = 0x02;
    if (o.flags !== undefined) {
      const bits: Record<string, number> = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16, urg: 32, ece: 64, cwr: 128 };
      flags = 0;
      for (const f of o.flags.split(',').filter(Boolean)) {
        const b = bits[f.trim().toLowerCase()];
        if (b === undefined) throw new CommandLineError(`--flags: unknown TCP flag "${f}"`, { hint: `use ${Object.keys(bits).join(', ')}` });
        flags |= b;
      }
    }
    layers.push({ type: 'tcp', srcPort: o.sport ?? 0, dstPort: o.dport ?? 0, flags });
  } else if (proto === 17) layers.push({ type: 'udp', srcPort: o.sport ?? 0, dstPort: o.dport ?? 0 });
  else if (proto === 1) layers.push({ type: 'icmp' });
  else if (proto === 58) layers.push({ type: 'icmpv6' });
  else layers.push({ type: 'payload', data: new Uint8Array(8) });
  return Buffer.from(buildPacket(layers));
}

function runExplain(o: ExplainOptions, out: Output): void {
  const policy = loadPolicyFile(o.file);
  const r = fromReference(policy, createReferenceEvaluator(policy).evaluate(explainFrame(o)), 0);
  const { index: _index, ...result } = r;
  out.result(result, () => out.line(`${r.verdict} (${describeResult(r)})`));
}

interface TestOptions {
  file: string;
  pcap: string;
  reference?: boolean;
}

function runTest(o: TestOptions, out: Output): void {
  const policy = loadPolicyFile(o.file);
  const pcap = readPcap(readFileSync(o.pcap));
  if (pcap.linkType !== LINKTYPE_ETHERNET) {
    throw new CommandLineError(`${o.pcap} has link type ${pcap.linkType}, not Ethernet (1)`, { hint: 'capture on an Ethernet interface (tcpdump -i IF -w FILE)' });
  }
  const results: PacketResult[] = [];
  if (o.reference) {
    const ref = createReferenceEvaluator(policy);
    pcap.records.forEach((rec, i) => results.push(fromReference(policy, ref.evaluate(rec.data), i)));
  } else {
    const fw = FirewallTestInstance.open();
    try {
      fw.apply(compilePolicy(policy));
      pcap.records.forEach((rec, i) => {
        // BPF_PROG_TEST_RUN (and any NIC) refuses frames shorter than an Ethernet header.
        if (rec.data.length < 14) results.push({ index: i, verdict: 'pass', kind: 'non-ip' });
        else results.push(named(policy, fw.run(rec.data), i));
      });
    } finally {
      fw.close();
    }
  }
  const summary: Record<string, number> = { packets: results.length, pass: 0, drop: 0 };
  const byDecider = new Map<string, { verdict: string; packets: number }>();
  for (const r of results) {
    summary[r.verdict]!++;
    const k = describeResult(r);
    const e = byDecider.get(k) ?? { verdict: r.verdict, packets: 0 };
    e.packets++;
    byDecider.set(k, e);
  }
  const evaluator = o.reference ? 'reference' : 'kernel';
  out.result({ evaluator, packets: results, summary: { ...summary, byDecider: Object.fromEntries(byDecider) } }, () => {
    out.table(
      [{ header: '#', align: 'right' }, { header: 'VERDICT' }, { header: 'DECIDED BY' }],
      results.map((r) => [r.index, r.verdict, describeResult(r)]),
    );
    out.line();
    out.line(`${summary.packets} packets (${evaluator}): ${summary.pass} pass, ${summary.drop} drop`);
    out.table([{ header: 'DECIDED BY' }, { header: 'VERDICT' }, { header: 'PACKETS', align: 'right' }], [...byDecider].map(([k, v]) => [k, v.verdict, v.packets]));
  });
}

interface ApplyCliOptions {
  file: string;
  iface: string;
  mode: XdpModeRequest;
  dryRun?: boolean;
}

interface PolicyChange {
  file: string;
  iface: string;
  /** Size of the new policy. */
  policy: { rules: number; blocklists: number; prefixes: number };
  diff: PolicyDiff;
}

/** What applying `file` on `iface` would change against the policy live there now. */
function policyChange(file: string, iface: string, policy: FirewallPolicy, snapshot: PolicySnapshot): PolicyChange {
  // A snapshot left behind by a firewall that is gone says nothing about now.
  const live = hasFirewall(iface) ? readPolicySnapshot(interfaceKey(iface)) : undefined;
  return {
    file,
    iface,
    policy: { rules: policy.rules.length, blocklists: policy.blocklists.length, prefixes: policy.blocklists.reduce((n, b) => n + b.entries.length, 0) },
    diff: diffPolicies(live, snapshot),
  };
}

function printChange(change: PolicyChange, out: Output): void {
  const p = change.policy;
  out.line(`${change.file}: ${counted(p.rules, 'rule', 'rules')}, ${counted(p.blocklists, 'blocklist', 'blocklists')} (${counted(p.prefixes, 'prefix', 'prefixes')})`);
  if (!change.diff.live) out.line(`${change.iface} has no xdpkit firewall: applying loads it with everything below`);
  for (const line of describeDiff(change.diff)) out.line(`  ${line}`);
}

/**
 * Progress of `fw apply` on a terminal: one self-erasing line on stderr (reading the policy,
 * then each apply phase with entries done/total); nothing with --json or when stderr is not a TTY.
 */
function progressLine(out: Output): { reading(file: string): void; onProgress?: (phase: ApplyPhase, done: number, total: number) => void; done(): void } {
  if (out.json || !process.stderr.isTTY) return { reading: () => {}, done: () => {} };
  const show = (text: string): boolean => process.stderr.write(`\r\x1b[K${text}`);
  return {
    reading: (file) => show(`reading ${file}…`),
    onProgress: (phase, done, total) => show(`applying: ${phase} ${formatCount(done)}/${formatCount(total)}`),
    done: () => show(''),
  };
}

function runApply(o: ApplyCliOptions, out: Output): void {
  const progress = progressLine(out);
  progress.reading(o.file);
  let policy: FirewallPolicy;
  try {
    policy = loadPolicyFile(o.file);
  } finally {
    progress.done();
  }
  const compiled = compilePolicy(policy);
  const snapshot = snapshotPolicy(policy);
  const change = policyChange(o.file, o.iface, policy, snapshot);
  if (o.dryRun) {
    out.result({ dryRun: true, ...change }, () => {
      out.line(`dry run: would apply ${o.file} on ${o.iface}`);
      printChange(change, out);
    });
    return;
  }
  const key = interfaceKey(o.iface);
  const options = progress.onProgress ? { onProgress: progress.onProgress } : {};
  let result: ApplyResult | undefined;
  try {
    if (change.diff.live) {
      result = withFirewallMaps(o.iface, (maps) => applyCompiled(maps, compiled, options));
    } else {
      loadOnInterface({
        ifname: o.iface,
        program: firewallObjectPath(),
        section: FIREWALL_PROGRAM,
        mode: o.mode,
        pinMaps: true,
        feature: firewallFeature(key),
        configure: (object) => {
          result = applyCompiled((name) => object.map(name), compiled, options);
        },
      });
    }
  } finally {
    progress.done();
  }
  const { generation, ms } = result!;
  writeLiveSummary(key, summarize(policy, o.file, generation));
  writePolicySnapshot(key, snapshot);
  const loaded = !change.diff.live;
  out.result({ loaded, generation, ms: Math.round(ms), ...change }, () => {
    out.line(`${out.colors.green('applied')} ${o.file} on ${o.iface} (generation ${generation}${loaded ? ', firewall loaded' : ''}, ${Math.round(ms)} ms)`);
    printChange(change, out);
  });
}

interface DiffOptions {
  file: string;
  iface?: string;
}

/** The interface `fw diff` compares with: --iface, or the only one with a firewall. */
function diffInterface(iface: string | undefined): string {
  if (iface !== undefined) return iface;
  const found = firewallInterfaces();
  if (found.length === 1) return found[0]!;
  if (found.length === 0) {
    throw new NotFoundError('no interface of this network namespace has an xdpkit firewall to compare with', { hint: 'name the interface the policy is for: --iface IF' });
  }
  throw new CommandLineError(`several interfaces have an xdpkit firewall: ${found.join(', ')}`, { hint: 'choose one with --iface' });
}

function runDiff(o: DiffOptions, out: Output): void {
  const iface = diffInterface(o.iface);
  const policy = loadPolicyFile(o.file);
  const change = policyChange(o.file, iface, policy, snapshotPolicy(policy));
  out.result(change, () => printChange(change, out));
}

function liveSummaryOf(ifname: string): LiveSummary {
  const s = hasFirewall(ifname) ? readLiveSummary(interfaceKey(ifname)) : undefined;
  if (!s) throw new NotFoundError(`no policy applied on ${ifname} by xdpkit`, { hint: `apply one: xdpkit fw apply -f policy.yaml --iface ${ifname}` });
  return s;
}

function runShow(ifname: string, out: Output): void {
  const s = liveSummaryOf(ifname);
  const generation = withFirewallMaps(ifname, (maps) => (hasPolicy(maps) ? activeGeneration(maps) : undefined));
  if (generation === undefined) throw new NotFoundError(`the firewall on ${ifname} has no policy`, { hint: `xdpkit fw apply -f policy.yaml --iface ${ifname}` });
  out.result({ iface: ifname, ...s, generation }, () => {
    out.line(`${ifname}: ${s.file} (applied ${s.appliedAt}), generation ${generation}, default ${s.default}, malformed ${s.malformed}`);
    out.table([{ header: 'BLOCKLIST' }, { header: 'ENTRIES', align: 'right' }], s.blocklists.map((b) => [b.name, b.entries]));
    out.table([{ header: '#', align: 'right' }, { header: 'RULE' }, { header: 'ACTION' }], s.rules.map((r, i) => [i, r.name, r.action]));
  });
}

interface StatsCliOptions {
  watch?: boolean;
  interval: number;
}

const rateCells = (c: RatedCounter): Cell[] => [c.rate ? formatRate(c.rate.pps) : '-', c.rate ? formatRate(c.rate.bps, 'bit/s') : '-'];

function printStats(stats: RatedStats, watching: boolean, out: Output): void {
  const cols: Column[] = [{ header: 'NAME' }, { header: 'KIND' }, { header: 'PACKETS', align: 'right' }, { header: 'BYTES', align: 'right' }];
  if (watching) cols.push({ header: 'RATE', align: 'right' }, { header: 'THROUGHPUT', align: 'right' });
  const row = (name: string, kind: string, c: RatedCounter): Cell[] => [name, kind, formatCount(c.packets), formatBytes(c.bytes), ...(watching ? rateCells(c) : [])];
  out.table(cols, [
    ...stats.blocklists.map((b) => row(b.name, 'blocklist', b)),
    ...stats.rules.map((r) => row(r.name, `rule ${r.action}`, r)),
    ...Object.entries(stats.misc).map(([k, c]) => row(k, 'other', c)),
  ]);
}

async function runStats(ifname: string, o: StatsCliOptions, out: Output): Promise<void> {
  const read = (): { stats: FirewallStats; at: number } => {
    const s = liveSummaryOf(ifname);
    return { stats: withFirewallMaps(ifname, (maps) => readStats(maps, s, activeGeneration(maps))), at: performance.now() };
  };
  if (!o.watch) {
    const { stats } = read();
    out.result({ iface: ifname, ...stats }, () => printStats(ratesBetween(undefined, stats, 0), false, out));
    return;
  }
  let before = read();
  await watchLoop({ intervalS: o.interval, watch: true, clearScreen: !out.json && process.stdout.isTTY }, () => {
    const after = read();
    const rated = ratesBetween(before.stats, after.stats, (after.at - before.at) / 1000);
    before = after;
    if (out.json) out.jsonLine({ iface: ifname, time: new Date().toISOString(), ...rated });
    else {
      out.line(`${out.colors.bold(ifname)}  generation ${rated.generation}  ${new Date().toISOString()}`);
      printStats(rated, true, out);
    }
  });
}

function runUnload(ifname: string, out: Output): void {
  if (!hasFirewall(ifname)) throw new NotFoundError(`${ifname} has no xdpkit firewall`, { hint: `see what runs there: xdpkit status ${ifname}` });
  // The program record lists the firewall's state files: the manager removes them with it.
  const outcome = unloadFromInterface(ifname);
  out.result(outcome, () => out.line(`unloaded the firewall from ${ifname}`));
}

export function fwCommand(): Command {
  const fw = new Command('fw').description('XDP firewall: policies, tests and explanations');
  fw.command('explain')
    .description('the verdict a policy gives one packet and the rule or blocklist that decides it (reference evaluator)')
    .requiredOption('-f, --file <policy>', 'policy file (YAML or JSON)')
    .requiredOption('--src <address>', 'source address')
    .requiredOption('--dst <address>', 'destination address')
    .option('--proto <proto>', 'tcp, udp, icmp, icmpv6 or a number', 'tcp')
    .option('--sport <port>', 'source port', argParser(parsePort, '--sport'))
    .option('--dport <port>', 'destination port', argParser(parsePort, '--dport'))
    .option('--flags <flags>', 'TCP flags set, e.g. syn,ack (default syn)')
    .action((options: ExplainOptions, command: Command) => runExplain(options, outputFor(command)));
  fw.command('test')
    .description('runs every packet of a pcap through the compiled policy in the kernel (BPF_PROG_TEST_RUN)')
    .requiredOption('-f, --file <policy>', 'policy file (YAML or JSON)')
    .requiredOption('--pcap <file>', 'Ethernet pcap file')
    .option('--reference', 'use the TypeScript reference evaluator instead of the kernel')
    .action((options: TestOptions, command: Command) => runTest(options, outputFor(command)));
  fw.command('apply')
    .description('applies a policy on an interface (loads the firewall on first use; later applies swap atomically)')
    .requiredOption('-f, --file <policy>', 'policy file (YAML or JSON)')
    .requiredOption('--iface <ifname>', 'interface')
    .option('--mode <mode>', 'native, generic or auto', argParser(parseMode, '--mode'), 'native')
    .option('--dry-run', 'show what would change (as fw diff) without touching the kernel')
    .action((options: ApplyCliOptions, command: Command) => runApply(options, outputFor(command)));
  fw.command('diff')
    .description('what applying a policy would change against the live one: rules, order, blocklists, default, malformed, mitigation')
    .requiredOption('-f, --file <policy>', 'policy file (YAML or JSON)')
    .option('--iface <ifname>', 'interface (default: the only one with a firewall)')
    .addHelpText(
      'after',
      '\nLines: + added, - removed, ~ changed (old → new), ↕ moved relative to the other rules.\n' +
        'Blocklists are compared prefix by prefix; --json gives the counts.',
    )
    .action((options: DiffOptions, command: Command) => runDiff(options, outputFor(command)));
  fw.command('show')
    .description('the live policy on an interface: generation, rules, blocklists')
    .argument('<ifname>', 'interface')
    .action((ifname: string, _o: unknown, command: Command) => runShow(ifname, outputFor(command)));
  fw.command('stats')
    .description('per rule and blocklist packets and bytes of the live generation; rates with --watch')
    .argument('<ifname>', 'interface')
    .option('--watch', 'refresh every interval with rates (packets/s, bit/s) until Ctrl-C')
    .option('--interval <seconds>', 'refresh interval with --watch', argParser(parsePositiveNumber, '--interval'), 1)
    .action((ifname: string, options: StatsCliOptions, command: Command) => runStats(ifname, options, outputFor(command)));
  fw.command('unload')
    .description('detaches the firewall from an interface and forgets its policy')
    .argument('<ifname>', 'interface')
    .action((ifname: string, _o: unknown, command: Command) => runUnload(ifname, outputFor(command)));
  fw.addCommand(fwBlockCommand()).addCommand(fwTopCommand());
  return fw;
}
