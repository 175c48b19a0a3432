/** Benchmark results as text: the table rows, and a Markdown, a JSON and an SVG file under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { packageRoot } from '../programs/catalogue.js';
import type { BenchReport, ScenarioSummary } from './run.js';

export const COLUMNS = ['scenario', 'Mpps', 'ns/pkt', 'busy', 'ratio', 'best', 'spread', 'vs', 'prog ns', 'live ns', 'other ns'] as const;

const fixed = (value: number | undefined, digits: number): string => (value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits));

/** ns per frame on the other CPU, and the share of frames that got there (cpumap's queue drops the rest). */
function otherCpu(s: ScenarioSummary): string {
  if (s.otherCpuNsPerPacket === undefined) return '-';
  return `${fixed(s.otherCpuNsPerPacket, 0)}${s.otherCpuShare !== undefined ? ` (${fixed(s.otherCpuShare * 100, 0)} %)` : ''}`;
}

/** One row per scenario: medians over rounds, ratios to the same round's baseline (1 = as cheap). */
export function summaryRow(s: ScenarioSummary): string[] {
  return [s.scenario, fixed(s.mpps, 2), fixed(s.nsPerPacket, 0), `${fixed(s.busy * 100, 0)} %`, fixed(s.ratio, 2), fixed(s.ratioBest, 2), fixed(s.ratioSpread, 2), s.baseline, fixed(s.programNs, 0), fixed(s.liveProgramNs, 0), otherCpu(s)];
}

export function headerLines(report: BenchReport): string[] {
  const s = report.settings;
  return [
    `kernel ${report.machine.kernel}, ${report.machine.cpuModel}, ${report.machine.cores} cores`,
    ...(s.statsSysctl ? ['kernel.bpf_stats_enabled is on: every BPF program paid for run-time statistics while measured'] : []),
    `${s.rounds} rounds (after ${s.warmupRounds} warm-up), each scenario in ${s.pairs} window(s) of ${windowText(report)} between windows of its baseline; ${s.frameSize}-byte ${s.protocol.toUpperCase()}/IPv${s.family} frames, ${s.flows} flow(s) (forwarding ${s.forwardFlows}), batch ${s.batchSize}; generator on CPU ${s.generatorCpu}, receiver NAPI thread on CPU ${s.receiverCpu}`,
    s.load < 1
      ? `offered load: frames paced so that each receiver is busy about ${Math.round(s.load * 100)} % of the time (first at that share of its capacity, rate ÷ busy, from an unpaced window), so its ring does not overflow`
      : "offered load: unpaced, the generator as fast as it goes (a saturated receiver's cost includes the sender's refused frames contending for the page pool)",
    ...(report.skipped ?? []).map((x) => `skipped ${x.scenario}: ${x.reason}`),
  ];
}

function windowText(report: BenchReport): string {
  const s = report.settings;
  if (s.packets !== undefined && s.durationS !== undefined) return `${s.packets} frames or ${s.durationS} s`;
  return s.packets !== undefined ? `${s.packets} frames` : `${s.durationS} s`;
}

export function markdown(report: BenchReport): string {
  const lines = [
    `# xdpkit bench, ${report.date}`,
    '',
    ...headerLines(report).map((l) => `${l}  `),
    '',
    `| ${COLUMNS.join(' | ')} |`,
    `|${COLUMNS.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`,
    ...report.summaries.map((s) => `| ${summaryRow(s).join(' | ')} |`),
    '',
    'Mpps: frames received per second at the receiver (for forwarders: at the forwarding hop). ns/pkt: CPU time of that hop\'s NAPI thread per frame received. busy: that CPU time over wall time (far below 100 %, part of ns/pkt is waking up, and a slower program that finds more frames waiting per wake-up can look cheaper).',
    'ratio: baseline ns/pkt over this ns/pkt (vs: touch-and-drop for filters, the minimal XDP forwarder for forwarders; 1.00 = as cheap). In each round\'s slot the scenario\'s windows alternate with the baseline\'s (B S B … B); both are pooled over their windows, the first and last baseline windows weighted ½ so a linear drift cancels. Median over rounds, best round, spread (max − min). touch-again (touch against touch) shows how far from 1.00 noise alone goes.',
    'prog ns: the program alone, BPF_PROG_TEST_RUN. live ns: the XDP program on the receiver per run while it ran live (kernel run-time statistics, over a short burst after the slot\'s last window). other ns: CPU time on the CPU a program steered the frames to (cpumap\'s thread, which runs the stack there) per frame that reached the stack there, with the share of received frames that did (cpumap\'s queue drops the rest when that CPU cannot keep up). Absolute figures swing between runs on shared machines; compare ratios.',
    '',
    ...report.summaries.map((s) => `- **${s.scenario}**: ${s.description}`),
    '',
  ];
  return lines.join('\n');
}

const escapeXml = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A horizontal bar chart of the ratios: one bar per scenario (median ratio to its baseline),
 * a whisker from the worst to the best round, a dashed line at 1.00 (as cheap as the baseline);
 * filters and forwarders in separate blocks. Plain SVG, no scripts or external resources.
 */
export function svgChart(report: BenchReport): string {
  const rowHeight = 22;
  const labelWidth = 110;
  const plotWidth = 460;
  const valueWidth = 130;
  const top = 46;
  const width = labelWidth + plotWidth + valueWidth + 20;
  const finite = (v: number): number => (Number.isFinite(v) ? v : 0);
  const max = Math.max(1.2, ...report.summaries.map((s) => finite(s.ratioBest)));
  const scale = (v: number): number => labelWidth + (Math.min(v, max) / max) * plotWidth;
  const groups: { title: string; rows: typeof report.summaries }[] = [
    { title: 'filters: ratio to touch-and-drop (receiver ns/pkt)', rows: report.summaries.filter((s) => s.group === 'filter') },
    { title: 'forwarders: ratio to the minimal XDP forwarder (forwarding hop ns/pkt)', rows: report.summaries.filter((s) => s.group === 'forward') },
  ].filter((g) => g.rows.length > 0);
  const parts: string[] = [];
  let y = top;
  for (const group of groups) {
    parts.push(`<text x="10" y="${y + 12}" class="title">${escapeXml(group.title)}</text>`);
    y += 22;
    const blockTop = y;
    for (const s of group.rows) {
      const median = finite(s.ratio);
      const best = finite(s.ratioBest);
      const worst = Math.max(0, best - finite(s.ratioSpread));
      const colour = s.scenario === s.baseline ? '#999' : median >= 0.95 ? '#2a7' : median >= 0.5 ? '#d90' : '#c44';
      parts.push(
        `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(s.scenario)}</text>`,
        `<rect x="${labelWidth}" y="${y + 4}" width="${(scale(median) - labelWidth).toFixed(1)}" height="${rowHeight - 8}" fill="${colour}"/>`,
        `<line x1="${scale(worst).toFixed(1)}" x2="${scale(best).toFixed(1)}" y1="${y + rowHeight / 2}" y2="${y + rowHeight / 2}" stroke="#222" stroke-width="1.5"/>`,
        `<text x="${labelWidth + plotWidth + 8}" y="${y + 15}">${Number.isFinite(s.ratio) ? s.ratio.toFixed(2) : '-'} (${Number.isFinite(s.nsPerPacket) ? s.nsPerPacket.toFixed(0) : '-'} ns)</text>`,
      );
      y += rowHeight;
    }
    parts.push(`<line x1="${scale(1).toFixed(1)}" x2="${scale(1).toFixed(1)}" y1="${blockTop}" y2="${y}" stroke="#444" stroke-dasharray="4 3"/>`);
    y += 14;
  }
  const facts = `${report.machine.kernel}, ${report.machine.cpuModel}, ${report.machine.cores} cores; ${report.settings.rounds} rounds; bar: median, whisker: worst–best round`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 10}" viewBox="0 0 ${width} ${y + 10}" font-family="sans-serif" font-size="12">`,
    '<style>.title { font-weight: bold; } .small { fill: #555; font-size: 11px; }</style>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" class="title">xdpkit bench, ${escapeXml(report.date)}</text>`,
    `<text x="10" y="34" class="small">${escapeXml(facts)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

/** Writes bench/results/bench-<date>.{json,md,svg} and returns their paths. */
export function writeResults(report: BenchReport, dir = join(packageRoot(), 'bench', 'results')): { json: string; markdown: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  const json = join(dir, `bench-${stamp}.json`);
  const md = join(dir, `bench-${stamp}.md`);
  const svg = join(dir, `bench-${stamp}.svg`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(md, `${markdown(report)}\n![ratios](${basename(svg)})\n`);
  writeFileSync(svg, svgChart(report));
  return { json, markdown: md, svg };
}
