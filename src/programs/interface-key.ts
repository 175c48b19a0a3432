/**
 * A name for an interface that is unique on the machine, for its pin directory and record:
 * bpffs and /run are shared by every network namespace, and namespaces made by tests or
 * containers reuse names like eth0. Inside a namespace made with `ip netns add` the key is
 * NETNS:IFNAME (':' cannot occur in interface names); elsewhere — the host, or a container with
 * its own /run — it is the interface name (/sys/fs/bpf/xdpkit/eth0, as DESIGN.md has it).
 * (/proc/1/ns/net, the obvious way to recognise the host namespace, is not readable from
 * inside another network namespace even for root.)
 */
import { readdirSync, statSync } from 'node:fs';
import { currentNetns, NETNS_RUN_DIR } from '../net/index.js';

function namespaceInode(identity: string): number {
  return Number(/\[(\d+)\]/.exec(identity)?.[1] ?? 0);
}

/** The `ip netns` name of the calling thread's namespace, if it has one. */
function namespaceName(): string | undefined {
  const inode = namespaceInode(currentNetns());
  let names: string[];
  try {
    names = readdirSync(NETNS_RUN_DIR);
  } catch {
    return undefined; // no /run/netns at all
  }
  return names.find((name) => {
    try {
      return statSync(`${NETNS_RUN_DIR}/${name}`).ino === inode;
    } catch {
      return false; // removed while we looked
    }
  });
}

export function interfaceKey(ifname: string): string {
  const name = namespaceName();
  return name === undefined ? ifname : `${name}:${ifname}`;
}
