/**
 * `xdpkit fw apply / show / stats` on a veth end with real traffic: the first apply loads the
 * firewall, UDP to the blocked port from a's /24 is dropped (and counted on that rule exactly),
 * another port and ping pass; a second apply swaps the policy atomically and the behaviour
 * changes; a malformed policy, and one beyond the firewall's capacity, fail with what to fix
 * and the old policy stays.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Testbed, type UdpListener } from '../../src/net/index.js';
import type { PolicyDiff } from '../../src/firewall/diff.js';
import { assertOk, cleanUpNamespace, cliIn, skipUnlessRoot, xdpkit } from '../helpers/cli.js';

type DryRun = { policy: { prefixes: number }; diff: PolicyDiff };

describe('xdpkit fw apply / show / stats on a veth end', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;
  let p53: UdpListener;
  let p54: UdpListener;
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-apply-'));
  let subnet = '';

  const policy = (name: string, rules: string): string => {
    const path = join(dir, name);
    writeFileSync(path, `apiVersion: xdpkit/v1\nkind: FirewallPolicy\ndefault: pass\nmalformed: drop\nblocklists:\n  - name: far\n    entries: [198.19.250.0/24, "2001:db8:ffff::/48"]\nrules:\n${rules}`);
    return path;
  };
  const udp = async (port: number, count: number): Promise<void> => {
    assert.equal(await bed.sendUdp('a', { dst: bed.address('b'), port, count, payload: `to ${port}` }), count);
  };
  const settleMs = (ms: number) => new Promise((r) => setTimeout(r, ms));

  /** The second test's policy is live: fw show lists its one rule, UDP to 54 is dropped, 53 passes. */
  const secondPolicyInForce = async (): Promise<void> => {
    const show = assertOk(await cli(['--json', 'fw', 'show', 'eth0'])).json<{ rules: { name: string }[] }>();
    assert.deepEqual(show.rules.map((r) => r.name), ['no-54']);
    const before54 = p54.count;
    const before53 = p53.count;
    await udp(54, 2);
    await udp(53, 1);
    assert.equal(await p53.waitFor(before53 + 1, 5000), before53 + 1);
    await settleMs(100);
    assert.equal(p54.count, before54);
  };

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
    p53 = await bed.udpListen('b', bed.address('b'), 53);
    p54 = await bed.udpListen('b', bed.address('b'), 54);
    subnet = bed.address('a').split('.').slice(0, 3).join('.') + '.0/24';
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (bed) await xdpkit(['fw', 'unload', 'eth0'], { netns });
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the tests left pins or records behind');
  });

  it('first apply loads the firewall; UDP to 53 from a/24 dropped, 54 and ping pass; stats exact', async () => {
    const p1 = policy('p1.yaml', `  - name: no-dns-from-a\n    action: drop\n    proto: udp\n    src: [${subnet}]\n    dstPorts: [53]\n  - name: icmp-ok\n    action: pass\n    proto: icmp\n`);
    const dry = assertOk(await cli(['--json', 'fw', 'apply', '-f', p1, '--iface', 'eth0', '--dry-run'])).json<DryRun>();
    assert.deepEqual(dry.diff.rules.added.map((r) => r.name), ['no-dns-from-a', 'icmp-ok']);
    assert.equal(dry.policy.prefixes, 2);
    // The dry run touched nothing.
    assert.notEqual((await cli(['fw', 'show', 'eth0'])).code, 0);

    const run = assertOk(await cli(['--json', 'fw', 'apply', '-f', p1, '--iface', 'eth0']));
    assert.equal(run.json<{ loaded: boolean }>().loaded, true);

    await udp(53, 7);
    await udp(54, 4);
    assert.equal(await p54.waitFor(4, 5000), 4);
    assert.equal(await bed.ping('a', bed.address('b')), 3);
    await settleMs(200);
    assert.equal(p53.count, 0, 'UDP to 53 was delivered');

    const show = assertOk(await cli(['--json', 'fw', 'show', 'eth0']));
    const s = show.json<{ rules: { name: string; action: string }[]; blocklists: { name: string; entries: number }[] }>();
    assert.deepEqual(s.rules, [{ name: 'no-dns-from-a', action: 'drop' }, { name: 'icmp-ok', action: 'pass' }]);
    assert.deepEqual(s.blocklists, [{ name: 'far', entries: 2 }]);

    const stats = assertOk(await cli(['--json', 'fw', 'stats', 'eth0'])).json<{ rules: { name: string; packets: number; bytes: number }[] }>();
    assert.equal(stats.rules[0]!.name, 'no-dns-from-a');
    assert.equal(stats.rules[0]!.packets, 7);
    assert.ok(stats.rules[0]!.bytes >= 7 * 42);
    assert.equal(stats.rules[1]!.packets, 3, 'three echo requests on icmp-ok');
    const human = assertOk(await cli(['fw', 'stats', 'eth0']));
    assert.match(human.stdout, /no-dns-from-a\s+rule drop\s+7/);
  });

  it('a second apply swaps atomically: now 54 is dropped and 53 passes', async () => {
    const p2 = policy('p2.yaml', `  - name: no-54\n    action: drop\n    proto: udp\n    dstPorts: [54]\n`);
    const dry = assertOk(await cli(['--json', 'fw', 'apply', '-f', p2, '--iface', 'eth0', '--dry-run'])).json<DryRun>();
    assert.deepEqual(dry.diff.rules.added.map((r) => r.name), ['no-54']);
    assert.deepEqual(dry.diff.rules.removed.map((r) => r.name), ['no-dns-from-a', 'icmp-ok']);
    const run = assertOk(await cli(['--json', 'fw', 'apply', '-f', p2, '--iface', 'eth0']));
    assert.equal(run.json<{ loaded: boolean }>().loaded, false);
    const before54 = p54.count;
    await udp(54, 3);
    await udp(53, 2);
    assert.equal(await p53.waitFor(2, 5000), 2);
    await settleMs(200);
    assert.equal(p54.count, before54);
    const stats = assertOk(await cli(['--json', 'fw', 'stats', 'eth0'])).json<{ rules: { name: string; packets: number }[] }>();
    assert.deepEqual(stats.rules.map((r) => [r.name, r.packets]), [['no-54', 3]]);
  });

  it('a malformed policy fails with the path and the fix; the old policy stays in force', async () => {
    const bad = policy('bad.yaml', `  - name: oops\n    action: dorp\n    proto: udp\n    dstPorts: [53]\n`);
    const run = await cli(['fw', 'apply', '-f', bad, '--iface', 'eth0']);
    assert.notEqual(run.code, 0, run.report());
    assert.match(run.stderr, /bad\.yaml/);
    assert.match(run.stderr, /rules\[0\]\.action/);
    assert.match(run.stderr, /pass, drop or rate-limit/);
    await secondPolicyInForce();
  });

  it('a policy beyond the firewall\'s capacity fails naming the limit and the fix; the old policy stays in force', async () => {
    // 16,384 rules: sources of their own on the even ones, ports of their own on the odd ones
    // (see the compiler's unit test): over twice the rule-bitmap chunks the firewall holds.
    const rules = Array.from({ length: 16384 }, (_, i) =>
      i % 2 ? `  - { action: drop, proto: udp, dstPorts: [${i}] }\n` : `  - { action: pass, src: [198.19.${i >> 9}.${(i >> 1) & 255}] }\n`,
    );
    const big = policy('big.yaml', rules.join(''));
    for (const args of [['--dry-run'], []]) {
      const run = await cli(['fw', 'apply', '-f', big, '--iface', 'eth0', ...args], { timeoutMs: 60_000 });
      assert.notEqual(run.code, 0, run.report());
      assert.match(run.stderr, /rule-bitmap chunks .*the firewall holds at most 262,144 per policy/, run.report());
      assert.match(run.stderr, /fewer distinct prefixes and port ranges/, run.report());
    }
    await secondPolicyInForce();
  });
});
