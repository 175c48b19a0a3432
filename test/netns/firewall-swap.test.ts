/**
 * Atomic policy swap under continuous traffic. Two policies agree on the verdict of every
 * traffic class but are built differently (lists vs ranges, other rule order, other source
 * prefixes, a class decided by the default in one and by a rule in the other, opposite defaults):
 *
 *   class (UDP dport)   verdict   policy X (lists, default drop)   policy Y (ranges, default pass)
 *   A 1001              pass      x-pass-a  dstPorts [1001]         default
 *   B 1002              drop      x-drop-b  dstPorts [1002, 1003]   y-drop-b  "1002-1099"
 *   C 2500              pass      x-pass-c  [2500], src a's /24     y-pass-c  "2000-2999", src /15
 *   D 3000              drop      default                           y-drop-d  "2900-3100" (first rule)
 *
 * A packet judged by a mix of the two (X's rules with Y's default, one generation's class ids
 * in the other's bitmaps, …) gets a verdict neither gives. While a flood of all four classes runs
 * from a, the firewall on b's end swaps X ⇄ Y 100 times (the apply function on the attached
 * firewall's maps, as `fw apply` does). Every packet is accounted for twice:
 *   - at the receiver, per class (nftables counters in prerouting, after XDP): the drop classes
 *     must never arrive, the pass classes must arrive exactly as often as the firewall passed them;
 *   - by the firewall's own counters, read per generation right after each flip (the rules and
 *     the default each belong to one class): every class was judged exactly as often as it was
 *     sent, by a rule or default of the right verdict.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { activeGeneration, applyCompiled } from '../../src/firewall/apply.js';
import { withFirewallMaps } from '../../src/firewall/attached.js';
import { compilePolicy } from '../../src/firewall/compile.js';
import { readStats, summarize } from '../../src/firewall/live.js';
import { parsePolicyText } from '../../src/firewall/load.js';
import { withNetnsSync } from '../../src/net/index.js';
import { skipUnlessRoot } from '../helpers/cli.js';
import { firewallBed, startUdpFlood, vethTxDropped, type FirewallBed, type FloodResult } from '../helpers/firewall-traffic.js';

const CLASSES = { A: { port: 1001, verdict: 'pass' }, B: { port: 1002, verdict: 'drop' }, C: { port: 2500, verdict: 'pass' }, D: { port: 3000, verdict: 'drop' } } as const;
type ClassName = keyof typeof CLASSES;
const PORTS = Object.values(CLASSES).map((c) => c.port);
const SWAPS = 100;

const policyX = (subnet: string): string => `apiVersion: xdpkit/v1
kind: FirewallPolicy
default: drop
rules:
  - { name: x-pass-a, action: pass, proto: udp, dstPorts: [1001] }
  - { name: x-drop-b, action: drop, proto: udp, dstPorts: [1002, 1003] }
  - { name: x-pass-c, action: pass, proto: udp, dstPorts: [2500], src: [${subnet}] }
  - { name: x-icmpv6, action: pass, proto: icmpv6 }
`;
const POLICY_Y = `apiVersion: xdpkit/v1
kind: FirewallPolicy
default: pass
rules:
  - { name: y-drop-d, action: drop, dstPorts: ["2900-3100"] }
  - { name: y-pass-c, action: pass, proto: udp, dstPorts: ["2000-2999"], src: [198.18.0.0/15] }
  - { name: y-drop-b, action: drop, proto: udp, dstPorts: ["1002-1099"] }
  - { name: y-icmpv6, action: pass, proto: icmpv6 }
`;
/** Which class each rule (and each policy's default) judges; the icmpv6 rules keep the link's own
 *  IPv6 chatter (neighbour discovery, MLD) away from the defaults. */
const OWNER: Record<string, ClassName> = { 'x-pass-a': 'A', 'x-drop-b': 'B', 'x-pass-c': 'C', 'X:default': 'D', 'y-drop-d': 'D', 'y-pass-c': 'C', 'y-drop-b': 'B', 'Y:default': 'A' };

describe('firewall: 100 atomic swaps under continuous traffic', { skip: skipUnlessRoot }, () => {
  let fw: FirewallBed;
  let subnet = '';

  before(async () => {
    fw = await firewallBed((bed) => {
      subnet = bed.address('a').split('.').slice(0, 3).join('.') + '.0/24';
      return policyX(subnet);
    }, PORTS);
  });

  after(() => fw?.close());

  it('no packet gets a verdict neither policy gives', async (t) => {
    const { bed, netns, counters } = fw;
    const policies = { X: parsePolicyText(policyX(subnet)), Y: parsePolicyText(POLICY_Y) };
    const compiled = { X: compilePolicy(policies.X), Y: compilePolicy(policies.Y) };

    const judged: Record<ClassName, { pass: number; drop: number }> = { A: { pass: 0, drop: 0 }, B: { pass: 0, drop: 0 }, C: { pass: 0, drop: 0 }, D: { pass: 0, drop: 0 } };
    /** Adds what generation `gen` (running `name`) judged, by class and verdict. */
    const account = (maps: Parameters<typeof readStats>[0], name: 'X' | 'Y', gen: 0 | 1): void => {
      const policy = policies[name];
      const stats = readStats(maps, summarize(policy, name, gen), gen);
      for (const r of stats.rules) {
        const owner = OWNER[r.name];
        if (owner) judged[owner][r.action as 'pass' | 'drop'] += r.packets;
      }
      judged[OWNER[`${name}:default`]!][policy.default] += stats.misc.default.packets;
    };

    const senderIf = bed.end('a').ifname;
    const dropped0 = await vethTxDropped(bed, 'a', senderIf);
    // Traffic through every swap, however long they take on a busy machine (stopped after them).
    const flood = startUdpFlood(bed, 'a', { dst: bed.address('b'), ports: PORTS, seconds: 600 });
    let live: 'X' | 'Y' = 'X';
    const started = Date.now();
    let result: FloodResult;
    try {
      await new Promise((r) => setTimeout(r, 300));
      for (let i = 0; i < SWAPS; i++) {
        const next: 'X' | 'Y' = live === 'X' ? 'Y' : 'X';
        withNetnsSync(netns, () =>
          withFirewallMaps('eth0', (maps) => {
            const old = activeGeneration(maps);
            applyCompiled(maps, compiled[next]);
            // The old generation's counters are final once apply returns (it waits out the
            // packets still on it) and stay until the next apply reuses the generation.
            account(maps, live, old);
          }),
        );
        live = next;
        // Let the flood's process and the receiver run between swaps on this 2-core machine.
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      result = await flood.stop();
    }
    const swapSeconds = (Date.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 300));
    withNetnsSync(netns, () => withFirewallMaps('eth0', (maps) => account(maps, live, activeGeneration(maps))));
    const received = await counters.read();
    // Datagrams the sender's veth dropped (the receiver's ring was full) never reached XDP.
    const lostBeforeXdp = (await vethTxDropped(bed, 'a', senderIf)) - dropped0;
    const sentTotal = Object.values(result.sent).reduce((a, b) => a + b, 0);
    const judgedTotal = Object.values(judged).reduce((n, j) => n + j.pass + j.drop, 0);

    const report = JSON.stringify({ swapSeconds, sent: result.sent, judged, received, lostBeforeXdp });
    t.diagnostic(report);
    // Every datagram that reached XDP was judged once; the only others are the veth's drops.
    assert.ok(sentTotal - judgedTotal >= 0 && sentTotal - judgedTotal <= lostBeforeXdp, `sent ${sentTotal}, judged ${judgedTotal}\n${report}`);
    const lost = sentTotal - judgedTotal;
    for (const [name, c] of Object.entries(CLASSES) as [ClassName, (typeof CLASSES)[ClassName]][]) {
      const sent = result.sent[c.port]!;
      const wrong = c.verdict === 'pass' ? 'drop' : 'pass';
      const right = judged[name][c.verdict];
      assert.ok(sent > 1000, `class ${name}: only ${sent} datagrams sent\n${report}`);
      assert.equal(judged[name][wrong], 0, `class ${name} (${c.verdict}): packets judged ${wrong}\n${report}`);
      // Exact when nothing was lost before XDP (the usual case); a class can lose at most all of it.
      assert.ok(right <= sent && right >= sent - lost, `class ${name}: ${right} of ${sent} datagrams judged ${c.verdict} by a rule or default of its class\n${report}`);
      assert.equal(received[c.port], c.verdict === 'pass' ? right : 0, `class ${name}: arrived at the receiver\n${report}`);
    }
  });
});
