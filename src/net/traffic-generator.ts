/**
 * The in-kernel traffic generator (bpf/bench_gen.c): BPF_PROG_TEST_RUN with live frames on one
 * end of a veth pair transmits every frame to the peer. The template is flow 0's complete frame,
 * built here (UDP, TCP or ICMP over IPv4 or IPv6, every checksum valid); the program writes it
 * whole into every frame, since live-frames pages come back with whatever the receiver wrote
 * into them, and turns it into frame n's flow (n % flows): source address + flow / 256, source
 * port (the echo identifier for ICMP) + flow % 256, checksums updated incrementally. flowFrame
 * builds any flow's frame from scratch: the reference the program's frames are checked against.
 */
import { join } from 'node:path';
import { BpfObject, InvalidArgumentError, xdpContext, type BpfMap } from '../bpf/index.js';
import { packageRoot } from '../programs/catalogue.js';
import { addressBytes } from './checksum.js';
import { buildPacket } from './packet-build.js';
import { formatIp } from './packet-fields.js';
import { IpProtocol, type LayerSpec } from './packet-types.js';
import { assertTestAddress } from './test-addresses.js';

/** Limits: flows (the program has none of its own; this keeps IPv4 sources within a /20) and the frame compiled into bench_gen.c. */
export const MAX_FLOWS = 1_000_000;
export const MAX_FRAME = 1536;
/** Frame sizes without FCS: 60 is the 64-byte Ethernet minimum, 1514 a 1500-byte MTU. */
export const MIN_FRAME_SIZE = 60;
export const MAX_FRAME_SIZE = 1514;
const TEMPLATE_VALUE_SIZE = 4 + MAX_FRAME;
/**
 * XDP metadata (zeros) ahead of every frame, the most the kernel allows. A live-frames page
 * holds two struct xdp_buff ahead of its headroom, so a frame starts 368 bytes into its page,
 * 48 bytes into a cache line: its EtherType in one line, the IP and UDP headers in the next.
 * NIC drivers start frames on a line, where the headers a filter reads share the first line;
 * the metadata moves the frame 32 bytes down (16 bytes into a line), so the first 48 bytes
 * (Ethernet, IPv4 and UDP or the TCP ports) share one line as they would there.
 */
export const FRAME_METADATA = 32;
/** Source ports (echo identifiers) per source address. */
const PORTS_PER_ADDRESS = 256;

export const TEMPLATE_PROTOCOLS = ['udp', 'tcp', 'icmp'] as const;
export type TemplateProtocol = (typeof TEMPLATE_PROTOCOLS)[number];

export interface TemplateOptions {
  /** UDP (default), TCP (an ACK segment) or ICMP (echo request; ICMPv6 over IPv6). */
  protocol?: TemplateProtocol;
  srcMac: string;
  dstMac: string;
  /**
   * First source address, IPv4 or IPv6 (the family of both addresses): flow i uses this address
   * + (i >> 8) and source port (ICMP: echo identifier) srcPort + (i & 255).
   */
  src: string;
  dst: string;
  /** TCP/UDP destination port (ignored for ICMP). */
  dstPort: number;
  srcPort?: number;
  /** Whole frame length in bytes without FCS, 60 (or the headers' size, if larger) to 1514. */
  frameSize?: number;
  /** 1..MAX_FLOWS (default 1). */
  flows?: number;
}

/** Bytes of Ethernet + IP + upper-layer header: the smallest frame a template can be. */
export function headerBytes(protocol: TemplateProtocol, family: 4 | 6): number {
  return 14 + (family === 4 ? 20 : 40) + (protocol === 'tcp' ? 20 : 8);
}

interface FlowSet {
  protocol: TemplateProtocol;
  family: 4 | 6;
  flows: number;
  frameSize: number;
  srcPort: number;
  src: Uint8Array;
}

/** The options with their defaults, checked; a clear error for whatever cannot be sent. */
function flowSet(options: TemplateOptions): FlowSet {
  const protocol = options.protocol ?? 'udp';
  const flows = options.flows ?? 1;
  const frameSize = options.frameSize ?? MIN_FRAME_SIZE;
  const srcPort = options.srcPort ?? 10000;
  if (!TEMPLATE_PROTOCOLS.includes(protocol)) throw new InvalidArgumentError(`protocol must be one of ${TEMPLATE_PROTOCOLS.join(', ')}, got "${String(protocol)}"`);
  const src = addressBytes(options.src);
  const dst = addressBytes(options.dst);
  if (src.length !== dst.length) throw new InvalidArgumentError(`source ${options.src} and destination ${options.dst} are of different address families`);
  const family = src.length === 4 ? 4 : 6;
  if (!Number.isInteger(flows) || flows < 1 || flows > MAX_FLOWS) throw new InvalidArgumentError(`flows must be 1..${MAX_FLOWS.toLocaleString('en-US')}, got ${flows}`);
  if (!Number.isInteger(srcPort) || srcPort < 1 || srcPort + PORTS_PER_ADDRESS - 1 > 65535) throw new InvalidArgumentError(`source port must be 1..65280 (flows add up to 255), got ${srcPort}`);
  if (addToAddress(src, Math.floor((flows - 1) / PORTS_PER_ADDRESS)) === undefined) {
    throw new InvalidArgumentError(`${flows} flows from ${options.src} run past the last IPv${family} address`, { hint: `flow i uses the first source address + i / ${PORTS_PER_ADDRESS}: start lower, or use fewer flows` });
  }
  const smallest = Math.max(MIN_FRAME_SIZE, headerBytes(protocol, family));
  if (!Number.isInteger(frameSize) || frameSize < smallest || frameSize > MAX_FRAME_SIZE) {
    throw new InvalidArgumentError(`a ${protocol.toUpperCase()}/IPv${family} frame must be ${smallest}..${MAX_FRAME_SIZE} bytes, got ${frameSize}`, {
      hint: frameSize < smallest ? `its headers alone take ${headerBytes(protocol, family)} bytes` : 'sizes count the frame without its FCS (1514 = a 1500-byte MTU)',
    });
  }
  return { protocol, family, flows, frameSize, srcPort, src };
}

/** Source address and port (ICMP: echo identifier) of flow `flow` (0-based). */
function flowSource(set: FlowSet, flow: number): { address: string; port: number } {
  if (!Number.isInteger(flow) || flow < 0 || flow >= set.flows) throw new InvalidArgumentError(`flow must be 0..${set.flows - 1}, got ${flow}`);
  return { address: formatIp(addToAddress(set.src, Math.floor(flow / PORTS_PER_ADDRESS))!), port: set.srcPort + (flow % PORTS_PER_ADDRESS) };
}

/** Flow `flow`'s frame (default: flow 0, the generator's template), with valid IP and upper-layer checksums. */
export function flowFrame(options: TemplateOptions, flow = 0): Buffer {
  const set = flowSet(options);
  const { protocol, family, frameSize } = set;
  const source = flowSource(set, flow);
  const upper: LayerSpec =
    protocol === 'udp'
      ? { type: 'udp', srcPort: source.port, dstPort: options.dstPort }
      : protocol === 'tcp'
        ? { type: 'tcp', srcPort: source.port, dstPort: options.dstPort, seq: 1, ack: 1, flags: 'A' }
        : { type: family === 4 ? 'icmp' : 'icmpv6', id: source.port, seq: 1 };
  return buildPacket([
    { type: 'eth', src: options.srcMac, dst: options.dstMac },
    family === 4 ? { type: 'ipv4', src: source.address, dst: options.dst, ttl: 64 } : { type: 'ipv6', src: source.address, dst: options.dst, hopLimit: 64 },
    upper,
    { type: 'payload', data: Buffer.alloc(frameSize - headerBytes(protocol, family), 0x5a) },
  ]);
}

/** The address plus n (carrying into higher bytes), or undefined past the last address. */
function addToAddress(address: Uint8Array, n: number): Uint8Array | undefined {
  const out = Uint8Array.from(address);
  let carry = n;
  for (let i = out.length - 1; i >= 0 && carry > 0; i--) {
    const sum = out[i]! + carry;
    out[i] = sum & 0xff;
    carry = Math.floor(sum / 256);
  }
  return carry > 0 ? undefined : out;
}

export interface GenerateOptions {
  /** Frames to send in this call. */
  count: number;
  /** Frames per live-frames batch (kernel default 64). */
  batchSize?: number;
}

/** A loaded generator with its template; call send() inside the sender's network namespace. */
export class TrafficGenerator {
  private readonly object: BpfObject;
  /** Flow 0's frame, which the program writes into every frame before varying its flow. */
  readonly template: Buffer;
  readonly flows: number;
  /** What a test run is given: the metadata, then the template. */
  private readonly framed: Buffer;

  constructor(
    options: TemplateOptions,
    /** ifindex of the sending veth end (in its namespace). */
    private readonly ifindex: number,
  ) {
    const set = flowSet(options);
    const { protocol, family, flows } = set;
    this.flows = flows;
    // These frames are really transmitted: every source address they carry is a test address.
    for (const flow of [0, flows - 1]) assertTestAddress(flowSource(set, flow).address, `source address of flow ${flow}`);
    this.template = flowFrame(options);
    this.framed = Buffer.concat([Buffer.alloc(FRAME_METADATA), this.template]);
    this.object = BpfObject.open(join(packageRoot(), 'build', 'bpf', 'bench_gen.o'));
    try {
      const proto = protocol === 'udp' ? IpProtocol.UDP : protocol === 'tcp' ? IpProtocol.TCP : family === 4 ? IpProtocol.ICMP : IpProtocol.ICMPV6;
      this.object.setConstants({ nr_flows: flows, flow_family: family, flow_proto: proto });
      this.object.load();
      const value = Buffer.alloc(TEMPLATE_VALUE_SIZE);
      value.writeUInt32LE(this.template.length, 0);
      this.template.copy(value, 4);
      this.object.map('template').set(Buffer.alloc(4), value);
    } catch (error) {
      this.object.close();
      throw error;
    }
  }

  /** Sends `count` frames (synchronously: the calling thread runs the generator). */
  send(options: GenerateOptions): void {
    if (!Number.isInteger(options.count) || options.count < 1) throw new InvalidArgumentError(`count must be a positive integer, got ${options.count}`);
    this.object.program('xdp_bench_gen').testRun({
      data: this.framed,
      context: xdpContext(this.template.length, { ingressIfindex: this.ifindex, metadataLength: FRAME_METADATA }),
      repeat: options.count,
      liveFrames: true,
      batchSize: options.batchSize ?? 64,
    });
  }

  /**
   * Sends until `packets` frames were run or `durationS` seconds passed, whichever comes first
   * (1 s when neither is given), in chunks of at most 65,536 frames (one test run each, made
   * through `run`, e.g. inside the sender's namespace); between chunks the event loop gets a
   * turn, so a Ctrl-C is handled within a chunk. Returns the frames run and the seconds it took.
   */
  async sendFor(
    limit: { packets?: number; durationS?: number; batchSize?: number },
    run: (send: () => void) => unknown = (send) => send(),
  ): Promise<{ sent: number; seconds: number }> {
    const chunk = 65_536;
    const batchSize = limit.batchSize ?? 64;
    const durationS = limit.durationS ?? (limit.packets === undefined ? 1 : undefined);
    const start = process.hrtime.bigint();
    const end = durationS === undefined ? undefined : start + BigInt(Math.round(durationS * 1e9));
    let count = 0;
    while ((limit.packets === undefined || count < limit.packets) && (end === undefined || process.hrtime.bigint() < end)) {
      const n = limit.packets === undefined ? chunk : Math.min(chunk, limit.packets - count);
      await run(() => this.send({ count: n, batchSize }));
      count += n;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return { sent: count, seconds: Number(process.hrtime.bigint() - start) / 1e9 };
  }

  /**
   * Runs the program `repeat` times on `input` without transmitting (each run on what the last
   * one left) and returns what the last run would send: whatever `input` held, the frame
   * `repeat` - 1 frames after the next one.
   */
  rewrite(input: Buffer, repeat = 1): Buffer {
    return this.object.program('xdp_bench_gen').testRun({ data: input, repeat }).data;
  }

  /** Mean ns per run of the program on `input`, over `repeat` runs without transmitting. */
  runTime(input: Buffer, repeat: number): number {
    return this.object.program('xdp_bench_gen').testRun({ data: input, repeat }).durationNs;
  }

  /** Frames generated so far and frames the program could not fill (should stay 0). */
  counters(): { generated: bigint; failed: bigint } {
    const value = this.state();
    return { generated: value.readBigUInt64LE(0), failed: value.readBigUInt64LE(8) };
  }

  /**
   * Paces the frames of later sends at `mpps` million frames per second (undefined: as fast as
   * the generator goes). The program holds each frame until it is due, by the clock.
   */
  pace(mpps: number | undefined): void {
    if (mpps !== undefined && !(mpps > 0 && mpps <= 1000)) throw new InvalidArgumentError(`the pace must be between 0 and 1000 Mpps, got ${mpps}`);
    const value = this.state();
    value.writeBigUInt64LE(mpps === undefined ? 0n : BigInt(Math.max(1, Math.round(1000 / mpps))), 16);
    value.writeBigUInt64LE(0n, 24);
    this.stateMap().set(Buffer.alloc(4), value);
  }

  /** The program's struct bench_state (its .bss). */
  private state(): Buffer {
    return this.stateMap().get(Buffer.alloc(4)) ?? Buffer.alloc(36);
  }

  private stateMap(): BpfMap {
    return this.object.map(this.object.mapNames().find((n) => n.endsWith('.bss')) ?? '.bss');
  }

  close(): void {
    this.object.close();
  }
}
