/** Interface name → the XdpTarget the binding needs (index, name, driver for messages). */
import type { XdpTarget } from '../bpf/index.js';
import { driverName, interfaceByName, listInterfaces } from '../net/interfaces.js';

/** Resolves an interface in the caller's network namespace; unknown names list the real ones. */
export function resolveTarget(ifname: string): XdpTarget {
  const iface = interfaceByName(ifname);
  const driver = driverName(iface.name);
  return { ifindex: iface.ifindex, name: iface.name, ...(driver ? { driver } : {}) };
}

/** Every interface of the namespace as a target (for status and stats over all of them). */
export function allTargets(): XdpTarget[] {
  return listInterfaces().map((iface) => ({ ifindex: iface.ifindex, name: iface.name }));
}
