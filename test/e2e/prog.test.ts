/**
 * The program lifecycle through the CLI, as a user runs it (`npm run build` first), in testbed
 * namespaces with real traffic: drop_udp with ports, status, stats, maps, atomic replace and
 * unload; the seed objects as they are (legacy sections) including a redirect seen on the
 * target's peer; and a program attached by iproute2, which xdpkit shows, measures and removes.
 *
 * The CLI runs with `nsenter --net` (see test/helpers/cli.ts); traffic comes from the testbed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runCommand, Testbed, type UdpListener } from '../../src/net/index.js';
import { assertOk, cleanUpNamespace, cliIn, PIN_ROOT, RECORD_DIR, ROOT, skipUnlessRoot, tracesOf } from '../helpers/cli.js';

interface StatusAttachment {
  mode: string;
  programId: number;
  programName: string;
  programTag: string;
  linkId?: number;
  managed: boolean;
  builtin?: string;
  object?: string;
}

interface StatusEntry {
  ifname: string;
  ifindex: number;
  attachments: StatusAttachment[];
}

type Counters = Record<'aborted' | 'drop' | 'pass' | 'tx' | 'redirect', { packets: number; bytes: number }>;

interface StatsEntry {
  ifname: string;
  programId: number;
  programName: string;
  mode: string;
  actions?: Counters;
  runCount: number;
  rates: { runsPerSecond: number; nsPerRun?: number } | null;
}

interface LoadResult {
  ifname: string;
  programId: number;
  programName: string;
  builtin?: string;
  object: string;
  section: string;
  mode: string;
  via: string;
  pinDir: string;
  replaced: StatusAttachment | null;
  fallbackReason: string | null;
}

const seed = (name: string): string => `build/fixtures/seed/${name}.o`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The one attachment `status IF --json` reports (fails when there is not exactly one). */
async function attachmentOn(cli: ReturnType<typeof cliIn>, ifname: string): Promise<StatusAttachment> {
  const run = assertOk(await cli(['status', ifname, '--json']));
  const [entry] = run.json<StatusEntry[]>();
  assert.equal(entry?.ifname, ifname, run.report());
  assert.equal(entry.attachments.length, 1, run.report());
  return entry.attachments[0]!;
}

/** `ip -d link show` of an interface in a namespace (what iproute2 says is attached). */
async function ipLink(netns: string, ifname: string): Promise<string> {
  return (await runCommand(['ip', '-n', netns, '-d', 'link', 'show', 'dev', ifname])).stdout;
}

/** Sends `count` datagrams from `from` to `to`:port and lets them land. */
async function udp(bed: Testbed, from: string, to: string, port: number, count: number): Promise<void> {
  assert.equal(await bed.sendUdp(from, { dst: bed.address(to), port, count, payload: `to ${port}` }), count);
}

/** Waits until `listener` has `expected` datagrams (sends made before have been handled by then). */
async function settle(listener: UdpListener, expected: number): Promise<void> {
  assert.equal(await listener.waitFor(expected, 5000), expected, `listener on port ${listener.port} got ${listener.count}, expected ${expected}`);
}

describe('prog lifecycle: drop_udp on a veth end, driven by the CLI', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;
  let port53: UdpListener;
  let port54: UdpListener;
  let port55: UdpListener;
  let dropId = 0;
  let linkId = 0;
  /** UDP datagrams sent to port 53 while drop_udp was attached (all must be counted as drops). */
  let sentTo53 = 0;

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
    port53 = await bed.udpListen('b', bed.address('b'), 53);
    port54 = await bed.udpListen('b', bed.address('b'), 54);
    port55 = await bed.udpListen('b', bed.address('b'), 55);
  });

  after(async () => {
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the tests left pins or records behind');
  });

  it('prog load eth0 drop_udp --port 53: names the program, id, native mode, link; pins the link', async () => {
    const run = assertOk(await cli(['prog', 'load', 'eth0', 'drop_udp', '--port', '53']));
    const match = /^loaded drop_udp \(xdp_drop_udp, id (\d+)\) on eth0 in native mode via link\n$/.exec(run.stdout);
    assert.ok(match, run.report());
    dropId = Number(match[1]);
    const pin = `${PIN_ROOT}/${netns}:eth0/link`;
    assert.match(run.stderr, new RegExp(`link pinned at ${pin}\n`), run.report());
    assert.ok(existsSync(pin), `${pin} exists`);
    assert.ok(existsSync(`${RECORD_DIR}/${netns}:eth0.json`), 'the record exists');
    assert.match(await ipLink(netns, 'eth0'), new RegExp(`prog/xdp id ${dropId}`));
  });

  it('status --json shows it as managed, built-in drop_udp, attached through a link', async () => {
    const run = assertOk(await cli(['status', '--json']));
    const entries = run.json<StatusEntry[]>();
    assert.equal(entries.length, 1, `only eth0 has a program\n${run.report()}`);
    const [entry] = entries;
    assert.equal(entry!.ifname, 'eth0');
    const attachment = entry!.attachments[0]!;
    assert.equal(attachment.programId, dropId);
    assert.equal(attachment.programName, 'xdp_drop_udp');
    assert.equal(attachment.mode, 'native');
    assert.equal(attachment.managed, true);
    assert.equal(attachment.builtin, 'drop_udp');
    assert.match(attachment.programTag, /^[0-9a-f]{16}$/);
    assert.equal(typeof attachment.linkId, 'number');
    linkId = attachment.linkId!;

    const human = assertOk(await cli(['status']));
    assert.match(human.stdout, /IFACE\s+IFINDEX\s+MODE\s+ID\s+PROGRAM\s+TAG\s+LINK\s+MANAGED/);
    assert.match(human.stdout, new RegExp(`eth0\\s+\\d+\\s+native\\s+${dropId}\\s+xdp_drop_udp\\s+${attachment.programTag}\\s+${linkId}\\s+yes \\(drop_udp\\)`));
  });

  it('UDP to port 53 is dropped, to 54 delivered, ping answered', async () => {
    assert.equal(await bed.ping('a', bed.address('b')), 3);
    await udp(bed, 'a', 'b', 53, 5);
    await udp(bed, 'a', 'b', 54, 4);
    sentTo53 += 5;
    await settle(port54, 4);
    assert.equal(port53.count, 0, 'nothing reached port 53');
  });

  it('stats --json counts exactly the datagrams to port 53 as drops, the rest as passes', async () => {
    const run = assertOk(await cli(['stats', 'eth0', '--json', '--interval', '0.5']));
    const [entry, ...more] = run.json<StatsEntry[]>();
    assert.equal(more.length, 0, run.report());
    assert.equal(entry!.programId, dropId);
    assert.equal(entry!.mode, 'native');
    const actions = entry!.actions ?? assert.fail(`no per-verdict counters\n${run.report()}`);
    assert.equal(actions.drop.packets, sentTo53, `drop count == datagrams sent to 53\n${run.report()}`);
    // 4 datagrams, 3 echo requests, and whatever ARP/ND the stack sent.
    assert.ok(actions.pass.packets >= 7, run.report());
    assert.equal(actions.aborted.packets, 0);
    assert.ok(actions.drop.bytes >= sentTo53 * 42, 'bytes are counted too');
    assert.ok(entry!.rates, 'rates over the interval');

    const human = assertOk(await cli(['stats', 'eth0', '--interval', '0.3']));
    assert.match(human.stdout, new RegExp(`^eth0  xdp_drop_udp \\(id ${dropId}, native\\)`, 'm'));
    assert.match(human.stdout, new RegExp(`^\\s+drop\\s+${sentTo53}\\s`, 'm'), human.report());
  });

  it('stats under traffic reports runs/s and ns per run from the kernel run-time statistics', async () => {
    const pinging = bed.ping('a', bed.address('b'), { count: 40, intervalMs: 50, timeoutMs: 8000 });
    await sleep(300);
    const run = assertOk(await cli(['stats', 'eth0', '--json', '--interval', '0.8']));
    assert.equal(await pinging, 40);
    const [entry] = run.json<StatsEntry[]>();
    assert.ok(entry!.rates && entry!.rates.runsPerSecond > 0, `runs during the interval\n${run.report()}`);
    assert.ok(entry!.rates.nsPerRun !== undefined && entry!.rates.nsPerRun > 0, `ns per run\n${run.report()}`);
  });

  it('map dump drop_ports --json lists port 53; map get reads it', async () => {
    const dump = assertOk(await cli(['map', 'dump', 'eth0', 'drop_ports', '--json']));
    assert.deepEqual(dump.json(), [{ key: 53, value: 1 }]);
    const human = assertOk(await cli(['map', 'dump', 'eth0', 'drop_ports']));
    assert.equal(human.stdout, '53: 1\n');
    assert.match(human.stderr, /65535 all-zero entries hidden \(--all shows them\)/);
    const get = assertOk(await cli(['map', 'get', 'eth0', 'drop_ports', '53', '--json']));
    assert.deepEqual(get.json(), { key: '53', value: 1 });
  });

  it('map set drop_ports 54 1: port 54 is dropped too, and counted', async () => {
    const run = assertOk(await cli(['map', 'set', 'eth0', 'drop_ports', '54', '1']));
    assert.equal(run.stdout, 'drop_ports[54] = 1\n');
    const dump = assertOk(await cli(['map', 'dump', 'eth0', 'drop_ports', '--json']));
    assert.deepEqual(dump.json(), [
      { key: 53, value: 1 },
      { key: 54, value: 1 },
    ]);
    const before54 = port54.count;
    await udp(bed, 'a', 'b', 54, 3);
    // A datagram to a port still open, sent after them: once it is in, they have been handled.
    await udp(bed, 'a', 'b', 55, 1);
    await settle(port55, 1);
    assert.equal(port54.count, before54, 'port 54 is dropped now');
    const stats = assertOk(await cli(['stats', 'eth0', '--json', '--interval', '0.2'])).json<StatsEntry[]>();
    assert.equal(stats[0]!.actions!.drop.packets, sentTo53 + 3, 'drops: the datagrams to 53 and now 54');
  });

  it('map delete on the drop_ports array is refused with the command that does it; set to 0 re-opens 54', async () => {
    const del = await cli(['map', 'delete', 'eth0', 'drop_ports', '54']);
    assert.equal(del.code, 1, del.report());
    assert.match(del.stderr, /^error: map drop_ports is an array: its entries cannot be deleted, only set to zero$/m);
    assert.match(del.stderr, /^hint: xdpkit map set eth0 drop_ports 54 0$/m);
    assertOk(await cli(['map', 'set', 'eth0', 'drop_ports', '54', '0']));
    const dump = assertOk(await cli(['map', 'dump', 'eth0', 'drop_ports', '--json']));
    assert.deepEqual(dump.json(), [{ key: 53, value: 1 }]);
    const before54 = port54.count;
    await udp(bed, 'a', 'b', 54, 2);
    await settle(port54, before54 + 2);
  });

  it('prog load eth0 pass --force replaces it atomically: same link, new program, a "replaced" note', async () => {
    // Ping throughout the replace: an atomic swap loses nothing.
    const pinging = bed.ping('a', bed.address('b'), { count: 20, intervalMs: 50, timeoutMs: 6000 });
    await sleep(200);
    const run = assertOk(await cli(['prog', 'load', 'eth0', 'pass', '--force']));
    assert.equal(await pinging, 20, 'no echo request lost during the replace');
    const match = /^loaded pass \(xdp_pass, id (\d+)\) on eth0 in native mode via link\n$/.exec(run.stdout);
    assert.ok(match, run.report());
    const passId = Number(match[1]);
    assert.notEqual(passId, dropId);
    assert.match(run.stderr, new RegExp(`replaced xdp_drop_udp \\(id ${dropId}\\) atomically`), run.report());
    const attachment = await attachmentOn(cli, 'eth0');
    assert.equal(attachment.programId, passId);
    assert.equal(attachment.linkId, linkId, 'the same link holds the new program');
    assert.equal(attachment.builtin, 'pass');
    assert.equal(attachment.managed, true);
    // Port 53 is open now.
    await udp(bed, 'a', 'b', 53, 2);
    await settle(port53, 2);
  });

  it('--json load reports the replaced program', async () => {
    const run = assertOk(await cli(['--json', 'prog', 'load', 'eth0', 'drop_udp', '--port', '53', '--force']));
    const result = run.json<LoadResult>();
    assert.equal(result.builtin, 'drop_udp');
    assert.equal(result.mode, 'native');
    assert.equal(result.via, 'link');
    assert.equal(result.replaced?.programName, 'xdp_pass');
    assert.equal(result.fallbackReason, null);
    dropId = result.programId;
    assert.equal((await attachmentOn(cli, 'eth0')).programId, dropId);
  });

  it('prog unload eth0: status shows nothing, pins and the record are gone', async () => {
    const run = assertOk(await cli(['prog', 'unload', 'eth0']));
    assert.equal(run.stdout, `unloaded xdp_drop_udp (id ${dropId}, native) from eth0\n`);
    const status = assertOk(await cli(['status', '--json']));
    assert.deepEqual(status.json(), []);
    assert.equal(assertOk(await cli(['status'])).stdout, 'no interface has an XDP program\n');
    const one = assertOk(await cli(['status', 'eth0', '--json']));
    assert.deepEqual(one.json<StatusEntry[]>()[0]!.attachments, []);
    assert.deepEqual(tracesOf(netns), [], 'no pin directory or record left');
    assert.doesNotMatch(await ipLink(netns, 'eth0'), /prog\/xdp/);
    // Traffic flows untouched.
    const before53 = port53.count;
    await udp(bed, 'a', 'b', 53, 1);
    await settle(port53, before53 + 1);
    // A second unload is not an error.
    const again = assertOk(await cli(['prog', 'unload', 'eth0']));
    assert.equal(again.stdout, 'eth0 had no XDP program; nothing to do\n');
  });
});

describe('the seed objects, unmodified (legacy sections)', { skip: skipUnlessRoot }, () => {
  // a ── b ── c: traffic from a into b's eth0; b's eth1 leads to c (the redirect target).
  let bed: Testbed;
  let cliB: ReturnType<typeof cliIn>;
  let cliC: ReturnType<typeof cliIn>;
  let port53: UdpListener;
  let port54: UdpListener;

  before(async () => {
    bed = await Testbed.create({
      namespaces: ['a', 'b', 'c'],
      links: [
        { a: 'a', b: 'b' },
        { a: 'b', b: 'c' },
      ],
    });
    cliB = cliIn(bed.netns('b'));
    cliC = cliIn(bed.netns('c'));
    port53 = await bed.udpListen('b', bed.address('b', 4, 0), 53);
    port54 = await bed.udpListen('b', bed.address('b', 4, 0), 54);
  });

  after(async () => {
    const forced = bed ? [...(await cleanUpNamespace(bed.netns('b'), ['eth0', 'eth1'])), ...(await cleanUpNamespace(bed.netns('c'), ['eth0']))] : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the tests left pins or records behind');
  });

  const toB = (port: number, count: number): Promise<number> =>
    bed.sendUdp('a', { dst: bed.address('b', 4, 0), port, count, payload: `to ${port}` });

  it('xdp_pass.o (one program, SEC("xdp_pass")) loads without --section', async () => {
    const run = assertOk(await cliB(['prog', 'load', 'eth0', seed('xdp_pass')]));
    assert.match(run.stdout, new RegExp(`^loaded ${ROOT}build/fixtures/seed/xdp_pass\\.o \\(xdp_pass_func, id \\d+\\) on eth0 in native mode via link\\n$`), run.report());
    const attachment = await attachmentOn(cliB, 'eth0');
    assert.equal(attachment.programName, 'xdp_pass_func');
    assert.equal(attachment.managed, true);
    assert.equal(attachment.object, `${ROOT}build/fixtures/seed/xdp_pass.o`);
    assert.equal(await bed.ping('a', bed.address('b', 4, 0)), 3);
    await toB(53, 1);
    await settle(port53, 1);
    // No xdp_stats map: stats still shows the program, and says why there are no verdicts.
    const stats = assertOk(await cliB(['stats', 'eth0', '--interval', '0.2']));
    assert.match(stats.stdout, /^eth0  xdp_pass_func \(id \d+, native\)/m);
    assert.match(stats.stderr, /no xdp_stats map/);
  });

  it('xdp_drop_udp_53.o replaces it (--force): UDP to 53 dropped, 54 delivered', async () => {
    const run = assertOk(await cliB(['prog', 'load', 'eth0', seed('xdp_drop_udp_53'), '--force']));
    assert.match(run.stdout, /\(xdp_drop_udp_func, id \d+\) on eth0 in native mode via link/);
    assert.match(run.stderr, /replaced xdp_pass_func \(id \d+\) atomically/);
    const before53 = port53.count;
    await toB(53, 3);
    await toB(54, 2);
    await settle(port54, 2);
    assert.equal(port53.count, before53);
    assert.equal(await bed.ping('a', bed.address('b', 4, 0)), 3);
    // The status shows the whole name (the kernel keeps 15 characters; BTF has the rest).
    assert.equal((await attachmentOn(cliB, 'eth0')).programName, 'xdp_drop_udp_func');
  });

  it('xdp_drop_udp.o drops every UDP datagram; a built-in replaces a legacy program atomically', async () => {
    assertOk(await cliB(['prog', 'load', 'eth0', seed('xdp_drop_udp'), '--force']));
    const linkId = (await attachmentOn(cliB, 'eth0')).linkId;
    const before54 = port54.count;
    await toB(54, 2);
    await sleep(300);
    assert.equal(port54.count, before54);
    // Legacy sections get the XDP attach type, so a link can swap them for SEC("xdp") programs.
    const run = assertOk(await cliB(['prog', 'load', 'eth0', 'pass', '--force']));
    assert.match(run.stderr, /replaced xdp_drop_udp_func \(id \d+\) atomically/);
    assert.equal((await attachmentOn(cliB, 'eth0')).linkId, linkId);
    await toB(54, 1);
    await settle(port54, before54 + 1);
    assertOk(await cliB(['prog', 'unload', 'eth0']));
  });

  it('xdp_redirect.o + redirect set: traffic arriving on b leaves towards c; clear and map edits stop and restart it', async () => {
    const eth1 = bed.end('b', 1);
    const cEnd = bed.end('c', 1);
    // Everything arriving on b's eth0 is redirected, ARP replies included: give a a static entry.
    const bEnd = bed.end('b', 0);
    await runCommand(['ip', '-n', bed.netns('a'), 'neigh', 'replace', bed.address('b', 4, 0), 'lladdr', bEnd.mac, 'dev', bed.end('a', 0).ifname, 'nud', 'permanent']);
    // veth delivers redirected frames only to a peer with an XDP program.
    assertOk(await cliC(['prog', 'load', cEnd.ifname, 'pass']));
    assertOk(await cliB(['prog', 'load', 'eth0', seed('xdp_redirect')]));
    const capture = await bed.capture('c', cEnd.ifname, { filter: 'udp port 9000', direction: 'in' });
    try {
      const set = assertOk(await cliB(['redirect', 'set', 'eth0', 'eth1']));
      assert.equal(set.stdout, `eth0: xdp_devmap[0] → eth1 (ifindex ${eth1.ifindex})\n`);
      const dump = assertOk(await cliB(['map', 'dump', 'eth0', 'xdp_devmap', '--json']));
      assert.deepEqual(dump.json(), [{ key: 0, value: eth1.ifindex }]);

      const sink = await bed.udpListen('b', bed.address('b', 4, 0), 9000);
      const passStats = async (): Promise<number> =>
        assertOk(await cliC(['stats', cEnd.ifname, '--json', '--interval', '0.1'])).json<StatsEntry[]>()[0]!.actions!.pass.packets;
      const cPassBefore = await passStats();
      assert.equal(await toB(9000, 5), 5);
      const arrived = await capture.waitFor(5, 5000);
      assert.equal(arrived.length, 5, 'c sees the 5 datagrams');
      assert.equal(sink.count, 0, 'b does not receive them');
      assert.ok((await passStats()) >= cPassBefore + 5, "the program on c's end counted them");

      const clear = assertOk(await cliB(['redirect', 'clear', 'eth0']));
      assert.equal(clear.stdout, 'eth0: xdp_devmap[0] cleared\n');
      const clearAgain = assertOk(await cliB(['redirect', 'clear', 'eth0']));
      assert.equal(clearAgain.stdout, 'eth0: xdp_devmap[0] was already empty\n');
      await toB(9000, 3);
      await sleep(400);
      assert.equal(capture.packets().length, 5, 'an empty slot redirects nothing (the seed aborts)');
      assert.equal(sink.count, 0);

      const mapSet = assertOk(await cliB(['map', 'set', 'eth0', 'xdp_devmap', '0', String(eth1.ifindex)]));
      assert.equal(mapSet.stdout, `xdp_devmap[0] = ${eth1.ifindex}\n`);
      await toB(9000, 2);
      assert.equal((await capture.waitFor(7, 5000)).length, 7, 'redirected again after map set');

      const del = assertOk(await cliB(['map', 'delete', 'eth0', 'xdp_devmap', '0']));
      assert.equal(del.stdout, 'deleted xdp_devmap[0]\n');
      await toB(9000, 2);
      await sleep(400);
      assert.equal(capture.packets().length, 7, 'nothing after map delete');
      const missing = await cliB(['map', 'delete', 'eth0', 'xdp_devmap', '0']);
      assert.equal(missing.code, 1, missing.report());
      assert.match(missing.stderr, /^error: map xdp_devmap has no entry for key 0$/m);
      await sink.stop();
    } finally {
      await capture.stop();
    }
    assertOk(await cliB(['prog', 'unload', 'eth0']));
    assertOk(await cliC(['prog', 'unload', cEnd.ifname]));
    assert.deepEqual([...tracesOf(bed.netns('b')), ...tracesOf(bed.netns('c'))], []);
  });
});

describe('a foreign program (attached by iproute2)', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
    await runCommand(['ip', '-n', netns, 'link', 'set', 'dev', 'eth0', 'xdpgeneric', 'obj', `${ROOT}build/bpf/pass.o`, 'sec', 'xdp']);
  });

  after(async () => {
    const forced = bed ? await cleanUpNamespace(netns, ['eth0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, []);
  });

  let foreignId = 0;

  it('status shows it as not managed, with name, id and tag', async () => {
    const ipId = Number(/prog\/xdp id (\d+)/.exec(await ipLink(netns, 'eth0'))?.[1] ?? 0);
    assert.ok(ipId > 0);
    const attachment = await attachmentOn(cli, 'eth0');
    assert.equal(attachment.programId, ipId);
    assert.equal(attachment.programName, 'xdp_pass');
    assert.equal(attachment.mode, 'generic');
    assert.equal(attachment.managed, false);
    assert.equal(attachment.linkId, undefined, 'iproute2 attaches through netlink');
    assert.equal(attachment.builtin, undefined);
    assert.match(attachment.programTag, /^[0-9a-f]{16}$/);
    foreignId = ipId;
    const human = assertOk(await cli(['status']));
    assert.match(human.stdout, new RegExp(`eth0\\s+\\d+\\s+generic\\s+${ipId}\\s+xdp_pass\\s+${attachment.programTag}\\s+netlink\\s+no\\n`), human.report());
    assert.deepEqual(tracesOf(netns), [], 'xdpkit recorded nothing for it');
  });

  it('stats shows it, with runs/s and ns per run from the run-time statistics', async () => {
    const pinging = bed.ping('a', bed.address('b'), { count: 40, intervalMs: 50, timeoutMs: 8000 });
    await sleep(300);
    const run = assertOk(await cli(['stats', 'eth0', '--json', '--interval', '0.8']));
    assert.equal(await pinging, 40);
    const [entry] = run.json<StatsEntry[]>();
    assert.equal(entry!.programId, foreignId);
    assert.equal(entry!.mode, 'generic');
    assert.ok(entry!.rates && entry!.rates.runsPerSecond > 0, run.report());
    assert.ok((entry!.rates.nsPerRun ?? 0) > 0, run.report());
    const human = assertOk(await cli(['stats', 'eth0', '--interval', '0.3']));
    assert.match(human.stdout, new RegExp(`^eth0  xdp_pass \\(id ${foreignId}, generic\\)  `, 'm'), human.report());
  });

  it('prog load without --force refuses to replace it, naming it', async () => {
    const run = await cli(['prog', 'load', 'eth0', 'pass']);
    assert.equal(run.code, 1, run.report());
    assert.match(run.stderr, new RegExp(`^error: eth0 already has XDP program xdp_pass \\(id ${foreignId}, generic mode\\)$`, 'm'));
  });

  it('prog unload removes it', async () => {
    const run = assertOk(await cli(['prog', 'unload', 'eth0']));
    assert.equal(run.stdout, `unloaded xdp_pass (id ${foreignId}, generic) from eth0\n`);
    assert.doesNotMatch(await ipLink(netns, 'eth0'), /prog\/xdp/);
    assert.deepEqual(assertOk(await cli(['status', '--json'])).json(), []);
  });
});
