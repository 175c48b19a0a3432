/**
 * Interfaces of the calling thread's network namespace: list, name ↔ ifindex, driver (ethtool
 * ioctl), link details (route netlink) and XDP features (netdev generic netlink). Every lookup
 * goes through a syscall on the calling thread, so inside withNetns() it answers for the
 * namespace entered; nothing reads /sys, which shows the mounter's namespace instead.
 */
import { constants, endianness } from 'node:os';
import { errorFromErrno, InvalidArgumentError, NotFoundError, type XdpkitError } from '../bpf/errors.js';
import { AF_INET, allocBytes, calls, errno, IF_NAMESIZE, readNameIndex, SIOCETHTOOL, SOCK_CLOEXEC, SOCK_DGRAM } from './libc.js';
import { linkDetails, type LinkDetails } from './link-info.js';
import { xdpFeatures, type XdpFeatures } from './xdp-features.js';

export { linkDetails, allLinkDetails } from './link-info.js';
export type { LinkDetails, OperState, XdpAttachedMode } from './link-info.js';
export { xdpFeatures, XDP_FEATURE_BITS } from './xdp-features.js';
export type { XdpFeatures, XdpFeatureName } from './xdp-features.js';

export interface InterfaceRef {
  ifindex: number;
  name: string;
}

/** Every interface of the namespace, by ifindex. */
export function listInterfaces(): InterfaceRef[] {
  const pointer = calls.if_nameindex();
  if (!pointer) throw errorFromErrno('listing network interfaces', errno());
  return readNameIndex(pointer).sort((a, b) => a.ifindex - b.ifindex);
}

/** Name → interface; NotFoundError listing the interfaces that do exist. */
export function interfaceByName(name: string): InterfaceRef {
  if (name.length === 0 || name.length >= IF_NAMESIZE) {
    throw new InvalidArgumentError(`"${name}" is not a valid interface name (1 to ${IF_NAMESIZE - 1} characters)`);
  }
  const ifindex = calls.if_nametoindex(name) as number;
  if (ifindex === 0) throw notFound(`interface ${name}`, errno());
  return { ifindex, name };
}

/** Ifindex → interface; NotFoundError listing the interfaces that do exist. */
export function interfaceByIndex(ifindex: number): InterfaceRef {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new InvalidArgumentError(`${ifindex} is not a valid ifindex (a positive integer)`);
  const buffer = Buffer.alloc(IF_NAMESIZE);
  if (!calls.if_indextoname(ifindex, buffer)) throw notFound(`ifindex ${ifindex}`, errno());
  return { ifindex, name: buffer.subarray(0, buffer.indexOf(0)).toString('utf8') };
}

/** A name, an ifindex, or an ifindex written as digits (as CLI arguments arrive). */
export function resolveInterface(nameOrIndex: string | number): InterfaceRef {
  if (typeof nameOrIndex === 'number') return interfaceByIndex(nameOrIndex);
  return /^\d+$/.test(nameOrIndex) ? interfaceByIndex(Number(nameOrIndex)) : interfaceByName(nameOrIndex);
}

function notFound(what: string, code: number): XdpkitError {
  // ENXIO / ENODEV are "no such device"; anything else is a real failure worth its own errno.
  const { ENXIO, ENODEV } = constants.errno;
  if (code !== ENXIO && code !== ENODEV && code !== 0) return errorFromErrno(`looking up ${what}`, code);
  const names = safeList().map((i) => `${i.name} (${i.ifindex})`).join(', ');
  return new NotFoundError(`${what} does not exist in this network namespace`, {
    details: names ? `interfaces here: ${names}` : undefined,
    hint: 'list them with: ip -br link (inside a namespace: ip -n NAME -br link)',
    errno: code || undefined,
  });
}

function safeList(): InterfaceRef[] {
  try {
    return listInterfaces();
  } catch {
    return [];
  }
}

export interface DriverInfo {
  driver: string;
  version: string;
  firmware: string;
  busInfo: string;
}

const ETHTOOL_GDRVINFO = 0x00000003;
const DRVINFO_SIZE = 196; // struct ethtool_drvinfo
const IFREQ_SIZE = 40; // struct ifreq on 64-bit: name[16] + union (ifr_data at 16)
const LE = endianness() === 'LE';

/**
 * ETHTOOL_GDRVINFO through SIOCETHTOOL on an AF_INET datagram socket (what `ethtool -i` does).
 * Undefined when the device has no ethtool driver info (EOPNOTSUPP); NotFoundError when the
 * interface does not exist.
 */
export function driverInfo(name: string): DriverInfo | undefined {
  interfaceByName(name); // validates the name and gives the helpful NotFoundError
  const fd = calls.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0) as number;
  if (fd < 0) throw errorFromErrno('opening a socket for ethtool', errno());
  const info = allocBytes(DRVINFO_SIZE);
  try {
    // Host byte order for drvinfo.cmd and the ifr_data pointer.
    if (LE) info.bytes.writeUInt32LE(ETHTOOL_GDRVINFO, 0);
    else info.bytes.writeUInt32BE(ETHTOOL_GDRVINFO, 0);
    const ifreq = Buffer.alloc(IFREQ_SIZE);
    ifreq.write(name, 0, IF_NAMESIZE - 1, 'utf8');
    if (LE) ifreq.writeBigUInt64LE(info.address, IF_NAMESIZE);
    else ifreq.writeBigUInt64BE(info.address, IF_NAMESIZE);
    const rc = calls.ioctl(fd, SIOCETHTOOL, 'void *', ifreq) as number;
    if (rc < 0) {
      const code = errno();
      if (code === constants.errno.EOPNOTSUPP) return undefined; // no ethtool driver info (lo, for one)
      throw errorFromErrno(`reading the driver of ${name} (ETHTOOL_GDRVINFO)`, code);
    }
    const bytes = Buffer.from(info.bytes);
    const text = (offset: number) => cString(bytes.subarray(offset, offset + 32));
    return { driver: text(4), version: text(36), firmware: text(68), busInfo: text(100) };
  } finally {
    info.free();
    calls.close(fd);
  }
}

/** The driver's name ("veth", "virtio_net", "bridge", …) or undefined when it has none. */
export function driverName(name: string): string | undefined {
  const driver = driverInfo(name)?.driver;
  return driver ? driver : undefined;
}

export interface InterfaceInfo extends LinkDetails {
  driver: string | undefined;
  /** Undefined when the kernel cannot tell (no netdev netlink family, Linux < 6.3). */
  xdpFeatures: XdpFeatures | undefined;
}

/** Everything about one interface, for status output and doctor checks. */
export function interfaceInfo(nameOrIndex: string | number): InterfaceInfo {
  const ref = resolveInterface(nameOrIndex);
  return { ...linkDetails(ref.ifindex), driver: driverName(ref.name), xdpFeatures: xdpFeatures(ref.ifindex) };
}

function cString(bytes: Buffer): string {
  const nul = bytes.indexOf(0);
  return bytes.subarray(0, nul < 0 ? bytes.length : nul).toString('utf8');
}
