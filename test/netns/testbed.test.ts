/**
 * The netns testbed against the real kernel: two namespaces joined by a veth pair, traffic both
 * ways over IPv4 and IPv6, capture, interface lookups inside a namespace via setns, cleanup.
 * Needs root (namespaces, veth, tcpdump); skipped otherwise.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { NotFoundError } from '../../src/bpf/errors.js';
import { driverName, interfaceByIndex, interfaceByName, interfaceInfo, linkDetails, listInterfaces, xdpFeatures } from '../../src/net/interfaces.js';
import { currentNetns, withNetns, withNetnsSync } from '../../src/net/netns.js';
import { checksumsValid, findLayer } from '../../src/net/packet.js';
import { runCommand } from '../../src/net/command.js';
import { HOST, Testbed } from '../../src/net/testbed.js';

const root = process.getuid?.() === 0;
const skip = root ? false : 'needs root for network namespaces';

async function netnsList(): Promise<string> {
  return (await runCommand(['ip', 'netns', 'list'])).stdout;
}

/** os.release() is "6.18.44-…". */
function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split('.').map(Number);
  return a > major || (a === major && b >= minor);
}

describe('netns testbed', { skip, timeout: 120_000 }, () => {
  let bed: Testbed;
  let names: string[] = [];

  before(async () => {
    bed = await Testbed.create({
      namespaces: ['client', 'server'],
      // TX checksum offload off: the capture below checks UDP checksums on the wire.
      links: [{ a: 'client', b: 'server', txChecksumOffload: false }],
    });
    names = bed.namespaces.map((ns) => bed.netns(ns));
  });

  after(async () => {
    await bed?.destroy();
  });

  it('names namespaces uniquely and addresses the link from the test ranges', async () => {
    assert.equal(new Set(names).size, 2);
    for (const name of names) assert.match(name, new RegExp(`^xdpkit-(client|server)-${bed.id}$`));
    const list = await netnsList();
    for (const name of names) assert.ok(list.includes(name), `${name} in ip netns list`);
    const link = bed.link(0);
    assert.match(link.a.ipv4!, /^198\.1[89]\.\d+\.1$/);
    assert.match(link.b.ipv4!, /^198\.1[89]\.\d+\.2$/);
    assert.match(link.a.ipv6!, /^2001:db8:[0-9a-f]+::1$/);
    assert.equal(link.a.ifname, 'eth0');
    assert.equal(link.b.ifname, 'eth0');
    assert.match(link.a.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
  });

  it('pings over IPv4 and IPv6, both ways', async () => {
    const results = [
      await bed.ping('client', bed.address('server', 4), { count: 3 }),
      await bed.ping('server', bed.address('client', 4), { count: 3 }),
      await bed.ping('client', bed.address('server', 6), { count: 3 }),
      await bed.ping('server', bed.address('client', 6), { count: 3 }),
    ];
    assert.deepEqual(results, [3, 3, 3, 3]);
  });

  it('reports 0 replies for an address nobody has (in the test range)', async () => {
    const [prefix] = bed.link(0).subnetV4.split('.0/');
    assert.equal(await bed.ping('client', `${prefix}.99`, { count: 1, timeoutMs: 1000 }), 0);
  });

  it('refuses destinations outside the test ranges', async () => {
    await assert.rejects(bed.ping('client', '192.0.2.1'), /outside the test ranges/);
    await assert.rejects(bed.sendUdp('client', { dst: '8.8.8.8', port: 53 }), /outside the test ranges/);
  });

  for (const family of [4, 6] as const) {
    it(`delivers UDP over IPv${family}, and the capture sees it with valid checksums`, async () => {
      const port = 9000 + family;
      const listener = await bed.udpListen('server', bed.address('server', family), port);
      const capture = await bed.capture('server', 'eth0', { filter: `udp dst port ${port}` });
      const sent = await bed.sendUdp('client', { dst: bed.address('server', family), port, payload: `hello v${family}`, count: 3, srcPort: 40000 + family });
      assert.equal(sent, 3);
      assert.equal(await listener.waitFor(3), 3);
      assert.deepEqual(
        listener.datagrams.map((d) => [d.from, d.port, d.data.toString()]),
        Array(3).fill([bed.address('client', family), 40000 + family, `hello v${family}`]),
      );
      await capture.waitFor(3);
      const packets = await capture.stop();
      await listener.stop();
      assert.equal(packets.length, 3);
      for (const { packet, data } of packets) {
        const ip = findLayer(packet, family === 4 ? 'ipv4' : 'ipv6')!;
        assert.equal(ip.src, bed.address('client', family));
        assert.equal(ip.dst, bed.address('server', family));
        const udp = findLayer(packet, 'udp')!;
        assert.deepEqual([udp.srcPort, udp.dstPort], [40000 + family, port]);
        assert.equal(findLayer(packet, 'payload')!.data.toString(), `hello v${family}`);
        assert.equal(findLayer(packet, 'eth')!.src, bed.end('client').mac);
        assert.ok(checksumsValid(data), 'kernel-made checksums verify');
      }
    });
  }

  it('connects over TCP, and a closed port is refused', async () => {
    const listener = await bed.tcpListen('server', '::', 8080);
    assert.deepEqual(await bed.tcpConnect('client', { dst: bed.address('server', 4), port: 8080 }), { connected: true });
    assert.deepEqual(await bed.tcpConnect('client', { dst: bed.address('server', 6), port: 8080 }), { connected: true });
    assert.equal(await listener.waitFor(2), 2);
    assert.deepEqual(await bed.tcpConnect('client', { dst: bed.address('server', 4), port: 8081 }), { connected: false, error: 'ECONNREFUSED' });
    await listener.stop();
  });

  it('looks up interfaces inside a namespace via withNetns, and comes back', async () => {
    const before = currentNetns();
    const end = bed.end('client');
    const inside = await withNetns(bed.netns('client'), () => ({
      netns: currentNetns(),
      names: listInterfaces().map((i) => i.name),
      byName: interfaceByName('eth0'),
      byIndex: interfaceByIndex(end.ifindex),
      driver: driverName('eth0'),
      link: linkDetails(end.ifindex),
      features: xdpFeatures(end.ifindex),
      loDriver: driverName('lo'),
    }));
    assert.equal(currentNetns(), before, 'back in the original namespace');
    assert.notEqual(inside.netns, before);
    assert.deepEqual(inside.names, ['lo', 'eth0']);
    assert.deepEqual(inside.byName, { ifindex: end.ifindex, name: 'eth0' });
    assert.deepEqual(inside.byIndex, { ifindex: end.ifindex, name: 'eth0' });
    assert.equal(inside.driver, 'veth');
    assert.equal(inside.loDriver, undefined);
    assert.equal(inside.link.mac, end.mac);
    assert.equal(inside.link.mtu, 1500);
    assert.equal(inside.link.operstate, 'up');
    assert.equal(inside.link.kind, 'veth');
    assert.equal(inside.link.xdp.attached, 'none');
    // The netdev family exists from Linux 6.3; there, veth must report native XDP.
    if (kernelAtLeast(6, 3)) {
      assert.ok(inside.features, 'XDP features known');
      assert.equal(inside.features.native, true);
      assert.ok(inside.features.flags.includes('basic'));
      assert.ok(inside.features.flags.includes('redirect'));
    }
  });

  it('says a bridge has no native XDP', async () => {
    await bed.exec('server', ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    const info = withNetnsSync(bed.netns('server'), () => interfaceInfo('br0'));
    assert.equal(info.driver, 'bridge');
    assert.equal(info.kind, 'bridge');
    if (kernelAtLeast(6, 3)) {
      assert.ok(info.xdpFeatures);
      assert.equal(info.xdpFeatures.native, false);
      assert.deepEqual(info.xdpFeatures.flags, []);
    }
  });

  it('names the interfaces that exist when one is missing', () => {
    withNetnsSync(bed.netns('client'), () => {
      assert.throws(
        () => interfaceByName('nope0'),
        (e: unknown) => e instanceof NotFoundError && /nope0/.test(e.message) && /lo \(1\), eth0 \(\d+\)/.test(e.details ?? ''),
      );
      assert.throws(() => interfaceByIndex(9999), NotFoundError);
      assert.throws(() => xdpFeatures(9999), NotFoundError);
    });
  });

  it('returns to the original namespace after errors, nested calls and overlapping async bodies', async () => {
    const home = currentNetns();
    const client = withNetnsSync(bed.netns('client'), () => currentNetns());
    const server = withNetnsSync(bed.netns('server'), () => currentNetns());
    assert.throws(() => withNetnsSync(bed.netns('client'), () => {
      throw new Error('boom');
    }), /boom/);
    await assert.rejects(withNetns(bed.netns('client'), async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('async boom');
    }), /async boom/);
    assert.equal(currentNetns(), home);

    const nested = await withNetns(bed.netns('client'), async () => {
      const inner = await withNetns(bed.netns('server'), () => currentNetns());
      return [inner, currentNetns()];
    });
    assert.deepEqual(nested, [server, client]);

    // Started together, each body still sees its own namespace across awaits.
    const seen = await Promise.all(
      ['client', 'server', 'client'].map((ns) =>
        withNetns(bed.netns(ns), async () => {
          const first = currentNetns();
          await new Promise((r) => setTimeout(r, 10));
          return [first, currentNetns()];
        }),
      ),
    );
    assert.deepEqual(seen, [
      [client, client],
      [server, server],
      [client, client],
    ]);
    assert.equal(currentNetns(), home);
    await assert.rejects(withNetns('xdpkit-no-such-namespace', () => 1), NotFoundError);
  });

  it('destroy() removes the namespaces and can be called again', async () => {
    await bed.destroy();
    await bed.destroy();
    const list = await netnsList();
    for (const name of names) assert.ok(!list.includes(name), `${name} gone from ip netns list`);
  });
});

describe('testbed options and cleanup', { skip, timeout: 120_000 }, () => {
  it('links a namespace to the host, GRO and threaded NAPI on, and removes the host end', async () => {
    const bed = await Testbed.create({ namespaces: ['peer'], links: [{ a: HOST, b: 'peer', gro: true, threadedNapi: true, mtu: 9000 }] });
    const hostEnd = bed.link(0).a;
    try {
      assert.equal(hostEnd.netns, undefined);
      assert.ok(listInterfaces().some((i) => i.name === hostEnd.ifname), 'host end exists here');
      assert.equal(linkDetails(hostEnd.ifindex).mtu, 9000);
      assert.equal(await bed.ping('peer', bed.address(HOST, 6), { count: 2 }), 2);
      const threaded = await bed.exec('peer', ['cat', '/sys/class/net/eth0/threaded']);
      assert.equal(threaded.stdout.trim(), '1');
      const offloads = await bed.exec('peer', ['ethtool', '-k', 'eth0']);
      assert.match(offloads.stdout, /generic-receive-offload: on/);
    } finally {
      await bed.destroy();
    }
    assert.ok(!listInterfaces().some((i) => i.name === hostEnd.ifname), 'host end removed');
    assert.ok(!(await netnsList()).includes(bed.netns('peer')));
  });

  it('removes what it created when creation fails half-way', async () => {
    // A prefix of its own: other tests may add and remove namespaces meanwhile.
    const prefix = `xkfail${process.pid}`;
    await assert.rejects(
      Testbed.create({ prefix, namespaces: ['x', 'y'], links: [{ a: 'x', b: 'y', mtu: 1 << 20 }] }),
      /ip link add/,
    );
    assert.ok(!(await netnsList()).includes(prefix));
  });

  it('cleans up when the process is interrupted (SIGINT)', async () => {
    const testbedModule = fileURLToPath(new URL('../../src/net/testbed.ts', import.meta.url));
    const script = `
      import { Testbed } from ${JSON.stringify(testbedModule)};
      const bed = await Testbed.pair();
      console.log(bed.namespaces.map((ns) => bed.netns(ns)).join(' '));
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    const created = await new Promise<string[]>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.trim().split(' '));
      });
      child.on('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    assert.equal(created.length, 2);
    for (const name of created) assert.ok((await netnsList()).includes(name));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    child.kill('SIGINT');
    assert.equal(await exited, 'SIGINT', 'the process still dies of the signal');
    const list = await netnsList();
    for (const name of created) assert.ok(!list.includes(name), `${name} removed`);
  });
});
