/**
 * Health checks with real services (issue 9, item 4/6): the network of test/helpers/lb-traffic.ts
 * (client behind a router; load balancer and three backends on one L2 segment), the load
 * balancer applied and `xdpkit lb health` run as a user runs them (the CLI in the load
 * balancer's namespace). Each backend's server listens on the VIP and on the backend's own
 * address, so the TCP check (to the backend's address) sees the same process the clients reach.
 *
 * be2's server stops → the checker logs be2 up→down → new flows all go to be1 and be3, every one
 * answered; the server starts again → down→up → be2 takes new flows again. The same backends in
 * an ipip service go down and up with them: checks go to each backend's own address in both
 * modes. A service with an HTTP check shows that check type: the servers listen on the backends'
 * own addresses only (a check through the VIP would fail), answer 421 unless the Host header is
 * the check's `host`, and be3 answers 302, which `expect: 200` does not take. A fourth checks an
 * address nobody holds (each check hangs to its timeout) and must not hold the others back. One
 * log line per change.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import type { HealthChange } from '../../src/lb/health-checker.js';
import { assertHumanError, assertOk, cliArgv, cliIn } from '../helpers/cli.js';
import { BACKENDS, createLbNetwork, runFlows, startBackend, tally, type BackendName, type LbNetwork } from '../helpers/lb-traffic.js';
import { skip, tearDown } from '../helpers/netns.js';

const PORT = 8080;
const HTTP_PORT = 8090;

const HTTP_HOST = 'api.example';
// CommonJS for `node -e`: an HTTP server on ADDRESS:PORT answering STATUS to requests for HOST, 421 (misdirected) to others.
const HTTP_SERVER = `
const [address, port, status, host] = process.argv.slice(1);
require('node:http').createServer((req, res) => { res.statusCode = req.headers.host === host ? Number(status) : 421; res.end(); })
  .listen(Number(port), address, () => console.log('ready'));
`;

describe('lb health: a backend whose service stops is taken out and comes back', { skip, timeout: 60_000 }, () => {
  let net: LbNetwork;
  let lbCli: ReturnType<typeof cliIn>;
  const servers = new Map<BackendName, ChildProcess>();
  let checker: ChildProcess | undefined;
  const changes: HealthChange[] = [];
  const waiters: (() => void)[] = [];
  let checkerErr = '';
  const dir = mkdtempSync(join(tmpdir(), 'xdpkit-lb-health-'));
  const config = join(dir, 'lb.yaml');

  const startServer = async (be: BackendName) => servers.set(be, await startBackend(net.bed, be, PORT, [net.vip.v4, net.backends[be].v4]));
  const stopServer = async (be: BackendName) => {
    const child = servers.get(be)!;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    servers.delete(be);
  };
  /** Waits for the checker to log a change matching `want` (the lines it logged so far count). */
  const waitForChange = (want: (c: HealthChange) => boolean, what: string, timeoutMs = 8000): Promise<HealthChange> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no health change "${what}" within ${timeoutMs} ms; logged: ${JSON.stringify(changes)}; stderr: ${checkerErr}`)), timeoutMs);
      const check = () => {
        const hit = changes.find(want);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else waiters.push(check);
      };
      check();
    });
  const nameOf = (address: string) => BACKENDS.find((be) => net.backends[be].v4 === address);
  let nextPort = 10_000;
  const flows = async (count: number) => {
    const answers = await runFlows(net.bed, 'client', { proto: 'tcp', dst: net.vip.v4, port: PORT, firstPort: nextPort, count });
    nextPort += count;
    return tally(answers);
  };

  before(async () => {
    net = await createLbNetwork('xl-lbh');
    lbCli = cliIn(net.bed.netns('lb'));
    for (const be of BACKENDS) await startServer(be);
    for (const [be, status] of [['be1', 200], ['be2', 200], ['be3', 302]] as const) {
      const http = net.bed.spawn(be, [process.execPath, '-e', HTTP_SERVER, net.backends[be].v4, String(HTTP_PORT), String(status), HTTP_HOST]);
      await new Promise((resolve, reject) => {
        createInterface({ input: http.stdout! }).once('line', resolve);
        http.once('exit', (code) => reject(new Error(`http server in ${be} exited ${code}`)));
      });
    }
    const backends = () => BACKENDS.map((be) => `      - { address: "${net.backends[be].v4}", mac: "${net.backends[be].mac}" }`).join('\n');
    // An address on the segment that nobody holds: its checks hang until their timeout.
    const silent = () => net.lb.v4.replace(/\.\d+$/, '.250');
    writeFileSync(
      config,
      `apiVersion: xdpkit/v1
kind: LoadBalancer
services:
  - name: web
    vip: "${net.vip.v4}:${PORT}/tcp"
    tableSize: 4099
    healthCheck: { type: tcp, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    backends:
${backends()}
  - name: slow
    vip: "${net.vip.v4}:9000/tcp"
    tableSize: 251
    healthCheck: { type: tcp, interval: 3s, timeout: 2500ms, rise: 1, fall: 100 }
    backends: [{ address: "${silent()}", mac: "02:00:00:00:00:fa" }]
  - name: api
    vip: "${net.vip.v4}:${HTTP_PORT}/tcp"
    tableSize: 4099
    healthCheck: { type: http, path: /healthz, expect: 200, host: ${HTTP_HOST}, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    backends:
${backends()}
  - name: tunnel
    vip: "[${net.vip.v6}]:${PORT}/tcp"
    mode: ipip
    tableSize: 4099
    healthCheck: { type: tcp, port: ${PORT}, interval: 200ms, timeout: 150ms, rise: 2, fall: 2 }
    backends:
${backends()}
`,
    );
    assertOk(await lbCli(['lb', 'apply', '-f', config, '--iface', 'eth0', '--mode', 'native', '--source', net.lb.v4]));
    const [file, ...args] = cliArgv(['--json', 'lb', 'health', 'eth0'], { netns: net.bed.netns('lb') });
    checker = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    checker.stderr!.on('data', (c: Buffer) => (checkerErr += c.toString()));
    createInterface({ input: checker.stdout! }).on('line', (line) => {
      changes.push(JSON.parse(line) as HealthChange);
      for (const w of waiters.splice(0)) w();
    });
  });

  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (checker && checker.exitCode === null) checker.kill('SIGKILL');
    for (const s of servers.values()) s.kill('SIGTERM');
    if (net) await tearDown(net.bed, net.interfaces);
  });

  it('an HTTP check expecting 200 takes out the backend that answers 302; the Host header reaches the others', async () => {
    const c = await waitForChange((x) => x.service === 'api', 'api be3 up→down');
    assert.deepEqual([nameOf(c.backend), c.from, c.to, c.vip], ['be3', 'up', 'down', `${net.vip.v4}:${HTTP_PORT}/tcp`]);
    assert.match(c.reason, /2 failed checks in a row \(fall 2\): http:8090\/healthz HTTP 302 \(expected 200\)$/);
    assert.ok(Date.now() - Date.parse(c.time) < 10_000, `time ${c.time}`);
  });

  it('all three take flows while their service runs', async () => {
    const t = await flows(300);
    assert.deepEqual(Object.keys(t).sort(), [...BACKENDS], JSON.stringify(t));
  });

  it("be2's service stops: it is taken out, new flows go to be1 and be3 and are all answered", async (ctx) => {
    await stopServer('be2');
    const stopped = Date.now();
    const c = await waitForChange((x) => x.service === 'web' && x.to === 'down', 'web be2 up→down');
    const tunnelDown = await waitForChange((x) => x.service === 'tunnel' && x.to === 'down', 'tunnel be2 up→down');
    ctx.diagnostic(`server stopped → out of the table: ${Date.parse(c.time) - stopped} ms (dsr-l2), ${Date.parse(tunnelDown.time) - stopped} ms (ipip) (interval 200 ms, fall 2)`);
    assert.equal(nameOf(tunnelDown.backend), 'be2');
    assert.match(tunnelDown.reason, /tcp:8080 connect ECONNREFUSED/);
    // Checks run on their own schedules: the slow service's checks (hanging 2.5 s) do not hold
    // web's back. Nominal 2 × 200 ms; waiting for the slow ones would make it ≥ 2.5 s.
    assert.ok(Date.parse(c.time) - stopped < 2000, 'web was not held back by the slow service\'s checks');
    assert.equal(nameOf(c.backend), 'be2');
    assert.equal(c.from, 'up');
    assert.match(c.reason, /2 failed checks in a row \(fall 2\): tcp:8080 connect ECONNREFUSED/);
    const t = await flows(300);
    assert.deepEqual(Object.keys(t).sort(), ['be1', 'be3'], `only be1 and be3 answer, no failures: ${JSON.stringify(t)}`);
    const list = assertOk(await lbCli(['--json', 'lb', 'service', 'list'])).json<{ generation: number; checker: { pid: number } | null; services: { name: string; backends: { address: string; health: string }[] }[] }>();
    assert.ok(list.checker !== null && list.checker.pid > 0, 'service list sees the running checker');
    for (const name of ['web', 'tunnel']) {
      const service = list.services.find((s) => s.name === name)!;
      assert.deepEqual(service.backends.map((b) => [nameOf(b.address), b.health]), [['be1', 'up'], ['be2', 'down'], ['be3', 'up']], name);
    }
    // A dry run beside the running checker: every check once, nothing flipped.
    const once = assertOk(await lbCli(['--json', 'lb', 'health', '--once'])).json<{ checks: { service: string; backend: string; health: string; result: { ok: boolean; detail: string } }[] }>();
    const webChecks = once.checks.filter((x) => x.service === 'web').map((x) => [nameOf(x.backend), x.result.ok, x.health]);
    assert.deepEqual(webChecks, [['be1', true, 'up'], ['be2', false, 'down'], ['be3', true, 'up']]);
    assert.match(once.checks.find((x) => x.service === 'web' && nameOf(x.backend) === 'be2')!.result.detail, /ECONNREFUSED/);
    const listAfter = assertOk(await lbCli(['--json', 'lb', 'service', 'list'])).json<{ generation: number }>();
    assert.equal(listAfter.generation, list.generation, 'the dry run flipped nothing');
    // Applying the file again (a new generation) keeps be2 out: the checker's decision stands.
    assertOk(await lbCli(['lb', 'apply', '-f', config, '--iface', 'eth0']));
    const again = await flows(150);
    assert.deepEqual(Object.keys(again).sort(), ['be1', 'be3'], `after a re-apply: ${JSON.stringify(again)}`);
  });

  it('be2 starts again: it comes back and takes new flows', async (ctx) => {
    await startServer('be2');
    const started = Date.now();
    const c = await waitForChange((x) => x.service === 'web' && x.to === 'up', 'web be2 down→up');
    await waitForChange((x) => x.service === 'tunnel' && x.to === 'up', 'tunnel be2 down→up');
    ctx.diagnostic(`server listening → back in the table: ${Date.parse(c.time) - started} ms (interval 200 ms, rise 2)`);
    assert.equal(nameOf(c.backend), 'be2');
    assert.match(c.reason, /2 good checks in a row \(rise 2\): tcp:8080 connected/);
    const t = await flows(300);
    assert.deepEqual(Object.keys(t).sort(), [...BACKENDS], JSON.stringify(t));
    assert.ok(t.be2! > 50, `be2 takes about a third again: ${JSON.stringify(t)}`);
  });

  it('a second checker for the same load balancer is refused', async () => {
    assertHumanError(await lbCli(['lb', 'health']), { code: 1, message: /a health checker \(pid \d+\) already runs for the load balancer on eth0/, hint: /stop that one first/ });
  });

  it('Ctrl-C ends the checker with exit 0; it logged exactly the five changes', async () => {
    const exited = new Promise<number | null>((resolve) => checker!.once('exit', resolve));
    checker!.kill('SIGINT');
    assert.equal(await exited, 0, checkerErr);
    const of = (service: string) => changes.filter((c) => c.service === service).map((c) => `${nameOf(c.backend)} ${c.from}→${c.to}`);
    assert.deepEqual([of('api'), of('web'), of('tunnel'), of('slow')], [['be3 up→down'], ['be2 up→down', 'be2 down→up'], ['be2 up→down', 'be2 down→up'], []]);
    assert.equal(changes.length, 5);
    assert.match(checkerErr, /eth0: checking 10 backends of 4 services/);
    const list = assertOk(await lbCli(['lb', 'service', 'list']));
    assert.match(list.stderr, /no health checker runs: HEALTH is its last decision; start one: xdpkit lb health eth0/);
  });
});
