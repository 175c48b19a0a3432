import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lbFlowHash, type LbFlow } from '../../src/lb/hash.js';
import { MAGLEV_EMPTY, maglevDisruption, maglevPermutation, maglevShares, maglevTable, type MaglevBackend } from '../../src/lb/maglev.js';
import { parseAddress } from '../../src/lb/schema.js';

const backend = (i: number, weight = 1): MaglevBackend => ({ id: i, key: parseAddress(`198.18.${1 + (i >> 8)}.${i & 0xff}`).bytes, weight });
const M = 65537;

describe('Maglev table', () => {
  it('permutations visit every slot once', () => {
    const size = 251;
    const { offset, skip } = maglevPermutation(backend(7).key, size);
    const seen = new Set<number>();
    for (let j = 0; j < size; j++) seen.add((offset + j * skip) % size);
    assert.equal(seen.size, size);
  });

  it('fills every slot and splits equal weights evenly', () => {
    const t = maglevTable(Array.from({ length: 10 }, (_, i) => backend(i)), M);
    const shares = maglevShares(t);
    assert.equal(shares.has(MAGLEV_EMPTY), false);
    for (const [, n] of shares) assert.ok(Math.abs(n / (M / 10) - 1) < 0.01, `share ${n}`);
  });

  it('honours weights within ±5 %', () => {
    const weights = [1, 2, 3, 5, 10, 1, 7];
    const t = maglevTable(weights.map((w, i) => backend(i, w)), M);
    const total = weights.reduce((a, b) => a + b, 0);
    const shares = maglevShares(t);
    weights.forEach((w, i) => {
      const want = (M * w) / total;
      const got = shares.get(i) ?? 0;
      assert.ok(Math.abs(got / want - 1) <= 0.05, `backend ${i} weight ${w}: ${got} slots, want ≈ ${want.toFixed(0)}`);
    });
  });

  it('leaves out weight 0 and gives an empty table without backends', () => {
    const t = maglevTable([backend(0, 0), backend(1, 1)], 251);
    assert.deepEqual([...maglevShares(t)], [[1, 251]]);
    assert.ok(maglevTable([], 251).every((v) => v === MAGLEV_EMPTY));
  });

  it('does not depend on the order of the backends', () => {
    const bs = Array.from({ length: 8 }, (_, i) => backend(i, 1 + (i % 3)));
    assert.deepEqual(maglevTable(bs, 4099), maglevTable([...bs].reverse(), 4099));
  });

  it('refuses sizes that are not prime', () => {
    assert.throws(() => maglevTable([backend(0)], 65536), /not a prime.*/);
  });

  for (const n of [3, 5, 10, 50]) {
    it(`removing one of ${n} backends moves ≈ 1/${n} of slots`, () => {
      const bs = Array.from({ length: n }, (_, i) => backend(i));
      const before = maglevTable(bs, M);
      let worst = 0;
      for (let r = 0; r < Math.min(n, 5); r++) {
        const after = maglevTable(bs.filter((_, i) => i !== r), M);
        const moved = maglevDisruption(before, after);
        // Slots of the removed backend must move (1/n); Maglev moves a few more.
        const extra = moved - 1 / n;
        worst = Math.max(worst, extra);
        assert.ok(extra >= -0.01, `moved ${moved}`);
        assert.ok(extra <= 0.03, `removing ${r} of ${n} moved ${(moved * 100).toFixed(2)} % (1/N = ${(100 / n).toFixed(2)} %)`);
      }
      // Adding a backend back is the reverse change: the same bound.
      const added = maglevTable([...bs, backend(n)], M);
      assert.ok(maglevDisruption(before, added) - 1 / (n + 1) <= 0.03);
    });
  }
});

describe('lbFlowHash', () => {
  const flow = (over: Partial<LbFlow> = {}): LbFlow => ({
    src: parseAddress('198.18.0.1').bytes,
    dst: parseAddress('198.18.0.10').bytes,
    srcPort: 40000,
    dstPort: 80,
    proto: 6,
    family: 4,
    ...over,
  });
  it('depends on ports only in 5-tuple mode', () => {
    assert.notEqual(lbFlowHash(flow(), '5-tuple'), lbFlowHash(flow({ srcPort: 40001 }), '5-tuple'));
    assert.equal(lbFlowHash(flow(), 'addresses'), lbFlowHash(flow({ srcPort: 40001 }), 'addresses'));
    assert.notEqual(lbFlowHash(flow(), 'addresses'), lbFlowHash(flow({ src: parseAddress('198.18.0.2').bytes }), 'addresses'));
  });
  it('spreads source ports evenly over a table', () => {
    const t = maglevTable(Array.from({ length: 4 }, (_, i) => backend(i)), 4099);
    const counts = [0, 0, 0, 0];
    for (let p = 0; p < 20000; p++) counts[t[lbFlowHash(flow({ srcPort: 1024 + p }), '5-tuple') % 4099]!]!++;
    for (const c of counts) assert.ok(Math.abs(c / 5000 - 1) < 0.05, `counts ${counts}`);
  });
});
