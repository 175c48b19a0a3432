/** Benchmark results as text: the table rows, a Markdown file and a JSON file under bench/results/. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../programs/catalogue.js';
import type { BenchReport, ScenarioSummary } from './run.js';

export const COLUMNS = ['scenario', 'Mpps', 'ns/pkt', 'vs touch', 'best', 'spread', 'prog ns'] as const;

const fixed = (value: number | undefined, digits: number): string => (value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits));

/** One row per scenario: medians over rounds, ratios to the same round's touch ceiling (1 = as cheap). */
export function summaryRow(s: ScenarioSummary): string[] {
  return [s.scenario, fixed(s.mpps, 2), fixed(s.nsPerPacket, 0), fixed(s.vsTouch, 2), fixed(s.vsTouchBest, 2), fixed(s.vsTouchSpread, 2), fixed(s.programNs, 0)];
}

export function headerLines(report: BenchReport): string[] {
  const s = report.settings;
  return [
    `kernel ${report.machine.kernel}, ${report.machine.cpuModel}, ${report.machine.cores} cores`,
    `${s.rounds} rounds × ${s.durationS !== undefined ? `${s.durationS} s` : `${s.packets} frames`} per scenario, ${s.frameSize}-byte UDP/IPv4 frames, ${s.flows} flow(s), batch ${s.batchSize}; generator on CPU ${s.generatorCpu}, receiver NAPI thread on CPU ${s.receiverCpu}`,
  ];
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
    'Mpps: frames received per second at the receiver. ns/pkt: CPU time of the receiver\'s NAPI thread per frame received.',
    'vs touch: the same round\'s touch-and-drop ns/pkt over this one (1.00 = as cheap as the ceiling), median over rounds; best and spread (max − min) of that ratio.',
    'prog ns: the program alone, BPF_PROG_TEST_RUN. Absolute figures swing between runs on shared machines; compare ratios.',
    '',
    ...report.summaries.map((s) => `- **${s.scenario}**: ${s.description}`),
    '',
  ];
  return lines.join('\n');
}

/** Writes bench/results/bench-<date>.{json,md} and returns their paths. */
export function writeResults(report: BenchReport, dir = join(packageRoot(), 'bench', 'results')): { json: string; markdown: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, '-');
  const json = join(dir, `bench-${stamp}.json`);
  const md = join(dir, `bench-${stamp}.md`);
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(md, markdown(report));
  return { json, markdown: md };
}
