/**
 * Large policies for the firewall's capacity tests (compiler, image interpreter, kernel).
 */
import { policyFromObject } from '../../src/firewall/load.js';
import type { FirewallPolicy } from '../../src/firewall/schema.js';
import { buildPacket } from '../../src/net/packet.js';
import { Random } from '../../src/firewall/random.js';

export const PORT_BASE = 10000;
/** Rule i's own source address (distinct for i < 65,536). */
export const ruleSource = (i: number): string => `198.19.${i >> 8}.${i & 255}`;

/** Rule i has no src when it lies in chunks 0–4 (i < 2,560) and i % 7 == 3. */
const noSource = (i: number): boolean => i < 2560 && i % 7 === 3;
/** Rule i has no dstPorts when it lies in chunks 9–11 and i % 11 == 5. */
const noPort = (i: number): boolean => i >= 9 * 512 && i < 12 * 512 && i % 11 === 5;

/**
 * n rules, each `{proto: udp, src: [its own address], dstPorts: [PORT_BASE + i]}`, alternating
 * drop and pass, default drop; but some rules of chunks 0–4 have no src and some of chunks 9–11
 * no dstPorts. So the rule classes come in every shape the bitmap storage meets: one rule (one
 * chunk stored), every chunk (proto), and a few low chunks plus one far above (a source's class:
 * the wildcard rules of chunks 0–4 and its own rule; zero chunks stored between them).
 */
export function sparseClassPolicy(n: number): FirewallPolicy {
  const rules = Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    action: i % 2 ? 'pass' : 'drop',
    proto: 'udp',
    ...(!noSource(i) && { src: [ruleSource(i)] }),
    ...(!noPort(i) && { dstPorts: [PORT_BASE + i] }),
  }));
  return policyFromObject({ apiVersion: 'xdpkit/v1', kind: 'FirewallPolicy', default: 'drop', rules });
}

/** UDP from `src` to 198.18.0.2:dport. */
export const udpFrame = (src: string, dport: number): Buffer =>
  Buffer.from(buildPacket([{ type: 'eth' }, { type: 'ipv4', src, dst: '198.18.0.2' }, { type: 'udp', srcPort: 9, dstPort: dport }]));

/**
 * Frames for a sparseClassPolicy(n): rule i's own source to its own port (decided by rule i,
 * or by a wildcard rule before it), mixed pairs of rule sources and ports, and unknown sources
 * and ports (the default).
 */
export function sparseClassFrames(n: number, count: number, seed = 1): Buffer[] {
  const r = new Random(seed);
  const frames = [udpFrame(ruleSource(0), PORT_BASE), udpFrame(ruleSource(n - 1), PORT_BASE + n - 1), udpFrame('198.18.200.1', 1)];
  while (frames.length < count) {
    const i = r.int(0, n - 1);
    const j = r.int(0, n - 1);
    const pick = r.int(0, 3);
    if (pick === 0) frames.push(udpFrame(ruleSource(i), PORT_BASE + j));
    else if (pick === 1) frames.push(udpFrame('198.18.200.1', PORT_BASE + i));
    else frames.push(udpFrame(ruleSource(i), PORT_BASE + i));
  }
  return frames;
}
