/**
 * Every `xdpkit lb` command as a user runs it, in a namespace pair: "b" holds the load balancer
 * on eth0, "a" sends UDP to the VIPs (routed via b). Backends have explicit MACs; the frames the
 * load balancer sends back out (XDP_TX) are not needed: its counters and `lb explain` show where
 * each flow went. Checks outputs, --json, the errors (no load balancer, unknown service or
 * backend, duplicates, bad addresses, a table that does not fit) and that a refused edit leaves
 * the live generation as it was.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { LbDiff } from '../../src/lb/diff.js';
import { runCommand, Testbed } from '../../src/net/index.js';
import { assertHumanError, assertJsonError, assertOk, cleanUpNamespace, cliArgv, cliIn, RECORD_DIR, skipUnlessRoot, type CliRun } from '../helpers/cli.js';

interface ListJson {
  iface: string;
  generation: number;
  capacity: { ringSlotsPerGeneration: number; ringSlotsUsed: number; conntrackEntries: number };
  services: { name: string; vip: string; mode: string; tableSize: number; healthCheck: unknown; backends: { address: string; weight: number; state: string; health: string | null; mac: string | null }[] }[];
}
interface StatsJson {
  tooBig: { icmp: number; dropped: number };
  services: { name: string; service: string; packets: number; bytes: number; newFlows: number; rates: { pps: number } }[];
  backends: { service: string; address: string; packets: number; newFlows: number }[];
}
interface EditJson {
  iface: string;
  change: string;
  generation: number;
  services: number;
  backends: number;
}

const mac = (i: number) => `02:00:00:00:0a:${i.toString(16).padStart(2, '0')}`;

describe('xdpkit lb: every command in a namespace', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let cli: ReturnType<typeof cliIn>;
  let prefix = '';
  let vip = '';
  let vip2 = '';
  const backend = (i: number) => `${prefix}.${100 + i}`;
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-lb-cli-'));

  const file = (name: string, text: string): string => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };
  /** `count` UDP datagrams from `a` to VIP:port, each from its own source port (a new flow, never one seen before). */
  let nextPort = 20000;
  const flows = async (dst: string, port: number, count: number): Promise<void> => {
    const first = nextPort;
    nextPort += count;
    const script = `const d = require('node:dgram'); const [dst, port, first, count] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
      (async () => { for (let p = first; p < first + count; p++) await new Promise((ok) => { const s = d.createSocket('udp4'); s.bind(p, () => s.send('x\\n', port, dst, () => { s.close(); ok(); })); }); })();`;
    const r = await bed.exec('a', [process.execPath, '-e', script, dst, String(port), String(first), String(count)]);
    assert.equal(r.code, 0, r.stderr);
  };
  const list = async (): Promise<ListJson> => assertOk(await cli(['--json', 'lb', 'service', 'list'])).json<ListJson>();
  const stats = async (): Promise<StatsJson> => assertOk(await cli(['--json', 'lb', 'stats', 'eth0', '--interval', '0.1'])).json<StatsJson>();
  const newFlowsOf = (s: StatsJson, service: string): Record<string, number> =>
    Object.fromEntries(s.backends.filter((b) => b.service === service).map((b) => [b.address, b.newFlows]));
  const edit = async (args: string[]): Promise<EditJson> => assertOk(await cli(['--json', 'lb', ...args])).json<EditJson>();

  before(async () => {
    bed = await Testbed.create({ namespaces: ['a', 'b'], links: [{ a: 'a', b: 'b' }], prefix: 'xl-lbcli' });
    cli = cliIn(bed.netns('b'));
    prefix = bed.address('b').split('.').slice(0, 3).join('.');
    vip = `${prefix}.10`;
    vip2 = `${prefix}.20`;
    for (const v of [vip, vip2]) await bed.exec('a', ['ip', 'route', 'add', `${v}/32`, 'via', bed.address('b')]);
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    const netns = bed?.netns('b');
    const forced = netns ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'prog unload left pins, records or lb state behind');
  });

  it('without a load balancer every command says so and how to make one', async () => {
    for (const args of [['lb', 'service', 'list'], ['lb', 'backend', 'add', 'web', '198.18.1.1', '--mac', mac(1)], ['lb', 'health']]) {
      assertHumanError(await cli(args), { code: 1, message: /no load balancer in this network namespace/, hint: /lb apply -f lb\.yaml --iface/ });
    }
    assertHumanError(await cli(['lb', 'stats', 'eth0']), { code: 1, message: /no load balancer on eth0/, hint: /lb apply -f lb\.yaml --iface eth0/ });
    assertJsonError(await cli(['--json', 'lb', 'explain', 'eth0', 'udp', '198.18.0.1:1000', `${vip}:53`]), { code: 1, type: 'NotFoundError', message: /no load balancer on eth0/ });
  });

  it('apply: a bad file names the field and the fix; a good one attaches', async () => {
    const bad = file('bad.yaml', `apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n  - vip: ${vip}:53/udp\n    tableSize: 1000\n    backends: [{ address: ${backend(1)}, wieght: 2 }]\n`);
    assertHumanError(await cli(['lb', 'apply', '-f', bad, '--iface', 'eth0']), {
      code: 1,
      message: /bad\.yaml: 2 problems/,
      details: /services\[0\]\.tableSize: 1000 is not a prime .*use 997 or 1009[\s\S]*wieght: unknown field "wieght"; did you mean "weight"\?/,
      hint: /fix the load balancer config/,
    });
    const good = file(
      'lb.yaml',
      `apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n  - name: dns\n    vip: ${vip}:53/udp\n    tableSize: 4099\n    backends:\n` +
        [1, 2, 3].map((i) => `      - { address: ${backend(i)}, mac: "${mac(i)}" }\n`).join(''),
    );
    const r = assertOk(await cli(['--json', 'lb', 'apply', '-f', good, '--iface', 'eth0'])).json<{ attached: boolean; mode: string; generation: number; services: number; backends: number }>();
    assert.deepEqual([r.attached, r.mode, r.generation, r.services, r.backends], [true, 'native', 0, 1, 3]);
  });

  it('service list: human and --json', async () => {
    const human = assertOk(await cli(['lb', 'service', 'list', 'eth0']));
    assert.match(human.stdout, /^SERVICE\s+VIP\s+MODE\s+HASH\s+TABLE\s+CHECK\s+BACKEND\s+WEIGHT\s+STATE\s+HEALTH\s+MAC$/m);
    assert.match(human.stdout, new RegExp(`^dns\\s+${vip.replace(/\./g, '\\.')}:53/udp\\s+dsr-l2\\s+5-tuple\\s+4,099\\s+-\\s+${backend(1).replace(/\./g, '\\.')}\\s+1\\s+active\\s+-\\s+${mac(1)}$`, 'm'));
    assert.match(human.stderr, /^eth0: generation 0 live; Maglev slots 4,099 of 65,536 used; conntrack 262,144 entries$/m);
    const l = await list();
    assert.equal(l.iface, 'eth0');
    assert.deepEqual(l.capacity, { ringSlotsPerGeneration: 65536, ringSlotsUsed: 4099, conntrackEntries: 262144 });
    assert.deepEqual(l.services.map((s) => [s.name, s.vip, s.mode, s.tableSize, s.healthCheck]), [['dns', `${vip}:53/udp`, 'dsr-l2', 4099, null]]);
    assert.deepEqual(l.services[0]!.backends.map((b) => [b.address, b.weight, b.state, b.health, b.mac]), [1, 2, 3].map((i) => [backend(i), 1, 'active', null, mac(i)]));
  });

  it('stats: exact packets and new flows per service and backend; human table', async () => {
    await flows(vip, 53, 120);
    const s = await stats();
    const svc = s.services.find((x) => x.name === 'dns')!;
    assert.equal(svc.packets, 120);
    assert.equal(svc.newFlows, 120);
    assert.equal(svc.bytes, 120 * (14 + 20 + 8 + 2));
    assert.deepEqual(s.tooBig, { icmp: 0, dropped: 0 }, 'dsr-l2 never has a packet too big');
    const per = newFlowsOf(s, 'dns');
    assert.equal(Object.values(per).reduce((a, b) => a + b, 0), 120);
    for (const i of [1, 2, 3]) assert.ok(per[backend(i)]! > 0, `backend ${i} got no flow of 120: ${JSON.stringify(per)}`);
    const human = assertOk(await cli(['lb', 'stats', '--interval', '0.1']));
    assert.match(human.stdout, /^SERVICE \/ BACKEND\s+PACKETS\s+BYTES\s+NEW FLOWS\s+RATE\s+THROUGHPUT\s+NEW FLOW RATE$/m);
    assert.match(human.stdout, new RegExp(`^dns ${vip.replace(/\./g, '\\.')}:53/udp\\s+120\\s+5\\.2 KiB\\s+120\\s`, 'm'));
    assert.match(human.stdout, new RegExp(`^  → ${backend(1).replace(/\./g, '\\.')}\\s`, 'm'));
  });

  it('stats --watch --json: one object per interval with rates; Ctrl-C ends it with exit 0', async () => {
    const [file0, ...args] = cliArgv(['--json', 'lb', 'stats', '--watch', '--interval', '0.3'], { netns: bed.netns('b') });
    const child = spawn(file0!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const reader = createInterface({ input: child.stdout });
    const waiters: (() => void)[] = [];
    reader.on('line', (line) => {
      lines.push(line);
      waiters.shift()?.();
    });
    const lineCount = (n: number) => new Promise<void>((resolve) => (lines.length >= n ? resolve() : waiters.push(() => (lines.length >= n ? resolve() : void lineCount(n).then(resolve)))));
    await lineCount(1);
    await flows(vip, 53, 30);
    await lineCount(lines.length + 2);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0, 'Ctrl-C is a normal end');
    const samples = lines.map((l) => JSON.parse(l) as StatsJson & { at: string; seconds: number });
    for (const x of samples) assert.ok(x.seconds > 0.25 && x.seconds < 1, `interval ${x.seconds}`);
    assert.ok(samples.some((x) => x.services[0]!.rates.pps > 0), 'some interval saw traffic');
  });

  it('stats piped into head: ends cleanly', async () => {
    const argv = cliArgv(['lb', 'stats', '--watch', '--interval', '0.2'], { netns: bed.netns('b') }).map((a) => `'${a}'`).join(' ');
    const r = await runCommand(['bash', '-c', `${argv} | head -n 2; echo "status \${PIPESTATUS[0]}"`], { check: false, timeoutMs: 10_000 });
    assert.match(r.stdout, /^SERVICE \/ BACKEND/m);
    assert.match(r.stdout, /status 0$/m, r.stdout + r.stderr);
    assert.doesNotMatch(r.stderr, /EPIPE|Error/);
  });

  it('service add / del: a live flip each; refusals leave the generation as it was', async () => {
    const gen0 = (await list()).generation;
    const added = await edit(['service', 'add', `${vip2}:53/udp`, '--name', 'dns2', '--table-size', '251', '--hash', 'addresses']);
    assert.equal(added.change, `service dns2 (${vip2}:53/udp) added`);
    assert.equal(added.generation, 1 - gen0);
    const human = assertOk(await cli(['lb', 'service', 'list']));
    assert.match(human.stdout, /^dns2\s+\S+:53\/udp\s+dsr-l2\s+addresses\s+251\s+-\s+\(none\)$/m);

    const gen1 = (await list()).generation;
    assertHumanError(await cli(['lb', 'service', 'add', `${vip2}:53/udp`]), { code: 1, message: /:53\/udp is already the service dns2/, hint: /lb backend add/ });
    assertHumanError(await cli(['lb', 'service', 'add', `${vip2}:54/udp`, '--name', 'dns']), { code: 1, message: /the name "dns" is taken/ });
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.300:53/udp']), { code: 2, message: /not an IPv4 or IPv6 address/ });
    assertHumanError(await cli(['lb', 'service', 'add', `${vip2}:55/sctp`]), { code: 2, message: /not tcp or udp/ });
    assertHumanError(await cli(['lb', 'service', 'add', `${vip2}:56/udp`, '--table-size', '1000']), { code: 2, message: /1000 is not a prime .*997 or 1009/ });
    // The ring was sized at the first apply (65,536 slots per generation): a default table no longer fits.
    assertJsonError(await cli(['--json', 'lb', 'service', 'add', `${vip2}:57/udp`, '--table-size', '65537']), {
      code: 1,
      type: 'InvalidArgumentError',
      message: /need 69887 slots; the load balancer on eth0 has room for 65536/,
      hint: /smaller prime table size such as 61169.*--ring-slots/,
    });
    assert.equal((await list()).generation, gen1, 'refused edits did not flip');
    // Without --table-size a service gets the most the ring has left, and a note says so.
    const fitted = assertOk(await cli(['lb', 'service', 'add', `${vip2}:58/udp`, '--name', 'fitted']));
    assert.match(fitted.stderr, /Maglev table of 61,169 slots: what the ring has left \(the default 65,537 needs a ring sized for it: lb apply --ring-slots/);
    assert.equal((await list()).services.find((x) => x.name === 'fitted')!.tableSize, 61169);
    assert.match((await edit(['service', 'del', 'fitted'])).change, /fitted .* removed/);

    const del = await edit(['service', 'del', 'dns2']);
    assert.equal(del.change, `service dns2 (${vip2}:53/udp) removed`);
    assertHumanError(await cli(['lb', 'service', 'del', `${vip2}:53/udp`]), { code: 1, message: /no service .* its services: dns/, hint: /lb service list/ });
  });

  it('backend add / del / drain / undrain change where new flows go', async () => {
    const base = await stats();
    // Drain backend 1: no new flows for it, the others take them all.
    assert.equal((await edit(['backend', 'drain', 'dns', backend(1)])).change, `backend ${backend(1)} of dns (${vip}:53/udp) now draining`);
    assert.equal((await edit(['backend', 'drain', `${vip}:53/udp`, backend(1)])).change, `backend ${backend(1)} of dns (${vip}:53/udp) was already draining`);
    await flows(vip, 53, 90);
    let now = await stats();
    const delta = (a: StatsJson, b: StatsJson) => {
      const x = newFlowsOf(a, 'dns');
      return Object.fromEntries(Object.entries(newFlowsOf(b, 'dns')).map(([k, v]) => [k, v - (x[k] ?? 0)]));
    };
    let d = delta(base, now);
    assert.equal(d[backend(1)], 0, `a draining backend got new flows: ${JSON.stringify(d)}`);
    assert.equal(d[backend(2)]! + d[backend(3)]!, 90);
    assert.deepEqual((await list()).services[0]!.backends.map((b) => b.state), ['draining', 'active', 'active']);

    // Undrain it, add a fourth with weight 2 and raise it to 3, delete the third.
    assert.match((await edit(['backend', 'undrain', 'dns', backend(1)])).change, /now active/);
    assert.equal((await edit(['backend', 'add', vip, backend(4), '--weight', '2', '--mac', mac(4)])).change, `backend ${backend(4)} added to dns (${vip}:53/udp)`);
    assert.equal((await edit(['backend', 'weight', 'dns', backend(4), '3'])).change, `backend ${backend(4)} of dns (${vip}:53/udp) now has weight 3`);
    const removed = await edit(['backend', 'del', 'dns', backend(3)]);
    assert.equal(removed.backends, 3);
    const before2 = now;
    await flows(vip, 53, 120);
    now = await stats();
    d = delta(before2, now);
    assert.equal(d[backend(3)], undefined, 'the deleted backend is gone from the stats');
    assert.equal(d[backend(1)]! + d[backend(2)]! + d[backend(4)]!, 120);
    assert.ok(d[backend(4)]! > d[backend(1)]! && d[backend(4)]! > d[backend(2)]!, `weight 3 takes the biggest share: ${JSON.stringify(d)}`);
    const l = await list();
    assert.deepEqual(l.services[0]!.backends.map((b) => [b.address, b.weight, b.state]), [[backend(1), 1, 'active'], [backend(2), 1, 'active'], [backend(4), 3, 'active']]);

    // Refusals: nothing flips.
    const gen = l.generation;
    const refusals: [string[], 1 | 2, RegExp][] = [
      [['backend', 'add', 'dns', backend(2), '--mac', mac(2)], 1, /is already a backend of dns/],
      [['backend', 'add', 'dns', '198.18.1.256', '--mac', mac(9)], 2, /not an IPv4 or IPv6 address/],
      [['backend', 'add', 'dns', backend(9), '--mac', '01:00:5e:00:00:01'], 2, /multicast MAC/],
      [['backend', 'add', 'dns', backend(9), '--weight', '70000', '--mac', mac(9)], 2, /0\.\.65535/],
      [['backend', 'add', 'dns', backend(9)], 1, /no MAC for .*neighbour table/],
      [['backend', 'add', 'nosuch', backend(9), '--mac', mac(9)], 1, /no service "nosuch"/],
      [['backend', 'del', 'dns', backend(9)], 1, /is not a backend of dns .*its backends: /],
      [['backend', 'drain', 'dns', backend(3)], 1, /is not a backend of dns/],
      [['backend', 'weight', 'dns', backend(1), 'heavy'], 2, /weight: "heavy" is not a whole number 0\.\.65535/],
    ];
    for (const [args, code, message] of refusals) assertHumanError(await cli(['lb', ...args]), { code, message });
    assert.equal((await list()).generation, gen, 'refused edits did not flip');
  });

  it('IPv6 service with a health check; six edits started at once all land', async () => {
    const added = await edit(['service', 'add', '[2001:DB8::10]:443/tcp', '--name', 'web6', '--table-size', '251', '--health-check', 'http:8443/healthz']);
    assert.equal(added.change, 'service web6 ([2001:db8::10]:443/tcp) added');
    const adds = await Promise.all([1, 2, 3, 4, 5, 6].map((i) => cli(['--json', 'lb', 'backend', 'add', '2001:db8::10', `2001:db8:77::${i}`, '--mac', mac(20 + i)])));
    for (const r of adds) assertOk(r);
    const web6 = (await list()).services.find((s) => s.name === 'web6')!;
    assert.deepEqual(web6.healthCheck, { type: 'http', port: 8443, path: '/healthz', expect: [[200, 399]], intervalMs: 2000, timeoutMs: 1000, rise: 2, fall: 3 });
    assert.deepEqual(web6.backends.map((b) => b.address).sort(), [1, 2, 3, 4, 5, 6].map((i) => `2001:db8:77::${i}`));
    assert.deepEqual(new Set(web6.backends.map((b) => b.health)), new Set(['up']), 'checked backends start up');
    const human = assertOk(await cli(['lb', 'service', 'list']));
    assert.match(human.stdout, /^web6\s+\[2001:db8::10\]:443\/tcp\s+dsr-l2\s+5-tuple\s+251\s+http:8443\/healthz every 2s\s+2001:db8:77::\d\s+1\s+active\s+up\s/m);
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.50/tcp', '--health-check', 'tcp']), { code: 1, message: /has no port, and the service takes every port/, hint: /tcp:80/ });
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.50:80/tcp', '--health-check', 'ping']), { code: 1, message: /must be tcp \(connect\) or http/ });
    // An http check with the status it expects and a Host header; both refused on a tcp check or without a check.
    const vhost = await edit(['service', 'add', '198.18.0.51:80/tcp', '--name', 'vhost', '--table-size', '251', '--health-check', 'http/healthz', '--health-expect', '200,204', '--health-host', 'www.example.com']);
    assert.equal(vhost.change, 'service vhost (198.18.0.51:80/tcp) added');
    assert.match(assertOk(await cli(['lb', 'service', 'list'])).stdout, /^vhost\s+198\.18\.0\.51:80\/tcp\s+dsr-l2\s+5-tuple\s+251\s+http:80\/healthz every 2s expect 200, 204 host www\.example\.com\s+\(none\)$/m);
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.52:80/tcp', '--health-check', 'tcp', '--health-host', 'www.example.com']), { code: 1, message: /--health-host: a tcp check sends no request/ });
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.52:80/tcp', '--health-expect', '200']), { code: 1, message: /--health-expect belongs to an http check, and there is no --health-check/, hint: /--health-check http:80\/healthz/ });
    assertHumanError(await cli(['lb', 'service', 'add', '198.18.0.52:80/tcp', '--health-check', 'http', '--health-expect', '999']), { code: 1, message: /--health-expect: 999 is not an HTTP status \(100\.\.599\)/ });
    assert.match((await edit(['service', 'del', 'vhost'])).change, /vhost .* removed/);
    assert.match((await edit(['service', 'del', '[2001:db8::10]:443/tcp'])).change, /web6 .* removed/);
  });

  it('an edit waits for the lock of another writer and takes over the lock of a dead one', async () => {
    const lock = join(RECORD_DIR, `${bed.netns('b')}:eth0.lb.lock`);
    writeFileSync(lock, String(process.pid)); // a live writer: this test
    let finished = 0;
    const pending = cli(['--json', 'lb', 'backend', 'drain', 'dns', backend(2)]).then((run) => ((finished = Date.now()), run));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(finished, 0, 'the edit went ahead while another writer held the lock');
    const released = Date.now();
    rmSync(lock);
    const r = assertOk(await pending);
    assert.ok(finished >= released, 'the edit finished after the lock was released');
    assert.match(r.json<EditJson>().change, /now draining/);
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']).stdout.toString();
    writeFileSync(lock, dead); // a writer that died holding it
    assert.match((await edit(['backend', 'undrain', 'dns', backend(2)])).change, /now active/);
    assert.ok(!existsSync(lock), 'the lock is released after the edit');
  });

  it('not root: edits, stats and the checker say so and what to do', async () => {
    for (const args of [['lb', 'backend', 'drain', 'dns', backend(1)], ['lb', 'health'], ['lb', 'stats']]) {
      assertHumanError(await cli(args, { unprivileged: true }), { code: 1, message: /needs root|permission denied/, hint: /run as root/ });
    }
    assert.deepEqual((await list()).services[0]!.backends.map((b) => b.state), ['active', 'active', 'active'], 'nothing changed');
  });

  it('explain: Maglev slot for a new flow, conntrack for an established one, pass for others', async () => {
    const ex = async (src: string, dst: string): Promise<{ verdict: string; via?: string; backend?: { address: string }; slot?: number; reason: string }> =>
      assertOk(await cli(['--json', 'lb', 'explain', 'eth0', 'udp', src, dst])).json();
    const fresh = await ex('198.18.9.9:40000', `${vip}:53`);
    assert.equal(fresh.verdict, 'backend');
    assert.equal(fresh.via, 'maglev');
    assert.ok(typeof fresh.slot === 'number' && fresh.slot < 4099);
    // A flow that went through: bash's /dev/udp picks the source port; send from a fixed one instead.
    assert.equal(await bed.sendUdp('a', { dst: vip, port: 53, srcPort: 41000 }), 1);
    const known = await ex(`${bed.address('a')}:41000`, `${vip}:53`);
    assert.equal(known.via, 'conntrack', known.reason);
    const other = await ex('198.18.9.9:40000', `${vip}:80`);
    assert.equal(other.verdict, 'pass');
    const human = assertOk(await cli(['lb', 'explain', 'eth0', 'udp', `${bed.address('a')}:41000`, `${vip}:53`]));
    assert.match(human.stdout, /: backend \S+ \(id \d+\) of dns \(\S+:53\/udp\), dsr-l2\n\s+conntrack hit/);
    assertHumanError(await cli(['lb', 'explain', 'eth0', 'icmp', '198.18.9.9:1', `${vip}:53`]), { code: 1, message: /handles tcp or udp/ });
    assertHumanError(await cli(['lb', 'explain', 'eth0', 'udp', '198.18.9.9', `${vip}:53`]), { code: 1, message: /is not ADDRESS:PORT/ });
  });

  it('decap: attaches lb_decap for the given addresses (human and --json), refuses a bad address', async () => {
    const netA = bed.netns('a');
    const cliA = cliIn(netA);
    try {
      const r = assertOk(await cliA(['--json', 'lb', 'decap', 'eth0', '--address', bed.address('a'), '--address', '2001:db8::1'])).json<{ iface: string; mode: string; addresses: string[] }>();
      assert.deepEqual(r, { iface: 'eth0', mode: 'native', addresses: [bed.address('a'), '2001:db8::1'] });
      const status = assertOk(await cliA(['status', 'eth0']));
      assert.match(status.stdout, /xdp_lb_decap|lb_decap/);
      assertHumanError(await cliA(['lb', 'decap', 'eth0', '--address', '198.18.0.999', '--force']), { code: 2, message: /not an IPv4 or IPv6 address/ });
    } finally {
      const forced = await cleanUpNamespace(netA, ['eth0']);
      assert.deepEqual(forced, []);
    }
  });

  it('with two load balancers in the namespace, a command without an interface asks which', async () => {
    await bed.exec('b', ['ip', 'link', 'add', 'lbx0', 'type', 'veth', 'peer', 'name', 'lbx1']);
    await bed.exec('b', ['ip', 'link', 'set', 'lbx0', 'up']);
    await bed.exec('b', ['ip', 'link', 'set', 'lbx1', 'up']);
    try {
      assertOk(await cli(['lb', 'apply', '-f', join(dir, 'lb.yaml'), '--iface', 'lbx0']));
      assertHumanError(await cli(['lb', 'backend', 'drain', 'dns', backend(1)]), { code: 1, message: /load balancers on eth0, lbx0/, hint: /say which one with --iface/ });
      assertHumanError(await cli(['lb', 'stats']), { code: 1, message: /load balancers on eth0, lbx0/ });
      assert.match((await edit(['backend', 'drain', 'dns', backend(1), '--iface', 'lbx0'])).change, /now draining/);
      assert.equal(assertOk(await cli(['--json', 'lb', 'service', 'list', 'lbx0'])).json<ListJson>().services[0]!.backends[0]!.state, 'draining');
      assertJsonError(await cli(['--json', 'lb', 'service', 'list']), { code: 1, type: 'InvalidArgumentError', message: /load balancers on eth0, lbx0/ });
    } finally {
      assertOk(await cli(['prog', 'unload', 'lbx0']));
      await bed.exec('b', ['ip', 'link', 'del', 'lbx0']);
    }
    assert.equal((await list()).iface, 'eth0', 'one load balancer again: found without --iface');
  });

  it('lb diff and apply --dry-run show what the file would undo, writing nothing; lb export saves the live config', async () => {
    // Live now: dns with backends 1, 2 and 4 (weight 3), from the edits above; the file has 1, 2, 3.
    const lbFile = join(dir, 'lb.yaml');
    const gen = (await list()).generation;
    const svc = `dns ${vip}:53/udp`;
    const d = assertOk(await cli(['lb', 'diff', '-f', lbFile]));
    assert.equal(d.stdout, `${lbFile} against the live config on eth0 (generation ${gen}):\n  ~ service ${svc}\n      + backend ${backend(3)} weight 1\n      - backend ${backend(4)}\n`);
    assert.match(d.stderr, new RegExp(`^warning: ${lbFile.replace(/[.\/]/g, '\\$&')} would undo CLI edits \\(the - and ~ lines above\\): \\d+ edits were made with lb service / lb backend since the last lb apply, the last 3: .*\\. To keep edits, put them in the file \\(xdpkit lb export`, 'm'));

    interface DryRunJson { dryRun: true; attach: boolean; diff: LbDiff; replacedEdits: string[] }
    const dry = assertOk(await cli(['--json', 'lb', 'apply', '-f', lbFile, '--iface', 'eth0', '--dry-run'])).json<DryRunJson>();
    assert.equal(dry.attach, false);
    assert.deepEqual(dry.diff.services.changed.map((x) => [x.name, x.backends.added.map((b) => b.address), x.backends.removed.map((b) => b.address)]), [['dns', [backend(3)], [backend(4)]]]);
    assert.ok(dry.replacedEdits.includes(`backend ${backend(4)} added to dns (${vip}:53/udp)`), JSON.stringify(dry.replacedEdits));
    assert.ok(!dry.replacedEdits.some((e) => /already/.test(e)), 'an edit that changed nothing is not recorded');
    const human = assertOk(await cli(['lb', 'apply', '-f', lbFile, '--iface', 'eth0', '--dry-run']));
    assert.match(human.stdout, /^dry run: .*lb\.yaml on eth0, nothing written; it would change:\n  ~ service dns /);
    // A dry run makes the checks a real apply makes: a table that does not fit is refused the same way.
    const big = file('big.yaml', `apiVersion: xdpkit/v1\nkind: LoadBalancer\nservices:\n  - { name: dns, vip: "${vip}:53/udp", tableSize: 65537, backends: [] }\n  - { name: more, vip: "${vip2}:53/udp", tableSize: 4099, backends: [] }\n`);
    assertHumanError(await cli(['lb', 'apply', '-f', big, '--iface', 'eth0', '--dry-run']), { code: 1, message: /need 69636 slots; the load balancer on eth0 has room for 65536/ });
    assert.equal((await list()).generation, gen, 'dry runs and diffs flipped nothing');

    // lb export: the live config as a file; the diff against it is empty, and it loads back to what is live.
    const exported = assertOk(await cli(['lb', 'export']));
    assert.match(exported.stdout, /^# exported from eth0 \(generation \d\) by xdpkit lb export at /);
    const saved = file('live.yaml', exported.stdout);
    assert.match(assertOk(await cli(['lb', 'diff', '-f', saved, '--iface', 'eth0'])).stdout, /^  no changes: the live config is the same$/m);
    const doc = assertOk(await cli(['--json', 'lb', 'export', 'eth0'])).json<{ kind: string; services: { name: string; backends: { address: string; weight?: number }[] }[] }>();
    assert.equal(doc.kind, 'LoadBalancer');
    assert.deepEqual(doc.services[0]!.backends.map((b) => [b.address, b.weight ?? 1]), [[backend(1), 1], [backend(2), 1], [backend(4), 3]]);
    assertHumanError(await cli(['lb', 'diff', '-f', lbFile, '--iface', 'nosuch0']), { code: 1, message: /interface nosuch0/ });
  });

  it('a second lb apply replaces the CLI edits with the file (declarative), says what it undid, keeping stable ids', async () => {
    const lbFile = join(dir, 'lb.yaml');
    const r: CliRun = assertOk(await cli(['lb', 'apply', '-f', lbFile, '--iface', 'eth0']));
    assert.match(r.stdout, new RegExp(`^eth0: load balancer updated; generation \\d live \\(1 service, 3 backends\\)\n  ~ service dns \\S+\n      \\+ backend ${backend(3).replace(/\./g, '\\.')} weight 1\n      - backend ${backend(4).replace(/\./g, '\\.')}\n$`));
    assert.match(r.stderr, /^warning: .*lb\.yaml undid CLI edits \(the - and ~ lines above\)/m);
    const l = await list();
    assert.deepEqual(l.services[0]!.backends.map((b) => b.address), [1, 2, 3].map(backend));
    // The edits went with that apply: applying the same file again changes nothing and warns of nothing.
    const again = assertOk(await cli(['--json', 'lb', 'apply', '-f', lbFile, '--iface', 'eth0'])).json<{ attached: boolean; diff: LbDiff; replacedEdits: string[] }>();
    assert.deepEqual([again.attached, again.diff.unchanged, again.replacedEdits], [false, true, []]);
  });

  it('apply --egress: an unknown device is refused with the interfaces there are, nothing changed; a known one stays through edits and applies', async () => {
    const before = await list();
    const refused = await cli(['lb', 'apply', '-f', join(dir, 'lb.yaml'), '--iface', 'eth0', '--egress', 'nosuch0']);
    assertHumanError(refused, { code: 1, message: /interface nosuch0/, hint: /ip -br link/ });
    assert.match(refused.stderr, /eth0/, 'lists the interfaces of the namespace');
    assert.equal((await list()).generation, before.generation, 'the live generation is the one before');

    interface ApplyJson { egress: string | null; generation: number }
    const applied = assertOk(await cli(['--json', 'lb', 'apply', '-f', join(dir, 'lb.yaml'), '--iface', 'eth0', '--egress', 'eth0'])).json<ApplyJson>();
    assert.equal(applied.egress, 'eth0');
    assert.equal((await edit(['backend', 'drain', 'dns', backend(1)]) as EditJson & { egress: string | null }).egress, 'eth0', 'an edit keeps the egress');
    const again = assertOk(await cli(['lb', 'apply', '-f', join(dir, 'lb.yaml'), '--iface', 'eth0']));
    assert.match(again.stdout, /, out of eth0$/m, 'an apply without --egress keeps it');
  });
});
