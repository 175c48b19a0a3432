/**
 * Running XDP programs in kernel tests: objects closed by the suite's after hook, test runs that
 * keep a tally of what they returned, xdp_stats read back summed over CPUs, and Katran-style
 * case tables ({description, input, verdict, output}) asserted byte for byte.
 */
import assert from 'node:assert/strict';
import { after } from 'node:test';
import {
  BpfObject,
  InvalidArgumentError,
  u32,
  XDP_ACTION_NAMES,
  XdpAction,
  xdpActionName,
  type BpfMap,
  type BpfProgram,
  type ConstantValue,
  type TestRunResult,
  type XdpActionName,
} from '../../src/bpf/index.js';
import { actionStatsCodec } from '../../src/programs/map-codecs.js';

export type { XdpActionName } from '../../src/bpf/index.js';

export interface ActionCount {
  packets: bigint;
  bytes: bigint;
}
export type ActionTotals = Record<XdpActionName, ActionCount>;

export function zeroTotals(): ActionTotals {
  return Object.fromEntries(XDP_ACTION_NAMES.map((name) => [name, { packets: 0n, bytes: 0n }])) as ActionTotals;
}

/** Totals with only the named actions set (the rest zero), for exact comparisons. */
export function totals(counts: Partial<Record<XdpActionName, [packets: number, bytes: number]>>): ActionTotals {
  const out = zeroTotals();
  for (const [name, value] of Object.entries(counts) as [XdpActionName, [number, number]][]) {
    out[name] = { packets: BigInt(value[0]), bytes: BigInt(value[1]) };
  }
  return out;
}

export interface LoadSpec {
  /** .rodata constants set before load. */
  constants?: Record<string, ConstantValue>;
  /** Map writes after load (the control plane's configure step). */
  configure?: (object: BpfObject) => void;
}

/**
 * Objects opened through this scope are closed by an after hook of the suite it was created in
 * (call it in a describe body), also when a test fails.
 */
export function objectScope(): { load: (path: string, spec?: LoadSpec) => BpfObject } {
  const objects: BpfObject[] = [];
  after(() => {
    for (const o of objects.splice(0)) o.close();
  });
  return {
    load(path, spec = {}) {
      const object = BpfObject.open(path);
      objects.push(object);
      if (spec.constants) object.setConstants(spec.constants);
      object.load();
      spec.configure?.(object);
      return object;
    },
  };
}

/** xdp_stats of an xdpkit program: packets and bytes per action, summed over every CPU. */
export function statsMap(object: BpfObject): BpfMap<number, ActionCount> {
  return object.map('xdp_stats').withCodecs(u32, actionStatsCodec);
}

export function readStats(object: BpfObject): ActionTotals {
  const map = statsMap(object);
  return Object.fromEntries(
    XDP_ACTION_NAMES.map((name) => [name, map.getSummed(XdpAction[name]) ?? assert.fail(`xdp_stats has no entry for ${name}`)]),
  ) as ActionTotals;
}

export interface Run extends TestRunResult {
  verdict: string;
}

/**
 * A loaded program plus the tally of every verdict it returned to this harness, so the kernel's
 * xdp_stats can be compared with what the test saw.
 */
export class Harness {
  readonly program: BpfProgram;
  readonly tally: ActionTotals = zeroTotals();

  constructor(
    readonly object: BpfObject,
    programName?: string,
  ) {
    this.program = programName ? object.program(programName) : object.soleProgram();
  }

  /**
   * One test run. With `repeat`, every repetition is tallied under the verdict of the last: the
   * repetitions share one buffer, so use it only where a rewrite cannot change the verdict.
   */
  run(data: Buffer, repeat = 1): Run {
    const result = this.program.testRun({ data, repeat });
    const name = XDP_ACTION_NAMES[result.retval];
    // xdpkit_count files out-of-range verdicts under aborted.
    const slot = this.tally[name ?? 'aborted'];
    slot.packets += BigInt(repeat);
    slot.bytes += BigInt(repeat * data.length);
    return { ...result, verdict: xdpActionName(result.retval) };
  }

  /** The kernel's counters equal the tally of this harness's runs (since the last reset). */
  assertStats(message?: string): void {
    assert.deepEqual(readStats(this.object), this.tally, message ?? 'xdp_stats (summed over CPUs) = the verdicts the test runs returned');
  }

  /** Zeroes xdp_stats and the tally. */
  resetStats(): void {
    statsMap(this.object).clear();
    for (const name of XDP_ACTION_NAMES) this.tally[name] = { packets: 0n, bytes: 0n };
  }
}

export interface PacketCase {
  description: string;
  input: Buffer;
  verdict: XdpActionName;
  /** The packet after the run; the input, unchanged, when left out. */
  output?: Buffer;
  /** Further checks of the output packet. */
  check?: (output: Buffer) => void;
}

/** Runs one table row and asserts verdict, output bytes (and length) and the extra checks. */
export function assertCase(harness: Harness, c: PacketCase): Run {
  const result = harness.run(c.input);
  assert.equal(result.verdict, c.verdict, `${c.description}: verdict`);
  const expected = c.output ?? c.input;
  if (!result.data.equals(expected)) {
    assert.fail(`${c.description}: output differs\n  got      ${result.data.toString('hex')}\n  expected ${expected.toString('hex')}\n  input    ${c.input.toString('hex')}`);
  }
  c.check?.(result.data);
  return result;
}

/** Every prefix the kernel accepts (14 bytes, an Ethernet header, and up) of `packet`. */
export function* prefixes(packet: Buffer): Generator<Buffer> {
  for (let n = 14; n <= packet.length; n++) yield packet.subarray(0, n);
}

/** The kernel refuses test input shorter than an Ethernet header (and the binding says why). */
export function assertRefusesRunt(harness: Harness): void {
  for (let n = 0; n < 14; n++) {
    assert.throws(() => harness.program.testRun({ data: Buffer.alloc(n) }), InvalidArgumentError, `${n}-byte packet`);
  }
}
