/**
 * `xdpkit fw …`: the firewall (issue 8).
 *   fw explain --src --dst [--proto --sport --dport --flags] -f policy.yaml
 *       the reference evaluator's verdict and the rule or blocklist that decides it;
 *   fw test -f policy.yaml --pcap in.pcap [--json] [--reference]
 *       every packet through the compiled program in the kernel (BPF_PROG_TEST_RUN on a private
 *       instance that records each decision), or through the reference evaluator: per packet
 *       {index, verdict, kind, rule}, and a summary.
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
import { outputFor, type Output } from '../output.js';
import { argParser, parseMode, parsePort } from '../validate.js';
import type { XdpModeRequest } from '../../bpf/xdp.js';
import { NotFoundError } from '../../bpf/index.js';
import { activeGeneration, applyCompiled, hasPolicy, type MapSource } from '../../firewall/apply.js';
import { firewallObjectPath, FIREWALL_PROGRAM } from '../../firewall/instance.js';
import { liveSummaryPath, readLiveSummary, readStats, summarize, writeLiveSummary } from '../../firewall/live.js';
import { rmSync } from 'node:fs';
import { attachedProgram, withProgramMaps } from '../../programs/attached.js';
import { interfaceKey } from '../../programs/interface-key.js';
import { loadOnInterface, unloadFromInterface } from '../../programs/manager.js';
import { formatBytes, formatCount } from '../output.js';

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

/** The firewall program on `ifname` (by program name), or undefined when another or none runs. */
function attachedFirewall(ifname: string): { mapIds: number[] } | undefined {
  try {
    const a = attachedProgram(ifname);
    return a.attachment.programName === FIREWALL_PROGRAM.slice(0, 15) || a.attachment.programName === FIREWALL_PROGRAM ? { mapIds: a.mapIds } : undefined;
  } catch (e) {
    if (e instanceof NotFoundError) return undefined;
    throw e;
  }
}

function withFirewallMaps<T>(ifname: string, fn: (maps: MapSource) => T): T {
  const fw = attachedFirewall(ifname);
  if (!fw) throw new NotFoundError(`${ifname} has no xdpkit firewall`, { hint: `apply a policy: xdpkit fw apply -f policy.yaml --iface ${ifname}` });
  return withProgramMaps(fw.mapIds, (list) =>
    fn((name) => {
      const m = list.find((x) => x.name === name.slice(0, 15));
      if (!m) throw new NotFoundError(`the firewall on ${ifname} has no map ${name}`);
      return m;
    }),
  );
}

function runApply(o: ApplyCliOptions, out: Output): void {
  const policy = loadPolicyFile(o.file);
  const compiled = compilePolicy(policy);
  const key = interfaceKey(o.iface);
  const attached = attachedFirewall(o.iface) !== undefined;
  // A summary left behind by a firewall that is gone (prog unload) says nothing about now.
  const before = attached ? readLiveSummary(key) : undefined;
  const beforeNames = new Set(before?.rules.map((r) => r.name) ?? []);
  const afterNames = new Set(policy.rules.map((r) => r.name));
  const diff = {
    rules: policy.rules.length,
    blocklists: policy.blocklists.length,
    blocklistEntries: policy.blocklists.reduce((n, b) => n + b.entries.length, 0),
    added: policy.rules.filter((r) => !beforeNames.has(r.name)).map((r) => r.name),
    removed: [...beforeNames].filter((n) => !afterNames.has(n)),
  };
  const printDiff = (): void => {
    out.line(`${diff.rules} rules, ${diff.blocklists} blocklists (${diff.blocklistEntries} entries)`);
    for (const n of diff.added) out.line(`  + rule ${n}`);
    for (const n of diff.removed) out.line(`  - rule ${n}`);
  };
  if (o.dryRun) {
    out.result({ dryRun: true, iface: o.iface, ...diff }, () => {
      out.line(`dry run: would apply ${o.file} on ${o.iface}`);
      printDiff();
    });
    return;
  }
  let generation: 0 | 1;
  let loaded = false;
  if (attached) {
    generation = withFirewallMaps(o.iface, (maps) => applyCompiled(maps, compiled).generation);
  } else {
    let g: 0 | 1 = 0;
    loadOnInterface({
      ifname: o.iface,
      program: firewallObjectPath(),
      section: FIREWALL_PROGRAM,
      mode: o.mode,
      pinMaps: true,
      configure: (object) => {
        g = applyCompiled((name) => object.map(name), compiled).generation;
      },
    });
    generation = g;
    loaded = true;
  }
  writeLiveSummary(key, summarize(policy, o.file, generation));
  out.result({ iface: o.iface, loaded, generation, ...diff }, () => {
    out.line(`${out.colors.green('applied')} ${o.file} on ${o.iface} (generation ${generation}${loaded ? ', firewall loaded' : ''})`);
    printDiff();
  });
}

function liveSummaryOf(ifname: string): NonNullable<ReturnType<typeof readLiveSummary>> {
  const s = readLiveSummary(interfaceKey(ifname));
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

function runStats(ifname: string, out: Output): void {
  const s = liveSummaryOf(ifname);
  const stats = withFirewallMaps(ifname, (maps) => readStats(maps, s, activeGeneration(maps)));
  out.result({ iface: ifname, ...stats }, () => {
    const cols = [{ header: 'NAME' }, { header: 'KIND' }, { header: 'PACKETS', align: 'right' as const }, { header: 'BYTES', align: 'right' as const }];
    out.table(cols, [
      ...stats.blocklists.map((b) => [b.name, 'blocklist', formatCount(b.packets), formatBytes(b.bytes)]),
      ...stats.rules.map((r) => [r.name, `rule ${r.action}`, formatCount(r.packets), formatBytes(r.bytes)]),
      ...Object.entries(stats.misc).map(([k, c]) => [k, 'other', formatCount(c.packets), formatBytes(c.bytes)]),
    ]);
  });
}

function runUnload(ifname: string, out: Output): void {
  const outcome = unloadFromInterface(ifname);
  rmSync(liveSummaryPath(interfaceKey(ifname)), { force: true });
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
    .option('--dry-run', 'show what would change without touching the kernel')
    .action((options: ApplyCliOptions, command: Command) => runApply(options, outputFor(command)));
  fw.command('show')
    .description('the live policy on an interface: generation, rules, blocklists')
    .argument('<ifname>', 'interface')
    .action((ifname: string, _o: unknown, command: Command) => runShow(ifname, outputFor(command)));
  fw.command('stats')
    .description('per rule and blocklist packets and bytes of the live generation')
    .argument('<ifname>', 'interface')
    .action((ifname: string, _o: unknown, command: Command) => runStats(ifname, outputFor(command)));
  fw.command('unload')
    .description('detaches the firewall from an interface and forgets its policy')
    .argument('<ifname>', 'interface')
    .action((ifname: string, _o: unknown, command: Command) => runUnload(ifname, outputFor(command)));
  return fw;
}
