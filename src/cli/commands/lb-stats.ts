/**
 * `xdpkit lb stats [iface] [--watch] [--interval S]`: packets, bytes and new flows per service and
 * per backend (totals since the load balancer was loaded), with rates over the interval. The live
 * state is read again every round, so services and backends added meanwhile show up.
 *
 * --json: one object; with --watch one object per line per interval (a stream, like `stats`).
 */
import { Command } from 'commander';
import { lbInterface, lbStateOf, openLbMaps } from '../../lb/deploy.js';
import type { LbCounters } from '../../lb/layout.js';
import { rates, readLbStats, type LbStats } from '../../lb/stats.js';
import { formatBytes, formatCount, formatRate, outputFor, type Output } from '../output.js';
import { argParser, parseInterfaceName, parsePositiveNumber } from '../validate.js';
import { watchLoop } from '../watch.js';

interface StatsOptions {
  watch?: boolean;
  interval: number;
}

type Rates = ReturnType<typeof rates>;

function sample(ifname: string): { iface: string; at: number; stats: LbStats } {
  const state = lbStateOf(ifname);
  const maps = openLbMaps(state);
  try {
    const stats = readLbStats(maps, state.image);
    return { iface: state.ifname, at: performance.now(), stats };
  } finally {
    maps.close();
  }
}

export function lbStatsCommand(): Command {
  return new Command('stats')
    .description('packets, bytes, new flows and their rates per service and per backend')
    .argument('[iface]', 'interface (default: the only load balancer in this namespace)', argParser(parseInterfaceName, 'interface'))
    .option('--watch', 'refresh every interval until Ctrl-C')
    .option('--interval <seconds>', 'interval the rates are measured over', argParser(parsePositiveNumber, '--interval'), 1)
    .action(async (ifname: string | undefined, options: StatsOptions, command: Command) => {
      const out = outputFor(command);
      const iface = lbInterface(ifname);
      const watch = options.watch ?? false;
      let before = sample(iface);
      await watchLoop({ intervalS: options.interval, watch, clearScreen: watch && !out.json && process.stdout.isTTY }, () => {
        const after = sample(iface);
        const view = withRates(before.stats, after.stats, (after.at - before.at) / 1000);
        if (watch && out.json) out.jsonLine({ iface: after.iface, at: new Date().toISOString(), ...view });
        else render(after.iface, view, options.interval, out);
        before = after;
      });
    });
}

/** Counters of `after` with their rates since `before` (by service key and backend, not by id: ids are reused). */
function withRates(before: LbStats, after: LbStats, seconds: number) {
  const rate = (prev: LbCounters | undefined, now: LbCounters): Rates => rates(prev ?? now, now, seconds);
  return {
    seconds,
    tooBig: after.tooBig,
    services: after.services.map((s) => ({ ...s, rates: rate(before.services.find((b) => b.service === s.service), s) })),
    backends: after.backends.map((s) => ({ ...s, rates: rate(before.backends.find((b) => b.service === s.service && b.address === s.address), s) })),
  };
}

function render(iface: string, view: ReturnType<typeof withRates>, interval: number, out: Output): void {
  if (out.json) {
    out.result({ iface, ...view }, () => {});
    return;
  }
  if (view.services.length === 0) {
    out.line(`${iface}: no services`);
    return;
  }
  const cells = (c: LbCounters, r: Rates) => [formatCount(c.packets), formatBytes(c.bytes), formatCount(c.newFlows), formatRate(r.pps), formatRate(r.bps, 'bit/s'), formatRate(r.newFlowsPerSecond, 'flows/s')];
  out.table(
    ['SERVICE / BACKEND', 'PACKETS', 'BYTES', 'NEW FLOWS', 'RATE', 'THROUGHPUT', 'NEW FLOW RATE'].map((header, i) => ({ header, align: i ? ('right' as const) : ('left' as const) })),
    view.services.flatMap((s) => [
      [`${s.name} ${s.service}`, ...cells(s, s.rates)],
      ...view.backends.filter((b) => b.service === s.name).map((b) => [`  → ${b.address}`, ...cells(b, b.rates)]),
    ]),
  );
  const { icmp, dropped } = view.tooBig;
  if (icmp + dropped > 0n) out.line(`ipip packets over the egress MTU: ${formatCount(icmp)} answered with ICMP, ${formatCount(dropped)} dropped`);
  out.note(`${iface}: totals since load; rates over the last ${interval} s`);
}
