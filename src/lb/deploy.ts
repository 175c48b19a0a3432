/**
 * The load balancer on an interface: `xdpkit lb apply` and the commands that read it back.
 *
 * First apply: open build/bpf/lb.o, size lb_ring (two generations of the next power of two ≥
 * twice the slots the config needs, at least 2^16) and lb_conntrack, load, write the first
 * image, pin every map under /sys/fs/bpf/xdpkit/<key>/maps/, attach (link pinned), write the
 * program record. Later applies open the pinned maps and write the next image into the other
 * generation (compile.ts), so established flows stay where they are.
 *
 * Every apply is planned first (planApply: MACs, ring room, egress, the compiled image, every
 * refusal) before anything is written; `lb apply --dry-run` stops there.
 *
 * The image that is live is kept in /run/xdpkit/<key>.lb.json (without its ring slices, which
 * the next compile does not need): the next compile takes its ids, cookies and generation; with
 * it the model and the CLI edits made since the last apply from a file (which that apply undoes).
 * Backends without a MAC get one from the neighbour table. Every change holds the load
 * balancer's lock (lock.ts), so the CLI and the health checker never flip over each other.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { attachXdp, closeLinkFd, detachXdp, interfacePinDir, pinObject, unpinPath, type XdpModeRequest, type XdpTarget } from '../bpf/index.js';
import { BpfMap } from '../bpf/map.js';
import { BpfObject } from '../bpf/object.js';
import { NotFoundError, InvalidArgumentError } from '../bpf/errors.js';
import { packageRoot } from '../programs/catalogue.js';
import { interfaceKey } from '../programs/interface-key.js';
import { RECORD_DIR, writeRecord } from '../programs/records.js';
import { setRedirectTarget } from '../programs/configure.js';
import { allTargets, resolveTarget } from '../programs/target.js';
import { applyImage, LB_OBJECT_MAPS } from './apply.js';
import { compileLoadBalancer, type LbImage } from './compile.js';
import { backendRef, formatServiceKey, largestPrimeAtMost, type LbAddress, type LoadBalancer } from './model.js';
import { lbLockPath, withLbLock } from './lock.js';
import { neighbourMacs } from './neighbours.js';
import { parseAddress } from './schema.js';

export const lbObjectPath = (): string => join(packageRoot(), 'build', 'bpf', 'lb.o');
export const lbStatePath = (key: string): string => `${RECORD_DIR}/${key}.lb.json`;
/** Held by the running health checker (its pid): lock.ts tryClaim. */
export const lbHealthPath = (key: string): string => `${RECORD_DIR}/${key}.lb.health`;
export const DEFAULT_CONNTRACK = 1 << 18;
const MIN_RING = 1 << 16;

export interface LbState {
  ifname: string;
  key: string;
  pinDir: string;
  ringPerGen: number;
  conntrack: number;
  /** Outer sources of ipip packets, as given. */
  source: { v4?: string; v6?: string };
  /** The live image without ring slices. */
  image: LbImage;
  /** The model it came from (for `lb service list`). */
  model: LoadBalancer;
  /** Backends the health checker took out, as backendRef(service, address). */
  down?: string[];
  /** Where balanced frames are redirected (lb_egress slot 0); absent: XDP_TX back out of `ifname`. */
  egress?: { name: string; ifindex: number };
  /** The CLI edits (lb service / lb backend) made since the last lb apply -f, oldest first: what the next apply replaces. */
  edits?: string[];
  appliedAt: string;
}

export interface LbApplyRequest {
  ifname: string;
  model: LoadBalancer;
  mode: XdpModeRequest;
  source?: { v4?: string; v6?: string };
  conntrack?: number;
  /** Ring slots per generation to reserve on the first apply (room for services added later). */
  ringSlots?: number;
  /** Backends down by health checks; default: those the live state has, if still configured. */
  down?: string[];
  /** Interface to redirect balanced frames to (two-armed); default: the live state's, else XDP_TX. */
  egress?: string;
  force?: boolean;
  /** The edits to record in the state (updateLoadBalancer); default none: a whole config replaces them. */
  edits?: string[];
}

export interface LbApplyOutcome {
  state: LbState;
  /** The program was loaded and attached by this apply (first apply). */
  attached: boolean;
  mode?: 'native' | 'generic';
  /** Backend address → MAC taken from the neighbour table. */
  learned: Record<string, string>;
  /** The live config this one replaced, and the CLI edits it had since the last apply (absent on the first apply). */
  previous?: { model: LoadBalancer; edits: string[] };
}

const reviver = (_k: string, v: unknown): unknown => {
  if (v !== null && typeof v === 'object' && (v as { type?: unknown }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
    return Buffer.from((v as { data: number[] }).data);
  }
  return v;
};

export function readLbState(key: string): LbState | undefined {
  const path = lbStatePath(key);
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, 'utf8'), reviver) as LbState;
}

export function writeLbState(state: LbState): void {
  mkdirSync(RECORD_DIR, { recursive: true });
  const path = lbStatePath(state.key);
  // Write then rename, so a reader (lb service list, the health checker) never sees half a state.
  writeFileSync(`${path}.tmp`, JSON.stringify({ ...state, image: { ...state.image, ring: [] } }));
  renameSync(`${path}.tmp`, path);
}

export function removeLbState(key: string): void {
  rmSync(lbStatePath(key), { force: true });
}

/** The state of the load balancer on an interface, or a NotFoundError that says what to do. */
export function lbStateOf(ifname: string): LbState {
  const key = interfaceKey(resolveTarget(ifname).name);
  const state = readLbState(key);
  if (!state || !existsSync(`${state.pinDir}/maps/lb_control`)) {
    throw new NotFoundError(`no load balancer on ${ifname}`, { hint: `xdpkit lb apply -f lb.yaml --iface ${ifname}` });
  }
  return state;
}

/**
 * The interface of the load balancer a command means: the one given, or, when none is, the only
 * load balancer of this network namespace.
 */
export function lbInterface(ifname: string | undefined): string {
  if (ifname !== undefined) return ifname;
  const found = allTargets().filter((t) => {
    const state = readLbState(interfaceKey(t.name));
    return state !== undefined && existsSync(`${state.pinDir}/maps/lb_control`);
  });
  if (found.length === 1) return found[0]!.name;
  if (found.length === 0) throw new NotFoundError('no load balancer in this network namespace', { hint: 'xdpkit lb apply -f lb.yaml --iface IFACE' });
  throw new InvalidArgumentError(`load balancers on ${found.map((t) => t.name).join(', ')}`, { hint: 'say which one with --iface' });
}

/** Pinned maps of the load balancer on an interface (caller closes them). */
export function openLbMaps(state: LbState): { map(name: string): BpfMap; close(): void } {
  const opened = new Map<string, BpfMap>();
  return {
    map(name: string) {
      let m = opened.get(name);
      if (!m) {
        m = BpfMap.openPinned(`${state.pinDir}/maps/${name}`);
        opened.set(name, m);
      }
      return m;
    },
    close() {
      for (const m of opened.values()) m.close();
    },
  };
}

const pow2AtLeast = (n: number): number => 2 ** Math.ceil(Math.log2(Math.max(1, n)));

function sourceAddresses(text: { v4?: string; v6?: string }): { v4?: LbAddress; v6?: LbAddress } {
  return { ...(text.v4 && { v4: parseAddress(text.v4) }), ...(text.v6 && { v6: parseAddress(text.v6) }) };
}

/** Splits `--source` values into one address per family. */
export function sourcesFrom(values: string[]): { v4?: string; v6?: string } {
  const out: { v4?: string; v6?: string } = {};
  for (const v of values) {
    const a = parseAddress(v);
    if (a.family === 4) out.v4 = a.address;
    else out.v6 = a.address;
  }
  return out;
}

/** Loads the load balancer, or flips the live one to `request.model`, holding its lock. */
export function applyLoadBalancer(request: LbApplyRequest): LbApplyOutcome {
  const key = interfaceKey(resolveTarget(request.ifname).name);
  return withLbLock(key, `applying the load balancer on ${request.ifname}`, () => applyUnlocked(request));
}

/**
 * A read-modify-write of the live load balancer under its lock (CLI edits, health changes):
 * `change` gets the live state and returns the next model (and down set, and for a CLI edit what
 * it did, kept until the next lb apply -f replaces it); that is compiled and flipped in one
 * generation. Whatever `change` or the apply throws leaves the live state as it was.
 */
export function updateLoadBalancer(ifname: string, what: string, change: (state: LbState) => { model: LoadBalancer; down?: string[]; edit?: string }): LbApplyOutcome {
  const key = interfaceKey(resolveTarget(ifname).name);
  return withLbLock(key, what, () => {
    const state = lbStateOf(ifname);
    const next = change(state);
    const edits = [...(state.edits ?? []), ...(next.edit !== undefined ? [next.edit] : [])];
    return applyUnlocked({ ifname, model: next.model, mode: 'auto', edits, ...(next.down && { down: next.down }) });
  });
}

/** Maglev slots per generation the live load balancer has left for more services. */
export function freeRingSlots(state: Pick<LbState, 'ringPerGen' | 'model'>): number {
  return state.ringPerGen - state.model.services.reduce((n, s) => n + s.tableSize, 0);
}

/** Everything an apply writes, worked out and checked before the first write (planApply). */
export interface LbApplyPlan {
  target: XdpTarget;
  key: string;
  pinDir: string;
  /** The live load balancer this apply updates; absent: the first apply loads one. */
  previous?: LbState;
  source: { v4?: string; v6?: string };
  down: string[];
  egress?: { name: string; ifindex: number };
  ringPerGen: number;
  conntrack: number;
  image: LbImage;
  learned: Record<string, string>;
}

/**
 * What applying `request` would write, with every check an apply makes (the ring room sized by
 * the first apply, MACs, ipip sources, the egress device, the compiler's limits), writing
 * nothing: the first step of an apply, and all of `lb apply --dry-run`.
 */
export function planApply(request: LbApplyRequest): LbApplyPlan {
  const target = resolveTarget(request.ifname);
  const key = interfaceKey(target.name);
  const pinDir = interfacePinDir(key);
  const state = readLbState(key);
  const previous = state !== undefined && existsSync(`${pinDir}/maps/lb_control`) ? state : undefined;
  const source = { ...previous?.source, ...request.source };
  // A backend stays down only while its service is health-checked (a check removed by an apply
  // must not leave it out of the table for good).
  const checked = new Set(request.model.services.flatMap((s) => (s.healthCheck ? s.backends.map((b) => backendRef(s, b.address)) : [])));
  const down = (request.down ?? previous?.down ?? []).filter((ref) => checked.has(ref));

  const missing = request.model.services.flatMap((s) => s.backends.filter((b) => b.mac === undefined).map((b) => b.address));
  const learned: Record<string, string> = {};
  let macs: Map<string, string> | undefined;
  if (missing.length > 0) {
    const table = neighbourMacs();
    macs = new Map();
    for (const a of missing) {
      const m = table.get(a);
      if (m !== undefined) {
        macs.set(a, m);
        learned[a] = m;
      }
    }
  }
  const need = request.model.services.reduce((n, s) => n + s.tableSize, 0);
  // Resolved before anything is written: an unknown name fails listing the interfaces there are.
  const egressTarget = request.egress !== undefined ? resolveTarget(request.egress) : undefined;
  const egress = egressTarget && { name: egressTarget.name, ifindex: egressTarget.ifindex };

  let ringPerGen: number;
  if (previous) {
    if (need > previous.ringPerGen) {
      const biggest = request.model.services.reduce((a, s) => (s.tableSize > a.tableSize ? s : a));
      const fits = largestPrimeAtMost(previous.ringPerGen - (need - biggest.tableSize));
      throw new InvalidArgumentError(
        `the services' Maglev tables need ${need} slots; the load balancer on ${target.name} has room for ${previous.ringPerGen} (sized by its first lb apply)`,
        {
          hint:
            (fits !== undefined ? `give ${biggest.name} (${formatServiceKey(biggest)}) a smaller prime table size such as ${fits}, ` : 'use smaller prime table sizes, ') +
            `or make room: xdpkit prog unload ${target.name}, then lb apply --ring-slots N (established flows lose their conntrack entries)`,
        },
      );
    }
    if (egress && !existsSync(`${pinDir}/maps/lb_egress`)) {
      throw new InvalidArgumentError(`the load balancer on ${target.name} was loaded by an older xdpkit that did not pin lb_egress, so --egress cannot be set on it`, {
        hint: `xdpkit prog unload ${target.name}, then lb apply again with --egress (established flows lose their conntrack entries)`,
      });
    }
    ringPerGen = previous.ringPerGen;
  } else {
    if (request.ringSlots !== undefined && request.ringSlots < need) {
      throw new InvalidArgumentError(`--ring-slots ${request.ringSlots} cannot hold the services' Maglev tables (${need} slots)`, { hint: `give at least ${need}, or leave --ring-slots out` });
    }
    ringPerGen = Math.max(MIN_RING, pow2AtLeast(request.ringSlots ?? 2 * need));
  }
  const image = compileLoadBalancer(request.model, {
    ...(previous && { previous: previous.image }),
    ringPerGen,
    source: sourceAddresses(source),
    down: new Set(down),
    ...(macs && { macs }),
  });
  return {
    target,
    key,
    pinDir,
    ...(previous && { previous }),
    source,
    down,
    ...(egress && { egress }),
    ringPerGen,
    conntrack: previous?.conntrack ?? request.conntrack ?? DEFAULT_CONNTRACK,
    image,
    learned,
  };
}

function applyUnlocked(request: LbApplyRequest): LbApplyOutcome {
  const plan = planApply(request);
  const { previous, pinDir, image, egress, source, down, learned } = plan;
  if (previous) {
    const maps = openLbMaps(previous);
    try {
      // The egress first: if the device is refused, the image (and the state) stay as they were.
      if (egress) setRedirectTarget(maps.map('lb_egress'), 0, String(egress.ifindex));
      applyImage(maps, image);
    } finally {
      maps.close();
    }
    const state: LbState = { ...previous, source, image, model: request.model, down, ...(egress && { egress }), edits: request.edits ?? [], appliedAt: new Date().toISOString() };
    writeLbState(state);
    return { state, attached: false, learned, previous: { model: previous.model, edits: previous.edits ?? [] } };
  }

  const { target, key, ringPerGen, conntrack } = plan;
  const object = BpfObject.open(lbObjectPath());
  try {
    object.setMaxEntries('lb_ring', 2 * ringPerGen);
    object.setMaxEntries('lb_conntrack', conntrack);
    object.load();
    if (egress) setRedirectTarget(object.map('lb_egress'), 0, String(egress.ifindex));
    applyImage(object, image);
    const program = object.program('xdp_lb');
    const pinnedMaps: Record<string, string> = {};
    for (const name of LB_OBJECT_MAPS) {
      const path = `${pinDir}/maps/${name}`;
      unpinPath(path);
      object.map(name).pin(path);
      pinnedMaps[name] = path;
    }
    const attach = attachXdp(target, program.fd, { mode: request.mode, force: request.force ?? false });
    try {
      if (attach.linkFd !== undefined) {
        try {
          unpinPath(`${pinDir}/link`);
          pinObject(attach.linkFd, `${pinDir}/link`, 'XDP link');
        } finally {
          closeLinkFd(attach.linkFd);
        }
      }
      writeRecord({
        key,
        ifname: target.name,
        ifindex: target.ifindex,
        programId: attach.programId,
        programName: program.name,
        object: lbObjectPath(),
        section: program.section,
        mode: attach.mode,
        via: attach.via,
        pinDir,
        pinnedMaps,
        constants: {},
        loadedAt: new Date().toISOString(),
        feature: 'lb',
        stateFiles: [lbStatePath(key), lbHealthPath(key), lbLockPath(key)],
      });
      const state: LbState = { ifname: target.name, key, pinDir, ringPerGen, conntrack, source, image, model: request.model, down, ...(egress && { egress }), edits: [], appliedAt: new Date().toISOString() };
      writeLbState(state);
      return { state, attached: true, mode: attach.mode, learned };
    } catch (error) {
      if (!attach.replaced) detachXdp(target);
      throw error;
    }
  } catch (error) {
    for (const name of LB_OBJECT_MAPS) unpinPath(`${pinDir}/maps/${name}`);
    throw error;
  } finally {
    object.close();
  }
}
