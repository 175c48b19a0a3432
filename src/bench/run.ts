/**
 * The benchmark runner: three namespaces in a line, sender "a" — receiver "b" — sink "c"
 * (threaded NAPI on every veth end), the in-kernel generator on CPU 0, the receiver's NAPI
 * thread on CPU 1. Each round gives every scenario a slot, slots rotated round by round; in a
 * slot, windows of the scenario alternate with windows of its baseline (B S B S … B), so each
 * scenario window is compared with the baseline measured just before and just after it: the
 * touch ceiling for filters, the minimal XDP forwarder for forwarders (which send every frame
 * on to the sink, whose NAPI thread shares the generator's CPU so that the forwarding hop has
 * CPU 1 alone; reflect sends them back to the sender, whose NAPI thread does the same).
 */
import { randomBytes } from 'node:crypto';
import { cpus, release } from 'node:os';
import { InvalidArgumentError, runTimeStatsSysctlEnabled } from '../bpf/index.js';
import { headerBytes, MIN_FRAME_SIZE, Testbed, TrafficGenerator, type TemplateOptions, type TemplateProtocol } from '../net/index.js';
import { flowSources } from './flow-sources.js';
import { restoreAffinity, pinThread, threadAffinity } from './receiver.js';
import { BASELINES, SCENARIOS, type Scenario, type ScenarioEnv, type ScenarioHandle, type Traffic } from './scenarios.js';
import { Sink } from './sink.js';
import { summarise, type ScenarioSummary } from './summary.js';
import { liveProgramCost, measureWindow, type Destination, type Measurement, type WindowContext } from './window.js';

export { BASELINES };
export type { Measurement, ScenarioSummary };

export interface BenchOptions {
  rounds?: number;
  /** Rounds run first and thrown away (caches, page pools, CPU frequency and placement settle). */
  warmupRounds?: number;
  /** Scenario windows per slot, each between two baseline windows. */
  pairs?: number;
  /** Seconds of traffic per window. */
  durationS?: number;
  /** Or frames per window (with a duration too: whichever ends first). */
  packets?: number;
  protocol?: TemplateProtocol;
  family?: 4 | 6;
  flows?: number;
  frameSize?: number;
  batchSize?: number;
  /**
   * Offered load: each window's frames are paced so that the receiver is busy about this share
   * of the time. 1: no pacing, the generator as fast as it goes.
   * Default DEFAULT_LOAD.
   */
  load?: number;
  /** Scenario names (default: all); the baselines come along. */
  scenarios?: string[];
  /** BPF_PROG_TEST_RUN repeat for the programs' own cost (0: skip). */
  programRepeat?: number;
  onProgress?: (text: string) => void;
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
    pairs: number;
    durationS?: number;
    packets?: number;
    protocol: TemplateProtocol;
    family: 4 | 6;
    flows: number;
    forwardFlows: number;
    frameSize: number;
    batchSize: number;
    load: number;
    generatorCpu: number;
    receiverCpu: number;
    /** kernel.bpf_stats_enabled was on for the whole run: every BPF program paid for the statistics while measured. */
    statsSysctl?: boolean;
  };
  /** Scenarios left out because they cannot handle the traffic, and why. */
  skipped?: { scenario: string; reason: string }[];
  /** The forwarding setup: the traffic sent (flowFrame(traffic, i) is flow i's frame) and the MACs a rewriting forwarder writes. */
  forwarding?: { traffic: TemplateOptions; srcMac: string; sinkMac: string; vip: string; backends: string[] };
  summaries: ScenarioSummary[];
  measurements: Measurement[];
}

export function machineFacts(): MachineFacts {
  return { kernel: release(), cpuModel: cpus()[0]?.model.trim() ?? 'unknown', cores: cpus().length };
}

const DROP_PORT = 9;

export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const rounds = options.rounds ?? 5;
  const warmupRounds = options.warmupRounds ?? 1;
  const pairs = options.pairs ?? 3;
  const traffic: Traffic = { protocol: options.protocol ?? 'udp', family: options.family ?? 4 };
  const flows = options.flows ?? 1;
  const frameSize = options.frameSize ?? Math.max(MIN_FRAME_SIZE, headerBytes(traffic.protocol, traffic.family));
  const batchSize = options.batchSize ?? 64;
  const programRepeat = options.programRepeat ?? 1_000_000;
  const load = options.load ?? DEFAULT_LOAD;
  if (!(load > 0 && load <= 1)) throw new InvalidArgumentError(`the load must be above 0 and at most 1, got ${load}`);
  for (const [name, value, min] of [['rounds', rounds, 1], ['warm-up rounds', warmupRounds, 0], ['pairs', pairs, 1]] as const) {
    if (!Number.isInteger(value) || value < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got ${value}`);
  }
  if (options.packets !== undefined && (!Number.isInteger(options.packets) || options.packets < 1)) throw new InvalidArgumentError(`the frame count must be a positive integer, got ${options.packets}`);
  const durationS = options.durationS ?? (options.packets === undefined ? 0.25 : undefined);
  const { scenarios, skipped } = pickScenarios(options.scenarios, traffic);
  const progress = options.onProgress ?? (() => {});
  const cores = cpus().length;
  const generatorCpu = 0;
  const receiverCpu = cores > 1 ? 1 : 0;
  // DNAT spreads connections, not frames, over its backends: at least one flow per backend.
  const forwardFlows = Math.max(flows, 3);
  const forwarding = scenarios.some((s) => s.group === 'forward');
  const reflecting = scenarios.some((s) => s.deliversTo === 'sender');

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
  const closers: (() => unknown)[] = [];
  const measurements: Measurement[] = [];
  const programNs = new Map<string, number>();
  let forwardingFacts: BenchReport['forwarding'];
  try {
    const sender = bed.end('a', 0);
    const receiver = bed.end('b', 0);
    const out = bed.end('b', 1);
    const sinkEnd = bed.end('c', 1);
    const address = (end: typeof sender): string => (traffic.family === 4 ? end.ipv4 : end.ipv6) ?? '';
    const { vip, backends, prefix } = forwardAddresses(bed.link(1), traffic.family);
    const template = { protocol: traffic.protocol, srcMac: sender.mac, dstMac: receiver.mac, dstPort: DROP_PORT, frameSize };
    const subnets = bed.links.flatMap((l) => [l.subnetV4, l.subnetV6]);
    const filterSources = flowSources(address(sender), flows, subnets);
    const forwardSources = flowSources(address(sender), forwardFlows, subnets);
    const filterTraffic: TemplateOptions = { ...template, src: filterSources.first, dst: address(receiver), flows };
    const forwardTraffic: TemplateOptions = { ...template, src: forwardSources.first, dst: vip, flows: forwardFlows };
    // Both traffics' sources are in one block when they are not the sender's own address.
    const block = forwardSources.block ?? filterSources.block;
    if (block) await bed.exec('b', ['ip', 'route', 'replace', block, 'via', address(sender), 'dev', receiver.ifname]);
    const generator = async (options: TemplateOptions): Promise<TrafficGenerator> => {
      const gen = await bed.withNetns('a', () => new TrafficGenerator(options, sender.ifindex));
      closers.push(() => gen.close());
      return gen;
    };
    const filterGen = await generator(filterTraffic);
    const forwardGen = forwarding ? await generator(forwardTraffic) : undefined;
    let toSink: Destination | undefined;
    let toSender: Destination | undefined;
    if (forwarding) {
      // The sink drops everything in XDP, so it answers no ARP or ND: the receiver knows its MAC.
      for (const a of [vip, ...backends]) {
        await bed.exec('b', ['ip', 'neigh', 'replace', a, 'lladdr', sinkEnd.mac, 'dev', out.ifname, 'nud', 'permanent']);
      }
      for (const a of backends) await bed.exec('c', ['ip', 'addr', 'add', `${a}/${prefix}`, 'dev', sinkEnd.ifname, ...(traffic.family === 6 ? ['nodad'] : [])]);
      const sink = await bed.withNetns('c', () => Sink.attach(sinkEnd.ifindex, sinkEnd.ifname));
      closers.push(() => sink.close());
      toSink = { sink, ifname: sinkEnd.ifname, netns: bed.netns('c') };
      forwardingFacts = { traffic: forwardTraffic, srcMac: out.mac, sinkMac: sinkEnd.mac, vip, backends };
    }
    if (reflecting) {
      // Reflected frames come back to the sender's veth: a sink there counts and drops them, so
      // the sender's stack never sees them and the generator's frames are untouched.
      const sink = await bed.withNetns('a', () => Sink.attach(sender.ifindex, sender.ifname));
      closers.push(() => sink.close());
      toSender = { sink, ifname: sender.ifname, netns: bed.netns('a') };
    }
    const env: ScenarioEnv = {
      netns: bed.netns('b'),
      ifname: receiver.ifname,
      ifindex: receiver.ifindex,
      dropPort: DROP_PORT,
      traffic,
      inReceiver: (fn) => bed.withNetns('b', fn),
      forward: { ifname: out.ifname, ifindex: out.ifindex, mac: out.mac, sinkMac: sinkEnd.mac, vip, backends, flows: forwardFlows },
    };
    const settings = { durationS, packets: options.packets, batchSize, receiverCpu, generatorCpu };
    const context = (scenario: Scenario): WindowContext => ({
      gen: scenario.group === 'forward' && forwardGen ? forwardGen : filterGen,
      inSender: (fn) => bed.withNetns('a', fn),
      senderNetns: bed.netns('a'),
      senderIfname: sender.ifname,
      env,
      settings,
      destination: scenario.group !== 'forward' ? undefined : scenario.deliversTo === 'sender' ? toSender : toSink,
    });
    const templateFor = (scenario: Scenario): Buffer => (scenario.group === 'forward' && forwardGen ? forwardGen : filterGen).template;

    // The baselines stay loaded for the whole run; their windows come in every slot of their group.
    const baselines = new Map<string, { scenario: Scenario; handle: ScenarioHandle }>();
    for (const scenario of scenarios.filter((s) => BASELINES[s.group] === s.name)) {
      const handle = await scenario.setup(env);
      closers.push(() => handle.teardown());
      baselines.set(scenario.name, { scenario, handle });
      if (programRepeat > 0 && handle.programCostNs) programNs.set(scenario.name, handle.programCostNs(templateFor(scenario), programRepeat));
    }
    const slots = scenarios.filter((s) => !baselines.has(s.name));
    await pinThread(process.pid, generatorCpu);
    const pacer = new Pacer(load);

    // Warm-up rounds are numbered from 1 - warmupRounds to 0 and not kept.
    for (let round = 1 - warmupRounds; round <= rounds; round++) {
      // Rotate the order each round so no scenario always follows the same one.
      const shift = slots.length ? (((round - 1) % slots.length) + slots.length) % slots.length : 0;
      const order = slots.map((_, i) => slots[(i + shift) % slots.length]!);
      for (const scenario of order) {
        const baseline = baselines.get(BASELINES[scenario.group])!;
        const handle = await scenario.setup(env);
        try {
          if (round === 1 && programRepeat > 0 && handle.programCostNs) programNs.set(scenario.name, handle.programCostNs(templateFor(scenario), programRepeat));
          for (let window = 0; window <= 2 * pairs; window++) {
            const active = window % 2 === 0 ? baseline : { scenario, handle };
            const label = round < 1 ? 'warm-up round' : `round ${round}/${rounds}`;
            progress(`${label}: ${scenario.name}, window ${window + 1}/${2 * pairs + 1} (${active.scenario.name})`);
            const ctx = context(active.scenario);
            const pace = pacer.paceFor(active.scenario.name);
            ctx.gen.pace(pace);
            await active.handle.activate?.();
            try {
              // The last window of each kind: a forwarded frame's head, and the live program cost.
              const last = window >= 2 * pairs - 1;
              const m = await measureWindow(ctx, active.handle, { scenario: active.scenario.name, slot: scenario.name, round, window }, last);
              if (pace !== undefined) m.pacedMpps = pace;
              pacer.record(m);
              if (last) Object.assign(m, await liveProgramCost(ctx));
              if (round >= 1) measurements.push(m);
            } finally {
              await active.handle.deactivate?.();
            }
          }
        } finally {
          await handle.teardown();
        }
      }
    }
  } finally {
    for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => {});
    await restoreAffinity(process.pid, ownAffinity).catch(() => {});
    await bed.destroy();
  }
  return {
    date: new Date().toISOString(),
    machine: machineFacts(),
    settings: {
      rounds,
      warmupRounds,
      pairs,
      ...(durationS !== undefined ? { durationS } : {}),
      ...(options.packets !== undefined ? { packets: options.packets } : {}),
      protocol: traffic.protocol,
      family: traffic.family,
      flows,
      forwardFlows,
      frameSize,
      batchSize,
      load,
      generatorCpu,
      receiverCpu,
      ...(runTimeStatsSysctlEnabled() ? { statsSysctl: true } : {}),
    },
    ...(skipped.length > 0 ? { skipped } : {}),
    ...(forwardingFacts ? { forwarding: forwardingFacts } : {}),
    summaries: summarise(scenarios, measurements, programNs),
    measurements,
  };
}

/** The share of the slower receiver's capacity a slot's frames are paced at, unless told otherwise. */
export const DEFAULT_LOAD = 0.8;

/** Far above what one CPU pushes through a veth (about 10 Mpps here). */
const MAX_PACE_MPPS = 50;

/**
 * The pace of each scenario's windows. A saturated receiver makes the benchmark measure the
 * sender's refused frames fighting it for the page pool (up to 40 % of its time), so every
 * receiver is paced below saturation, each near the same busy share `load`, where wake-ups cost
 * each about as much per frame as at full rate. The first pace is `load` × the capacity seen in
 * an unpaced window (rate ÷ busy); after that the pace is steered by the rate and busy share of
 * the scenario's latest window, since the generator may fall short of a pace (the forwarders'
 * sink shares its CPU).
 */
class Pacer {
  private readonly last = new Map<string, { pace: number | undefined; mpps: number; busy: number }>();

  constructor(private readonly load: number) {}

  record(m: Measurement): void {
    if (m.busy > 0.01 && m.mpps > 0) this.last.set(m.scenario, { pace: m.pacedMpps, mpps: m.mpps, busy: Math.min(1, m.busy) });
  }

  /** The pace for this scenario's next window, or undefined (unpaced) until one was measured. */
  paceFor(scenario: string): number | undefined {
    const last = this.last.get(scenario);
    if (this.load >= 1 || !last) return undefined;
    // From the rate received, not the pace asked for: a generator that fell short would
    // otherwise be asked for ever more.
    const pace = last.pace === undefined ? (this.load * last.mpps) / last.busy : last.mpps * Math.min(2, Math.max(0.5, this.load / last.busy));
    // A receiver that was hardly busy says little about its capacity: no pace beyond what a veth takes.
    return Math.min(pace, MAX_PACE_MPPS);
  }
}

/** The VIP the forwarding templates go to and the DNAT backends, in the sink's subnet. */
function forwardAddresses(sinkLink: { subnetV4: string; subnetV6: string }, family: 4 | 6): { vip: string; backends: string[]; prefix: number } {
  if (family === 4) {
    const base = sinkLink.subnetV4.split('.').slice(0, 3).join('.');
    return { vip: `${base}.100`, backends: [10, 11, 12].map((n) => `${base}.${n}`), prefix: 24 };
  }
  const base = sinkLink.subnetV6.split('/')[0]!; // "2001:db8:…::"
  return { vip: `${base}100`, backends: [10, 11, 12].map((n) => `${base}${n}`), prefix: 64 };
}

/** The scenarios a run measures for this traffic (baselines included) and the ones it skips; unknown names throw. */
export function pickScenarios(names: string[] | undefined, traffic: Traffic): { scenarios: Scenario[]; skipped: { scenario: string; reason: string }[] } {
  for (const name of names ?? []) {
    if (!SCENARIOS.some((s) => s.name === name || s.suite === name)) {
      const suites = [...new Set(SCENARIOS.flatMap((s) => (s.suite ? [s.suite] : [])))];
      throw new InvalidArgumentError(`unknown scenario "${name}"`, { hint: `scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}; suites: ${suites.join(', ')}` });
    }
  }
  // A suite's name picks all of it; suites stay out of the default run.
  const chosen = names && names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name) || (s.suite !== undefined && names.includes(s.suite))) : SCENARIOS.filter((s) => s.suite === undefined);
  const skipped: { scenario: string; reason: string }[] = [];
  const runnable = chosen.filter((s) => {
    const reason = s.unsupported?.(traffic);
    if (reason) skipped.push({ scenario: s.name, reason: `${reason} (traffic: ${traffic.protocol.toUpperCase()}/IPv${traffic.family})` });
    return !reason;
  });
  // Each group's baseline comes along (touch always: it is the filters' ceiling).
  const wanted = new Set([BASELINES.filter, ...runnable.map((s) => s.name), ...runnable.map((s) => BASELINES[s.group])]);
  return { scenarios: SCENARIOS.filter((s) => wanted.has(s.name)), skipped };
}
