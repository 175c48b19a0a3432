import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/bpf/errors.js';
import { parsePacket } from '../../src/net/packet.js';
import { PcapWriter, readPcap, writePcap, type PcapFile } from '../../src/net/pcap.js';

/**
 * Written by tcpdump 4.99 (libpcap 1.10): an ICMP echo request, a UDP datagram over IPv6 and
 * a TCP SYN between two veth namespaces. The second file is the same capture rewritten with
 * `tcpdump --time-stamp-precision=nano -r … -w …` (nanosecond magic).
 */
const TCPDUMP_MICRO =
  'd4c3b2a10200040000000000000000000000040001000000669f066b3a7e0000320000003200000072d03e8535d52edc7466c11c08004500002459f64000400172bac6127101c61271020800cbc1202d00010001020304050607669f066b70b30200450000004500000072d03e8535d52edc7466c11c86dd600e6303000f114020010db8a5770000000000000000000120010db8a57700000000000000000002a93a2328000f04c57864706b697436669f066bccc504004a0000004a00000072d03e8535d52edc7466c11c08004500003c7aed4000400651a6c6127101c6127102825c1f90a463072300000000a002faf0b86d0000020405b40402080ac2d6162c000000000103030a';
const TCPDUMP_NANO =
  '4d3cb2a10200040000000000000000000000040001000000669f066b9012ed01320000003200000072d03e8535d52edc7466c11c08004500002459f64000400172bac6127101c61271020800cbc1202d00010001020304050607669f066b80ed8c0a450000004500000072d03e8535d52edc7466c11c86dd600e6303000f114020010db8a5770000000000000000000120010db8a57700000000000000000002a93a2328000f04c57864706b697436669f066be0a4a4124a0000004a00000072d03e8535d52edc7466c11c08004500003c7aed4000400651a6c6127101c6127102825c1f90a463072300000000a002faf0b86d0000020405b40402080ac2d6162c000000000103030a';

/** `tcpdump -tt -r`: 1795596134.032314, .177008, .312780. */
const TIMES_NS = [1795596134_032314000n, 1795596134_177008000n, 1795596134_312780000n];

const hex = (s: string) => Buffer.from(s, 'hex');

/** The same file as a big-endian host would have written it: every header field swapped. */
function toBigEndian(file: Buffer): Buffer {
  const out = Buffer.from(file);
  out.writeUInt32BE(file.readUInt32LE(0), 0);
  out.writeUInt16BE(file.readUInt16LE(4), 4);
  out.writeUInt16BE(file.readUInt16LE(6), 6);
  for (const o of [8, 12, 16, 20]) out.writeUInt32BE(file.readUInt32LE(o), o);
  let pos = 24;
  while (pos < file.length) {
    for (let i = 0; i < 4; i++) out.writeUInt32BE(file.readUInt32LE(pos + i * 4), pos + i * 4);
    pos += 16 + file.readUInt32LE(pos + 8);
  }
  return out;
}

function assertCapture(file: PcapFile): void {
  assert.equal(file.linkType, 1);
  assert.equal(file.snaplen, 262144);
  assert.equal(file.versionMajor, 2);
  assert.equal(file.versionMinor, 4);
  assert.equal(file.truncated, false);
  assert.deepEqual(
    file.records.map((r) => r.timestampNs),
    TIMES_NS,
  );
  assert.deepEqual(
    file.records.map((r) => [r.data.length, r.originalLength]),
    [
      [50, 50],
      [69, 69],
      [74, 74],
    ],
  );
  assert.deepEqual(
    file.records.map((r) =>
      parsePacket(r.data)
        .layers.map((l) => l.type)
        .join('/'),
    ),
    ['eth/ipv4/icmp/payload', 'eth/ipv6/udp/payload', 'eth/ipv4/tcp'],
  );
}

describe('pcap reader', () => {
  it('reads a microsecond file written by tcpdump', () => {
    const file = readPcap(hex(TCPDUMP_MICRO));
    assert.equal(file.nanosecond, false);
    assert.equal(file.littleEndian, true);
    assertCapture(file);
  });

  it('reads the nanosecond variant to the same timestamps', () => {
    const file = readPcap(hex(TCPDUMP_NANO));
    assert.equal(file.nanosecond, true);
    assertCapture(file);
  });

  it('reads big-endian files, both resolutions', () => {
    for (const text of [TCPDUMP_MICRO, TCPDUMP_NANO]) {
      const file = readPcap(toBigEndian(hex(text)));
      assert.equal(file.littleEndian, false);
      assertCapture(file);
    }
  });

  it('reports a file cut inside a record as truncated, keeping the complete records', () => {
    const bytes = hex(TCPDUMP_MICRO);
    const recordEnds = [24 + 16 + 50, 24 + 16 + 50 + 16 + 69, bytes.length];
    for (let length = 24; length < bytes.length; length++) {
      const file = readPcap(bytes.subarray(0, length));
      const complete = recordEnds.filter((end) => end <= length).length;
      assert.equal(file.records.length, complete, `cut at ${length}`);
      assert.equal(file.truncated, !recordEnds.includes(length) && length !== 24, `cut at ${length}`);
    }
  });

  it('rejects what is not classic pcap, with a hint for pcapng', () => {
    assert.throws(() => readPcap(Buffer.alloc(10)), InvalidArgumentError);
    assert.throws(() => readPcap(Buffer.alloc(24)), /not a classic pcap file/);
    const pcapng = Buffer.alloc(28);
    pcapng.writeUInt32BE(0x0a0d0d0a, 0);
    assert.throws(
      () => readPcap(pcapng),
      (e: unknown) => e instanceof InvalidArgumentError && /pcapng/.test(e.hint ?? ''),
    );
  });
});

describe('pcap writer', () => {
  it('writes exactly what tcpdump wrote, in both resolutions', () => {
    for (const [text, nanosecond] of [
      [TCPDUMP_MICRO, false],
      [TCPDUMP_NANO, true],
    ] as const) {
      const original = hex(text);
      const rewritten = writePcap(readPcap(original).records, { nanosecond });
      assert.deepEqual(rewritten, original);
    }
  });

  it('cuts packets to the snaplen and keeps the original length', () => {
    const frame = hex(TCPDUMP_MICRO).subarray(24 + 16 + 50 + 16 + 69 + 16); // the TCP SYN
    const file = readPcap(writePcap([{ data: frame, timestampNs: 5_000_000_123n }], { snaplen: 40, nanosecond: true }));
    assert.equal(file.snaplen, 40);
    const [record] = file.records;
    assert.equal(record!.data.length, 40);
    assert.equal(record!.originalLength, 74);
    assert.equal(record!.timestampNs, 5_000_000_123n);
    assert.equal(parsePacket(record!.data).truncated, true);
  });

  it('rounds timestamps down to microseconds in a microsecond file', () => {
    const file = readPcap(writePcap([{ data: Buffer.alloc(14), timestampNs: 1_000_001_999n }]));
    assert.equal(file.records[0]!.timestampNs, 1_000_001_000n);
  });

  it('streams to a file that is readable before it is closed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'xdpkit-pcap-'));
    try {
      const path = join(dir, 'out.pcap');
      const source = readPcap(hex(TCPDUMP_MICRO)).records;
      const writer = PcapWriter.open(path);
      writer.write(source[0]!);
      assert.equal(readPcap(readFileSync(path)).records.length, 1, 'the first record is on disk already');
      writer.write(source[1]!);
      writer.write(source[2]!);
      assert.equal(writer.written, 3);
      writer.close();
      writer.close(); // idempotent
      assert.deepEqual(readFileSync(path), hex(TCPDUMP_MICRO));
      assert.throws(() => writer.write(source[0]!), /closed/);
      // And the reference reader agrees, when it is installed.
      let summary: string | undefined;
      try {
        summary = execFileSync('tcpdump', ['-n', '-r', path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString();
      } catch {
        summary = undefined;
      }
      if (summary !== undefined) {
        assert.equal(summary.trim().split('\n').length, 3);
        assert.match(summary, /ICMP echo request, id 8237, seq 1/);
        assert.match(summary, /2001:db8:a577::1\.43322 > 2001:db8:a577::2\.9000: UDP, length 7/);
        assert.match(summary, /Flags \[S\], seq 2757953315/);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
