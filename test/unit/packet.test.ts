import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/bpf/errors.js';
import {
  assertChecksumsValid,
  buildPacket,
  checksumsValid,
  findLayer,
  findLayers,
  internetChecksum,
  parsePacket,
  recomputeChecksums,
  tcpFlagNames,
  tcpFlagsFromString,
  verifyChecksums,
  type LayerSpec,
} from '../../src/net/packet.js';

/**
 * Frames the kernel sent between two veth namespaces (TX checksum offload off), captured with
 * tcpdump; `tcpdump -vvv` called every checksum in them correct. They pin our checksum code
 * and field layout to what Linux itself produces.
 */
const KERNEL = {
  icmp4:
    '72d03e8535d52edc7466c11c08004500002459f64000400172bac6127101c61271020800cbc1202d00010001020304050607',
  icmp6:
    '72d03e8535d52edc7466c11c86dd600c1b5500103a4020010db8a5770000000000000000000120010db8a577000000000000000000028000ad11202e00010001020304050607',
  udp4: '72d03e8535d52edc7466c11c0800450000229a2d400040113275c6127101c6127102b0462328000e6bf67864706b6974',
  udp6: '72d03e8535d52edc7466c11c86dd600e6303000f114020010db8a5770000000000000000000120010db8a57700000000000000000002a93a2328000f04c57864706b697436',
  tcpSyn:
    '72d03e8535d52edc7466c11c08004500003c7aed4000400651a6c6127101c6127102825c1f90a463072300000000a002faf0b86d0000020405b40402080ac2d6162c000000000103030a',
  /** MLDv2 report: IPv6 + hop-by-hop (router alert, PadN) + ICMPv6 type 143. */
  mld:
    '3333000000162edc7466c11c86dd6000000000380001fe800000000000002cdc74fffe66c11cff0200000000000000000000000000163a000502000001008f004c0c0000000204000000ff0200000000000000000001ff66c11c04000000ff0200000000000000000001ff000001',
} as const;

const hex = (s: string) => Buffer.from(s, 'hex');
const MAC_A = '2e:dc:74:66:c1:1c';
const MAC_B = '72:d0:3e:85:35:d5';
const eth: LayerSpec = { type: 'eth', src: MAC_A, dst: MAC_B };

function roundTrips(bytes: Buffer): void {
  const parsed = parsePacket(bytes);
  assert.deepEqual(buildPacket(parsed.layers), bytes, 'building the parsed layers gives back the same bytes');
}

describe('internet checksum', () => {
  it('matches the RFC 1071 worked example', () => {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2; the checksum is its complement.
    assert.equal(internetChecksum(hex('0001f203f4f5f6f7')), 0x220d);
  });

  it('pads an odd trailing byte with zero', () => {
    assert.equal(internetChecksum(hex('0001f203f4f5f6')), internetChecksum(hex('0001f203f4f5f600')));
  });
});

describe('kernel-made packets', () => {
  for (const [name, text] of Object.entries(KERNEL)) {
    it(`${name}: every checksum verifies and parse → build is exact`, () => {
      const bytes = hex(text);
      const checks = verifyChecksums(bytes);
      assert.ok(checks.length > 0);
      for (const check of checks) assert.equal(check.status, 'valid', `${check.layer} at ${check.offset}`);
      const parsed = parsePacket(bytes);
      assert.equal(parsed.truncated, false);
      assert.deepEqual(parsed.issues, []);
      roundTrips(bytes);
    });
  }

  it('builds the ICMP echo request byte for byte from a spec (checksums computed)', () => {
    const built = buildPacket([
      eth,
      { type: 'ipv4', src: '198.18.113.1', dst: '198.18.113.2', id: 0x59f6, df: true },
      { type: 'icmp', id: 0x202d, seq: 1 },
      { type: 'payload', data: hex('0001020304050607') },
    ]);
    assert.deepEqual(built, hex(KERNEL.icmp4));
  });

  it('builds the ICMPv6 echo request byte for byte (pseudo-header checksum)', () => {
    const built = buildPacket([
      { type: 'eth', src: MAC_A, dst: MAC_B },
      { type: 'ipv6', src: '2001:db8:a577::1', dst: '2001:db8:a577::2', flowLabel: 0xc1b55 },
      { type: 'icmpv6', id: 0x202e, seq: 1 },
      { type: 'payload', data: hex('0001020304050607') },
    ]);
    assert.deepEqual(built, hex(KERNEL.icmp6));
  });

  it('builds UDP over IPv4 and IPv6 byte for byte', () => {
    const udp4 = buildPacket([
      eth,
      { type: 'ipv4', src: '198.18.113.1', dst: '198.18.113.2', id: 0x9a2d, df: true },
      { type: 'udp', srcPort: 45126, dstPort: 9000 },
      { type: 'payload', data: 'xdpkit' },
    ]);
    assert.deepEqual(udp4, hex(KERNEL.udp4));
    const udp6 = buildPacket([
      eth,
      { type: 'ipv6', src: '2001:db8:a577::1', dst: '2001:db8:a577::2', flowLabel: 0xe6303 },
      { type: 'udp', srcPort: 43322, dstPort: 9000 },
      { type: 'payload', data: 'xdpkit6' },
    ]);
    assert.deepEqual(udp6, hex(KERNEL.udp6));
  });

  it('builds the TCP SYN with options byte for byte', () => {
    const built = buildPacket([
      eth,
      { type: 'ipv4', src: '198.18.113.1', dst: '198.18.113.2', id: 0x7aed, df: true },
      { type: 'tcp', srcPort: 33372, dstPort: 8080, seq: 0xa4630723, flags: 'S', window: 64240, options: hex('020405b40402080ac2d6162c000000000103030a') },
    ]);
    assert.deepEqual(built, hex(KERNEL.tcpSyn));
  });

  it('parses the TCP SYN fields', () => {
    const tcp = findLayer(parsePacket(hex(KERNEL.tcpSyn)), 'tcp');
    assert.ok(tcp);
    assert.equal(tcp.srcPort, 33372);
    assert.equal(tcp.dstPort, 8080);
    assert.equal(tcp.seq, 0xa4630723);
    assert.equal(tcp.flags, 0x002);
    assert.equal(tcp.flagNames, 'S');
    assert.equal(tcp.dataOffset, 10);
    assert.equal(tcp.window, 64240);
    assert.equal(tcp.offset, 34);
    assert.equal(tcp.length, 40);
    assert.equal(tcp.options.toString('hex'), '020405b40402080ac2d6162c000000000103030a');
  });

  it('parses the MLD report: hop-by-hop options, then ICMPv6', () => {
    const parsed = parsePacket(hex(KERNEL.mld));
    assert.deepEqual(
      parsed.layers.map((l) => l.type),
      ['eth', 'ipv6', 'hop-by-hop', 'icmpv6', 'payload'],
    );
    const ip6 = findLayer(parsed, 'ipv6')!;
    assert.equal(ip6.src, 'fe80::2cdc:74ff:fe66:c11c');
    assert.equal(ip6.dst, 'ff02::16');
    assert.equal(ip6.hopLimit, 1);
    assert.equal(ip6.nextHeader, 0);
    const hbh = findLayer(parsed, 'hop-by-hop')!;
    assert.equal(hbh.offset, 54);
    assert.equal(hbh.length, 8);
    assert.equal(hbh.nextHeader, 58);
    assert.equal(hbh.options.toString('hex'), '050200000100'); // router alert + PadN(0)
    assert.equal(findLayer(parsed, 'icmpv6')!.icmpType, 143);
  });

  it('reads addresses, MACs and IP fields', () => {
    const parsed = parsePacket(hex(KERNEL.udp4));
    const e = findLayer(parsed, 'eth')!;
    assert.equal(e.src, MAC_A);
    assert.equal(e.dst, MAC_B);
    assert.equal(e.etherType, 0x0800);
    const ip = findLayer(parsed, 'ipv4')!;
    assert.deepEqual(
      { src: ip.src, dst: ip.dst, ttl: ip.ttl, df: ip.df, mf: ip.mf, id: ip.id, protocol: ip.protocol, totalLength: ip.totalLength, offset: ip.offset },
      { src: '198.18.113.1', dst: '198.18.113.2', ttl: 64, df: true, mf: false, id: 0x9a2d, protocol: 17, totalLength: 34, offset: 14 },
    );
    const udp = findLayer(parsed, 'udp')!;
    assert.equal(udp.udpLength, 14);
    assert.equal(findLayer(parsed, 'payload')!.data.toString(), 'xdpkit');
  });
});

/** Packets covering every layer kind the builder knows; each must round-trip exactly. */
const VARIETY: Record<string, LayerSpec[]> = {
  qinqTcp: [
    eth,
    { type: 'vlan', tpid: 0x88a8, vid: 100, pcp: 5, dei: true },
    { type: 'vlan', vid: 10 },
    { type: 'ipv4', src: '198.18.0.1', dst: '198.19.0.2', ttl: 3, tos: 0xb8 },
    { type: 'tcp', srcPort: 1, dstPort: 443, flags: 'PA', seq: 7, ack: 9 },
    { type: 'payload', data: 'GET /' },
  ],
  ipv4Options: [
    eth,
    // Record Route with room for two addresses (11 bytes), padded to 12 by the builder.
    { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2', options: hex('070b04000000000000000000'.slice(0, 22)) },
    { type: 'udp', srcPort: 5353, dstPort: 53 },
    { type: 'payload', data: 'q' },
  ],
  ipv4FirstFragment: [
    eth,
    { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2', id: 77, mf: true },
    { type: 'udp', srcPort: 1000, dstPort: 2000, udpLength: 1008, checksum: 0x1234 },
    { type: 'payload', data: Buffer.alloc(16, 0xab) },
  ],
  ipv4LaterFragment: [eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2', id: 77, fragmentOffset: 1480, protocol: 17 }, { type: 'payload', data: Buffer.alloc(20, 1) }],
  ipv6Chain: [
    eth,
    { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2', trafficClass: 0x28, flowLabel: 0x12345, hopLimit: 9 },
    { type: 'hop-by-hop', options: hex('05020000') },
    { type: 'routing', routingType: 4, segmentsLeft: 0, data: hex('00000000') },
    { type: 'dest-opts' },
    { type: 'fragment', id: 0xdeadbeef, mf: false, fragmentOffset: 0 },
    { type: 'udp', srcPort: 7, dstPort: 7 },
    { type: 'payload', data: 'echo' },
  ],
  ipv6LaterFragment: [
    eth,
    { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' },
    { type: 'fragment', id: 5, mf: true, fragmentOffset: 1232, nextHeader: 17 },
    { type: 'payload', data: Buffer.alloc(24, 2) },
  ],
  icmpEchoReply: [eth, { type: 'ipv4', src: '198.18.0.2', dst: '198.18.0.1' }, { type: 'icmp', icmpType: 0, id: 9, seq: 3 }, { type: 'payload', data: 'ping' }],
  icmp6EchoReply: [eth, { type: 'ipv6', src: '2001:db8::2', dst: '2001:db8::1' }, { type: 'icmpv6', icmpType: 129, id: 9, seq: 3 }],
  ipInIp: [eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'udp', srcPort: 1, dstPort: 2 }],
  vlanIpv6Tcp: [eth, { type: 'vlan', vid: 4094 }, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'tcp', srcPort: 9, dstPort: 80, flags: 'SAECN' }],
  ipv6NoNext: [eth, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }],
};

describe('builder', () => {
  for (const [name, spec] of Object.entries(VARIETY)) {
    it(`${name}: build → parse → build is exact, layers as specified`, () => {
      const bytes = buildPacket(spec);
      const parsed = parsePacket(bytes);
      assert.deepEqual(parsed.issues, []);
      assert.equal(parsed.truncated, false);
      assert.deepEqual(
        parsed.layers.map((l) => l.type),
        spec.map((l) => l.type),
      );
      roundTrips(bytes);
      assert.ok(checksumsValid(bytes), JSON.stringify(verifyChecksums(bytes)));
    });
  }

  it('derives EtherTypes from the VLAN tags (802.1ad outer, 802.1Q inner)', () => {
    const parsed = parsePacket(buildPacket(VARIETY.qinqTcp!));
    assert.equal(findLayer(parsed, 'eth')!.etherType, 0x88a8);
    const [outer, inner] = findLayers(parsed, 'vlan');
    assert.deepEqual({ tpid: outer!.tpid, vid: outer!.vid, pcp: outer!.pcp, dei: outer!.dei, etherType: outer!.etherType }, { tpid: 0x88a8, vid: 100, pcp: 5, dei: true, etherType: 0x8100 });
    assert.deepEqual({ vid: inner!.vid, etherType: inner!.etherType, offset: inner!.offset }, { vid: 10, etherType: 0x0800, offset: 18 });
    assert.equal(findLayer(parsed, 'tcp')!.flagNames, 'PA');
  });

  it('pads IPv4 options to 4 bytes and sets IHL', () => {
    const ip = findLayer(parsePacket(buildPacket(VARIETY.ipv4Options!)), 'ipv4')!;
    assert.equal(ip.ihl, 8);
    assert.equal(ip.length, 32);
    assert.equal(ip.options.toString('hex'), '070b0400000000000000000000'.slice(0, 24));
  });

  it('writes IPv4 fragment fields (id, MF, offset in bytes) and leaves later fragments undecoded', () => {
    const first = findLayer(parsePacket(buildPacket(VARIETY.ipv4FirstFragment!)), 'ipv4')!;
    assert.deepEqual({ id: first.id, mf: first.mf, fragmentOffset: first.fragmentOffset }, { id: 77, mf: true, fragmentOffset: 0 });
    const laterBytes = buildPacket(VARIETY.ipv4LaterFragment!);
    const later = parsePacket(laterBytes);
    assert.equal(findLayer(later, 'ipv4')!.fragmentOffset, 1480);
    assert.equal(laterBytes.readUInt16BE(14 + 6), 1480 / 8);
    assert.deepEqual(later.layers.map((l) => l.type), ['eth', 'ipv4', 'payload']);
    // The first fragment's UDP checksum covers the whole datagram: not checkable here.
    const udpCheck = verifyChecksums(buildPacket(VARIETY.ipv4FirstFragment!)).find((c) => c.layer === 'udp')!;
    assert.equal(udpCheck.status, 'unchecked');
  });

  it('chains IPv6 extension headers with derived next-header values and lengths', () => {
    const parsed = parsePacket(buildPacket(VARIETY.ipv6Chain!));
    const ip6 = findLayer(parsed, 'ipv6')!;
    assert.equal(ip6.nextHeader, 0);
    assert.equal(ip6.trafficClass, 0x28);
    assert.equal(ip6.flowLabel, 0x12345);
    assert.equal(findLayer(parsed, 'hop-by-hop')!.nextHeader, 43);
    assert.equal(findLayer(parsed, 'hop-by-hop')!.options.toString('hex'), '050200000100'); // PadN added
    assert.equal(findLayer(parsed, 'routing')!.nextHeader, 60);
    assert.equal(findLayer(parsed, 'routing')!.routingType, 4);
    assert.equal(findLayer(parsed, 'dest-opts')!.length, 8);
    const frag = findLayer(parsed, 'fragment')!;
    assert.deepEqual({ nh: frag.nextHeader, id: frag.id, mf: frag.mf }, { nh: 17, id: 0xdeadbeef, mf: false });
    assert.equal(ip6.payloadLength, 8 + 8 + 8 + 8 + 8 + 4);
  });

  it('uses Pad1 when a single byte is missing', () => {
    const bytes = buildPacket([eth, { type: 'ipv6', src: '2001:db8::1', dst: '2001:db8::2' }, { type: 'dest-opts', options: hex('1e03aabbcc') }]);
    assert.equal(findLayer(parsePacket(bytes), 'dest-opts')!.options.toString('hex'), '1e03aabbcc00');
  });

  it('sends a computed UDP checksum of zero as 0xffff', () => {
    // Search a payload word that makes the sum come out at zero.
    const base: LayerSpec[] = [{ type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 1, dstPort: 2 }];
    const probe = buildPacket([...base, { type: 'payload', data: hex('0000') }], {});
    const sumWithZero = probe.readUInt16BE(20 + 6);
    // Adding the checksum value to the payload word makes the one's-complement sum 0xffff → checksum 0.
    const word = Buffer.alloc(2);
    word.writeUInt16BE(sumWithZero);
    const bytes = buildPacket([...base, { type: 'payload', data: word }]);
    assert.equal(bytes.readUInt16BE(26), 0xffff);
    assert.ok(checksumsValid(bytes, { start: 'ipv4' }));
  });

  it('accepts an explicit zero UDP checksum over IPv4 as "none"', () => {
    const bytes = buildPacket([eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 1, dstPort: 2, checksum: 0 }]);
    const udp = verifyChecksums(bytes).find((c) => c.layer === 'udp')!;
    assert.equal(udp.status, 'valid');
  });

  it('keeps a trailer and padTo outside every length and checksum', () => {
    const spec: LayerSpec[] = [eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 1, dstPort: 2 }];
    const padded = buildPacket(spec, { padTo: 60 });
    assert.equal(padded.length, 60);
    const parsed = parsePacket(padded);
    assert.equal(findLayer(parsed, 'ipv4')!.totalLength, 28);
    const trailer = findLayer(parsed, 'trailer')!;
    assert.equal(trailer.offset, 42);
    assert.equal(trailer.length, 18);
    assert.ok(checksumsValid(padded));
    roundTrips(padded);
    const explicit = buildPacket([...spec, { type: 'trailer', data: hex('ffff') }]);
    assert.equal(explicit.length, 44);
    assert.equal(findLayer(parsePacket(explicit), 'ipv4')!.totalLength, 28);
  });

  it('lets a spec set wrong values on purpose', () => {
    const bytes = buildPacket([eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2', checksum: 0xbeef, ttl: 0 }, { type: 'tcp', srcPort: 1, dstPort: 2, checksum: 1 }]);
    const checks = verifyChecksums(bytes);
    assert.deepEqual(
      checks.map((c) => [c.layer, c.status]),
      [
        ['ipv4', 'invalid'],
        ['tcp', 'invalid'],
      ],
    );
    assert.throws(() => assertChecksumsValid(bytes), (e: unknown) => e instanceof InvalidArgumentError && /ipv4 at 14: 0xbeef/.test(e.message));
    const fixed = recomputeChecksums(bytes);
    assert.ok(checksumsValid(fixed));
    assert.equal(fixed.length, bytes.length);
  });

  it('rejects specs that cannot be encoded, naming the field', () => {
    const ip = { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' } as const;
    const cases: [LayerSpec[], RegExp][] = [
      [[{ type: 'eth', src: '02:00:00:00:00' }, ip, { type: 'udp', srcPort: 1, dstPort: 2 }], /invalid MAC/],
      [[eth, { ...ip, dst: '2001:db8::1' }, { type: 'udp', srcPort: 1, dstPort: 2 }], /is IPv6, the header is IPv4/],
      [[eth, { ...ip, src: '198.18.0.300' }, { type: 'udp', srcPort: 1, dstPort: 2 }], /invalid ipv4 src/],
      [[eth, { ...ip, fragmentOffset: 12 }, { type: 'udp', srcPort: 1, dstPort: 2 }], /multiple of 8/],
      [[eth, { ...ip, options: Buffer.alloc(41) }, { type: 'udp', srcPort: 1, dstPort: 2 }], /at most 40/],
      [[eth, ip, { type: 'payload', data: 'x' }], /explicit protocol/],
      [[eth, { type: 'payload', data: 'x' }], /explicit etherType/],
      [[eth, ip, { type: 'udp', srcPort: 70000, dstPort: 2 }], /srcPort 70000/],
      [[eth, { type: 'vlan', vid: 4096 }, ip, { type: 'udp', srcPort: 1, dstPort: 2 }], /vid 4096/],
      [[eth, ip, { type: 'tcp', srcPort: 1, dstPort: 2, flags: 'SX' }], /unknown TCP flag "X"/],
      [[eth, { type: 'trailer', data: Buffer.alloc(1) }, ip], /trailer/],
    ];
    for (const [spec, message] of cases) {
      assert.throws(() => buildPacket(spec), (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message), String(message));
    }
  });

  it('converts TCP flag letters both ways', () => {
    assert.equal(tcpFlagsFromString('SA'), 0x12);
    assert.equal(tcpFlagsFromString('as'), 0x12);
    assert.equal(tcpFlagNames(0x12), 'SA');
    assert.equal(tcpFlagNames(0x1ff), 'FSRPAUECN');
    assert.equal(tcpFlagsFromString(tcpFlagNames(0x1ff)), 0x1ff);
  });
});

describe('parser on short and malformed input', () => {
  const samples: Record<string, Buffer> = {
    ...Object.fromEntries(Object.entries(KERNEL).map(([k, v]) => [k, hex(v)])),
    ...Object.fromEntries(Object.entries(VARIETY).map(([k, v]) => [k, buildPacket(v)])),
  };

  for (const [name, bytes] of Object.entries(samples)) {
    it(`${name}: every cut is flagged truncated, never throws, and still round-trips`, () => {
      for (let length = 0; length < bytes.length; length++) {
        const cut = bytes.subarray(0, length);
        const parsed = parsePacket(cut);
        assert.equal(parsed.truncated, true, `cut at ${length}`);
        assert.ok(parsed.issues.length > 0, `cut at ${length} explains itself`);
        assert.deepEqual(buildPacket(parsed.layers), cut, `cut at ${length} round-trips`);
        const covered = parsed.layers.reduce((sum, layer) => sum + layer.length, 0);
        assert.equal(covered, length, `layers cover all ${length} bytes`);
        // Checking checksums of a cut packet must not throw either; L4 ones are unchecked.
        for (const check of verifyChecksums(cut)) if (check.layer !== 'ipv4') assert.equal(check.status, 'unchecked');
      }
    });
  }

  it('starts at IP when asked (raw IP captures)', () => {
    const ipOnly = hex(KERNEL.udp6).subarray(14);
    assert.deepEqual(
      parsePacket(ipOnly, { start: 'ip' }).layers.map((l) => l.type),
      ['ipv6', 'udp', 'payload'],
    );
    assert.deepEqual(
      parsePacket(hex(KERNEL.udp4).subarray(14), { start: 'ipv4' }).layers.map((l) => l.type),
      ['ipv4', 'udp', 'payload'],
    );
  });

  const malformed: [string, (b: Buffer) => void, RegExp][] = [
    ['IPv4 version 5', (b) => (b[14] = 0x55), /version field is 5/],
    ['IPv4 IHL 4', (b) => (b[14] = 0x44), /header length 16 is below 20/],
    ['IPv4 total length below the header', (b) => b.writeUInt16BE(10, 16), /shorter than the header/],
    ['TCP data offset 4', (b) => (b[46] = 0x40), /data offset 16 is below 20/],
    ['IPv4 total length shorter than the TCP header', (b) => b.writeUInt16BE(30, 16), /tcp: header needs 20 bytes, 10 left in the IP packet/],
  ];
  for (const [name, corrupt, issue] of malformed) {
    it(`flags ${name} as an issue, not truncation, and round-trips`, () => {
      const bytes = hex(KERNEL.tcpSyn);
      corrupt(bytes);
      const parsed = parsePacket(bytes);
      assert.equal(parsed.truncated, false);
      assert.ok(
        parsed.issues.some((i) => issue.test(i)),
        parsed.issues.join('; '),
      );
      assert.deepEqual(buildPacket(parsed.layers), bytes);
    });
  }

  it('notes a UDP length that disagrees with the IP packet', () => {
    const bytes = hex(KERNEL.udp4);
    bytes.writeUInt16BE(10, 38);
    const parsed = parsePacket(bytes);
    assert.ok(parsed.issues.some((i) => /UDP length 10 differs from the 14 bytes/.test(i)));
    assert.equal(parsed.truncated, false);
    roundTrips(bytes);
  });

  it('stops decoding after two VLAN tags', () => {
    const bytes = buildPacket([eth, { type: 'vlan', vid: 1, tpid: 0x88a8 }, { type: 'vlan', vid: 2, tpid: 0x88a8 }, { type: 'vlan', vid: 3 }, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2' }, { type: 'udp', srcPort: 1, dstPort: 2 }]);
    const parsed = parsePacket(bytes);
    assert.deepEqual(parsed.layers.map((l) => l.type), ['eth', 'vlan', 'vlan', 'payload']);
    assert.ok(parsed.issues.some((i) => /more than 2 VLAN tags/.test(i)));
    roundTrips(bytes);
  });

  it('treats unknown EtherTypes and protocols as payload without complaint', () => {
    const arp = buildPacket([{ type: 'eth', etherType: 0x0806 }, { type: 'payload', data: Buffer.alloc(28) }]);
    assert.deepEqual(parsePacket(arp).issues, []);
    const gre = buildPacket([eth, { type: 'ipv4', src: '198.18.0.1', dst: '198.18.0.2', protocol: 47 }, { type: 'payload', data: Buffer.alloc(8) }]);
    const parsed = parsePacket(gre);
    assert.deepEqual(parsed.layers.map((l) => l.type), ['eth', 'ipv4', 'payload']);
    assert.deepEqual(parsed.issues, []);
  });

  it('flags a checksum broken by a rewrite and fixes it', () => {
    const bytes = hex(KERNEL.udp6);
    bytes[bytes.length - 1] ^= 0xff; // change the payload, as a buggy rewrite would
    assert.equal(checksumsValid(bytes), false);
    const bad = verifyChecksums(bytes).filter((c) => c.status === 'invalid');
    assert.deepEqual(bad.map((c) => c.layer), ['udp']);
    assert.equal(bad[0]!.stored, 0x04c5);
    const fixed = recomputeChecksums(bytes);
    assert.ok(checksumsValid(fixed));
    assert.equal(fixed.readUInt16BE(bad[0]!.fieldOffset), bad[0]!.expected);
  });
});
