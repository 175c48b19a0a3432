/**
 * `xdpkit fw diff` and `fw apply --dry-run` against the live policy on a veth end, and how the
 * firewall is recognised: by the program record (status says "firewall"), and `prog unload`
 * removes the record with the firewall's state files.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { PolicyDiff } from '../../src/firewall/diff.js';
import { Testbed } from '../../src/net/index.js';
import { assertHumanError, assertOk, cleanUpNamespace, cliIn, RECORD_DIR, skipUnlessRoot } from '../helpers/cli.js';

const HEAD = 'apiVersion: xdpkit/v1\nkind: FirewallPolicy\n';

const P1 = `${HEAD}default: pass
malformed: drop
blocklists:
  - name: far
    entries: [198.19.250.0/24, "2001:db8:ffff::/48", 198.19.251.0/24]
  - name: gone
    entries: [198.19.252.0/24]
rules:
  - { name: ssh, action: pass, proto: tcp, dstPorts: [22] }
  - { name: dns, action: drop, proto: udp, dstPorts: [53] }
  - { name: icmp, action: pass, proto: icmp }
  - { name: old, action: drop, proto: udp, dstPorts: [9] }
`;

// Against P1: default and malformed flipped, mitigation added; blocklist far +2 -1, gone removed,
// extra added; rule new added at the top, dns changed (ports, src), ssh moved to the end, old removed.
const P2 = `${HEAD}default: drop
malformed: pass
mitigation: { threshold: { pps: 50000 }, blockFor: 60s }
blocklists:
  - name: far
    entries: [198.19.250.0/24, "2001:db8:ffff::/48", 198.19.253.0/24, 198.19.254.0/24]
  - name: extra
    entries: ["2001:db8:eeee::/48"]
rules:
  - { name: new, action: drop, proto: udp, dstPorts: [10] }
  - { name: dns, action: drop, proto: udp, dstPorts: [53, 5353], src: [198.18.0.0/15] }
  - { name: icmp, action: pass, proto: icmp }
  - { name: ssh, action: pass, proto: tcp, dstPorts: [22] }
`;

interface Change {
  file: string;
  iface: string;
  policy: { rules: number; blocklists: number; prefixes: number };
  diff: PolicyDiff;
}

describe('xdpkit fw diff / apply --dry-run, and the firewall in the program record', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-diff-'));
  const p1 = join(dir, 'p1.yaml');
  const p2 = join(dir, 'p2.yaml');
  writeFileSync(p1, P1);
  writeFileSync(p2, P2);

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the tests left pins or records behind');
  });

  it('without a firewall: diff needs --iface, and with it everything is added', async () => {
    assertHumanError(await cli(['fw', 'diff', '-f', p1]), { code: 1, message: /no interface .* has an xdpkit firewall/, hint: /--iface/ });
    const c = assertOk(await cli(['--json', 'fw', 'diff', '-f', p1, '--iface', 'eth0'])).json<Change>();
    assert.equal(c.diff.live, false);
    assert.deepEqual(c.policy, { rules: 4, blocklists: 2, prefixes: 4 });
    assert.deepEqual(c.diff.rules.added.map((r) => [r.name, r.position]), [['ssh', 0], ['dns', 1], ['icmp', 2], ['old', 3]]);
    assert.deepEqual(c.diff.rules.added[1]!.fields, { action: 'drop', proto: 'udp', dstPorts: '53' });
    assert.deepEqual(c.diff.blocklists.added, [{ name: 'far', prefixes: 3 }, { name: 'gone', prefixes: 1 }]);
    const human = assertOk(await cli(['fw', 'diff', '-f', p1, '--iface', 'eth0'])).stdout;
    assert.match(human, /eth0 has no xdpkit firewall: applying loads it/);
    assert.match(human, /\+ rule dns at #1: drop; proto udp; dstPorts 53/);
  });

  it('the same policy again: no changes; status and prog status name the firewall', async () => {
    assertOk(await cli(['fw', 'apply', '-f', p1, '--iface', 'eth0']));
    const c = assertOk(await cli(['--json', 'fw', 'diff', '-f', p1])).json<Change>();
    assert.equal(c.iface, 'eth0', 'the only interface with a firewall');
    assert.equal(c.diff.live, true);
    assert.equal(c.diff.unchanged, true);
    assert.match(assertOk(await cli(['fw', 'diff', '-f', p1])).stdout, /no changes/);
    const status = assertOk(await cli(['--json', 'status', 'eth0'])).json<{ attachments: { managed: boolean; feature?: string }[] }[]>();
    assert.equal(status[0]!.attachments[0]!.feature, 'firewall');
    assert.match(assertOk(await cli(['prog', 'status', 'eth0'])).stdout, /yes \(firewall\)/);
  });

  it('a changed policy: every kind of change, the same from fw diff and apply --dry-run', async () => {
    const c = assertOk(await cli(['--json', 'fw', 'diff', '-f', p2, '--iface', 'eth0'])).json<Change>();
    const d = c.diff;
    assert.equal(d.unchanged, false);
    assert.deepEqual(d.default, { from: 'pass', to: 'drop' });
    assert.deepEqual(d.malformed, { from: 'drop', to: 'pass' });
    assert.deepEqual(d.mitigation, { from: null, to: '50000 pps for 60s' });
    assert.deepEqual(d.rules.added, [{ name: 'new', position: 0, fields: { action: 'drop', proto: 'udp', dstPorts: '10' } }]);
    assert.deepEqual(d.rules.removed, [{ name: 'old', position: 3 }]);
    assert.deepEqual(d.rules.changed, [
      { name: 'dns', changes: [{ field: 'src', to: '198.18.0.0/15' }, { field: 'dstPorts', from: '53', to: '53, 5353' }] },
    ]);
    assert.deepEqual(d.rules.moved, [{ name: 'ssh', from: 0, to: 3 }], 'dns and icmp kept their order; ssh went past them');
    assert.deepEqual(d.blocklists.added, [{ name: 'extra', prefixes: 1 }]);
    assert.deepEqual(d.blocklists.removed, [{ name: 'gone', prefixes: 1 }]);
    assert.deepEqual(d.blocklists.changed, [{ name: 'far', added: 2, removed: 1, prefixes: 4 }]);

    const dry = assertOk(await cli(['--json', 'fw', 'apply', '-f', p2, '--iface', 'eth0', '--dry-run'])).json<Change & { dryRun: boolean }>();
    assert.equal(dry.dryRun, true);
    assert.deepEqual(dry.diff, d);

    const human = assertOk(await cli(['fw', 'apply', '-f', p2, '--iface', 'eth0', '--dry-run'])).stdout;
    for (const line of [
      /^dry run: would apply .*p2\.yaml on eth0$/m,
      /^ {2}~ default: pass → drop$/m,
      /^ {2}~ malformed: drop → pass$/m,
      /^ {2}~ mitigation: \(none\) → 50000 pps for 60s$/m,
      /^ {2}\+ blocklist extra \(1 prefix\)$/m,
      /^ {2}- blocklist gone \(1 prefix\)$/m,
      /^ {2}~ blocklist far: \+2 -1 prefixes \(4 now\)$/m,
      /^ {2}\+ rule new at #0: drop; proto udp; dstPorts 10$/m,
      /^ {2}- rule old \(was #3\)$/m,
      /^ {2}~ rule dns: src \(none\) → 198\.18\.0\.0\/15; dstPorts 53 → 53, 5353$/m,
      /^ {2}↕ rule ssh: #0 → #3$/m,
    ]) {
      assert.match(human, line);
    }
    // The dry run changed nothing: the live policy is still p1.
    assert.equal(assertOk(await cli(['--json', 'fw', 'diff', '-f', p1])).json<Change>().diff.unchanged, true);

    // Applying shows the same diff, after which p2 is what is live.
    const applied = assertOk(await cli(['--json', 'fw', 'apply', '-f', p2, '--iface', 'eth0'])).json<Change & { loaded: boolean }>();
    assert.equal(applied.loaded, false);
    assert.deepEqual(applied.diff, d);
    assert.equal(assertOk(await cli(['--json', 'fw', 'diff', '-f', p2])).json<Change>().diff.unchanged, true);
  });

  it('a malformed policy: diff fails with the path and the fix', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `${HEAD}rules:\n  - { name: x, action: drop, dstPorts: ["70-60"] }\n`);
    assertHumanError(await cli(['fw', 'diff', '-f', bad]), { code: 1, message: /bad\.yaml: rules\[0\]\.dstPorts\[0\]: .*write "60-70"/ });
  });

  it('prog unload of the firewall removes its record and state files; fw show then says so', async () => {
    const key = `${netns}:eth0`;
    const files = [`${key}.json`, `${key}.fw.json`, `${key}.fw.policy.json`].map((f) => join(RECORD_DIR, f));
    for (const f of files) assert.ok(existsSync(f), `${f} exists while the firewall runs`);
    assertOk(await cli(['prog', 'unload', 'eth0']));
    for (const f of files) assert.ok(!existsSync(f), `${f} removed by prog unload`);
    assertHumanError(await cli(['fw', 'show', 'eth0']), { code: 1, message: /no policy applied on eth0/, hint: /fw apply/ });
    // A foreign program with no record is not taken for a firewall.
    assertOk(await cli(['prog', 'load', 'eth0', 'pass']));
    assertHumanError(await cli(['fw', 'stats', 'eth0']), { code: 1, message: /no policy applied on eth0/ });
    assertOk(await cli(['prog', 'unload', 'eth0']));
  });
});
