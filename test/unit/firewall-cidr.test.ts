/**
 * parseCidrFast (the blocklist fast path) against parseCidr (ipaddr.js): wherever the fast path
 * answers it gives the same prefix, and it declines every spelling it does not know, valid or
 * not, so that parseCidr decides and explains.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatCidr, parseCidr, parseCidrFast } from '../../src/firewall/cidr.js';
import { Random } from '../../src/firewall/random.js';

function slow(text: string): string {
  try {
    return formatCidr(parseCidr(text));
  } catch {
    return 'error';
  }
}

describe('parseCidrFast', () => {
  it('answers common spellings exactly as parseCidr', () => {
    for (const t of ['198.18.0.0/15', '198.18.7.7', '0.0.0.0/0', '255.255.255.255/32', '2001:db8::/32', '2001:db8::1', '::/0', '::1', '2001:DB8:0:0:0:0:0:1/128', '2001:db8:1::/48', 'fe80::', '1:2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '198.18.0.0/024']) {
      const fast = parseCidrFast(t);
      assert.ok(fast, `fast path answers ${t}`);
      assert.equal(formatCidr(fast), slow(t), t);
    }
  });

  it('declines what it does not know, valid or not', () => {
    for (const t of ['010.0.0.1', '198.18.0.1/33', '198.18.0.1/24', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4/', '::ffff:1.2.3.4', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1::', '1:', 'fe80::1%eth0', '12345::', '2001:db8::1/129', 'x', '', '/8', '2001:db8::/0x']) {
      assert.equal(parseCidrFast(t), undefined, t);
    }
  });

  it('agrees with parseCidr on 20,000 random spellings', () => {
    const r = new Random(88);
    const hex = () => r.int(0, 0xffff).toString(16);
    let answered = 0;
    for (let i = 0; i < 20000; i++) {
      let t: string;
      if (r.chance(0.5)) t = Array.from({ length: r.int(3, 5) }, () => String(r.pick([0, 1, 9, 10, 99, 100, 198, 255, 256, r.int(0, 300)]))).join('.');
      else {
        const groups = Array.from({ length: r.int(1, 9) }, hex);
        if (r.chance(0.6)) groups.splice(r.int(0, groups.length), 0, '');
        t = groups.join(':');
        if (r.chance(0.1)) t = `::${t}`;
      }
      if (r.chance(0.5)) t += `/${r.int(0, 130)}`;
      const fast = parseCidrFast(t);
      if (fast) {
        answered++;
        assert.equal(formatCidr(fast), slow(t), t);
      }
    }
    assert.ok(answered > 1000, `the fast path answered only ${answered}`);
  });
});
