/**
 * `xdpkit stats [iface] [--watch]`: packets, bytes and rates per verdict for programs with an
 * xdp_stats map, and for every XDP program (foreign ones too) runs/s and ns per run from the
 * kernel's run-time statistics, which are switched on only for the sampling interval.
 */
import { Command } from 'commander';
import { enableRunTimeStats, XDP_ACTION_NAMES, type XdpTarget } from '../../bpf/index.js';
import { ratesBetween, sampleTargets, type ProgramRates, type ProgramSample } from '../../observe/xdp-stats.js';
import { allTargets, resolveTarget } from '../../programs/target.js';
import { formatBytes, formatRate, type Output, outputFor } from '../output.js';
import { argParser, parseInterfaceName, parsePositiveNumber } from '../validate.js';
import { watchLoop } from '../watch.js';

interface StatsOptions {
  watch?: boolean;
  interval: number;
}

export function statsCommand(): Command {
  return new Command('stats')
    .description('packets, bytes and rates per XDP verdict; runs and ns per run for any XDP program')
    .argument('[iface]', 'only this interface', argParser(parseInterfaceName, 'interface'))
    .option('--watch', 'refresh every interval until Ctrl-C')
    .option('--interval <seconds>', 'sampling interval for rates', argParser(parsePositiveNumber, '--interval'), 1)
    .addHelpText(
      'after',
      '\nRates and ns/run are measured over the interval with the kernel\'s BPF run-time statistics\n' +
        '(switched on for the interval only; they cost ~20 ns per run while on).',
    )
    .action(async (ifname: string | undefined, options: StatsOptions, command: Command) => {
      await runStats(ifname, options, outputFor(command));
    });
}

interface Row {
  sample: ProgramSample;
  rates?: ProgramRates;
}

async function runStats(ifname: string | undefined, options: StatsOptions, out: Output): Promise<void> {
  const targets = (): XdpTarget[] => (ifname ? [resolveTarget(ifname)] : allTargets());
  const disableRunStats = enableRunTimeStats();
  try {
    let before = sampleTargets(targets());
    await watchLoop({ intervalS: options.interval, watch: options.watch ?? false, clearScreen: (options.watch ?? false) && !out.json && process.stdout.isTTY }, () => {
      const after = sampleTargets(targets());
      const rows: Row[] = after.map((sample) => {
        const previous = before.find((b) => b.ifindex === sample.ifindex && b.mode === sample.mode);
        const rates = previous ? ratesBetween(previous, sample) : undefined;
        return rates ? { sample, rates } : { sample };
      });
      render(rows, ifname, out);
      before = after;
    });
  } finally {
    disableRunStats();
  }
}

function render(rows: Row[], ifname: string | undefined, out: Output): void {
  if (out.json) {
    // `at` is a monotonic clock reading, meaningless outside this process: the rates carry the time.
    out.jsonLine(rows.map(({ sample: { at: _at, ...sample }, rates }) => ({ ...sample, rates: rates ?? null })));
    return;
  }
  if (rows.length === 0) {
    out.line(ifname ? `${ifname} has no XDP program` : 'no interface has an XDP program');
    return;
  }
  for (const { sample, rates } of rows) {
    const cost = rates?.nsPerRun === undefined ? 'no runs in the interval' : `${rates.nsPerRun.toFixed(1)} ns/run`;
    out.line(
      `${out.colors.bold(sample.ifname)}  ${sample.programName} (id ${sample.programId}, ${sample.mode})  ` +
        `${formatRate(rates?.runsPerSecond ?? 0, 'runs/s')}  ${cost}`,
    );
    if (!sample.actions) {
      out.note('  no xdp_stats map: per-verdict counters are only kept by xdpkit programs');
      continue;
    }
    const actions = sample.actions;
    out.table(
      [
        { header: '  ACTION' },
        { header: 'PACKETS', align: 'right' },
        { header: 'BYTES', align: 'right' },
        { header: 'RATE', align: 'right' },
        { header: 'THROUGHPUT', align: 'right' },
      ],
      XDP_ACTION_NAMES.map((name) => [
        `  ${name}`,
        actions[name].packets,
        formatBytes(actions[name].bytes),
        formatRate(rates?.actions?.[name].pps ?? 0),
        formatRate((rates?.actions?.[name].bps ?? 0) * 8, 'bit/s'),
      ]),
    );
  }
}
