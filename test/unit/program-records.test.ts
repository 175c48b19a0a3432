/**
 * A program record lists the state files of the feature it belongs to (the firewall's
 * <key>.fw.json and <key>.fw.policy.json, the load balancer's <key>.lb.json): they go when the
 * record goes (prog unload, fw unload), and when another program's record replaces it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'xdpkit-records-'));
process.env.XDPKIT_RUN_DIR = dir;
const { readRecord, removeRecord, writeRecord } = await import('../../src/programs/records.js');
type ProgramRecord = Parameters<typeof writeRecord>[0];

const record = (key: string, extra: Partial<ProgramRecord> = {}): ProgramRecord => ({
  key,
  ifname: 'eth0',
  ifindex: 2,
  programId: 7,
  programName: 'xdp_x',
  object: '/x.o',
  section: 'xdp',
  mode: 'native',
  via: 'link',
  pinDir: `/sys/fs/bpf/xdpkit/${key}`,
  pinnedMaps: {},
  constants: {},
  loadedAt: new Date(0).toISOString(),
  ...extra,
});

const touch = (name: string): string => {
  const path = join(dir, name);
  writeFileSync(path, '{}');
  return path;
};

describe('program records and their state files', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const [feature, suffixes] of [['firewall', ['fw.json', 'fw.policy.json']], ['lb', ['lb.json']]] as const) {
    it(`removeRecord removes the ${feature}'s state files with the record`, () => {
      const key = `ns-${feature}:eth0`;
      const files = suffixes.map((s) => touch(`${key}.${s}`));
      const neighbour = touch(`ns-${feature}:eth0.100.${suffixes[0]}`);
      writeRecord(record(key, { feature, stateFiles: files }));
      assert.equal(readRecord(key)?.feature, feature);
      removeRecord(key);
      assert.equal(readRecord(key), undefined);
      for (const f of files) assert.ok(!existsSync(f), `${f} removed`);
      assert.ok(existsSync(neighbour), 'another interface\'s state file (eth0.100) stays');
    });
  }

  it('a record that replaces another removes the old feature\'s state files, not its own', () => {
    const key = 'ns-replace:eth0';
    const fw = touch(`${key}.fw.json`);
    writeRecord(record(key, { feature: 'firewall', stateFiles: [fw] }));
    writeRecord(record(key, { feature: 'firewall', stateFiles: [fw], programId: 8 }));
    assert.ok(existsSync(fw), 'the same feature reloaded keeps its state');
    writeRecord(record(key, { programName: 'xdp_pass', programId: 9 }));
    assert.ok(!existsSync(fw), 'prog load --force of another program ended the firewall\'s state');
    removeRecord(key);
  });

  it('a record without state files (a plain prog load) removes only itself', () => {
    const key = 'ns-plain:eth0';
    const other = touch(`${key}.fw.json`);
    writeRecord(record(key));
    removeRecord(key);
    assert.equal(readRecord(key), undefined);
    assert.ok(existsSync(other));
  });
});
