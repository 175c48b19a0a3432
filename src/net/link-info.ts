/**
 * Link attributes from route netlink (RTM_GETLINK): MTU, MAC, operstate, kind, XDP attachment.
 * Netlink rather than /sys/class/net: sysfs shows the namespace of whoever mounted /sys, so after
 * setns() into another network namespace it would describe the wrong devices (or none), while
 * a netlink socket opened on the moved thread always speaks for that thread's namespace.
 */
import { NETLINK_ROUTE, NLM_F_DUMP, attrString, attrU32, attrU8, parseAttrs, readI32, readU32, withNetlink, writeI32, type NetlinkMessage } from './netlink.js';
import { SystemError } from '../bpf/errors.js';
import { formatMac } from './packet-fields.js';

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const IFINFOMSG = 16;

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_OPERSTATE = 16;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFLA_XDP = 43;
const IFLA_XDP_ATTACHED = 2;
const IFLA_XDP_PROG_ID = 4;

const IFF_UP = 0x1;
const IFF_LOOPBACK = 0x8;
const IFF_RUNNING = 0x40;
const IFF_LOWER_UP = 0x10000;

/** RFC 2863 operational states, as `ip link` prints them (lower case). */
const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export type OperState = (typeof OPERSTATES)[number];

const XDP_ATTACHED = ['none', 'native', 'generic', 'offload', 'multi'] as const;
export type XdpAttachedMode = (typeof XDP_ATTACHED)[number];

export interface LinkDetails {
  ifindex: number;
  name: string;
  mtu: number;
  /** Hardware address; undefined for devices without one (e.g. TUN in L3 mode). */
  mac: string | undefined;
  operstate: OperState;
  /** rtnetlink link kind: "veth", "bridge", "vxlan", …; undefined for plain hardware and lo. */
  kind: string | undefined;
  flags: { up: boolean; running: boolean; lowerUp: boolean; loopback: boolean };
  /** What XDP program is attached, as the kernel reports it in IFLA_XDP. */
  xdp: { attached: XdpAttachedMode; programId?: number };
}

/** Details of one link of the calling thread's namespace; NotFoundError (ENODEV) when absent. */
export function linkDetails(ifindex: number): LinkDetails {
  const replies = withNetlink(NETLINK_ROUTE, (socket) => socket.request(RTM_GETLINK, 0, ifinfomsg(ifindex), `reading link ${ifindex}`));
  const link = replies.map(decodeLink).find((l) => l?.ifindex === ifindex);
  if (!link) throw new SystemError(`reading link ${ifindex}: route netlink sent no RTM_NEWLINK for it`);
  return link;
}

/** Every link of the calling thread's namespace. */
export function allLinkDetails(): LinkDetails[] {
  const replies = withNetlink(NETLINK_ROUTE, (socket) => socket.request(RTM_GETLINK, NLM_F_DUMP, ifinfomsg(0), 'listing links'));
  return replies.map(decodeLink).filter((l): l is LinkDetails => l !== undefined);
}

function ifinfomsg(ifindex: number): Buffer {
  const b = Buffer.alloc(IFINFOMSG); // family AF_UNSPEC
  writeI32(b, 4, ifindex);
  return b;
}

function decodeLink(msg: NetlinkMessage): LinkDetails | undefined {
  if (msg.type !== RTM_NEWLINK || msg.payload.length < IFINFOMSG) return undefined;
  const ifindex = readI32(msg.payload, 4);
  const flags = readU32(msg.payload, 8);
  const attrs = parseAttrs(msg.payload.subarray(IFINFOMSG));
  const address = attrs.get(IFLA_ADDRESS);
  const linkinfo = attrs.get(IFLA_LINKINFO);
  const xdp = attrs.get(IFLA_XDP);
  const xdpAttrs = xdp ? parseAttrs(xdp) : undefined;
  const attached = XDP_ATTACHED[attrU8(xdpAttrs?.get(IFLA_XDP_ATTACHED)) ?? 0] ?? 'none';
  const programId = attrU32(xdpAttrs?.get(IFLA_XDP_PROG_ID));
  return {
    ifindex,
    name: attrString(attrs.get(IFLA_IFNAME)) ?? '',
    mtu: attrU32(attrs.get(IFLA_MTU)) ?? 0,
    mac: address && address.length === 6 ? formatMac(address) : undefined,
    operstate: OPERSTATES[attrU8(attrs.get(IFLA_OPERSTATE)) ?? 0] ?? 'unknown',
    kind: linkinfo ? attrString(parseAttrs(linkinfo).get(IFLA_INFO_KIND)) : undefined,
    flags: { up: (flags & IFF_UP) !== 0, running: (flags & IFF_RUNNING) !== 0, lowerUp: (flags & IFF_LOWER_UP) !== 0, loopback: (flags & IFF_LOOPBACK) !== 0 },
    xdp: programId ? { attached, programId } : { attached },
  };
}
