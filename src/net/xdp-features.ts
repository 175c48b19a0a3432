/**
 * What XDP an interface's driver supports, from the kernel's `netdev` generic netlink family
 * (NETDEV_CMD_DEV_GET → NETDEV_A_DEV_XDP_FEATURES, Linux ≥ 6.3). On older kernels the family
 * does not exist and the answer is undefined ("unknown"), never an error: callers then try an
 * attach and report what the kernel says.
 */
import { genlRequest, resolveFamily, withGenetlink } from './genetlink.js';
import { attrU32, attrU64, u32Attr } from './netlink.js';

const NETDEV_CMD_DEV_GET = 1;
const NETDEV_A_DEV_IFINDEX = 1;
const NETDEV_A_DEV_XDP_FEATURES = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS = 4;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES = 5;
const NETDEV_A_DEV_XSK_FEATURES = 6;

/** enum netdev_xdp_act, named as the kernel's YNL spec names them. */
export const XDP_FEATURE_BITS = {
  basic: 1n << 0n,
  redirect: 1n << 1n,
  'ndo-xmit': 1n << 2n,
  'xsk-zerocopy': 1n << 3n,
  'hw-offload': 1n << 4n,
  'rx-sg': 1n << 5n,
  'ndo-xmit-sg': 1n << 6n,
} as const;

export type XdpFeatureName = keyof typeof XDP_FEATURE_BITS;

const RX_METADATA_BITS = { timestamp: 1, hash: 2, 'vlan-tag': 4 } as const;
const XSK_BITS = { 'tx-timestamp': 1, 'tx-checksum': 2, 'tx-launch-time-fifo': 4 } as const;

export interface XdpFeatures {
  /** The raw NETDEV_A_DEV_XDP_FEATURES bit mask. */
  mask: bigint;
  /** Names of the set bits; bits newer than this code show as "bit-N". */
  flags: string[];
  /** The driver runs XDP programs itself (native mode): the "basic" bit. */
  native: boolean;
  /** The driver can be a redirect target (ndo_xdp_xmit). */
  redirectTarget: boolean;
  zeroCopy: boolean;
  /** NETDEV_A_DEV_XDP_ZC_MAX_SEGS, when the kernel reports it. */
  zeroCopyMaxSegments?: number;
  /** XDP RX metadata kfuncs the driver implements (timestamp, hash, vlan-tag), Linux ≥ 6.8. */
  rxMetadata?: string[];
  /** AF_XDP TX metadata features (tx-timestamp, tx-checksum, …), Linux ≥ 6.8. */
  xskFeatures?: string[];
}

/**
 * XDP features of an interface of the calling thread's network namespace; undefined when the
 * kernel has no netdev family. Throws NotFoundError for an ifindex that does not exist.
 */
export function xdpFeatures(ifindex: number): XdpFeatures | undefined {
  return withGenetlink((socket) => {
    const family = resolveFamily(socket, 'netdev');
    if (!family) return undefined;
    const [reply] = genlRequest(socket, family, NETDEV_CMD_DEV_GET, 1, [u32Attr(NETDEV_A_DEV_IFINDEX, ifindex)], 0, `reading XDP features of ifindex ${ifindex}`);
    const mask = attrU64(reply?.attrs.get(NETDEV_A_DEV_XDP_FEATURES));
    if (!reply || mask === undefined) return undefined;
    const features: XdpFeatures = {
      mask,
      flags: names(mask, XDP_FEATURE_BITS),
      native: (mask & XDP_FEATURE_BITS.basic) !== 0n,
      redirectTarget: (mask & XDP_FEATURE_BITS['ndo-xmit']) !== 0n,
      zeroCopy: (mask & XDP_FEATURE_BITS['xsk-zerocopy']) !== 0n,
    };
    const segments = attrU32(reply.attrs.get(NETDEV_A_DEV_XDP_ZC_MAX_SEGS));
    if (segments !== undefined) features.zeroCopyMaxSegments = segments;
    const rx = attrU64(reply.attrs.get(NETDEV_A_DEV_XDP_RX_METADATA_FEATURES));
    if (rx !== undefined) features.rxMetadata = names(rx, bigints(RX_METADATA_BITS));
    const xsk = attrU64(reply.attrs.get(NETDEV_A_DEV_XSK_FEATURES));
    if (xsk !== undefined) features.xskFeatures = names(xsk, bigints(XSK_BITS));
    return features;
  });
}

function bigints(table: Record<string, number>): Record<string, bigint> {
  return Object.fromEntries(Object.entries(table).map(([name, bit]) => [name, BigInt(bit)]));
}

function names(mask: bigint, table: Record<string, bigint>): string[] {
  const out: string[] = [];
  let known = 0n;
  for (const [name, bit] of Object.entries(table)) {
    known |= bit;
    if (mask & bit) out.push(name);
  }
  for (let bit = 0n; bit < 64n; bit++) {
    const value = 1n << bit;
    if (mask & value && !(known & value)) out.push(`bit-${bit}`);
  }
  return out;
}
