/**
 * `fw apply` of a big policy on a terminal shows its progress (reading the file, then each
 * apply phase with entries done/total) on one line of stderr that it erases; piped or with
 * --json it prints none. The terminal is a pty from script(1).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Testbed } from '../../src/net/index.js';
import { assertOk, cleanUpNamespace, cliArgv, cliIn, ROOT, skipUnlessRoot } from '../helpers/cli.js';

const PREFIXES = 200_000;

describe('xdpkit fw apply: progress on a terminal', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-progress-'));
  const policy = join(dir, 'big.yaml');

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    // Documentation prefixes only (2001:db8::/32), one /64 each.
    const lines = Array.from({ length: PREFIXES }, (_, i) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`);
    writeFileSync(join(dir, 'big.txt'), `${lines.join('\n')}\n`);
    writeFileSync(policy, 'apiVersion: xdpkit/v1\nkind: FirewallPolicy\nblocklists:\n  - { name: big, file: big.txt }\nrules:\n  - { name: r, action: drop, proto: udp, dstPorts: [9] }\n');
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the test left pins or records behind');
  });

  it('shows reading and every phase with done/total on a TTY, then erases the line', () => {
    const command = cliArgv(['fw', 'apply', '-f', policy, '--iface', 'eth0'], { netns }).map((a) => `'${a}'`).join(' ');
    const tty = execFileSync('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, timeout: 60_000 });
    const updates = tty.split('\r\x1b[K').map((s) => s.trim()).filter(Boolean);
    assert.match(updates[0]!, /^reading .*big\.yaml…$/);
    const phases = updates.filter((u) => u.startsWith('applying: ')).map((u) => /^applying: (\w+) ([\d,]+)\/([\d,]+)$/.exec(u));
    assert.ok(phases.every(Boolean), updates.join('\n'));
    const last = new Map(phases.map((m) => [m![1]!, [m![2]!, m![3]!]]));
    assert.deepEqual(last.get('blocklists'), ['200,000', '200,000'], 'the blocklist phase counts every prefix');
    assert.ok(phases.filter((m) => m![1] === 'blocklists').length >= 3, 'blocklists in several batches');
    assert.deepEqual([...last.keys()].filter((p) => ['policy', 'blocklists', 'flip'].includes(p)), ['policy', 'blocklists', 'flip'], 'phases in order');
    assert.match(updates.at(-1)!, /applied .*big\.yaml on eth0/);
    assert.match(tty, /\r\x1b\[Kapplied/, 'the progress line is erased before the result');
  });

  it('prints no progress when piped or with --json', async () => {
    const cli = cliIn(netns);
    for (const args of [['fw', 'apply', '-f', policy, '--iface', 'eth0'], ['--json', 'fw', 'apply', '-f', policy, '--iface', 'eth0']]) {
      const run = assertOk(await cli(args, { timeoutMs: 60_000 }));
      assert.equal(run.stderr, '', run.report());
      assert.doesNotMatch(run.stdout, /\r|applying:/);
    }
  });
});
