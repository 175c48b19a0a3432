/**
 * `xdpkit fw top [--iface] [--limit N]`: the heaviest sources now (mitigation's per-source
 * counters) and the sources held back, by mitigation or by a manual block, with the time left.
 * Source rates exist only where the live policy has `mitigation:` (that is what counts them).
 */
import { Command } from 'commander';
import { withFirewallMaps } from '../../firewall/attached.js';
import { listBlocks } from '../../firewall/blocks.js';
import { heaviestSources, mitigatedSources } from '../../firewall/mitigation-state.js';
import { formatCount, formatRate, outputFor, type Output } from '../output.js';
import { argParser, parsePositiveInt } from '../validate.js';
import { firewallTargets, formatRemaining } from './fw-block.js';

interface TopOptions {
  iface?: string;
  limit: number;
}

function runTop(o: TopOptions, out: Output): void {
  const report = firewallTargets(o.iface).map((iface) =>
    withFirewallMaps(iface, (maps) => ({
      iface,
      heaviest: heaviestSources(maps, o.limit),
      held: [
        ...mitigatedSources(maps).map((m) => ({ source: m.source, by: 'mitigation', expiresIn: m.expiresIn as number | null, dropped: m.dropped })),
        ...listBlocks(maps).map((b) => ({ source: b.cidr, by: 'manual block', expiresIn: b.expiresIn, dropped: b.dropped })),
      ],
    })),
  );
  out.result({ interfaces: report }, () => {
    for (const r of report) {
      out.line(out.colors.bold(`${r.iface}: heaviest sources now`));
      if (r.heaviest.length === 0) out.line('  no source seen in the last two seconds (rates are counted when the policy has mitigation)');
      else out.table([{ header: 'SOURCE' }, { header: 'RATE', align: 'right' }], r.heaviest.map((s) => [s.source, formatRate(s.pps)]));
      out.line();
      out.line(out.colors.bold(`${r.iface}: blocked sources`));
      if (r.held.length === 0) out.line('  none');
      else {
        out.table(
          [{ header: 'SOURCE' }, { header: 'BY' }, { header: 'EXPIRES IN' }, { header: 'DROPPED', align: 'right' }],
          r.held.map((h) => [h.source, h.by, formatRemaining(h.expiresIn), formatCount(h.dropped)]),
        );
      }
    }
  });
}

export function fwTopCommand(): Command {
  return new Command('top')
    .description('heaviest sources now and the sources mitigation or manual blocks hold, with the time left')
    .option('--iface <ifname>', 'interface (default: every interface here with the firewall)')
    .option('--limit <n>', 'how many of the heaviest sources', argParser(parsePositiveInt, '--limit'), 10)
    .action((options: TopOptions, command: Command) => runTop(options, outputFor(command)));
}
