/**
 * `xdpkit fw stats --watch` under real traffic: UDP flows from a through the firewall on b's
 * veth end while the CLI refreshes; every report after the first interval carries rates that
 * agree with its own counters (Δpackets / Δt), the rule the traffic hits has a rate above zero
 * and the idle rule none, and Ctrl-C (SIGINT) or a reader that leaves (`| head`) end it with
 * exit status 0.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RatedStats } from '../../src/firewall/rates.js';
import { Testbed } from '../../src/net/index.js';
import { assertOk, cleanUpNamespace, cliArgv, cliIn, ROOT, skipUnlessRoot } from '../helpers/cli.js';
import { startUdpFlood } from '../helpers/firewall-traffic.js';

type Report = RatedStats & { iface: string };

describe('xdpkit fw stats --watch under traffic', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-fw-watch-'));

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
    const policy = join(dir, 'p.yaml');
    writeFileSync(
      policy,
      'apiVersion: xdpkit/v1\nkind: FirewallPolicy\nblocklists:\n  - { name: far, entries: [198.19.250.0/24] }\nrules:\n' +
        '  - { name: idle, action: drop, proto: tcp, dstPorts: [22] }\n  - { name: flood, action: drop, proto: udp, dstPorts: [9] }\n',
    );
    assertOk(await cli(['fw', 'apply', '-f', policy, '--iface', 'eth0']));
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the test left pins or records behind');
  });

  it('reports rates that match its counters, then exits 0 on SIGINT', async () => {
    // UDP to port 9 from a, as fast as one socket sends, until the reports are in (one sending
    // process: starting one per batch left intervals without traffic on a busy machine).
    const flood = startUdpFlood(bed, 'a', { dst: bed.address('b'), ports: [9], seconds: 120, payloadBytes: 100 });
    const [file, ...args] = cliArgv(['--json', 'fw', 'stats', 'eth0', '--watch', '--interval', '0.5'], { netns });
    const child = spawn(file!, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // Starting the CLI alone takes ~5 s at load 8 on this 2-CPU machine.
      const deadline = Date.now() + 30_000;
      while (stdout.split('\n').filter(Boolean).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 0, `exit status after SIGINT\n${stderr}`);
    } finally {
      await flood.stop();
      child.kill('SIGKILL');
    }
    const reports = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Report);
    assert.ok(reports.length >= 3, `three reports in 30 s\n${stdout}\n${stderr}`);
    for (let i = 1; i < reports.length; i++) {
      const [prev, cur] = [reports[i - 1]!, reports[i]!];
      // About the 0.5 s asked for (a busy machine may run the CLI late, never early).
      assert.ok(cur.seconds !== undefined && cur.seconds > 0.4 && cur.seconds < 3, `interval ${cur.seconds}`);
      const flood = cur.rules.find((r) => r.name === 'flood')!;
      const prevFlood = prev.rules.find((r) => r.name === 'flood')!;
      const delta = flood.packets - prevFlood.packets;
      assert.ok(delta > 0, `the flood rule counted packets in report ${i}`);
      assert.ok(flood.rate, `the flood rule has a rate in report ${i}`);
      // The rate is the counters' own difference over the interval, and bits are bytes × 8.
      assert.ok(Math.abs(flood.rate.pps * cur.seconds - delta) <= 1e-6 * delta + 1e-6, `pps ${flood.rate.pps} × ${cur.seconds} s vs ${delta} packets`);
      assert.ok(Math.abs(flood.rate.bps * cur.seconds - (flood.bytes - prevFlood.bytes) * 8) < 1, 'bps = Δbytes × 8 / Δt');
      // Each datagram is a 142-byte frame (14 + 20 + 8 + 100): bits per packet say so.
      assert.equal(Math.round(flood.rate.bps / flood.rate.pps), 142 * 8);
      assert.deepEqual(cur.rules.find((r) => r.name === 'idle')!.rate, { pps: 0, bps: 0 });
      assert.equal(cur.blocklists[0]!.rate?.pps, 0);
    }
  });

  it('a reader that leaves (| head -n 3) ends the human output with exit status 0', async () => {
    const argv = cliArgv(['fw', 'stats', 'eth0', '--watch', '--interval', '0.2'], { netns }).map((a) => `'${a}'`).join(' ');
    const run = spawn('bash', ['-c', `${argv} | head -n 3; echo "status=\${PIPESTATUS[0]}"`], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    run.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => run.kill('SIGKILL'), 15_000);
    await new Promise((resolve) => run.on('close', resolve));
    clearTimeout(timer);
    assert.match(out, /^eth0 {2}generation \d/m);
    assert.match(out, /NAME\s+KIND\s+PACKETS\s+BYTES\s+RATE\s+THROUGHPUT/);
    assert.match(out, /status=0$/m, out);
  });
});
