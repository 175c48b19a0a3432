/**
 * `xdpkit fw block add|del|list`: manual blocks of source prefixes (IPv4/IPv6) on the firewall,
 * outside the policy (an apply keeps them), optionally with a time to live. Without --iface
 * they apply to every interface of this network namespace that runs the xdpkit firewall.
 */
import { Command } from 'commander';
import { InvalidArgumentError, NotFoundError } from '../../bpf/errors.js';
import { firewallInterfaces, withFirewallMaps } from '../../firewall/attached.js';
import { addBlock, deleteBlock, listBlocks, type ManualBlock } from '../../firewall/blocks.js';
import { formatCidr, parseCidr, type Cidr } from '../../firewall/cidr.js';
import { parseDuration } from '../../firewall/schema.js';
import { formatCount, outputFor, type Output } from '../output.js';
import { argParser } from '../validate.js';

interface BlockOptions {
  iface?: string;
  ttl?: number;
}

function parseCidrArg(value: string): Cidr {
  try {
    return parseCidr(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message, { hint: 'give a prefix such as 198.18.7.0/24 or 2001:db8:7::/48, or one address' });
  }
}

function parseTtl(value: string, option: string): number {
  try {
    return parseDuration(value);
  } catch (e) {
    throw new InvalidArgumentError(`invalid ${option} ${JSON.stringify(value)}: ${(e as Error).message}`, { hint: `e.g. ${option} 10m (ms, s, m or h)` });
  }
}

/** --iface, or every interface here with the firewall (at least one). */
export function firewallTargets(iface: string | undefined): string[] {
  if (iface !== undefined) return [iface];
  const found = firewallInterfaces();
  if (found.length === 0) {
    throw new NotFoundError('no interface of this network namespace runs the xdpkit firewall', { hint: 'apply a policy first: xdpkit fw apply -f policy.yaml --iface IF' });
  }
  return found;
}

/** "9m 58s", "1h 0m", "12s", or "until deleted". */
export function formatRemaining(seconds: number | null): string {
  if (seconds === null) return 'until deleted';
  const s = Math.max(0, Math.ceil(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${s}s`;
}

function runAdd(cidr: Cidr, o: BlockOptions, out: Output): void {
  const ifaces = firewallTargets(o.iface);
  for (const iface of ifaces) withFirewallMaps(iface, (maps) => addBlock(maps, cidr, o.ttl));
  const text = formatCidr(cidr);
  out.result({ blocked: text, ifaces, expiresIn: o.ttl ?? null }, () =>
    out.line(`${out.colors.red('blocked')} ${text} on ${ifaces.join(', ')} ${o.ttl === undefined ? 'until deleted' : `for ${formatRemaining(o.ttl)}`}`),
  );
}

function runDel(cidr: Cidr, o: BlockOptions, out: Output): void {
  const ifaces = firewallTargets(o.iface);
  for (const iface of ifaces) withFirewallMaps(iface, (maps) => deleteBlock(maps, cidr));
  const text = formatCidr(cidr);
  out.result({ unblocked: text, ifaces }, () => out.line(`unblocked ${text} on ${ifaces.join(', ')}`));
}

function runList(o: BlockOptions, out: Output): void {
  const rows: (ManualBlock & { iface: string })[] = [];
  for (const iface of firewallTargets(o.iface)) rows.push(...withFirewallMaps(iface, (maps) => listBlocks(maps)).map((b) => ({ iface, ...b })));
  out.result({ blocks: rows }, () => {
    if (rows.length === 0) {
      out.line('no manual blocks');
      return;
    }
    out.table(
      [{ header: 'IFACE' }, { header: 'PREFIX' }, { header: 'EXPIRES IN' }, { header: 'DROPPED', align: 'right' }],
      rows.map((b) => [b.iface, b.cidr, formatRemaining(b.expiresIn), formatCount(b.dropped)]),
    );
  });
}

export function fwBlockCommand(): Command {
  const block = new Command('block').description('manual blocks of source prefixes, kept across policy applies');
  const iface = ['--iface <ifname>', 'interface (default: every interface here with the firewall)'] as const;
  block
    .command('add')
    .description('drops every packet from a source prefix, before blocklists, mitigation and rules')
    .argument('<cidr>', 'IPv4 or IPv6 prefix or address', parseCidrArg)
    .option('--ttl <duration>', 'how long, e.g. 90s, 10m, 2h (default: until deleted)', argParser(parseTtl, '--ttl'))
    .option(...iface)
    .action((cidr: Cidr, options: BlockOptions, command: Command) => runAdd(cidr, options, outputFor(command)));
  block
    .command('del')
    .description('removes the block of exactly this prefix')
    .argument('<cidr>', 'IPv4 or IPv6 prefix or address, as listed', parseCidrArg)
    .option(...iface)
    .action((cidr: Cidr, options: BlockOptions, command: Command) => runDel(cidr, options, outputFor(command)));
  block
    .command('list')
    .description('the blocks in force, with the time they have left and what they dropped (expired ones are removed)')
    .option(...iface)
    .action((options: BlockOptions, command: Command) => runList(options, outputFor(command)));
  return block;
}
