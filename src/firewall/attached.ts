/**
 * The firewall attached to an interface, found by the program record xdpkit keeps
 * (feature "firewall"), not by the program's name: a program someone else loaded that happens
 * to be called xdp_firewall is not ours, and ours is recognised whatever its name.
 */
import { NotFoundError, programInfoById, type XdpTarget } from '../bpf/index.js';
import { withProgramMaps } from '../programs/attached.js';
import { managedRecord } from '../programs/manager.js';
import { allTargets, resolveTarget } from '../programs/target.js';
import type { MapSource } from './apply.js';
import { liveSummaryPath } from './live.js';
import { policySnapshotPath } from './snapshot.js';

export const FIREWALL_FEATURE = 'firewall';

/** The record entry `fw apply` hands the program manager on first load. */
export const firewallFeature = (key: string): { name: string; stateFiles: string[] } => ({
  name: FIREWALL_FEATURE,
  stateFiles: [liveSummaryPath(key), policySnapshotPath(key)],
});

/** The xdpkit firewall's program on `target`, or undefined when another program or none runs there. */
export function firewallProgram(target: XdpTarget): { programId: number } | undefined {
  const record = managedRecord(target);
  return record?.feature === FIREWALL_FEATURE ? { programId: record.programId } : undefined;
}

export function hasFirewall(ifname: string): boolean {
  return firewallProgram(resolveTarget(ifname)) !== undefined;
}

/** Interfaces of this network namespace that run the xdpkit firewall. */
export function firewallInterfaces(): string[] {
  return allTargets()
    .filter((t) => firewallProgram(t) !== undefined)
    .map((t) => t.name);
}

/** Runs `fn` with the maps of the firewall on `ifname` open (by name); a NotFoundError saying what to do without one. */
export function withFirewallMaps<T>(ifname: string, fn: (maps: MapSource) => T): T {
  const fw = firewallProgram(resolveTarget(ifname));
  if (!fw) throw new NotFoundError(`${ifname} has no xdpkit firewall`, { hint: `apply a policy: xdpkit fw apply -f policy.yaml --iface ${ifname}` });
  return withProgramMaps(programInfoById(fw.programId).mapIds, (list) =>
    fn((name) => {
      // The kernel keeps the first 15 characters of a map's name.
      const m = list.find((x) => x.name === name.slice(0, 15));
      if (!m) throw new NotFoundError(`the firewall on ${ifname} has no map ${name}`);
      return m;
    }),
  );
}
