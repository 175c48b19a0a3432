/**
 * The packet hash the load balancer's data plane computes (bpf/include/xdpkit/lb_hash.h mirrors
 * this function word for word), and the backend hashes that seed Maglev permutations.
 *
 * Words are read as the BPF program reads them on a little-endian target: each address as four
 * 32-bit words in memory order (union xdpkit_addr: IPv4 in the first word, zeros after), the
 * ports as the two __be16 fields loaded as u16 and packed sport | dport << 16.
 *
 *   h = LB_HASH_SEED
 *   h = mix(h, src[0..3]); h = mix(h, dst[0..3])
 *   h = mix(h, ports)          (5-tuple only; hash mode "addresses" skips it)
 *   h = mix(h, proto | family << 8)
 *   return final(h)
 *
 * A flow's Maglev slot is hash % tableSize.
 */
import { final, mix } from '../programs/xdpkit-hash.js';
import type { LbHashMode } from './model.js';

export const LB_HASH_SEED = 0x4c42_0001;
export const MAGLEV_OFFSET_SEED = 0x6d61_676f;
export const MAGLEV_SKIP_SEED = 0x736b_6970;


/** A port as the program holds it (__be16) read as a little-endian u16. */
export const portWord = (port: number): number => ((port & 0xff) << 8) | ((port >> 8) & 0xff);

export interface LbFlow {
  /** 16 bytes each, as union xdpkit_addr (IPv4 in the first four bytes). */
  src: Buffer;
  dst: Buffer;
  srcPort: number;
  dstPort: number;
  /** IP protocol number (6, 17). */
  proto: number;
  family: 4 | 6;
}

export function lbFlowHash(flow: LbFlow, mode: LbHashMode): number {
  let h = LB_HASH_SEED;
  for (let i = 0; i < 4; i++) h = mix(h, flow.src.readUInt32LE(4 * i));
  for (let i = 0; i < 4; i++) h = mix(h, flow.dst.readUInt32LE(4 * i));
  if (mode === '5-tuple') h = mix(h, (portWord(flow.srcPort) | (portWord(flow.dstPort) << 16)) >>> 0);
  h = mix(h, (flow.proto | (flow.family << 8)) >>> 0);
  return final(h);
}

/** Hash of a backend's identity (its 16 address bytes) with a seed: for Maglev offset and skip. */
export function backendHash(bytes: Buffer, seed: number): number {
  let h = seed >>> 0;
  for (let i = 0; i < 4; i++) h = mix(h, bytes.readUInt32LE(4 * i));
  return final(h);
}
