/**
 * The load balancer under real traffic (issue 9, item 6): a client behind a router, the load
 * balancer and three backends on one L2 segment (test/helpers/lb-traffic.ts draws it). The
 * load balancer is configured through the same function `xdpkit lb apply` calls
 * (applyLoadBalancer); backends are small Node servers that answer with their name, so every
 * answer says which backend the load balancer chose.
 *
 * Shares are absolute percentage points: |flows to a backend / all flows − weight / Σ weights|.
 * Source port ranges differ from test to test, so no flow meets an earlier test's conntrack
 * entry unless a test means it to.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { applyLoadBalancer, lbStateOf, openLbMaps, removeLbState } from '../../src/lb/deploy.js';
import { parseLoadBalancerText } from '../../src/lb/schema.js';
import { readLbStats } from '../../src/lb/stats.js';
import { interfaceKey } from '../../src/programs/interface-key.js';
import { xdpkit } from '../helpers/cli.js';
import { BACKENDS, bigRequest, createLbNetwork, LongLivedConnections, runFlows, startBackend, tally, type BackendName, type LbNetwork } from '../helpers/lb-traffic.js';
import { inNs, pingExact, skip, tearDown } from '../helpers/netns.js';

const PORT = 8080;
type Mode = 'dsr-l2' | 'ipip';
type Weights = Partial<Record<BackendName, number | 'draining'>>;

describe('load balancer with real traffic (client, router, lb, three backends)', { skip, timeout: 240_000 }, () => {
  let net: LbNetwork;
  const servers: ChildProcess[] = [];

  before(async () => {
    net = await createLbNetwork();
    for (const be of BACKENDS) servers.push(await startBackend(net.bed, be, PORT, [net.vip.v4, net.vip.v6]));
  });

  after(async () => {
    if (!net) return;
    for (const s of servers) s.kill('SIGTERM');
    inNs(net.bed, 'lb', () => removeLbState(interfaceKey('eth0')));
    await tearDown(net.bed, net.interfaces);
  });

  /** The four services (TCP and UDP on both VIPs) with these backends, applied to the lb's eth0. */
  function apply(mode: Mode, weights: Weights): void {
    const list = (family: 4 | 6) =>
      Object.entries(weights)
        .map(([be, w]) => {
          const b = net.backends[be as BackendName];
          const state = w === 'draining' ? 'state: draining' : `weight: ${w}`;
          return `      - { address: "${family === 4 ? b.v4 : b.v6}", mac: "${b.mac}", ${state} }`;
        })
        .join('\n');
    const services = (['tcp', 'udp'] as const).flatMap((proto) =>
      ([4, 6] as const).map(
        (family) => `  - name: ${proto}${family}
    vip: "${family === 4 ? net.vip.v4 : `[${net.vip.v6}]`}:${PORT}/${proto}"
    mode: ${mode}
    backends:
${list(family)}`,
      ),
    );
    const model = parseLoadBalancerText(`apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n${services.join('\n')}\n`);
    inNs(net.bed, 'lb', () => applyLoadBalancer({ ifname: 'eth0', model, mode: 'native', source: { v4: net.lb.v4, v6: net.lb.v6 } }));
  }

  const vip = (family: 4 | 6) => (family === 4 ? net.vip.v4 : net.vip.v6);
  const flows = (proto: 'tcp' | 'udp', family: 4 | 6, firstPort: number, count: number) => runFlows(net.bed, 'client', { proto, dst: vip(family), port: PORT, firstPort, count });

  /** ipip packets over the MTU as `xdpkit lb stats --json` shows them (lb_too_big, pinned with the other maps). */
  async function tooBigCountsOf(): Promise<{ icmp: number; dropped: number }> {
    const run = await xdpkit(['--json', 'lb', 'stats', 'eth0', '--interval', '0.1'], { netns: net.bed.netns('lb') });
    assert.equal(run.code, 0, run.stderr);
    return (JSON.parse(run.stdout) as { tooBig: { icmp: number; dropped: number } }).tooBig;
  }

  /** Packets and new flows the data plane counted per backend name of one service. */
  function backendCounters(service: string): Record<string, { packets: bigint; newFlows: bigint }> {
    return inNs(net.bed, 'lb', () => {
      const state = lbStateOf('eth0');
      const maps = openLbMaps(state);
      try {
        const stats = readLbStats(maps, state.image);
        const byAddress = new Map(BACKENDS.flatMap((be) => [[net.backends[be].v4, be], [net.backends[be].v6, be]]));
        return Object.fromEntries(stats.backends.filter((b) => b.service === service).map((b) => [byAddress.get(b.address) ?? b.address, { packets: b.packets, newFlows: b.newFlows }]));
      } finally {
        maps.close();
      }
    });
  }

  /** Checks the shares; returns them as text for the test's diagnostics. */
  function assertShares(answers: Map<number, string>, weights: Record<string, number>, what: string): string {
    const counts = tally(answers);
    const failed = Object.keys(counts).filter((k) => k.startsWith('!'));
    assert.deepEqual(failed, [], `${what}: every flow answered (${JSON.stringify(counts)})`);
    const total = Object.values(weights).reduce((a, b) => a + b, 0);
    for (const [be, w] of Object.entries(weights)) {
      const share = (counts[be] ?? 0) / answers.size;
      assert.ok(Math.abs(share - w / total) <= 0.05, `${what}: ${be} got ${(share * 100).toFixed(1)} % of ${answers.size} flows, weight says ${((w / total) * 100).toFixed(1)} % (±5 points)`);
    }
    const shares = Object.keys(weights).map((be) => `${be} ${(((counts[be] ?? 0) / answers.size) * 100).toFixed(1)} % (weight ${((weights[be]! / total) * 100).toFixed(1)} %)`);
    return `${what}, ${answers.size} flows: ${shares.join(', ')}`;
  }

  async function modeAnswers(mode: Mode, firstPort: number): Promise<void> {
    apply(mode, { be1: 1, be2: 2, be3: 3 });
    let port = firstPort;
    for (const proto of ['tcp', 'udp'] as const) {
      for (const family of [4, 6] as const) {
        const answers = await flows(proto, family, port, 60);
        port += 100;
        const counts = tally(answers);
        assert.deepEqual(Object.keys(counts).sort(), [...BACKENDS], `${mode} ${proto} IPv${family}: 60 flows answered, by every backend (${JSON.stringify(counts)})`);
      }
    }
  }

  it('dsr-l2: TCP connections and UDP requests to IPv4 and IPv6 VIPs are answered by the backends directly', async () => {
    await modeAnswers('dsr-l2', 10_000);
  });

  it('dsr-l2: 3,000 TCP connections split 1:2:3 within ±5 points, as the data plane counted them', async (t) => {
    apply('dsr-l2', { be1: 1, be2: 2, be3: 3 });
    const before = backendCounters('tcp4');
    const answers = await flows('tcp', 4, 11_000, 3000);
    t.diagnostic(assertShares(answers, { be1: 1, be2: 2, be3: 3 }, 'TCP over IPv4'));
    const after = backendCounters('tcp4');
    const counts = tally(answers);
    for (const be of BACKENDS) {
      assert.equal(after[be]!.newFlows - before[be]!.newFlows, BigInt(counts[be] ?? 0), `${be}: one new flow per connection it answered`);
    }
  });

  it('dsr-l2: long-lived connections keep their backend when one is added and another drains', async () => {
    apply('dsr-l2', { be1: 1, be2: 1 });
    const { conns, greetings } = await LongLivedConnections.open(net.bed, 'client', net.vip.v4, PORT, 14_000, 60);
    try {
      assert.deepEqual(Object.keys(tally(greetings)).sort(), ['be1', 'be2'], 'connections on both backends');
      assert.deepEqual(await conns.exchange(), greetings, 'data flows before the change');
      apply('dsr-l2', { be1: 'draining', be2: 1, be3: 1 });
      assert.deepEqual(await conns.exchange(), greetings, 'after be3 joined and be1 drains, every connection still talks to its backend');
      const fresh = tally(await flows('tcp', 4, 14_100, 300));
      assert.equal(fresh.be1, undefined, `no new connection to the draining be1 (${JSON.stringify(fresh)})`);
      assert.ok((fresh.be2 ?? 0) > 0 && (fresh.be3 ?? 0) > 0, `new connections go to be2 and be3 (${JSON.stringify(fresh)})`);
      assert.deepEqual(await conns.exchange(), greetings, 'and still after new connections');
    } finally {
      conns.close();
    }
  });

  it('ipip (backends run `lb decap`): TCP and UDP to IPv4 and IPv6 VIPs are answered', async () => {
    for (const be of BACKENDS) {
      const b = net.backends[be];
      const run = await xdpkit(['lb', 'decap', 'eth0', '--address', b.v4, '--address', b.v6, '--mode', 'native'], { netns: net.bed.netns(be) });
      assert.equal(run.code, 0, run.report());
    }
    await modeAnswers('ipip', 15_000);
  });

  it('ipip: 3,000 UDP flows over IPv6 split 1:2:3 within ±5 points', async (t) => {
    apply('ipip', { be1: 1, be2: 2, be3: 3 });
    t.diagnostic(assertShares(await flows('udp', 6, 16_000, 3000), { be1: 1, be2: 2, be3: 3 }, 'UDP over IPv6'));
  });

  it('ipip: a 64 KiB request over TCP gets through, the client learning the path MTU from the load balancer\'s ICMP', async () => {
    apply('ipip', { be1: 1, be2: 1, be3: 1 });
    const before = await tooBigCountsOf();
    for (const family of [4, 6] as const) {
      // Full-size 1,500-byte segments grow by 20 or 40 bytes: too big for the lb's 1,500 MTU.
      const answer = await bigRequest(net.bed, 'client', vip(family), PORT, 64 * 1024);
      assert.ok((BACKENDS as readonly string[]).includes(answer), `IPv${family}: answered by a backend, got ${answer}`);
    }
    assert.ok((await tooBigCountsOf()).icmp >= before.icmp + 2, 'at least one ICMP / ICMPv6 message per family was sent');
  });

  // 6,000 flows: the removed backend's share alone varies by ±0.6 points (one σ) around 1/3.
  it('removing one of three backends moves at most 1/3 + 3 points of 6,000 new flows (conntrack flushed in between)', async (t) => {
    apply('ipip', { be1: 1, be2: 1, be3: 1 });
    const first = await flows('udp', 4, 19_000, 6000);
    assertShares(first, { be1: 1, be2: 1, be3: 1 }, 'before');
    // The same flows again, but new to the load balancer: only Maglev decides.
    inNs(net.bed, 'lb', () => {
      const maps = openLbMaps(lbStateOf('eth0'));
      try {
        maps.map('lb_conntrack').clear();
      } finally {
        maps.close();
      }
    });
    apply('ipip', { be1: 1, be2: 1 });
    const second = await flows('udp', 4, 19_000, 6000);
    let moved = 0;
    for (const [port, be] of first) {
      const now = second.get(port);
      assert.ok(now === 'be1' || now === 'be2', `flow from port ${port} answered by be1 or be2, got ${now}`);
      if (now !== be) moved++;
    }
    const share = moved / first.size;
    t.diagnostic(`${moved} of ${first.size} flows moved (${(share * 100).toFixed(2)} %)`);
    assert.ok(share <= 1 / 3 + 0.03, `${moved} of ${first.size} flows moved (${(share * 100).toFixed(1)} %), at most ${(100 / 3 + 3).toFixed(1)} %`);
  });

  it('non-VIP traffic and ICMP to the load balancer are untouched', async () => {
    apply('dsr-l2', { be1: 1, be2: 1, be3: 1 });
    for (const family of [4, 6] as const) {
      const address = family === 4 ? net.lb.v4 : net.lb.v6;
      assert.deepEqual(await pingExact(net.bed, 'client', address, { count: 5, intervalMs: 20 }), { transmitted: 5, received: 5 }, `ping the load balancer over IPv${family}`);
      const server = await net.bed.tcpListen('lb', address, PORT);
      try {
        // Same port as the VIP's service, other address: the load balancer's own stack answers.
        assert.deepEqual(await net.bed.tcpConnect('client', { dst: address, port: PORT }), { connected: true }, `TCP to the load balancer itself over IPv${family}`);
        assert.equal(await server.waitFor(1), 1);
      } finally {
        await server.stop();
      }
      const udp = await net.bed.udpListen('lb', address, PORT);
      try {
        await net.bed.sendUdp('client', { dst: address, port: PORT, count: 3 });
        assert.equal(await udp.waitFor(3), 3, `UDP to the load balancer itself over IPv${family}`);
      } finally {
        await udp.stop();
      }
    }
  });
});
