/**
 * Differential test of drop_udp: thousands of random, then mutated and cut packets (seeded PRNG,
 * reproducible: XDPKIT_TEST_SEED=<seed> replays a run) through the kernel program, in both
 * modes, compared with the TypeScript reference in test/helpers/drop-udp-reference.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { builtinSetup } from '../../src/programs/configure.js';
import { decideDropUdp, type DropUdpConfig } from '../helpers/drop-udp-reference.js';
import {
  arpRequest,
  authHeader,
  destOpts,
  eth,
  fragment6,
  frame,
  hopByHop,
  icmp,
  icmp6,
  ip4,
  ip6,
  payload,
  PROTO,
  routing,
  tcp,
  TPID_8021AD,
  TPID_8021Q,
  udp,
  udpLookalike,
  vlan,
  type LayerSpec,
  type VlanSpec,
} from '../helpers/frames.js';
import { builtinObject } from '../helpers/paths.js';
import { Prng, testSeed } from '../helpers/prng.js';
import { Harness, objectScope } from '../helpers/xdp.js';

const SEED = testSeed(0x5eed_d0d5);
const PACKETS_PER_MODE = 2500;
const LISTED = [0, 53, 123, 65535];

type Upper = 'udp' | 'tcp' | 'icmp' | 'gre' | 'esp' | 'none';
type Ext = 'hop' | 'dest' | 'routing' | 'ah' | 'frag-first' | 'frag-atomic' | 'frag-later';

const UPPER_PROTO: Record<Upper, number> = { udp: PROTO.UDP, tcp: PROTO.TCP, icmp: -1, gre: PROTO.GRE, esp: PROTO.ESP, none: PROTO.NONE };
const EXT_PROTO: Record<Ext, number> = {
  hop: PROTO.HOP,
  dest: PROTO.DEST,
  routing: PROTO.ROUTING,
  ah: PROTO.AH,
  'frag-first': PROTO.FRAGMENT,
  'frag-atomic': PROTO.FRAGMENT,
  'frag-later': PROTO.FRAGMENT,
};

function port(rng: Prng): number {
  return rng.chance(0.7) ? rng.pick([53, 53, 54, 123, 124, 65535, 0]) : rng.int(65536);
}

function upperLayers(rng: Prng, upper: Upper, v6: boolean): LayerSpec[] {
  const data = payload(rng.bytes(rng.int(24)));
  switch (upper) {
    case 'udp':
      return [udp(port(rng), port(rng)), data];
    case 'tcp':
      return [tcp(port(rng), port(rng), { options: rng.bytes(4 * rng.int(4)) }), data];
    case 'icmp':
      return [v6 ? icmp6(rng.pick([128, 129, 1, 135])) : icmp(rng.pick([8, 0, 3, 11])), data];
    case 'none':
      return [];
    default:
      return [payload(rng.bytes(8 + rng.int(16)))];
  }
}

function vlanTags(rng: Prng): VlanSpec[] {
  const choice = rng.pick([[], [], [], [], [], [TPID_8021Q], [TPID_8021Q], [TPID_8021AD, TPID_8021Q], [TPID_8021Q, TPID_8021Q], [TPID_8021AD, TPID_8021Q, TPID_8021Q]]);
  return choice.map((tpid) => vlan(rng.int(4096), tpid));
}

function ipv4Packet(rng: Prng, upper: Upper): LayerSpec[] {
  const options = rng.chance(0.3) ? rng.bytes(4 * rng.range(1, 10)) : undefined;
  const kind = rng.pick(['plain', 'plain', 'df', 'first', 'later', 'last'] as const);
  const protocol = upper === 'icmp' ? PROTO.ICMP : UPPER_PROTO[upper];
  const later = kind === 'later' || kind === 'last';
  const header = ip4({
    protocol,
    ...(options ? { options } : {}),
    df: kind === 'df',
    mf: kind === 'first' || kind === 'later',
    ...(later ? { fragmentOffset: 8 * rng.range(1, 400) } : {}),
  });
  const rest = later ? [rng.chance(0.5) ? udpLookalike(port(rng)) : payload(rng.bytes(rng.int(24)))] : upperLayers(rng, upper, false);
  return [header, ...rest];
}

function extLayer(rng: Prng, ext: Ext, nextHeader: number): LayerSpec {
  switch (ext) {
    case 'hop':
      return hopByHop({ nextHeader, options: rng.bytes(rng.int(20)) });
    case 'dest':
      return destOpts({ nextHeader, options: Buffer.alloc(6 + 8 * rng.int(3)) });
    case 'routing':
      return routing({ nextHeader, routingType: rng.pick([0, 2, 4]), segmentsLeft: rng.int(3), data: Buffer.alloc(4 + 8 * rng.int(3)) });
    case 'ah':
      return authHeader(nextHeader, rng.range(1, 4));
    case 'frag-first':
      return fragment6(0, true, { nextHeader });
    case 'frag-atomic':
      return fragment6(0, false, { nextHeader });
    case 'frag-later':
      return fragment6(8 * rng.range(1, 400), rng.chance(0.5), { nextHeader });
  }
}

function ipv6Packet(rng: Prng, upper: Upper): LayerSpec[] {
  const count = rng.pick([0, 0, 1, 1, 2, 3, 5, 6, 7]);
  const exts: Ext[] = Array.from({ length: count }, () => rng.pick(['hop', 'dest', 'routing', 'ah', 'frag-first', 'frag-atomic', 'frag-later'] as const));
  const laterAt = exts.indexOf('frag-later');
  if (laterAt >= 0) exts.length = laterAt + 1; // nothing is parsed after a later fragment's header
  const upperProto = upper === 'icmp' ? PROTO.ICMPV6 : UPPER_PROTO[upper];
  const rest = laterAt >= 0 ? [rng.chance(0.5) ? udpLookalike(port(rng)) : payload(rng.bytes(rng.int(24)))] : upperLayers(rng, upper, true);
  // Every header names the next one explicitly (the builder cannot derive it for AH, a payload).
  const protoAfter = (i: number): number => (i < exts.length ? EXT_PROTO[exts[i]!] : laterAt >= 0 ? rng.pick([PROTO.UDP, PROTO.TCP]) : upperProto);
  const layers: LayerSpec[] = [ip6({ nextHeader: protoAfter(0) })];
  exts.forEach((ext, i) => layers.push(extLayer(rng, ext, protoAfter(i + 1))));
  return [...layers, ...rest];
}

function randomPacket(rng: Prng): Buffer {
  const family = rng.pick(['v4', 'v4', 'v4', 'v4', 'v6', 'v6', 'v6', 'v6', 'arp', 'other'] as const);
  if (family === 'arp') return arpRequest();
  const upper = rng.pick(['udp', 'udp', 'udp', 'udp', 'udp', 'udp', 'udp', 'udp', 'tcp', 'icmp', 'gre', 'esp', 'none'] as const);
  const tags = vlanTags(rng);
  if (family === 'other') {
    // An unknown EtherType, after the tags if there are any.
    const last = tags.length - 1;
    const tagged = tags.map((tag, i) => (i === last ? { ...tag, etherType: 0x88b5 } : tag));
    return frame([last < 0 ? eth({ etherType: 0x88b5 }) : eth(), ...tagged, payload(rng.bytes(46))]);
  }
  return frame([eth(), ...tags, ...(family === 'v4' ? ipv4Packet(rng, upper) : ipv6Packet(rng, upper))]);
}

/** Values that steer a parser somewhere interesting when written over a header byte. */
const INTERESTING = [0, 0xff, 17, 6, 44, 43, 51, 60, 0x45, 0x46, 0x4f, 0x44, 0x60, 0x81, 0x88, 0xa8, 0x86, 0xdd, 0x08, 0x00, 0x20, 0x3f, 0x01];

function mutate(rng: Prng, packet: Buffer): Buffer {
  const b = Buffer.from(packet);
  const flips = rng.pick([0, 0, 0, 1, 1, 2, 3, 4]);
  for (let i = 0; i < flips; i++) {
    // Mostly header bytes: that is where the decisions are.
    const at = rng.chance(0.85) ? rng.int(Math.min(b.length, 100)) : rng.int(b.length);
    b[at] = rng.chance(0.5) ? rng.pick(INTERESTING) : rng.int(256);
  }
  return rng.chance(0.25) ? b.subarray(0, rng.range(14, b.length)) : b;
}

interface Mismatch {
  mode: string;
  kernel: string;
  reference: string;
  reason: string;
  packet: string;
}

describe(`drop_udp against the TypeScript reference (seed 0x${SEED.toString(16)})`, () => {
  const scope = objectScope();
  const modes: [string, Harness, DropUdpConfig][] = [
    ['all UDP', new Harness(scope.load(builtinObject('drop_udp'), builtinSetup('drop_udp', {}))), { matchPorts: false, ports: new Set() }],
    ['listed ports', new Harness(scope.load(builtinObject('drop_udp'), builtinSetup('drop_udp', { ports: LISTED }))), { matchPorts: true, ports: new Set(LISTED) }],
  ];

  for (const [mode, harness, config] of modes) {
    it(`${PACKETS_PER_MODE} random and mutated packets, ${mode}: kernel verdict = reference verdict`, () => {
      const rng = new Prng(SEED ^ (config.matchPorts ? 0x1111 : 0));
      const mismatches: Mismatch[] = [];
      const verdicts = { drop: 0, pass: 0 };
      const reasons = new Map<string, number>();
      for (let i = 0; i < PACKETS_PER_MODE; i++) {
        const packet = mutate(rng, randomPacket(rng));
        const result = harness.run(packet);
        const expected = decideDropUdp(packet, config);
        verdicts[expected.verdict]++;
        const reason = expected.reason.replace(/0x[0-9a-f]+|\d+/g, 'N');
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
        if (result.verdict !== expected.verdict || !result.data.equals(packet)) {
          mismatches.push({ mode, kernel: result.verdict, reference: expected.verdict, reason: expected.reason, packet: packet.toString('hex') });
        }
      }
      assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${PACKETS_PER_MODE} differ (XDPKIT_TEST_SEED=${SEED} replays)`);
      // The generator reaches both verdicts and many of the reference's branches.
      const least = config.matchPorts ? 0.05 : 0.25;
      const seen = [...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`).join('; ');
      assert.ok(verdicts.drop > least * PACKETS_PER_MODE && verdicts.pass > 0.25 * PACKETS_PER_MODE, `verdict mix ${JSON.stringify(verdicts)}: ${seen}`);
      assert.ok(reasons.size >= (config.matchPorts ? 13 : 12), `reference branches reached: ${seen}`);
      harness.assertStats();
    });
  }
});
