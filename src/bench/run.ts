/**
 * The benchmark runner: one veth pair (sender "a", receiver "b", threaded NAPI on both ends),
 * the in-kernel generator on CPU 0, the receiver's NAPI thread on CPU 1, and the scenarios
 * measured round by round, interleaved, so that each round's figures can be compared with the
 * same round's touch ceiling.
 */
import { randomBytes } from 'node:crypto';
import { cpus, release } from 'node:os';
import { InvalidArgumentError } from '../bpf/index.js';
import { Testbed } from '../net/index.js';
import { Generator, udpTemplates } from './generator.js';
import { cpuTimeNs, napiThreads, pinThread, restoreAffinity, threadAffinity, vethCounters } from './receiver.js';
import { SCENARIOS, type Scenario, type ScenarioEnv, type ScenarioHandle } from './scenarios.js';

export const BASELINE = 'touch';

export interface BenchOptions {
  rounds?: number;
  /** Seconds of traffic per scenario and round. */
  durationS?: number;
  /** Or a fixed number of frames per scenario and round (overrides the duration). */
  packets?: number;
  flows?: number;
  frameSize?: number;
  batchSize?: number;
  /** Scenario names (default: all); the baseline is always included. */
  scenarios?: string[];
  /** BPF_PROG_TEST_RUN repeat for the programs' own cost (0: skip). */
  programRepeat?: number;
  onProgress?: (text: string) => void;
}

/** One scenario in one round. */
export interface Measurement {
  scenario: string;
  round: number;
  /** Frames the generator ran (test-run repeat). */
  sent: number;
  /** Frames the sender's veth handed to the receiver, and the ones it refused (ring full). */
  transmitted: number;
  refused: number;
  /** Frames that reached the receiver's receive loop. */
  received: number;
  /** Verdicts counted by the receiving xdpkit program (undefined for others). */
  dropped?: number;
  passed?: number;
  seconds: number;
  mpps: number;
  /** Receiver NAPI thread CPU time per received frame. */
  nsPerPacket: number;
}

export interface ScenarioSummary {
  scenario: string;
  description: string;
  /** Medians over rounds. */
  mpps: number;
  nsPerPacket: number;
  /** touch ns/packet ÷ this ns/packet in the same round: 1 = as cheap as the ceiling. Median, best, max − min. */
  vsTouch: number;
  vsTouchBest: number;
  vsTouchSpread: number;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN), when it is an XDP program we load. */
  programNs?: number;
}

export interface MachineFacts {
  kernel: string;
  cpuModel: string;
  cores: number;
}

export interface BenchReport {
  date: string;
  machine: MachineFacts;
  settings: { rounds: number; durationS?: number; packets?: number; flows: number; frameSize: number; batchSize: number; generatorCpu: number; receiverCpu: number };
  summaries: ScenarioSummary[];
  measurements: Measurement[];
}

export function machineFacts(): MachineFacts {
  return { kernel: release(), cpuModel: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length };
}

const DROP_PORT = 9;

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const rounds = options.rounds ?? 5;
  const flows = options.flows ?? 1;
  const frameSize = options.frameSize ?? 60;
  const batchSize = options.batchSize ?? 64;
  const programRepeat = options.programRepeat ?? 1_000_000;
  if (!Number.isInteger(rounds) || rounds < 1) throw new InvalidArgumentError(`rounds must be a positive integer, got ${rounds}`);
  const durationS = options.packets === undefined ? (options.durationS ?? 2) : undefined;
  const scenarios = pickScenarios(options.scenarios);
  const progress = options.onProgress ?? (() => {});
  const cores = cpus().length;
  const generatorCpu = 0;
  const receiverCpu = cores > 1 ? 1 : 0;

  // Interface names are global in kthread names (napi/<dev>-<id>): keep them unique and short.
  const tag = randomBytes(2).toString('hex');
  const bed = await Testbed.pair({ aName: `xbs${tag}`, bName: `xbr${tag}`, gro: true, threadedNapi: true });
  const ownAffinity = await threadAffinity(process.pid);
  let generator: Generator | undefined;
  const measurements: Measurement[] = [];
  const programNs = new Map<string, number>();
  try {
    const sender = bed.end('a');
    const receiver = bed.end('b');
    const templates = udpTemplates({
      srcMac: sender.mac,
      dstMac: receiver.mac,
      srcIpv4: sender.ipv4 ?? '',
      dstIpv4: receiver.ipv4 ?? '',
      dstPort: DROP_PORT,
      flows,
      frameSize,
    });
    const gen = await bed.withNetns('a', () => new Generator(templates, sender.ifindex));
    generator = gen;
    const env: ScenarioEnv = {
      netns: bed.netns('b'),
      ifname: receiver.ifname,
      ifindex: receiver.ifindex,
      dropPort: DROP_PORT,
      inReceiver: (fn) => bed.withNetns('b', fn),
    };
    await pinThread(process.pid, generatorCpu);

    for (let round = 1; round <= rounds; round++) {
      // Rotate the order each round so no scenario always follows the same one.
      const order = scenarios.map((_, i) => scenarios[(i + round - 1) % scenarios.length]!);
      for (const scenario of order) {
        progress(`round ${round}/${rounds}: ${scenario.name}`);
        const handle = await scenario.setup(env);
        try {
          const m = await measure(bed, gen, env, handle, scenario, round, { durationS, packets: options.packets, batchSize, receiverCpu });
          measurements.push(m);
          if (round === 1 && handle.programCostNs && programRepeat > 0) programNs.set(scenario.name, handle.programCostNs(templates[0]!, programRepeat));
        } finally {
          await handle.teardown();
        }
      }
    }
  } finally {
    generator?.close();
    await restoreAffinity(process.pid, ownAffinity).catch(() => {});
    await bed.destroy();
  }
  return {
    date: new Date().toISOString(),
    machine: machineFacts(),
    settings: { rounds, ...(durationS !== undefined ? { durationS } : { packets: options.packets }), flows, frameSize, batchSize, generatorCpu, receiverCpu },
    summaries: summarise(scenarios, measurements, programNs),
    measurements,
  };
}

function pickScenarios(names: string[] | undefined): Scenario[] {
  if (!names || names.length === 0) return [...SCENARIOS];
  const wanted = new Set([BASELINE, ...names]);
  for (const name of wanted) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new InvalidArgumentError(`unknown scenario "${name}"`, { hint: `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}` });
  }
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(
  bed: Testbed,
  gen: Generator,
  env: ScenarioEnv,
  handle: ScenarioHandle,
  scenario: Scenario,
  round: number,
  settings: { durationS: number | undefined; packets: number | undefined; batchSize: number; receiverCpu: number },
): Promise<Measurement> {
  // Attaching or detaching XDP may recreate the NAPI instance (and its thread): look it up now.
  const napi = napiThreads(env.ifname);
  for (const pid of napi) await pinThread(pid, settings.receiverCpu);
  // Warm up (caches, page pools), then settle.
  await bed.withNetns('a', () => gen.send({ count: 20_000, batchSize: settings.batchSize }));
  await sleep(50);

  const senderNs = bed.netns('a');
  const senderIf = bed.end('a').ifname;
  const tx0 = await vethCounters(senderNs, senderIf);
  const rx0 = await vethCounters(env.netns, env.ifname);
  const v0 = handle.verdicts?.();
  const cpu0 = cpuTimeNs(napi);
  const chunk = 65_536;
  const { sent, seconds } = await bed.withNetns('a', () => {
    const start = process.hrtime.bigint();
    let count = 0;
    if (settings.packets !== undefined) {
      for (let left = settings.packets; left > 0; left -= chunk) {
        const n = Math.min(chunk, left);
        gen.send({ count: n, batchSize: settings.batchSize });
        count += n;
      }
    } else {
      const end = start + BigInt(Math.round((settings.durationS ?? 1) * 1e9));
      while (process.hrtime.bigint() < end) {
        gen.send({ count: chunk, batchSize: settings.batchSize });
        count += chunk;
      }
    }
    return { sent: count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  });
  // Let the receiver drain its ring before reading.
  let rx1 = await vethCounters(env.netns, env.ifname);
  for (let i = 0; i < 50; i++) {
    await sleep(20);
    const again = await vethCounters(env.netns, env.ifname);
    if (again.received === rx1.received) break;
    rx1 = again;
  }
  const cpu1 = cpuTimeNs(napi);
  const tx1 = await vethCounters(senderNs, senderIf);
  const v1 = handle.verdicts?.();
  const received = Number(rx1.received - rx0.received);
  const m: Measurement = {
    scenario: scenario.name,
    round,
    sent,
    transmitted: Number(tx1.xdpXmit - tx0.xdpXmit),
    refused: Number(tx1.xdpXmitErrors - tx0.xdpXmitErrors),
    received,
    seconds,
    mpps: received / seconds / 1e6,
    nsPerPacket: received > 0 ? Number(cpu1 - cpu0) / received : Number.NaN,
  };
  if (v0 && v1) {
    m.dropped = Number(v1.dropped - v0.dropped);
    m.passed = Number(v1.passed - v0.passed);
  }
  return m;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarise(scenarios: readonly Scenario[], measurements: readonly Measurement[], programNs: ReadonlyMap<string, number>): ScenarioSummary[] {
  const baseline = new Map(measurements.filter((m) => m.scenario === BASELINE).map((m) => [m.round, m.nsPerPacket]));
  return scenarios.map((scenario) => {
    const own = measurements.filter((m) => m.scenario === scenario.name);
    const ratios = own.map((m) => (baseline.get(m.round) ?? Number.NaN) / m.nsPerPacket).filter((r) => Number.isFinite(r));
    const summary: ScenarioSummary = {
      scenario: scenario.name,
      description: scenario.description,
      mpps: median(own.map((m) => m.mpps)),
      nsPerPacket: median(own.map((m) => m.nsPerPacket)),
      vsTouch: median(ratios),
      vsTouchBest: ratios.length ? Math.max(...ratios) : Number.NaN,
      vsTouchSpread: ratios.length ? Math.max(...ratios) - Math.min(...ratios) : Number.NaN,
    };
    const ns = programNs.get(scenario.name);
    if (ns !== undefined) summary.programNs = ns;
    return summary;
  });
}
