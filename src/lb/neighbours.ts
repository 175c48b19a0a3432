/**
 * The neighbour table (RTM_GETNEIGH dump over route netlink): IP address → MAC of the entries
 * that are usable (reachable, stale, delay, probe, permanent), for backends whose MAC the config
 * does not give. Reads the calling thread's network namespace.
 */
import { NETLINK_ROUTE, NLM_F_DUMP, parseAttrs, withNetlink } from '../net/netlink.js';
import ipaddr from 'ipaddr.js';

const RTM_GETNEIGH = 30;
const RTM_NEWNEIGH = 28;
const NDA_DST = 1;
const NDA_LLADDR = 2;
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;
const NUD_NONE = 0x00;

/** Normalised address text (ipaddr.js) → lower-case MAC. */
export function neighbourMacs(): Map<string, string> {
  const ndmsg = Buffer.alloc(12);
  const replies = withNetlink(NETLINK_ROUTE, (socket) => socket.request(RTM_GETNEIGH, NLM_F_DUMP, ndmsg, 'reading the neighbour table'));
  const out = new Map<string, string>();
  for (const msg of replies) {
    if (msg.type !== RTM_NEWNEIGH || msg.payload.length < 12) continue;
    const state = msg.payload.readUInt16LE(8);
    if (state === NUD_NONE || state & (NUD_INCOMPLETE | NUD_FAILED)) continue;
    const attrs = parseAttrs(msg.payload.subarray(12));
    const dst = attrs.get(NDA_DST);
    const ll = attrs.get(NDA_LLADDR);
    if (!dst || !ll || ll.length !== 6 || ll.every((b) => b === 0) || (dst.length !== 4 && dst.length !== 16)) continue;
    const address = ipaddr.fromByteArray([...dst]).toString();
    out.set(address, [...ll].map((b) => b.toString(16).padStart(2, '0')).join(':'));
  }
  return out;
}
