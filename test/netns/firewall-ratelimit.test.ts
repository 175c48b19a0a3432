/**
 * A rate-limit rule with real traffic: UDP from a to b's port 7000 as fast as one socket sends
 * (2–150 kpps here, depending on what else the machine runs; at least 3× the limit is required)
 * through `rate: { pps: 200, burst: 200 }` on b.
 *
 * The token bucket (bpf/firewall.c) starts full with `burst` tokens and gains `pps` tokens per
 * second of kernel time, capped at `burst`; each passed packet takes one. Over a flood whose
 * packets reach XDP between t0 and t1 it passes burst + ⌊pps × (t1 − t0)⌋ packets at most, and
 * at least that minus one as long as the flood never pauses for longer than burst/pps = 1 s (the
 * bucket would overflow; a busy machine does deschedule the sender, so burst is that large).
 * XDP judges a datagram inside its send call (veth), so [t0, t1] lies within the sender's
 * window T (just before the first send to the last completion) and holds its window T' from the
 * first completion to the last, less the time the last completion may take to be seen:
 *   upper bound  burst + pps × T + 1
 *   lower bound  burst + pps × (T' − 0.1 s) − 1
 * 20 packets of slack of ≈ 400 expected: a bucket refilled at the wrong rate (or not at all, or
 * per packet) still fails. The receiver counts what arrived (nftables, after XDP): exactly the
 * packets the rule passed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertOk, skipUnlessRoot } from '../helpers/cli.js';
import { firewallBed, startUdpFlood, vethTxDropped, type FirewallBed } from '../helpers/firewall-traffic.js';

const PORT = 7000;
const PPS = 200;
const BURST = 200;
const SLACK_S = 0.1;

interface Stats {
  rules: { name: string; packets: number }[];
  misc: { rateLimited: { packets: number } };
}

describe('firewall: rate limit with real traffic', { skip: skipUnlessRoot }, () => {
  let fw: FirewallBed;

  before(async () => {
    fw = await firewallBed(
      `apiVersion: xdpkit/v1\nkind: FirewallPolicy\nrules:\n  - { name: limited, action: rate-limit, proto: udp, dstPorts: [${PORT}], rate: { pps: ${PPS}, burst: ${BURST} } }\n`,
      [PORT],
    );
  });

  after(() => fw?.close());

  const stats = async (): Promise<{ matched: number; limited: number }> => {
    const s = assertOk(await fw.cli(['--json', 'fw', 'stats', 'eth0'])).json<Stats>();
    return { matched: s.rules.find((r) => r.name === 'limited')!.packets, limited: s.misc.rateLimited.packets };
  };

  for (const round of [1, 2]) {
    it(`flood ${round} (1 s): passed within the token-bucket bound, the rest dropped`, async (t) => {
      // Each round starts after more than burst/pps of quiet: the bucket is full, and no fuller.
      await new Promise((r) => setTimeout(r, (BURST / PPS) * 1000 + 100));
      const before0 = await stats();
      const arrived0 = (await fw.counters.read())[PORT]!;
      const dropped0 = await vethTxDropped(fw.bed, 'a', fw.bed.end('a').ifname);
      const result = await startUdpFlood(fw.bed, 'a', { dst: fw.bed.address('b'), ports: [PORT], seconds: 1 }).finished();
      await new Promise((r) => setTimeout(r, 300));
      const after1 = await stats();
      const arrived = (await fw.counters.read())[PORT]! - arrived0;
      const lost = (await vethTxDropped(fw.bed, 'a', fw.bed.end('a').ifname)) - dropped0;
      const sent = result.sent[PORT]!;
      const matched = after1.matched - before0.matched;
      const passed = matched - (after1.limited - before0.limited);
      const upper = BURST + PPS * result.seconds + 1;
      const lower = BURST + PPS * (result.sending - SLACK_S) - 1;
      const report = JSON.stringify({ sent, seconds: result.seconds, sending: result.sending, matched, passed, arrived, lost, lower, upper });
      t.diagnostic(report);
      assert.ok(sent > 3 * upper, `the flood must outrun the limit\n${report}`);
      assert.ok(matched <= sent && matched >= sent - lost, `every datagram that reached XDP matched the rule\n${report}`);
      assert.equal(arrived, passed, `the receiver got exactly what the rule passed\n${report}`);
      assert.ok(passed <= upper && passed >= lower, `passed ${passed} outside [${lower.toFixed(0)}, ${upper.toFixed(0)}]\n${report}`);
    });
  }
});
