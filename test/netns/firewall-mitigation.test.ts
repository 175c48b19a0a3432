/**
 * Mitigation with real traffic: `threshold: { pps: 1000 }, blockFor: 12s`. One source of a's
 * floods b (UDP, 1 s, as fast as one socket sends: 3–100 kpps depending on what else the machine
 * runs; more than twice the threshold is required) while a second source of a sends a little to
 * another port:
 *   - the flood passes exactly the threshold, then its source is blocked: 1,000 packets arrive
 *     (the first 1,001 reach b within one one-second window, at these rates in 10–350 ms), every
 *     other one is dropped and counted as mitigated;
 *   - the other source is not touched (blocks are per source address);
 *   - `fw top` lists the flooding source as held by mitigation, the other one not;
 *   - once blockFor has passed without traffic, the flooding source gets through again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOk, skipUnlessRoot } from '../helpers/cli.js';
import { firewallBed, startUdpFlood, vethTxDropped, type FirewallBed } from '../helpers/firewall-traffic.js';

const FLOOD_PORT = 7100;
const QUIET_PORT = 7101;
const THRESHOLD = 1000;
// Long enough that the CLI calls made after the flood (seconds each on a loaded machine) still
// find the block in force: with 4 s, CI's `fw top` came after it had ended and listed nothing.
const BLOCK_S = 12;

interface Stats {
  misc: { mitigated: { packets: number }; default: { packets: number } };
}
interface Top {
  interfaces: { iface: string; held: { source: string; by: string }[] }[];
}

describe('firewall: mitigation with real traffic', { skip: skipUnlessRoot }, () => {
  let fw: FirewallBed;
  let quiet = '';

  before(async () => {
    fw = await firewallBed(`apiVersion: xdpkit/v1\nkind: FirewallPolicy\ndefault: pass\nmitigation:\n  threshold: { pps: ${THRESHOLD} }\n  blockFor: ${BLOCK_S}s\n`, [FLOOD_PORT, QUIET_PORT]);
    // A second source on a, in the link's /24.
    quiet = fw.bed.address('a').replace(/\.\d+$/, '.3');
    await fw.bed.exec('a', ['ip', 'addr', 'add', `${quiet}/24`, 'dev', fw.bed.end('a').ifname]);
  });

  after(() => fw?.close());

  it('blocks the flooding source after the threshold, leaves the other alone, releases it after blockFor', async (t) => {
    const { bed, cli, counters } = fw;
    const dropped0 = await vethTxDropped(bed, 'a', bed.end('a').ifname);
    const flood = startUdpFlood(bed, 'a', { dst: bed.address('b'), ports: [FLOOD_PORT], seconds: 1 });
    await new Promise((r) => setTimeout(r, 300));
    // 20 datagrams from the other source, in the middle of the flood.
    assert.equal(await bed.sendUdp('a', { dst: bed.address('b'), port: QUIET_PORT, count: 20, src: quiet }), 20);
    const result = await flood.finished();
    await new Promise((r) => setTimeout(r, 300));
    const arrived = await counters.read();
    const stats = assertOk(await cli(['--json', 'fw', 'stats', 'eth0'])).json<Stats>();
    const lost = (await vethTxDropped(bed, 'a', bed.end('a').ifname)) - dropped0;
    const sent = result.sent[FLOOD_PORT]!;
    const report = JSON.stringify({ sent, seconds: result.seconds, arrived, mitigated: stats.misc.mitigated.packets, lost });
    t.diagnostic(report);

    assert.ok(sent > 2 * THRESHOLD, `the flood must outrun the threshold\n${report}`);
    assert.equal(arrived[FLOOD_PORT], THRESHOLD, `exactly the threshold passes before the block\n${report}`);
    assert.equal(arrived[QUIET_PORT], 20, `the other source is not blocked\n${report}`);
    assert.ok(stats.misc.mitigated.packets <= sent - THRESHOLD && stats.misc.mitigated.packets >= sent - THRESHOLD - lost, `every other flood packet was dropped by mitigation\n${report}`);

    const top = assertOk(await cli(['--json', 'fw', 'top', '--iface', 'eth0'])).json<Top>();
    assert.deepEqual(top.interfaces[0]!.held.map((b) => [b.source, b.by]), [[bed.address('a'), 'mitigation']], JSON.stringify(top));

    // Still blocked now; free again once blockFor has passed in quiet.
    assert.equal(await bed.sendUdp('a', { dst: bed.address('b'), port: FLOOD_PORT, count: 5 }), 5);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await counters.read())[FLOOD_PORT], THRESHOLD, 'blocked sources stay blocked');
    await new Promise((r) => setTimeout(r, BLOCK_S * 1000 + 200));
    assert.equal(await bed.sendUdp('a', { dst: bed.address('b'), port: FLOOD_PORT, count: 5 }), 5);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal((await counters.read())[FLOOD_PORT], THRESHOLD + 5, 'released after blockFor');
  });
});
