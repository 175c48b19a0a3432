/**
 * `xdpkit bench`: measures XDP ceilings, xdpkit's built-ins and Linux's own filters (iptables,
 * nftables, xdp-filter, the bare stack) and forwarders on a throwaway veth pair with the in-kernel generator,
 * prints the table and writes JSON + Markdown under bench/results/. Everything it creates lives
 * in its own namespaces and is removed at the end, also on Ctrl-C.
 */
import { Command } from 'commander';
import { z } from 'zod';
import { summaryRow, COLUMNS, headerLines, writeResults } from '../../bench/report.js';
import { DEFAULT_LOAD, pickScenarios, runBench } from '../../bench/run.js';
import { SCENARIOS } from '../../bench/scenarios.js';
import { flowFrame, MAX_FLOWS, MAX_FRAME_SIZE, MIN_FRAME_SIZE, TEMPLATE_PROTOCOLS } from '../../net/index.js';
import { checkCommandLine, CommandLineError } from '../errors.js';
import { outputFor } from '../output.js';

const Options = z
  .object({
    rounds: z.coerce.number().int().min(1).max(100),
    warmup: z.coerce.number().int().min(0).max(10),
    pairs: z.coerce.number().int().min(1).max(20),
    duration: z.coerce.number().positive().max(60).optional(),
    count: z.coerce.number().int().min(1).max(1e9).optional(),
    proto: z.enum(TEMPLATE_PROTOCOLS),
    family: z.enum(['4', '6']).optional(),
    ipv6: z.boolean().optional(),
    flows: z.coerce.number().int().min(1).max(MAX_FLOWS, `at most ${MAX_FLOWS.toLocaleString('en-US')} flows (the generator's limit)`),
    size: z.coerce.number().int().min(MIN_FRAME_SIZE).max(MAX_FRAME_SIZE).optional(),
    batch: z.coerce.number().int().min(1).max(256),
    load: z.coerce.number().gt(0, 'must be above 0').max(1),
    scenarios: z.string().optional(),
    write: z.boolean(),
  })
  .refine((o) => !(o.ipv6 && o.family === '4'), { message: '--ipv6 and --family 4 contradict each other', path: ['family'] });

export function benchCommand(): Command {
  return new Command('bench')
    .description('benchmark XDP programs against iptables, nftables, xdp-filter, the stack and kernel forwarding (in-kernel traffic on veth pairs)')
    .option('--rounds <n>', 'rounds; every round gives each scenario a slot', '5')
    .option('--warmup <n>', 'rounds run first and not counted', '1')
    .option('--pairs <n>', 'scenario windows per slot, each between two windows of its baseline', '3')
    .option('--duration <seconds>', 'traffic per window (default 0.25, or until --count)')
    .option('--count <frames>', 'frames per window (with --duration: whichever ends first)')
    .option('--proto <udp|tcp|icmp>', 'traffic: UDP, TCP (ACK segments) or ICMP echo requests', 'udp')
    .option('--family <4|6>', 'IPv4 or IPv6 traffic (default 4)')
    .option('--ipv6', 'same as --family 6')
    .option('--flows <n>', `flows (source address/port pairs), 1..${MAX_FLOWS.toLocaleString('en-US')}`, '1')
    .option('--size <bytes>', `frame size without FCS, ${MIN_FRAME_SIZE} (the 64-byte minimum) to ${MAX_FRAME_SIZE} (default: the smallest the headers allow)`)
    .option('--batch <n>', 'live-frames batch size', '64')
    .option('--load <share>', 'pace the frames so that each receiver is busy about this share of the time, below saturation (the first windows run unpaced to measure capacities); 1 = no pacing, as fast as the generator goes', String(DEFAULT_LOAD))
    .option('--scenarios <list>', `comma-separated subset of: ${SCENARIOS.map((s) => s.name).join(', ')} (touch, and xdp-fwd with forwarders, always run)`)
    .option('--no-write', 'do not write results under bench/results/')
    .action(async (raw: Record<string, unknown>, command: Command) => {
      const parsed = Options.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new CommandLineError(`--${String(issue?.path[0] ?? '?')}: ${issue?.message ?? 'invalid'}`);
      }
      const o = parsed.data;
      const family = o.ipv6 || o.family === '6' ? 6 : 4;
      const scenarios = o.scenarios?.split(',').map((s) => s.trim()).filter(Boolean);
      // Whatever the run would refuse, refused now (exit 2) before anything is created.
      checkCommandLine(() => {
        pickScenarios(scenarios, { protocol: o.proto, family });
        const probe = family === 4 ? { src: '198.18.0.1', dst: '198.18.0.2' } : { src: '2001:db8::1', dst: '2001:db8::2' };
        flowFrame({ ...probe, protocol: o.proto, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', dstPort: 9, ...(o.size !== undefined ? { frameSize: o.size } : {}) });
      });
      const out = outputFor(command);
      const report = await runBench({
        rounds: o.rounds,
        warmupRounds: o.warmup,
        pairs: o.pairs,
        ...(o.duration !== undefined ? { durationS: o.duration } : {}),
        ...(o.count !== undefined ? { packets: o.count } : {}),
        protocol: o.proto,
        family,
        flows: o.flows,
        ...(o.size !== undefined ? { frameSize: o.size } : {}),
        batchSize: o.batch,
        load: o.load,
        ...(scenarios ? { scenarios } : {}),
        onProgress: (text) => {
          if (process.stderr.isTTY && !out.json) process.stderr.write(`\r\x1b[K${text}`);
        },
      });
      if (process.stderr.isTTY && !out.json) process.stderr.write('\r\x1b[K');
      const files = o.write ? writeResults(report) : undefined;
      out.result({ ...report, ...(files ? { files } : {}) }, () => {
        for (const line of headerLines(report)) out.line(out.colors.dim(line));
        out.line();
        out.table(
          COLUMNS.map((header, i) => ({ header, align: i === 0 ? 'left' : 'right' })),
          report.summaries.map(summaryRow),
        );
        out.line();
        out.line(out.colors.dim('ratio: the baseline\'s ns/pkt (vs) ÷ this ns/pkt, from windows right before and after (1.00 = as cheap); median over rounds'));
        if (files) out.note(`wrote ${files.markdown}, ${files.json} and ${files.svg}`);
      });
    });
}
