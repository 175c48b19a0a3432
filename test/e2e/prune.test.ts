/**
 * `prog prune`: a namespace deleted with a program still attached leaves its link pin and record
 * in the shared bpffs and /run; prune forgets them, and nothing of a live namespace.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { Testbed } from '../../src/net/index.js';
import { assertOk, cliIn, PIN_ROOT, RECORD_DIR, skipUnlessRoot, xdpkit } from '../helpers/cli.js';

describe('prog prune', { skip: skipUnlessRoot }, () => {
  const beds: Testbed[] = [];
  after(async () => {
    for (const bed of beds) {
      for (const ns of bed.namespaces) await cliIn(bed.netns(ns))(['prog', 'unload', 'eth0']);
      await bed.destroy();
    }
  });

  it('forgets the pins of deleted namespaces and keeps those of live ones', async () => {
    const doomed = await Testbed.pair();
    const alive = await Testbed.pair();
    beds.push(doomed, alive);
    const doomedNs = doomed.netns('b');
    const aliveNs = alive.netns('b');
    assertOk(await cliIn(doomedNs)(['prog', 'load', 'eth0', 'pass']));
    assertOk(await cliIn(aliveNs)(['prog', 'load', 'eth0', 'pass']));

    await doomed.destroy();
    const doomedPin = `${PIN_ROOT}/${doomedNs}:eth0`;
    assert.ok(existsSync(doomedPin), 'the deleted namespace left its pin directory');

    const run = assertOk(await xdpkit(['--json', 'prog', 'prune']));
    assert.ok(run.json<{ forgotten: string[] }>().forgotten.includes(doomedNs));
    assert.ok(!existsSync(doomedPin), 'pin directory removed');
    assert.ok(!existsSync(`${RECORD_DIR}/${doomedNs}:eth0.json`), 'record removed');
    assert.ok(existsSync(`${PIN_ROOT}/${aliveNs}:eth0/link`), 'the live namespace keeps its link pin');

    const status = assertOk(await cliIn(aliveNs)(['--json', 'status', 'eth0']));
    assert.equal(status.json<{ attachments: { managed: boolean }[] }[]>()[0]?.attachments[0]?.managed, true);
  });
});
