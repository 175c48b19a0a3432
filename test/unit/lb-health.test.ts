import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newTracker, observe, type HealthTracker } from '../../src/lb/health.js';

/** Feeds a string of results ("+" good, "-" failed) and returns the state after each and the changes. */
function run(results: string, check: { rise: number; fall: number }, start: HealthTracker = newTracker()): { states: string; changes: string[] } {
  let tracker = start;
  let states = '';
  const changes: string[] = [];
  for (const r of results) {
    const step = observe(tracker, r === '+', check, r === '+' ? 'connected' : 'connect ECONNREFUSED');
    tracker = step.tracker;
    states += tracker.state === 'up' ? 'U' : 'D';
    if (step.change) changes.push(`${step.change.from}→${step.change.to}: ${step.change.reason}`);
  }
  return { states, changes };
}

describe('health rise/fall state machine', () => {
  it('goes down after fall failures in a row and up after rise good checks in a row', () => {
    const r = run('+--- -++ +'.replace(/ /g, ''), { rise: 2, fall: 3 });
    assert.equal(r.states, 'UUUDDDUU');
    assert.deepEqual(r.changes, [
      'up→down: 3 failed checks in a row (fall 3): connect ECONNREFUSED',
      'down→up: 2 good checks in a row (rise 2): connected',
    ]);
  });

  it('a result that agrees with the state resets the streak', () => {
    // Two failures, a good one, two failures: never three in a row, so it stays up.
    assert.equal(run('--+--+--', { rise: 2, fall: 3 }).states, 'UUUUUUUU');
    // Down: one good, one failed, one good: never two good in a row.
    assert.equal(run('+-+-', { rise: 2, fall: 1 }, newTracker('down')).states, 'DDDD');
  });

  it('rise 1 / fall 1 follow every result; a tracker can start down (restored from the live state)', () => {
    const r = run('-+-+', { rise: 1, fall: 1 });
    assert.equal(r.states, 'DUDU');
    assert.equal(r.changes.length, 4);
    assert.match(r.changes[0]!, /1 failed check in a row \(fall 1\)/);
    assert.equal(run('++', { rise: 2, fall: 3 }, newTracker('down')).states, 'DU');
  });

  it('does not change the tracker it is given', () => {
    const t = newTracker();
    observe(t, false, { rise: 2, fall: 3 });
    assert.deepEqual(t, { state: 'up', streak: 0 });
  });
});
