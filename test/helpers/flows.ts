/**
 * Which of the generator's flows a frame carries: flow i comes from the first source address
 * + i / 256 and source port (ICMP: echo identifier) srcPort + i % 256 (src/net/traffic-generator.ts).
 */
import ipaddr from 'ipaddr.js';
import { findLayer, parsePacket, type TemplateOptions } from '../../src/net/index.js';

const addressNumber = (address: string): bigint => ipaddr.parse(address).toByteArray().reduce((n, byte) => (n << 8n) | BigInt(byte), 0n);

/** The flow number of `frame` among `traffic`'s flows (by its source address and port), or undefined when it is none of them. */
export function flowIndexOf(traffic: TemplateOptions, frame: Buffer): number | undefined {
  const packet = parsePacket(frame);
  const ip = findLayer(packet, 'ipv4') ?? findLayer(packet, 'ipv6');
  const port = (findLayer(packet, 'udp') ?? findLayer(packet, 'tcp'))?.srcPort ?? (findLayer(packet, 'icmp') ?? findLayer(packet, 'icmpv6'))?.id;
  if (!ip || port === undefined) return undefined;
  const step = addressNumber(ip.src) - addressNumber(traffic.src);
  const portStep = port - (traffic.srcPort ?? 10000);
  if (step < 0n || portStep < 0 || portStep > 255) return undefined;
  const flow = Number(step) * 256 + portStep;
  return flow < (traffic.flows ?? 1) ? flow : undefined;
}
