/**
 * The demo: a private three-namespace network (client — server — sink, veth pairs, test-range
 * addresses), xdpkit's built-ins loaded on the server with the CLI, real packets through them,
 * and everything removed again, also on Ctrl-C or failure. Each claim is checked, so the demo
 * fails loudly when the kernel does not do what it says.
 */
import { Testbed } from '../net/index.js';
import { forgetNamespace } from '../programs/manager.js';
import { check, heading, quietly, say, xdpkit } from './show.js';

const UDP_PORT = 9000;

async function demo(bed: Testbed): Promise<void> {
  const client = bed.end('client', 0);
  const server = bed.end('server', 0);
  const serverOut = bed.end('server', 1);
  const sink = bed.end('sink', 1);
  const ns = { client: bed.netns('client'), server: bed.netns('server'), sink: bed.netns('sink') };
  const serverIp = server.ipv4 ?? '';

  heading('Test network');
  say(`  client ${client.ifname} ${client.ipv4} ── ${server.ifname} ${server.ipv4} server ${serverOut.ifname} ${serverOut.ipv4} ── ${sink.ifname} ${sink.ipv4} sink`);
  say('  (network namespaces joined by veth pairs; nothing here reaches any other network)');
  xdpkit(ns.server, 'server', ['doctor', server.ifname]);
  // veth delivers XDP_TX/redirected frames only to a peer that runs XDP itself (see DESIGN.md).
  xdpkit(ns.client, 'client', ['prog', 'load', client.ifname, 'pass']);
  xdpkit(ns.sink, 'sink', ['prog', 'load', sink.ifname, 'pass']);

  heading('drop_udp: UDP dropped at the driver, ICMP answered');
  xdpkit(ns.server, 'server', ['prog', 'load', server.ifname, 'drop_udp', '--mode', 'native']);
  const listener = await bed.udpListen('server', serverIp, UDP_PORT);
  await bed.sendUdp('client', { dst: serverIp, port: UDP_PORT, count: 10 });
  const replies = await bed.ping('client', serverIp, { count: 5, intervalMs: 50 });
  const delivered = await listener.waitFor(1, 500);
  check(delivered === 0, `UDP: 0 of 10 datagrams reached the server's socket`, '0');
  check(replies === 5, `ICMP: ${replies} of 5 echo requests answered`, '5 of 5');
  say('  stats while the client floods the server with UDP and pings:');
  await underTraffic(bed, serverIp, () => xdpkit(ns.server, 'server', ['stats', server.ifname, '--interval', '1']));

  heading('drop_udp --port 53: only DNS is dropped');
  xdpkit(ns.server, 'server', ['prog', 'load', server.ifname, 'drop_udp', '--port', '53', '--force']);
  const dns = await bed.udpListen('server', serverIp, 53);
  await bed.sendUdp('client', { dst: serverIp, port: 53, count: 5 });
  await bed.sendUdp('client', { dst: serverIp, port: UDP_PORT, count: 5 });
  const toOther = await listener.waitFor(5, 2000);
  const toDns = await dns.waitFor(1, 300);
  check(toDns === 0 && toOther === 5, `UDP: port 53 got ${toDns} of 5, port ${UDP_PORT} got ${toOther} of 5`, 'port 53 none, the other all');
  await dns.stop();
  await listener.stop();
  xdpkit(ns.server, 'server', ['map', 'dump', server.ifname, 'drop_ports']);

  heading(`redirect: packets arriving on ${server.ifname} leave through ${serverOut.ifname} (DEVMAP)`);
  xdpkit(ns.server, 'server', ['prog', 'load', server.ifname, 'redirect', '--target', serverOut.ifname, '--force']);
  const capture = await bed.capture('sink', sink.ifname, { filter: `udp port ${UDP_PORT}` });
  const redirectedListener = await bed.udpListen('server', serverIp, UDP_PORT);
  await bed.sendUdp('client', { dst: serverIp, port: UDP_PORT, count: 5 });
  await new Promise((r) => setTimeout(r, 300));
  await capture.stop();
  const atServer = await redirectedListener.stop();
  const seen = capture.packets().length;
  check(atServer === 0 && seen === 5, `the server's socket got ${atServer} datagrams; a capture on the sink saw ${seen} of 5`, 'all 5 at the sink');
  xdpkit(ns.server, 'server', ['redirect', 'clear', server.ifname]);
  const fallback = await bed.ping('client', serverIp, { count: 3, intervalMs: 50 });
  check(fallback === 3, `with the DEVMAP slot empty the fallback (pass) applies: ${fallback} of 3 pings answered`, '3 of 3');

  heading('reflect: XDP_TX answers pings before the stack sees them');
  xdpkit(ns.server, 'server', ['prog', 'load', server.ifname, 'reflect', '--force']);
  const reflected = await bed.ping('client', serverIp, { count: 5, intervalMs: 50 });
  check(reflected === 5, `${reflected} of 5 echo requests answered by XDP_TX`, '5 of 5');
  await underTraffic(bed, serverIp, () => xdpkit(ns.server, 'server', ['stats', server.ifname, '--interval', '1']));

  heading('What is attached, then clean up');
  xdpkit(ns.server, 'server', ['status']);
  xdpkit(ns.server, 'server', ['prog', 'unload', server.ifname]);
}

/** Runs `show` (a blocking CLI call) while ping and UDP traffic flow from the client. */
async function underTraffic(bed: Testbed, serverIp: string, show: () => void): Promise<void> {
  const flood = Promise.all([
    bed.ping('client', serverIp, { count: 150, intervalMs: 10, timeoutMs: 3000 }),
    bed.sendUdp('client', { dst: serverIp, port: UDP_PORT, count: 2000 }),
  ]);
  await new Promise((r) => setTimeout(r, 200)); // let the senders start
  show();
  await flood;
}

/** Unloads whatever the demo attached, also after a failure, so no pin or record outlives it. */
function unloadEverything(bed: Testbed): void {
  for (const [ns, link] of [['client', 0], ['server', 0], ['sink', 1]] as const) {
    quietly(bed.netns(ns), ['prog', 'unload', bed.end(ns, link).ifname]);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('the demo creates network namespaces and loads XDP programs: run it as root');
    process.exit(1);
  }
  const bed = await Testbed.create({
    namespaces: ['client', 'server', 'sink'],
    links: [
      { a: 'client', b: 'server' },
      { a: 'server', b: 'sink' },
    ],
    prefix: 'xdpdemo',
  });
  // Ctrl-C: the testbed removes the namespaces; the pins they leave in bpffs go on exit.
  process.on('exit', () => bed.namespaces.forEach((ns) => forgetNamespace(bed.netns(ns))));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  try {
    await demo(bed);
    heading('Done: every check passed, the test network is removed');
  } catch (error) {
    console.error(`\ndemo failed: ${(error as Error).message}`);
    process.exitCode = 1;
  } finally {
    unloadEverything(bed);
    await bed.destroy();
  }
}

await main();
