/**
 * A 1,000,000-prefix blocklist (IPv4 and IPv6 mixed) through the whole path a user takes:
 * policy file + blocklist file parsed, compiled, written into a firewall instance (fresh trie
 * per generation, batch updates), flipped, the old generation dropped; then hits and misses
 * through BPF_PROG_TEST_RUN, and a second apply without the list stops every hit. Prints the
 * time of each phase (no speed is asserted: the machine is shared).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ApplyPhase } from '../../src/firewall/apply.js';
import { compilePolicy } from '../../src/firewall/compile.js';
import { FirewallTestInstance } from '../../src/firewall/instance.js';
import { loadPolicyFile, policyFromObject } from '../../src/firewall/load.js';
import { buildPacket } from '../../src/net/packet.js';

const V4 = 65536; // every even address of 198.18.0.0/15
const TOTAL = 1_000_000;
/** The i-th IPv6 /64 under 2001:db8::/32 (an odd multiplier makes i → subnet one to one). */
const v6Net = (i: number): string => {
  const x = Math.imul(i, 0x9e3779b1) >>> 0;
  return `2001:db8:${(x >>> 16).toString(16)}:${(x & 0xffff).toString(16)}`;
};
const v4Addr = (i: number): string => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

const udp = (src: string) =>
  Buffer.from(buildPacket([{ type: 'eth' }, src.includes(':') ? { type: 'ipv6', src, dst: '2001:db8::2' } : { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 1000, dstPort: 9 }]));

describe('firewall: a 1,000,000-prefix blocklist', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-1m-'));
  const fw = FirewallTestInstance.open();
  after(() => {
    fw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads (parse, compile, write, flip, cleanup), blocks its prefixes and nothing else', () => {
    const lines: string[] = ['# 1M prefixes: even IPv4 addresses of 198.18.0.0/15, IPv6 /64s of 2001:db8::/32'];
    for (let i = 0; i < V4 * 2; i += 2) lines.push(v4Addr(i));
    for (let i = 0; lines.length <= TOTAL; i++) lines.push(`${v6Net(i)}::/64`);
    writeFileSync(join(dir, 'big.txt'), lines.join('\n') + '\n');
    writeFileSync(
      join(dir, 'policy.yaml'),
      'apiVersion: xdpkit/v1\nkind: FirewallPolicy\ndefault: pass\nblocklists:\n  - name: small\n    entries: [198.19.255.0/24, "2001:db8:ffff::/48"]\n  - name: big\n    file: big.txt\n' +
        'rules:\n  - { name: dns, action: drop, proto: udp, dstPorts: [53] }\n',
    );
    const phases = new Map<ApplyPhase, { done: number; total: number }>();
    let t = performance.now();
    const lap = () => {
      const now = performance.now();
      const ms = now - t;
      t = now;
      return Math.round(ms);
    };
    const policy = loadPolicyFile(join(dir, 'policy.yaml'));
    const parseMs = lap();
    assert.equal(policy.blocklists[1]!.entries.length, TOTAL);
    const compiled = compilePolicy(policy);
    const compileMs = lap();
    const result = fw.apply(compiled, { onProgress: (phase, done, total) => phases.set(phase, { done, total }) });
    const applyMs = lap();
    const p = result.phases;
    console.log(
      `# 1M prefixes: parse ${parseMs} ms, compile ${compileMs} ms, apply ${applyMs} ms ` +
        `(clear ${p.clear.toFixed(0)}, policy ${p.policy.toFixed(0)}, blocklist write ${p.blocklists.toFixed(0)}, flip ${p.flip.toFixed(2)}, cleanup ${p.cleanup.toFixed(0)}); total ${parseMs + compileMs + applyMs} ms`,
    );
    assert.deepEqual(phases.get('blocklists'), { done: TOTAL + 2, total: TOTAL + 2 });
    assert.deepEqual(phases.get('flip'), { done: 1, total: 1 });
    assert.deepEqual([...phases.keys()], ['clear', 'policy', 'blocklists', 'flip', 'cleanup']);

    const kind = (src: string) => {
      const d = fw.run(udp(src));
      return d.kind === 'blocklist' ? `blocklist ${policy.blocklists[d.index!]!.name}` : d.kind;
    };
    for (const i of [0, 2, 4242, V4 * 2 - 2]) assert.equal(kind(v4Addr(i)), 'blocklist big', v4Addr(i));
    for (const i of [1, 4243, V4 * 2 - 257]) assert.equal(kind(v4Addr(i)), 'default', v4Addr(i));
    for (const i of [0, 1, 500_000, TOTAL - V4 - 1]) assert.equal(kind(`${v6Net(i)}:1:2:3:4`), 'blocklist big', v6Net(i));
    for (const i of [TOTAL - V4 + 10, TOTAL + 5]) assert.equal(kind(`${v6Net(i)}::1`), 'default', v6Net(i));
    assert.equal(kind('198.19.255.7'), 'blocklist small');
    assert.equal(kind('2001:db8:ffff:1::1'), 'blocklist small');

    lap();
    fw.apply(compilePolicy(policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'pass' })));
    console.log(`# apply of a policy without the list after it: ${lap()} ms`);
    for (const src of [v4Addr(2), `${v6Net(7)}::1`, '198.19.255.7']) assert.equal(kind(src), 'default', `${src} after the list is gone`);
  });
});
