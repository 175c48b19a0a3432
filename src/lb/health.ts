/**
 * The rise/fall state machine of one backend's health: it goes down after `fall` failed checks in
 * a row and comes back up after `rise` good ones in a row; a result that agrees with the current
 * state resets the streak (so one good answer in a run of failures keeps a backend up, as in
 * HAProxy and keepalived). Pure: the checker (health-checker.ts) feeds it probe results.
 */
import type { HealthCheck } from './model.js';

export type Health = 'up' | 'down';

export interface HealthTracker {
  state: Health;
  /** Results in a row that disagree with `state`. */
  streak: number;
}

export interface HealthStep {
  tracker: HealthTracker;
  /** Set when this result flipped the state: why, for the log. */
  change?: { from: Health; to: Health; reason: string };
}

export function newTracker(state: Health = 'up'): HealthTracker {
  return { state, streak: 0 };
}

/** The tracker after one check result (`detail`: what the probe saw, for the reason). */
export function observe(tracker: HealthTracker, ok: boolean, check: Pick<HealthCheck, 'rise' | 'fall'>, detail = ''): HealthStep {
  const agrees = (tracker.state === 'up') === ok;
  if (agrees) return { tracker: { state: tracker.state, streak: 0 } };
  const streak = tracker.streak + 1;
  const needed = tracker.state === 'up' ? check.fall : check.rise;
  if (streak < needed) return { tracker: { state: tracker.state, streak } };
  const to: Health = tracker.state === 'up' ? 'down' : 'up';
  const what = ok ? `${needed} good check${needed === 1 ? '' : 's'} in a row (rise ${check.rise})` : `${needed} failed check${needed === 1 ? '' : 's'} in a row (fall ${check.fall})`;
  return { tracker: { state: to, streak: 0 }, change: { from: tracker.state, to, reason: detail ? `${what}: ${detail}` : what } };
}
