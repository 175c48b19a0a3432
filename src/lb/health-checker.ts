/**
 * The health checker behind `xdpkit lb health`: a loop in the control plane that checks every
 * backend of every service with a healthCheck, at that check's interval, feeds the results to the
 * rise/fall machine (health.ts), and when the set of down backends differs from what the live
 * load balancer has, flips one generation with the new set (deploy.ts updateLoadBalancer, under
 * the load balancer's lock): a down backend leaves the Maglev table and its established flows are
 * re-picked; an up one is back in. Each change is reported once, after the flip made it live.
 *
 * The live state is read again every round, so `lb apply` and the CLI edits made while it runs
 * are picked up (new services, new backends, changed checks). The down set is kept in the live
 * state: a restarted checker starts from it, and while no checker runs the tables stay as they
 * are (fail static, like Katran without its healthchecker). One checker per load balancer: it
 * holds `<key>.lb.health` (lock.ts) while it runs, which `lb service list` reads.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BusyError } from '../bpf/errors.js';
import { lbHealthPath, lbStateOf, updateLoadBalancer, type LbState } from './deploy.js';
import { claimOwner, tryClaim } from './lock.js';
import { newTracker, observe, type Health, type HealthTracker } from './health.js';
import { probe, type ProbeResult } from './health-probe.js';
import { backendRef, formatServiceKey, type HealthCheck } from './model.js';

export interface HealthChange {
  /** ISO time the change went live. */
  time: string;
  iface: string;
  service: string;
  vip: string;
  backend: string;
  from: Health;
  to: Health;
  reason: string;
}

export interface HealthCheckerOptions {
  ifname: string;
  signal: AbortSignal;
  /** A backend changed state and the tables say so now. */
  onChange(change: HealthChange): void;
  /** The live state could not be updated (it is tried again next round). */
  onError(error: Error): void;
  /** What the flip warned about (a service left without any backend for new flows). */
  onWarning(text: string): void;
  /** Every probe result (for --verbose). */
  onProbe?(target: { service: string; backend: string }, result: ProbeResult): void;
  /** The set of checked backends changed (for the start-up line). */
  onTargets?(targets: { service: string; backend: string; check: HealthCheck }[]): void;
}

export interface Target {
  ref: string;
  service: string;
  vip: string;
  backend: string;
  check: HealthCheck;
}

interface Tracked {
  tracker: HealthTracker;
  checkKey: string;
  nextDue: number;
  inFlight: boolean;
  /** Changes the tables do not show yet. */
  pending: Omit<HealthChange, 'time' | 'iface'>[];
}

/** Every backend of every service with a healthCheck. */
export function targetsOf(state: LbState): Target[] {
  return state.model.services.flatMap((s) =>
    s.healthCheck ? s.backends.map((b) => ({ ref: backendRef(s, b.address), service: s.name, vip: formatServiceKey(s), backend: b.address, check: s.healthCheck! })) : [],
  );
}

const sameSet = (a: ReadonlySet<string>, b: ReadonlySet<string>): boolean => a.size === b.size && [...a].every((x) => b.has(x));

export async function runHealthChecker(options: HealthCheckerOptions): Promise<void> {
  const claim = lbHealthPath(lbStateOf(options.ifname).key);
  const release = tryClaim(claim);
  if (!release) {
    throw new BusyError(`a health checker (pid ${claimOwner(claim)?.pid ?? '?'}) already runs for the load balancer on ${options.ifname}`, {
      hint: 'two checkers would flip against each other: stop that one first',
    });
  }
  try {
    await checkUntilAborted(options);
  } finally {
    release();
  }
}

async function checkUntilAborted(options: HealthCheckerOptions): Promise<void> {
  const tracked = new Map<string, Tracked>();
  let targetsKey = '';
  // Probes run on their own schedules: a slow check of one service never delays another's.
  // A probe that changes a backend's state wakes the loop, which makes the tables agree.
  let wake: () => void = () => {};
  while (!options.signal.aborted) {
    const woken = new Promise<void>((resolve) => (wake = resolve));
    const state = lbStateOf(options.ifname);
    const targets = targetsOf(state);
    const liveDown = new Set(state.down ?? []);
    for (const ref of tracked.keys()) if (!targets.some((t) => t.ref === ref)) tracked.delete(ref);
    const now = performance.now();
    for (const t of targets) {
      const checkKey = JSON.stringify(t.check);
      const known = tracked.get(t.ref);
      if (!known) tracked.set(t.ref, { tracker: newTracker(liveDown.has(t.ref) ? 'down' : 'up'), checkKey, nextDue: now, inFlight: false, pending: [] });
      else if (known.checkKey !== checkKey) Object.assign(known, { checkKey, nextDue: now, tracker: { ...known.tracker, streak: 0 } });
    }
    const key = targets.map((t) => `${t.ref}:${JSON.stringify(t.check)}`).join(',');
    if (key !== targetsKey) {
      targetsKey = key;
      options.onTargets?.(targets.map((t) => ({ service: t.service, backend: t.backend, check: t.check })));
    }

    for (const t of targets) {
      const entry = tracked.get(t.ref)!;
      if (entry.inFlight || entry.nextDue > now) continue;
      entry.inFlight = true;
      entry.nextDue = now + t.check.intervalMs;
      const checkKey = entry.checkKey;
      void probe(t.backend, t.check, options.signal).then((r) => {
        entry.inFlight = false;
        // A result for a backend or check that is gone meanwhile counts for nothing.
        if (options.signal.aborted || tracked.get(t.ref) !== entry || entry.checkKey !== checkKey) return;
        options.onProbe?.({ service: t.service, backend: t.backend }, r);
        const step = observe(entry.tracker, r.ok, t.check, r.detail);
        entry.tracker = step.tracker;
        if (step.change) {
          entry.pending.push({ service: t.service, vip: t.vip, backend: t.backend, ...step.change });
          wake();
        }
      });
    }

    // Make the tables say what the trackers say.
    const wantDown = new Set(targets.filter((t) => tracked.get(t.ref)!.tracker.state === 'down').map((t) => t.ref));
    if (!sameSet(wantDown, liveDown)) {
      try {
        const outcome = updateLoadBalancer(options.ifname, `updating health on ${options.ifname}`, (fresh) => {
          const present = new Set(targetsOf(fresh).map((t) => t.ref));
          return { model: fresh.model, down: [...wantDown].filter((ref) => present.has(ref)) };
        });
        const time = new Date().toISOString();
        for (const entry of tracked.values()) {
          for (const change of entry.pending) options.onChange({ time, iface: state.ifname, ...change });
          entry.pending = [];
        }
        for (const w of outcome.state.image.warnings) options.onWarning(w);
      } catch (error) {
        options.onError(error as Error);
      }
    } else {
      // Nothing to flip (a change and its undo before a flip, or the state already agrees).
      for (const entry of tracked.values()) entry.pending = [];
    }

    // In flight or not, a check is due again at nextDue (its timeout is at most its interval, so
    // it has finished by then); at least once a second the live state is read again.
    const next = Math.min(...[...tracked.values()].map((e) => e.nextDue), performance.now() + 1000);
    const timer = new AbortController();
    const stop = (): void => timer.abort();
    options.signal.addEventListener('abort', stop, { once: true });
    // An aborted nap resolves (Ctrl-C, or a state change that woke the loop first).
    const nap = sleep(Math.max(5, next - performance.now()), undefined, { signal: timer.signal }).catch(() => {});
    await Promise.race([nap, woken]);
    timer.abort();
    options.signal.removeEventListener('abort', stop);
  }
}

export interface CheckOnce {
  service: string;
  vip: string;
  backend: string;
  check: HealthCheck;
  /** What the live tables say now (the checker's last decision). */
  health: Health;
  result: ProbeResult;
}

/** `lb health --once`: every check run once, in parallel; nothing changes in the tables. */
export async function checkOnce(state: LbState): Promise<CheckOnce[]> {
  const down = new Set(state.down ?? []);
  const targets = targetsOf(state);
  const results = await Promise.all(targets.map((t) => probe(t.backend, t.check)));
  return targets.map((t, i) => ({ service: t.service, vip: t.vip, backend: t.backend, check: t.check, health: down.has(t.ref) ? 'down' : 'up', result: results[i]! }));
}
