/**
 * Reference of xdpkit_flow_hash (bpf/include/xdpkit/hash.h) for tests that predict where cpumap
 * steers a flow. Words are read as the BPF program reads them on a little-endian target:
 * addresses as four 32-bit words in memory order, ports as 16-bit network-order fields.
 */
import ipaddr from 'ipaddr.js';
import { final, mix } from '../../src/programs/xdpkit-hash.js';

/** union xdpkit_addr: IPv4 in the first 4 bytes, zeros after; IPv6 as is. */
function addressBytes(address: string): Buffer {
  const b = Buffer.alloc(16);
  Buffer.from(ipaddr.parse(address).toByteArray()).copy(b);
  return b;
}

/** A port as the program holds it (__be16) read as a little-endian u16. */
const portWord = (port: number): number => ((port & 0xff) << 8) | (port >> 8);

function endpoint(seed: number, address: string, port: number): number {
  const a = addressBytes(address);
  let h = seed >>> 0;
  for (let i = 0; i < 4; i++) h = mix(h, a.readUInt32LE(4 * i));
  return mix(h, portWord(port));
}

export interface FlowKey {
  src: string;
  dst: string;
  /** 0 for fragments and protocols without ports. */
  srcPort: number;
  dstPort: number;
  /** IP protocol number. */
  protocol: number;
}

export function flowHash(flow: FlowKey, seed: number): number {
  const l3 = ipaddr.parse(flow.src).kind() === 'ipv4' ? 0x0800 : 0x86dd;
  const a = endpoint(seed, flow.src, flow.srcPort);
  const b = endpoint(seed, flow.dst, flow.dstPort);
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = mix(h, Math.min(a, b));
  h = mix(h, Math.max(a, b));
  h = mix(h, (flow.protocol | (l3 << 16)) >>> 0);
  return final(h);
}
