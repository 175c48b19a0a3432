/**
 * One measured window: the generator sends for a time (or a number of frames) while the
 * receiver runs whatever is active; then frames are counted at both veth ends (and at the
 * sink for forwarders) and the receiver's NAPI-thread CPU time is divided by frames received.
 */
import { enableRunTimeStats, programInfoById, queryXdp } from '../bpf/index.js';
import { runCommand, type TrafficGenerator } from '../net/index.js';
import { napiThreads, pinThread, schedStats, vethCounters, type VethCounters } from './receiver.js';
import type { ScenarioEnv, ScenarioHandle } from './scenarios.js';
import type { Sink } from './sink.js';

/** One window of one scenario (or of its baseline) in one slot of a round. */
export interface Measurement {
  /** What ran in this window: the slot's scenario or its baseline. */
  scenario: string;
  /** The scenario whose slot this window belongs to (baseline windows are in every slot). */
  slot: string;
  round: number;
  /** Position in the slot: even = baseline, odd = scenario (B S B S B). */
  window: number;
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
  /** Forwarders: frames that reached the sink (or came back to the sender), and the head of one of them (hex). */
  forwarded?: number;
  sample?: string;
  /**
   * The kernel's run-time statistics of the XDP program attached to the receiver, from a short
   * burst after the slot's last window of it (they cost every BPF program a clock read or two,
   * so they stay off while measuring): runs counted and ns per run.
   */
  liveRuns?: number;
  liveProgramNs?: number;
  seconds: number;
  /** The rate the generator was paced at (undefined: as fast as it went). */
  pacedMpps?: number;
  mpps: number;
  /** Receiver NAPI thread CPU time per received frame. */
  nsPerPacket: number;
  /** Share of the window's wall time the receiver's NAPI thread ran (1 = saturated). */
  busy: number;
  /**
   * Frames per time the NAPI thread was scheduled in: each wake-up costs the same whatever the
   * program, so fewer frames per run means more of ns/pkt is waking up rather than the program.
   */
  framesPerRun: number;
  /** Frames that reached the scenario's work on another CPU (cpumap: the stack there; its queue drops the rest). */
  otherCpuFrames?: number;
  /** CPU time of the scenario's threads on another CPU per frame that reached them. */
  otherCpuNsPerPacket?: number;
}

/** Where forwarded frames end: a sink program on a veth end (the third namespace's, or the sender's). */
export interface Destination {
  sink: Sink;
  ifname: string;
  netns: string;
}

export interface WindowSettings {
  packets: number | undefined;
  durationS: number | undefined;
  batchSize: number;
  generatorCpu: number;
  receiverCpu: number;
}

export interface WindowContext {
  gen: TrafficGenerator;
  /** Runs fn in the sender's namespace (where the generator must run). */
  inSender<T>(fn: () => T): Promise<T>;
  senderNetns: string;
  senderIfname: string;
  env: ScenarioEnv;
  settings: WindowSettings;
  destination: Destination | undefined;
}

/** SCHED_FIFO priority 10 for a kernel thread. */
const realTime = (pid: number): Promise<unknown> => runCommand(['chrt', '-f', '-p', '10', String(pid)]);

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Measures one window of `handle` (already active). */
export async function measureWindow(
  ctx: WindowContext,
  handle: ScenarioHandle,
  labels: Pick<Measurement, 'scenario' | 'slot' | 'round' | 'window'>,
  /** Copy the head of one forwarded frame at the destination afterwards. */
  sample = false,
): Promise<Measurement> {
  const { env, settings, destination } = ctx;
  // Attaching or detaching XDP may recreate the NAPI instance (and its thread): look it up now.
  // A real-time priority keeps other tasks on its CPU from preempting it in the middle of a
  // poll (their cache misses would land in its time); it sleeps whenever its ring is empty.
  const napi = napiThreads(env.ifname);
  for (const pid of napi) {
    await pinThread(pid, settings.receiverCpu);
    await realTime(pid);
  }
  // The destination's NAPI thread shares the generator's CPU, with a real-time priority so that
  // it preempts the generator and empties its ring as frames come (else the hop's frames
  // overflow it and the hop's cost is that of dropping them); the hop keeps its CPU to itself.
  if (destination) {
    for (const pid of napiThreads(destination.ifname)) {
      await pinThread(pid, settings.generatorCpu);
      await realTime(pid);
    }
  }
  // Warm up (caches, page pools, and every flow: a forwarder that keeps per-flow state is
  // measured with all flows established, not while it sets them up), then settle. Three passes
  // over the flows, since a full ring refuses frames: with one, the lb at 100,000 flows still
  // saw 15,472 new flows in its first measured window; with three, 1,968.
  await ctx.inSender(() => ctx.gen.send({ count: Math.max(20_000, 3 * ctx.gen.flows), batchSize: settings.batchSize }));

  const arrived = async (): Promise<bigint> => (destination ? (await vethCounters(destination.netns, destination.ifname)).received : 0n);
  /** The receiver's, the destination's and the other CPU's counts once none has moved for 20 ms:
   * read so both before and after a window, a frame still on its way to the destination when
   * the receiver's count is read is in neither or in both. */
  const settled = async (): Promise<{ rx: VethCounters; dest: bigint; steered: bigint | undefined }> => {
    let last = { rx: await vethCounters(env.netns, env.ifname), dest: await arrived(), steered: await handle.otherCpu?.frames() };
    for (let i = 0; i < 50; i++) {
      await sleep(20);
      const now = { rx: await vethCounters(env.netns, env.ifname), dest: await arrived(), steered: await handle.otherCpu?.frames() };
      if (now.rx.received === last.rx.received && now.dest === last.dest && now.steered === last.steered) break;
      last = now;
    }
    return last;
  };
  const other = handle.otherCpu?.threads() ?? [];
  const { rx: rx0, dest: dest0, steered: steered0 } = await settled();
  const tx0 = await vethCounters(ctx.senderNetns, ctx.senderIfname);
  const v0 = handle.verdicts?.();
  const cpu0 = schedStats(napi);
  const other0 = schedStats(other);
  const { sent, seconds } = await ctx.gen.sendFor({ packets: settings.packets, durationS: settings.durationS, batchSize: settings.batchSize }, ctx.inSender);
  // Let the receiver (and the destination, and the other CPU) drain their queues before reading.
  const { rx: rx1, dest: dest1, steered: steered1 } = await settled();
  const cpu1 = schedStats(napi);
  const other1 = schedStats(other);
  const tx1 = await vethCounters(ctx.senderNetns, ctx.senderIfname);
  const v1 = handle.verdicts?.();
  const received = Number(rx1.received - rx0.received);
  const m: Measurement = {
    ...labels,
    sent,
    transmitted: Number(tx1.xdpXmit - tx0.xdpXmit),
    refused: Number(tx1.xdpXmitErrors - tx0.xdpXmitErrors),
    received,
    seconds,
    mpps: received / seconds / 1e6,
    nsPerPacket: received > 0 ? Number(cpu1.ns - cpu0.ns) / received : Number.NaN,
    busy: Number(cpu1.ns - cpu0.ns) / 1e9 / seconds,
    framesPerRun: cpu1.runs > cpu0.runs ? received / Number(cpu1.runs - cpu0.runs) : Number.NaN,
  };
  if (steered0 !== undefined && steered1 !== undefined) {
    m.otherCpuFrames = Number(steered1 - steered0);
    if (m.otherCpuFrames > 0) m.otherCpuNsPerPacket = Number(other1.ns - other0.ns) / m.otherCpuFrames;
  }
  if (v0 && v1) {
    m.dropped = Number(v1.dropped - v0.dropped);
    m.passed = Number(v1.passed - v0.passed);
  }
  if (destination) {
    m.forwarded = Number(dest1 - dest0);
  }
  if (destination && sample) {
    const head = await destination.sink.sample(() => ctx.inSender(() => ctx.gen.send({ count: 1, batchSize: 1 })));
    if (head) m.sample = head.toString('hex');
  }
  return m;
}

/**
 * Run count and ns per run of the XDP program attached to the receiver (whoever loaded it:
 * xdp-filter's too) from the kernel's run-time statistics, over a short burst with them on.
 */
export async function liveProgramCost(ctx: WindowContext): Promise<{ liveRuns: number; liveProgramNs: number } | undefined> {
  const { env, settings } = ctx;
  const attached = await env.inReceiver(() => queryXdp({ ifindex: env.ifindex, name: env.ifname }).find((a) => a.mode === 'native'));
  if (!attached) return undefined;
  const disable = enableRunTimeStats();
  try {
    const before = programInfoById(attached.programId);
    const packets = settings.packets !== undefined ? Math.max(1, Math.ceil(settings.packets / 4)) : undefined;
    const durationS = settings.packets !== undefined ? undefined : Math.min(0.25, (settings.durationS ?? 1) / 2);
    await ctx.gen.sendFor({ packets, durationS, batchSize: settings.batchSize }, ctx.inSender);
    await sleep(50);
    const after = programInfoById(attached.programId);
    const runs = after.runCount - before.runCount;
    if (runs <= 0n) return undefined;
    return { liveRuns: Number(runs), liveProgramNs: Number(after.runTimeNs - before.runTimeNs) / Number(runs) };
  } finally {
    disable();
  }
}
