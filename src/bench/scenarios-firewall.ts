/**
 * The firewall (bpf/firewall.c) as filters in the benchmark, and Linux doing the same job, all
 * dropping the generator's frames (UDP or TCP to the benchmark port), judged against touch.
 * Selected with `xdpkit bench --scenarios firewall` (suite "firewall"; not in the default run).
 *
 * Policies: n rules, each `{src: [an address of its own], dstPorts: [10000 + i]}` alternating pass
 * and drop, none of which the traffic matches, then either
 *   -fall   nothing else, default drop: the frame falls through every rule (LBVS: no candidate
 *           chunk; a linear filter: every rule tried), or
 *   -match  a last rule `proto, dstPorts: [benchmark port]` → drop, default pass.
 * fw-1m-1k: 1,000,000 blocklist prefixes (every /32 of 198.18.0.0/15 but the link's /24, the
 * rest /64s of 2001:db8:ff00::/40 but the link's /64: none holds the sender) + the 1,000-rule
 * fall-through policy.
 *
 * The same jobs in the kernel (netdev ingress for nftables, raw PREROUTING for iptables):
 *   nft-list-…     as users commonly write it: the blocklist in interval sets, one rule per rule;
 *   ipt-list-…     iptables rule list, the blocklist in ipset hash:net sets;
 *   nft-expert-…   interval sets plus ONE concatenated `saddr . dport` interval verdict map.
 * xdp-filter's job (drop UDP/TCP to one port) is fw-1-match's: compare with the xdp-filter scenario.
 *
 * Policies are compiled once per traffic and link and written with the applier `fw apply` uses.
 */
import { applyCompiled } from '../firewall/apply.js';
import { compilePolicy, type CompiledPolicy } from '../firewall/compile.js';
import { firewallObjectPath, FIREWALL_PROGRAM } from '../firewall/instance.js';
import { policyFromObject } from '../firewall/load.js';
import type { FirewallPolicy } from '../firewall/schema.js';
import { runCommand } from '../net/index.js';
import type { XdpScenarioLoader } from './scenarios-lb.js';
import type { Scenario, ScenarioEnv, ScenarioHandle, Traffic } from './scenarios.js';

export const FIREWALL_SUITE = 'firewall';
const BLOCKLIST_SIZE = 1_000_000;
const RULE_PORT_BASE = 10000;

type Ending = 'fall' | 'match';

export interface Job {
  rules: number;
  ending: Ending;
  blocklist: boolean;
}

/** The receiver's /24 and /64 (the sender shares them): kept out of the blocklist. */
export interface Link {
  v4: string;
  v6: string;
}

async function linkOf(env: ScenarioEnv): Promise<Link> {
  const { stdout } = await runCommand(['ip', '-n', env.netns, '-j', 'addr', 'show', 'dev', env.ifname]);
  const addrs = (JSON.parse(stdout) as { addr_info: { family: string; local: string }[] }[])[0]?.addr_info ?? [];
  const v4 = addrs.find((a) => a.family === 'inet')?.local ?? '';
  const v6 = addrs.find((a) => a.family === 'inet6' && !a.local.startsWith('fe80'))?.local ?? '';
  return { v4: v4.split('.').slice(0, 3).join('.'), v6: v6.split(':').slice(0, 4).join(':') };
}

/** Rule i's source: one address of the traffic's family (distinct for every rule up to 65,536). */
const ruleSource = (family: 4 | 6, i: number): string => (family === 4 ? `198.19.${(i >> 8) & 255}.${i & 255}` : `2001:db8:fe00::${(i + 1).toString(16)}`);

function blocklist(link: Link): { v4: string[]; v6: string[] } {
  const v4: string[] = [];
  for (let n = 0; n < 512; n++) {
    const net = `198.${18 + (n >> 8)}.${n & 255}`;
    if (net === link.v4) continue;
    for (let h = 0; h < 256; h++) v4.push(`${net}.${h}`);
  }
  const v6: string[] = [];
  for (let i = 0; v4.length + v6.length < BLOCKLIST_SIZE; i++) {
    const net = `2001:db8:${(0xff00 + (i >> 16)).toString(16)}:${(i & 0xffff).toString(16)}`;
    if (net !== link.v6) v6.push(`${net}::/64`);
  }
  return { v4, v6 };
}

const cache = new Map<string, unknown>();
function cached<T>(key: string, make: () => T): T {
  if (!cache.has(key)) cache.set(key, make());
  return cache.get(key) as T;
}

const trafficKey = (env: ScenarioEnv, link: Link): string => `${env.traffic.protocol}/${env.traffic.family}/${env.dropPort}/${link.v4}/${link.v6}`;

/** The benchmark's policy for a job: exported for the test that checks what the traffic hits. */
export function benchPolicy(traffic: Traffic, dropPort: number, link: Link, job: Job): FirewallPolicy {
  const { protocol, family } = traffic;
  const rules: Record<string, unknown>[] = Array.from({ length: job.ending === 'match' ? job.rules - 1 : job.rules }, (_, i) => ({
    name: `r${i}`,
    action: i % 2 ? 'pass' : 'drop',
    proto: protocol,
    src: [ruleSource(family, i)],
    dstPorts: [RULE_PORT_BASE + i],
  }));
  if (job.ending === 'match') rules.push({ name: 'match', action: 'drop', proto: protocol, dstPorts: [dropPort] });
  const list = job.blocklist ? blocklist(link) : undefined;
  const blocklists = list ? [{ name: 'bench', entries: [...list.v4, ...list.v6] }] : [];
  return policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: job.ending === 'fall' ? 'drop' : 'pass', blocklists, rules });
}

function compiledPolicy(env: ScenarioEnv, link: Link, job: Job): CompiledPolicy {
  return cached(`xdp/${job.rules}/${job.ending}/${job.blocklist}/${trafficKey(env, link)}`, () => compilePolicy(benchPolicy(env.traffic, env.dropPort, link, job)));
}

function xdpFirewall(xdpScenario: XdpScenarioLoader, job: Job): Scenario['setup'] {
  return async (env) => {
    const compiled = compiledPolicy(env, await linkOf(env), job);
    return xdpScenario(env, firewallObjectPath(), FIREWALL_PROGRAM, undefined, (o) => {
      applyCompiled((name) => o.map(name), compiled);
    });
  };
}

/** nftables' and iptables' words for the traffic. */
function words(traffic: Traffic): { ip: 'ip' | 'ip6'; proto: string; ipt: string } {
  return { ip: traffic.family === 4 ? 'ip' : 'ip6', proto: traffic.protocol, ipt: traffic.family === 4 ? 'iptables' : 'ip6tables' };
}

function nftRuleset(env: ScenarioEnv, link: Link, job: Job, style: 'list' | 'expert'): string {
  return cached(`nft/${style}/${job.rules}/${job.ending}/${job.blocklist}/${env.ifname}/${trafficKey(env, link)}`, () => {
    const { ip, proto } = words(env.traffic);
    const n = job.ending === 'match' ? job.rules - 1 : job.rules;
    const verdict = (i: number): string => (i % 2 ? 'accept' : 'drop');
    const out = ['table netdev xdpkit_fw_bench {'];
    const list = job.blocklist ? blocklist(link) : undefined;
    if (list) {
      out.push(` set bl4 { type ipv4_addr; flags interval; elements = { ${list.v4.join(', ')} }; }`);
      out.push(` set bl6 { type ipv6_addr; flags interval; elements = { ${list.v6.join(', ')} }; }`);
    }
    const any = env.traffic.family === 4 ? '0.0.0.0/0' : '::/0';
    if (style === 'expert') {
      const elements = Array.from({ length: n }, (_, i) => `${ruleSource(env.traffic.family, i)} . ${RULE_PORT_BASE + i} : ${verdict(i)}`);
      if (job.ending === 'match') elements.push(`${any} . ${env.dropPort} : drop`);
      out.push(` map rules { type ${ip === 'ip' ? 'ipv4_addr' : 'ipv6_addr'} . inet_service : verdict; flags interval; elements = { ${elements.join(', ')} }; }`);
    }
    out.push(` chain ingress {`, `  type filter hook ingress device "${env.ifname}" priority -500;`);
    if (list) out.push('  ip saddr @bl4 drop', '  ip6 saddr @bl6 drop');
    if (style === 'expert') out.push(`  ${ip} saddr . ${proto} dport vmap @rules`);
    else {
      for (let i = 0; i < n; i++) out.push(`  ${ip} saddr ${ruleSource(env.traffic.family, i)} ${proto} dport ${RULE_PORT_BASE + i} ${verdict(i)}`);
      if (job.ending === 'match') out.push(`  ${proto} dport ${env.dropPort} drop`);
    }
    if (job.ending === 'fall') out.push('  drop');
    out.push(' }', '}', '');
    return out.join('\n');
  });
}

function nftScenario(job: Job, style: 'list' | 'expert'): Scenario['setup'] {
  return async (env) => {
    const rules = nftRuleset(env, await linkOf(env), job, style);
    await runCommand(['ip', 'netns', 'exec', env.netns, 'nft', '-f', '-'], { input: rules, timeoutMs: 300_000 });
    return { teardown: () => runCommand(['ip', 'netns', 'exec', env.netns, 'nft', 'delete', 'table', 'netdev', 'xdpkit_fw_bench']).then(() => {}) };
  };
}

function iptablesScenario(job: Job): Scenario['setup'] {
  return async (env) => {
    const link = await linkOf(env);
    const { proto, ipt } = words(env.traffic);
    const inNs = (argv: string[], input?: string) => runCommand(['ip', 'netns', 'exec', env.netns, ...argv], { ...(input !== undefined && { input }), timeoutMs: 300_000 });
    const list = job.blocklist ? blocklist(link) : undefined;
    const n = job.ending === 'match' ? job.rules - 1 : job.rules;
    const lines = ['*raw'];
    if (list) lines.push('-A PREROUTING -m set --match-set xdpkit_bl src -j DROP');
    for (let i = 0; i < n; i++) lines.push(`-A PREROUTING -p ${proto} -s ${ruleSource(env.traffic.family, i)} --dport ${RULE_PORT_BASE + i} -j ${i % 2 ? 'ACCEPT' : 'DROP'}`);
    lines.push(job.ending === 'match' ? `-A PREROUTING -p ${proto} --dport ${env.dropPort} -j DROP` : '-A PREROUTING -j DROP', 'COMMIT', '');
    if (list) {
      const family = env.traffic.family === 4 ? 'inet' : 'inet6';
      const entries = env.traffic.family === 4 ? list.v4 : list.v6;
      const set = cached(`ipset/${trafficKey(env, link)}`, () => [`create xdpkit_bl hash:net family ${family} maxelem ${2 * entries.length}`, ...entries.map((e) => `add xdpkit_bl ${e}`), ''].join('\n'));
      await inNs(['ipset', 'restore'], set);
    }
    await inNs([`${ipt}-restore`, '--noflush'], lines.join('\n'));
    return {
      async teardown() {
        await inNs([ipt, '-t', 'raw', '-F', 'PREROUTING']);
        if (list) await inNs(['ipset', 'destroy', 'xdpkit_bl']);
      },
    };
  };
}

const tcpOrUdp = (traffic: Traffic): string | undefined => (traffic.protocol === 'icmp' ? 'filters TCP and UDP ports only' : undefined);

const label = (rules: number): string => (rules >= 1000 ? `${rules / 1000}k` : String(rules));

export function firewallScenarios(xdpScenario: XdpScenarioLoader): Scenario[] {
  const scenario = (name: string, description: string, setup: (env: ScenarioEnv) => Promise<ScenarioHandle>): Scenario => ({
    name,
    group: 'filter',
    suite: FIREWALL_SUITE,
    description,
    unsupported: tcpOrUdp,
    setup,
  });
  const out: Scenario[] = [];
  for (const rules of [1, 100, 1000, 10000]) {
    for (const ending of ['fall', 'match'] as const) {
      const what = ending === 'fall' ? 'the traffic matches none, default drop' : 'the last one drops the traffic';
      out.push(scenario(`fw-${label(rules)}-${ending}`, `xdpkit firewall, ${rules} rule${rules > 1 ? 's' : ''}: ${what}`, xdpFirewall(xdpScenario, { rules, ending, blocklist: false })));
    }
  }
  const big: Job = { rules: 1000, ending: 'fall', blocklist: true };
  const list1k: Job = { rules: 1000, ending: 'fall', blocklist: false };
  out.push(
    scenario('fw-1m-1k', 'xdpkit firewall, 1M blocklist prefixes + 1,000 rules, the traffic matches none, default drop', xdpFirewall(xdpScenario, big)),
    scenario('nft-list-1k', 'nftables netdev ingress, 1,000 rules as a list, final drop', nftScenario(list1k, 'list')),
    scenario('ipt-list-1k', 'iptables raw PREROUTING, 1,000 rules as a list, final DROP', iptablesScenario(list1k)),
    scenario('nft-expert-1k', 'nftables netdev ingress, 1,000 rules in one saddr . dport interval verdict map, final drop', nftScenario(list1k, 'expert')),
    scenario('nft-list-1m-1k', 'nftables: 1M prefixes in interval sets + 1,000 rules as a list, final drop', nftScenario(big, 'list')),
    scenario('ipt-ipset-1m-1k', 'iptables: the blocklist in an ipset hash:net + 1,000 rules as a list, final DROP', iptablesScenario(big)),
    scenario('nft-expert-1m-1k', 'nftables: 1M prefixes in interval sets + one saddr . dport interval verdict map, final drop', nftScenario(big, 'expert')),
  );
  return out;
}
