/**
 * Generic netlink on top of netlink.ts: resolve a family by name (CTRL_CMD_GETFAMILY) and send
 * its commands. A missing family (older kernel, module not loaded) resolves to undefined so
 * callers can report "unknown" instead of failing.
 */
import { NotFoundError } from '../bpf/errors.js';
import { attrU16, NETLINK_GENERIC, NetlinkSocket, parseAttrs, stringAttr, withNetlink, type NetlinkMessage } from './netlink.js';

const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const GENL_HEADER = 4;

export interface GenlFamily {
  name: string;
  id: number;
}

export interface GenlReply {
  cmd: number;
  version: number;
  attrs: Map<number, Buffer>;
  flags: number;
}

/** The family's id, or undefined when this kernel has no such family. */
export function resolveFamily(socket: NetlinkSocket, name: string): GenlFamily | undefined {
  let replies: NetlinkMessage[];
  try {
    replies = socket.request(GENL_ID_CTRL, 0, genlPayload(CTRL_CMD_GETFAMILY, 1, [stringAttr(CTRL_ATTR_FAMILY_NAME, name)]), `resolving generic netlink family ${name}`);
  } catch (error) {
    if (error instanceof NotFoundError) return undefined;
    throw error;
  }
  for (const reply of replies) {
    const id = attrU16(parseAttrs(reply.payload.subarray(GENL_HEADER)).get(CTRL_ATTR_FAMILY_ID));
    if (id !== undefined) return { name, id };
  }
  return undefined;
}

/** Sends a command of a family and returns the decoded replies. */
export function genlRequest(socket: NetlinkSocket, family: GenlFamily, cmd: number, version: number, attrs: Buffer[], flags: number, doing: string): GenlReply[] {
  return socket.request(family.id, flags, genlPayload(cmd, version, attrs), doing).map((msg) => ({
    cmd: msg.payload[0] ?? 0,
    version: msg.payload[1] ?? 0,
    attrs: parseAttrs(msg.payload.subarray(GENL_HEADER)),
    flags: msg.flags,
  }));
}

/** Opens a generic netlink socket in the calling thread's namespace for one job. */
export function withGenetlink<T>(fn: (socket: NetlinkSocket) => T): T {
  return withNetlink(NETLINK_GENERIC, fn);
}

function genlPayload(cmd: number, version: number, attrs: Buffer[]): Buffer {
  const head = Buffer.from([cmd, version, 0, 0]);
  return Buffer.concat([head, ...attrs]);
}
