/**
 * `xdpkit fw explain` and `fw test` as a user runs them: the verdict and deciding rule for
 * single packets, and a pcap run through the kernel (BPF_PROG_TEST_RUN) and through the
 * reference evaluator giving the same per-packet results; a capture of another link type is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Random, randomFrame } from '../../src/firewall/random.js';
import { buildPacket } from '../../src/net/packet.js';
import { pcapHeader, pcapRecord } from '../../src/net/pcap.js';
import { ROOT, skipUnlessRoot, xdpkit } from '../helpers/cli.js';

const POLICY = join(ROOT, 'test/fixtures/firewall/policy.yaml');

describe('xdpkit fw explain / fw test', { skip: skipUnlessRoot }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('explain names the deciding rule or blocklist', async () => {
    const cases: [string[], Record<string, unknown>][] = [
      [['--src', '198.18.1.5', '--dst', '198.18.0.53', '--proto', 'udp', '--dport', '53'], { verdict: 'pass', kind: 'rule', rule: 'dns-from-office' }],
      [['--src', '198.18.2.5', '--dst', '198.18.0.53', '--proto', 'udp', '--dport', '53'], { verdict: 'drop', kind: 'rule', rule: 'no-dns' }],
      [['--src', '198.19.7.7', '--dst', '198.18.0.1', '--proto', 'tcp', '--dport', '80'], { verdict: 'drop', kind: 'blocklist', blocklist: 'bad-hosts' }],
      [['--src', '2001:db8::1', '--dst', '2001:db8::2', '--proto', 'tcp', '--dport', '22', '--flags', 'syn'], { verdict: 'drop', kind: 'rule', rule: 'no-new-ssh' }],
      [['--src', '2001:db8::1', '--dst', '2001:db8::2', '--proto', 'tcp', '--dport', '22', '--flags', 'syn,ack'], { verdict: 'pass', kind: 'default' }],
    ];
    for (const [args, want] of cases) {
      const run = await xdpkit(['--json', 'fw', 'explain', '-f', POLICY, ...args]);
      assert.equal(run.code, 0, run.report());
      assert.deepEqual(JSON.parse(run.stdout), want, args.join(' '));
    }
    const human = await xdpkit(['fw', 'explain', '-f', POLICY, '--src', '198.18.2.5', '--dst', '198.18.0.53', '--proto', 'udp', '--dport', '53']);
    assert.match(human.stdout, /^drop \(rule no-dns\)/);
    const bad = await xdpkit(['fw', 'explain', '-f', POLICY, '--src', '198.18.2.5', '--dst', '2001:db8::1']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /different address families/);
  });

  it('test --pcap: the kernel and the reference give the same result for every packet', async () => {
    const r = new Random(5);
    const frames: Buffer[] = [
      Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.18.1.5', dst: '198.18.0.53' }, { type: 'udp', srcPort: 999, dstPort: 53 }])),
      Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.18.2.5', dst: '198.18.0.53' }, { type: 'udp', srcPort: 999, dstPort: 53 }])),
      Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src: '198.19.7.7', dst: '198.18.0.1' }, { type: 'tcp', srcPort: 999, dstPort: 80 }])),
    ];
    while (frames.length < 300) frames.push(randomFrame(r));
    const path = join(dir, 'in.pcap');
    writeFileSync(path, Buffer.concat([pcapHeader(), ...frames.map((data, i) => pcapRecord({ data, timestampNs: BigInt(i) * 1000n }))]));
    const kernel = await xdpkit(['--json', 'fw', 'test', '-f', POLICY, '--pcap', path]);
    assert.equal(kernel.code, 0, kernel.report());
    const reference = await xdpkit(['--json', 'fw', 'test', '-f', POLICY, '--pcap', path, '--reference']);
    assert.equal(reference.code, 0, reference.report());
    const k = JSON.parse(kernel.stdout);
    const ref = JSON.parse(reference.stdout);
    assert.equal(k.evaluator, 'kernel');
    assert.equal(k.packets.length, 300);
    assert.deepEqual(k.packets.slice(0, 3).map((p: { kind: string; rule?: string; blocklist?: string }) => p.rule ?? p.blocklist ?? p.kind), ['dns-from-office', 'no-dns', 'bad-hosts']);
    assert.deepEqual(k.packets, ref.packets);
    assert.deepEqual(k.summary, ref.summary);
    const human = await xdpkit(['fw', 'test', '-f', POLICY, '--pcap', path]);
    assert.match(human.stdout, /300 packets \(kernel\): \d+ pass, \d+ drop/);
  });

  it('test --pcap refuses a capture that is not Ethernet, saying how to take one', async () => {
    const path = join(dir, 'raw.pcap');
    writeFileSync(path, Buffer.concat([pcapHeader({ linkType: 101 }), pcapRecord({ data: Buffer.alloc(40), timestampNs: 0n })]));
    const run = await xdpkit(['fw', 'test', '-f', POLICY, '--pcap', path]);
    assert.notEqual(run.code, 0, run.report());
    assert.match(run.stderr, /raw\.pcap has link type 101, not Ethernet \(1\)/);
    assert.match(run.stderr, /tcpdump -i IF -w FILE/);
  });
});
