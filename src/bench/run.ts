/**
 * The benchmark runner: three namespaces in a line, sender "a" — receiver "b" — sink "c"
 * (threaded NAPI on every veth end), the in-kernel generator on CPU 0, the receiver's NAPI
 * thread on CPU 1, and the scenarios measured round by round, interleaved, so that each
 * round's figures can be compared with the same round's baseline: the touch ceiling for
 * filters, the minimal XDP forwarder for forwarders (which send every frame on to the sink,
 * whose NAPI thread shares the generator's CPU so that the forwarding hop has CPU 1 alone).
 */
import { randomBytes } from 'node:crypto';
import { cpus, release } from 'node:os';
import { enableRunTimeStats, InvalidArgumentError, programInfoById, queryXdp, runTimeStatsSysctlEnabled } from '../bpf/index.js';
import { runCommand, Testbed } from '../net/index.js';
import { Generator, udpTemplates } from './generator.js';
import { Sink } from './sink.js';
import { cpuTimeNs, napiThreads, pinThread, restoreAffinity, threadAffinity, vethCounters } from './receiver.js';
import { BASELINES, SCENARIOS, type Scenario, type ScenarioEnv, type ScenarioGroup, type ScenarioHandle } from './scenarios.js';

export { BASELINES };

export interface BenchOptions {
  rounds?: number;
  /** Rounds run first and thrown away (caches, page pools, CPU frequency and placement settle). */
  warmupRounds?: number;
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
  /** Forwarders: frames that reached the sink, and the head of one of them (hex). */
  forwarded?: number;
  sample?: string;
  /**
   * The kernel's run-time statistics of the XDP program attached to the receiver, from a short
   * burst right after the measured window (they cost every BPF program a clock read or two, so
   * they stay off while measuring): runs counted and ns per run.
   */
  liveRuns?: number;
  liveProgramNs?: number;
  seconds: number;
  mpps: number;
  /** Receiver NAPI thread CPU time per received frame. */
  nsPerPacket: number;
}

export interface ScenarioSummary {
  scenario: string;
  group: ScenarioGroup;
  description: string;
  /** Medians over rounds. */
  mpps: number;
  nsPerPacket: number;
  /** What the ratio is to: touch (filters) or xdp-fwd (forwarders). */
  baseline: string;
  /** baseline ns/packet ÷ this ns/packet in the same round: 1 = as cheap as the baseline. Median, best, max − min. */
  ratio: number;
  ratioBest: number;
  ratioSpread: number;
  /** ns per run of the program alone (BPF_PROG_TEST_RUN), when it is an XDP program we load. */
  programNs?: number;
  /** ns per run while it ran live (kernel run-time statistics), median over rounds; any XDP program on the receiver. */
  liveProgramNs?: number;
}

export interface MachineFacts {
  kernel: string;
  cpuModel: string;
  cores: number;
}

export interface BenchReport {
  date: string;
  machine: MachineFacts;
  settings: {
    rounds: number;
    warmupRounds: number;
    durationS?: number;
    packets?: number;
    flows: number;
    forwardFlows: number;
    frameSize: number;
    batchSize: number;
    generatorCpu: number;
    receiverCpu: number;
    /** kernel.bpf_stats_enabled was on for the whole run: every BPF program paid for the statistics while measured. */
    statsSysctl?: boolean;
  };
  /** The forwarding setup: what the sink should see (first template per flow, hex) and the MACs a rewriting forwarder writes. */
  forwarding?: { templates: string[]; srcMac: string; sinkMac: string; vip: string; backends: string[] };
  summaries: ScenarioSummary[];
  measurements: Measurement[];
}

export function machineFacts(): MachineFacts {
  return { kernel: release(), cpuModel: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length };
}

const DROP_PORT = 9;

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const rounds = options.rounds ?? 7;
  const warmupRounds = options.warmupRounds ?? 1;
  const flows = options.flows ?? 1;
  const frameSize = options.frameSize ?? 60;
  const batchSize = options.batchSize ?? 64;
  const programRepeat = options.programRepeat ?? 1_000_000;
  if (!Number.isInteger(rounds) || rounds < 1) throw new InvalidArgumentError(`rounds must be a positive integer, got ${rounds}`);
  if (!Number.isInteger(warmupRounds) || warmupRounds < 0) throw new InvalidArgumentError(`warm-up rounds must be a non-negative integer, got ${warmupRounds}`);
  const durationS = options.packets === undefined ? (options.durationS ?? 1) : undefined;
  const scenarios = pickScenarios(options.scenarios);
  const progress = options.onProgress ?? (() => {});
  const cores = cpus().length;
  const generatorCpu = 0;
  const receiverCpu = cores > 1 ? 1 : 0;
  // DNAT spreads connections, not frames, over its backends: at least one flow per backend.
  const forwardFlows = Math.max(flows, 3);
  const forwarding = scenarios.some((s) => s.group === 'forward');

  // Interface names are global in kthread names (napi/<dev>-<id>): keep them unique and short.
  const tag = randomBytes(2).toString('hex');
  const link = { gro: true, threadedNapi: true };
  const bed = await Testbed.create({
    namespaces: ['a', 'b', 'c'],
    prefix: 'xdpkit-bench',
    links: [
      { a: 'a', b: 'b', aName: `xbs${tag}`, bName: `xbr${tag}`, ...link },
      { a: 'b', b: 'c', aName: `xbo${tag}`, bName: `xbk${tag}`, ...link },
    ],
  });
  const ownAffinity = await threadAffinity(process.pid);
  const generators: Generator[] = [];
  let sink: Sink | undefined;
  const measurements: Measurement[] = [];
  const programNs = new Map<string, number>();
  let forwardingFacts: BenchReport['forwarding'];
  try {
    const sender = bed.end('a', 0);
    const receiver = bed.end('b', 0);
    const out = bed.end('b', 1);
    const sinkEnd = bed.end('c', 1);
    const subnet = (sinkEnd.ipv4 ?? '').split('.').slice(0, 3).join('.');
    const vip = `${subnet}.100`;
    const backends = [10, 11, 12].map((n) => `${subnet}.${n}`);
    const filterTemplates = udpTemplates({ srcMac: sender.mac, dstMac: receiver.mac, srcIpv4: sender.ipv4 ?? '', dstIpv4: receiver.ipv4 ?? '', dstPort: DROP_PORT, flows, frameSize });
    const forwardTemplates = udpTemplates({ srcMac: sender.mac, dstMac: receiver.mac, srcIpv4: sender.ipv4 ?? '', dstIpv4: vip, dstPort: DROP_PORT, flows: forwardFlows, frameSize });
    const filterGen = await bed.withNetns('a', () => new Generator(filterTemplates, sender.ifindex));
    generators.push(filterGen);
    let forwardGen: Generator | undefined;
    if (forwarding) {
      forwardGen = await bed.withNetns('a', () => new Generator(forwardTemplates, sender.ifindex));
      generators.push(forwardGen);
      // The sink drops everything in XDP, so it answers no ARP: the receiver knows its MAC.
      for (const address of [vip, ...backends]) {
        await bed.exec('b', ['ip', 'neigh', 'replace', address, 'lladdr', sinkEnd.mac, 'dev', out.ifname, 'nud', 'permanent']);
      }
      for (const address of backends) await bed.exec('c', ['ip', 'addr', 'add', `${address}/24`, 'dev', sinkEnd.ifname]);
      sink = await bed.withNetns('c', () => Sink.attach(sinkEnd.ifindex, sinkEnd.ifname));
      forwardingFacts = { templates: forwardTemplates.map((t) => t.toString('hex')), srcMac: out.mac, sinkMac: sinkEnd.mac, vip, backends };
    }
    const env: ScenarioEnv = {
      netns: bed.netns('b'),
      ifname: receiver.ifname,
      ifindex: receiver.ifindex,
      dropPort: DROP_PORT,
      inReceiver: (fn) => bed.withNetns('b', fn),
      forward: { ifname: out.ifname, ifindex: out.ifindex, mac: out.mac, sinkMac: sinkEnd.mac, vip, backends },
    };
    await pinThread(process.pid, generatorCpu);

    // Warm-up rounds are numbered from 1 - warmupRounds to 0 and not kept.
    for (let round = 1 - warmupRounds; round <= rounds; round++) {
      // Rotate the order each round so no scenario always follows the same one.
      const shift = (((round - 1) % scenarios.length) + scenarios.length) % scenarios.length;
      const order = scenarios.map((_, i) => scenarios[(i + shift) % scenarios.length]!);
      for (const scenario of order) {
        progress(round < 1 ? `warm-up round: ${scenario.name}` : `round ${round}/${rounds}: ${scenario.name}`);
        const handle = await scenario.setup(env);
        try {
          const forward = scenario.group === 'forward' && forwardGen && sink ? { gen: forwardGen, sink, sinkIfname: sinkEnd.ifname, sinkNetns: bed.netns('c') } : undefined;
          const gen = forward?.gen ?? filterGen;
          const m = await measure(bed, gen, env, handle, scenario, round, { durationS, packets: options.packets, batchSize, receiverCpu, generatorCpu, forward });
          if (round >= 1) measurements.push(m);
          const template = (forward ? forwardTemplates : filterTemplates)[0]!;
          if (round === 1 && handle.programCostNs && programRepeat > 0) programNs.set(scenario.name, handle.programCostNs(template, programRepeat));
        } finally {
          await handle.teardown();
        }
      }
    }
  } finally {
    sink?.close();
    for (const g of generators) g.close();
    await restoreAffinity(process.pid, ownAffinity).catch(() => {});
    await bed.destroy();
  }
  return {
    date: new Date().toISOString(),
    machine: machineFacts(),
    settings: {
      rounds,
      warmupRounds,
      ...(durationS !== undefined ? { durationS } : { packets: options.packets }),
      flows,
      forwardFlows,
      frameSize,
      batchSize,
      generatorCpu,
      receiverCpu,
      ...(runTimeStatsSysctlEnabled() ? { statsSysctl: true } : {}),
    },
    ...(forwardingFacts ? { forwarding: forwardingFacts } : {}),
    summaries: summarise(scenarios, measurements, programNs),
    measurements,
  };
}

function pickScenarios(names: string[] | undefined): Scenario[] {
  if (!names || names.length === 0) return [...SCENARIOS];
  for (const name of names) {
    if (!SCENARIOS.some((s) => s.name === name)) throw new InvalidArgumentError(`unknown scenario "${name}"`, { hint: `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}` });
  }
  // Each group's baseline comes along (touch always: it is the filters' ceiling).
  const wanted = new Set([BASELINES.filter, ...names]);
  for (const name of names) wanted.add(BASELINES[SCENARIOS.find((s) => s.name === name)!.group]);
  return SCENARIOS.filter((s) => wanted.has(s.name));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface ForwardSide {
  gen: Generator;
  sink: Sink;
  sinkIfname: string;
  sinkNetns: string;
}

async function measure(
  bed: Testbed,
  gen: Generator,
  env: ScenarioEnv,
  handle: ScenarioHandle,
  scenario: Scenario,
  round: number,
  settings: { durationS: number | undefined; packets: number | undefined; batchSize: number; receiverCpu: number; generatorCpu: number; forward: ForwardSide | undefined },
): Promise<Measurement> {
  // Attaching or detaching XDP may recreate the NAPI instance (and its thread): look it up now.
  const napi = napiThreads(env.ifname);
  for (const pid of napi) await pinThread(pid, settings.receiverCpu);
  const fwd = settings.forward;
  // The sink's NAPI thread shares the generator's CPU, with a real-time priority so that it
  // preempts the generator and empties its ring as frames come (else the hop's frames overflow
  // it and the hop's cost is that of dropping them); the hop keeps CPU 1 to itself.
  if (fwd) {
    for (const pid of napiThreads(fwd.sinkIfname)) {
      await pinThread(pid, settings.generatorCpu);
      await runCommand(['chrt', '-f', '-p', '10', String(pid)]);
    }
  }
  // Warm up (caches, page pools), then settle.
  await bed.withNetns('a', () => gen.send({ count: 20_000, batchSize: settings.batchSize }));
  await sleep(50);

  const senderNs = bed.netns('a');
  const senderIf = bed.end('a').ifname;
  const sinkCount = async (): Promise<bigint> => (fwd ? (await vethCounters(fwd.sinkNetns, fwd.sinkIfname)).received : 0n);
  const tx0 = await vethCounters(senderNs, senderIf);
  const rx0 = await vethCounters(env.netns, env.ifname);
  const sink0 = await sinkCount();
  const v0 = handle.verdicts?.();
  const cpu0 = cpuTimeNs(napi);
  const { sent, seconds } = await bed.withNetns('a', () => sendFor(gen, settings.batchSize, settings.packets, settings.durationS));
  // Let the receiver (and the sink) drain their rings before reading.
  let rx1 = await vethCounters(env.netns, env.ifname);
  let sink1 = await sinkCount();
  for (let i = 0; i < 50; i++) {
    await sleep(20);
    const again = await vethCounters(env.netns, env.ifname);
    const sinkAgain = await sinkCount();
    if (again.received === rx1.received && sinkAgain === sink1) break;
    rx1 = again;
    sink1 = sinkAgain;
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
  const live = await liveProgramCost(bed, gen, env, settings);
  if (live) Object.assign(m, live);
  if (fwd) {
    m.forwarded = Number(sink1 - sink0);
    const sample = await fwd.sink.sample(() => bed.withNetns('a', () => gen.send({ count: 1, batchSize: 1 })));
    if (sample) m.sample = sample.toString('hex');
  }
  return m;
}

/**
 * Run count and ns per run of the XDP program attached to the receiver (whoever loaded it:
 * xdp-filter's too) from the kernel's run-time statistics, over a short burst with them on.
 */
async function liveProgramCost(
  bed: Testbed,
  gen: Generator,
  env: ScenarioEnv,
  settings: { durationS: number | undefined; packets: number | undefined; batchSize: number },
): Promise<{ liveRuns: number; liveProgramNs: number } | undefined> {
  const attached = await env.inReceiver(() => queryXdp({ ifindex: env.ifindex, name: env.ifname }).find((a) => a.mode === 'native'));
  if (!attached) return undefined;
  const disable = enableRunTimeStats();
  try {
    const before = programInfoById(attached.programId);
    const packets = settings.packets !== undefined ? Math.max(1, Math.ceil(settings.packets / 4)) : undefined;
    const durationS = settings.packets !== undefined ? undefined : Math.min(0.5, (settings.durationS ?? 1) / 4);
    await bed.withNetns('a', () => sendFor(gen, settings.batchSize, packets, durationS));
    await sleep(50);
    const after = programInfoById(attached.programId);
    const runs = after.runCount - before.runCount;
    if (runs <= 0n) return undefined;
    return { liveRuns: Number(runs), liveProgramNs: Number(after.runTimeNs - before.runTimeNs) / Number(runs) };
  } finally {
    disable();
  }
}

/** Runs the generator for a number of frames or a time, in chunks; returns frames run and seconds. */
function sendFor(gen: Generator, batchSize: number, packets: number | undefined, durationS: number | undefined): { sent: number; seconds: number } {
  const chunk = 65_536;
  const start = process.hrtime.bigint();
  let count = 0;
  if (packets !== undefined) {
    for (let left = packets; left > 0; left -= chunk) {
      const n = Math.min(chunk, left);
      gen.send({ count: n, batchSize });
      count += n;
    }
  } else {
    const end = start + BigInt(Math.round((durationS ?? 1) * 1e9));
    while (process.hrtime.bigint() < end) {
      gen.send({ count: chunk, batchSize });
      count += chunk;
    }
  }
  return { sent: count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
}

function median(values: number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarise(scenarios: readonly Scenario[], measurements: readonly Measurement[], programNs: ReadonlyMap<string, number>): ScenarioSummary[] {
  return scenarios.map((scenario) => {
    const baselineName = BASELINES[scenario.group];
    const baseline = new Map(measurements.filter((m) => m.scenario === baselineName).map((m) => [m.round, m.nsPerPacket]));
    const own = measurements.filter((m) => m.scenario === scenario.name);
    const ratios = own.map((m) => (baseline.get(m.round) ?? Number.NaN) / m.nsPerPacket).filter((r) => Number.isFinite(r));
    const summary: ScenarioSummary = {
      scenario: scenario.name,
      group: scenario.group,
      description: scenario.description,
      mpps: median(own.map((m) => m.mpps)),
      nsPerPacket: median(own.map((m) => m.nsPerPacket)),
      baseline: baselineName,
      ratio: median(ratios),
      ratioBest: ratios.length ? Math.max(...ratios) : Number.NaN,
      ratioSpread: ratios.length ? Math.max(...ratios) - Math.min(...ratios) : Number.NaN,
    };
    const live = own.map((m) => m.liveProgramNs).filter((v): v is number => v !== undefined);
    if (live.length > 0) summary.liveProgramNs = median(live);
    const ns = programNs.get(scenario.name);
    if (ns !== undefined) summary.programNs = ns;
    return summary;
  });
}
