/**
 * The firewall's C structs (bpf/include/xdpkit/firewall_structs.h, firewall_parse.h) against
 * their TypeScript codecs (src/firewall/layout.ts): size and every member offset, from the BTF
 * of build/bpf/firewall.o; the hand-written encoders of compile.ts (LPM keys, config, rules,
 * classes) produce the codecs' bytes; and the maps' key/value sizes are those of the codecs.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { encodeValue, type StructCodec } from '../../src/bpf/codecs.js';
import { FW_STATE_MAPS, FW_STATS_MAPS } from '../../src/firewall/apply.js';
import { classValue, CHUNK_WORDS, configValue, FW_MAPS, lpmKey, ruleValue } from '../../src/firewall/compile.js';
import { firewallObjectPath, FirewallTestInstance } from '../../src/firewall/instance.js';
import * as layout from '../../src/firewall/layout.js';
import { assertSameLayout, btfStruct } from '../helpers/btf.js';

const object = firewallObjectPath();
const same = (codec: StructCodec<never>, name: string) => assertSameLayout(codec, btfStruct(object, name));
const any = <T>(c: T) => c as unknown as StructCodec<never>;

describe('firewall struct layouts: C (BTF) against the TypeScript codecs', () => {
  it('every struct the maps use', () => {
    same(any(layout.fwLpmV4Codec), 'fw_lpm_v4');
    same(any(layout.fwLpmV6Codec), 'fw_lpm_v6');
    same(any(layout.fwClassCodec), 'fw_class');
    same(any(layout.fwConfigCodec), 'fw_config');
    same(any(layout.fwRuleCodec), 'fw_rule');
    same(any(layout.fwCounterCodec), 'fw_counter');
    same(any(layout.fwRateKeyCodec), 'fw_rate_key');
    same(any(layout.fwRateStateCodec), 'fw_rate_state');
    same(any(layout.fwSrcKeyCodec), 'fw_src_key');
    same(any(layout.fwMitRateCodec), 'fw_mit_rate');
    same(any(layout.fwMitBlockCodec), 'fw_mit_block');
    same(any(layout.fwManV4Codec), 'fw_man_v4');
    same(any(layout.fwManV6Codec), 'fw_man_v6');
    same(any(layout.fwManBlockCodec), 'fw_man_block');
    same(any(layout.fwDecisionCodec), 'fw_decision');
    assert.equal(btfStruct(object, 'fw_ctrl').size, 4);
    assert.equal(btfStruct(object, 'fw_bitmap_chunk').size, CHUNK_WORDS * 8);
  });

  it('the hand-written encoders write the codecs\' bytes', () => {
    const addr4 = [198, 18, 7, 0];
    const addr6 = [0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    assert.deepEqual(lpmKey(1, Uint8Array.from(addr4), 24), encodeValue(layout.fwLpmV4Codec, { prefixlen: 56, gen: 1, pad: [0, 0, 0], addr: addr4 }));
    assert.deepEqual(lpmKey(0, Uint8Array.from(addr6), 48), encodeValue(layout.fwLpmV6Codec, { prefixlen: 80, gen: 0, pad: [0, 0, 0], addr: addr6 }));
    const c = { ruleCount: 3, chunks: 1, defaultVerdict: 1 as const, malformedVerdict: 0 as const, mitigationPps: 500, mitigationBlockNs: 60_000_000_000n, anyClasses: [undefined, 2, undefined, 1], summaries: Uint32Array.of(0, 1, 3), firsts: Uint32Array.of(0, 0, 1), blockV4: [], blockV6: [{ addr: new Uint8Array(16), prefixLen: 0, value: 0 }], exactV4: [{ addr: new Uint8Array(4), prefixLen: 32, value: 0 }], exactV6: [] };
    const any = [{ first: 0, chunks: 0 }, { first: 1, chunks: 3 }, { first: 0, chunks: 0 }, { first: 0, chunks: 1 }];
    assert.deepEqual(configValue(c), encodeValue(layout.fwConfigCodec, { rule_count: 3, chunks: 1, default_verdict: 1, malformed_verdict: 0, any_fields: 0b1010, block_families: 2 | 4, mit_pps: 500, mit_block_ns: 60_000_000_000n, any }));
    assert.deepEqual(ruleValue({ action: 2, pps: 10, burst: 20 }), encodeValue(layout.fwRuleCodec, { action: 2, pad: [0, 0, 0], pps: 10, burst: 20 }));
    assert.deepEqual(classValue({ summaries: Uint32Array.of(0x7fffffff, 0x80000001), firsts: Uint32Array.of(0, 31) }, 1), encodeValue(layout.fwClassCodec, { first: 31, chunks: 0x80000001 }));
  });

  describe('map key and value sizes (loaded object)', () => {
    const fw = FirewallTestInstance.open();
    after(() => fw.close());
    it('match the codecs', () => {
      const sizes: [string, number, number][] = [
        [FW_MAPS.srcV4, layout.fwLpmV4Codec.size, layout.fwClassCodec.size],
        [FW_MAPS.dstV6, layout.fwLpmV6Codec.size, layout.fwClassCodec.size],
        [FW_MAPS.sport, 4, layout.fwClassCodec.size],
        [FW_MAPS.config, 4, layout.fwConfigCodec.size],
        [FW_MAPS.rules, 4, layout.fwRuleCodec.size],
        [FW_STATS_MAPS.rate, layout.fwRateKeyCodec.size, layout.fwRateStateCodec.size],
        [FW_STATS_MAPS.decision, 4, layout.fwDecisionCodec.size],
        [FW_STATE_MAPS.mitRate, layout.fwSrcKeyCodec.size, layout.fwMitRateCodec.size],
        [FW_STATE_MAPS.mitBlock, layout.fwSrcKeyCodec.size, layout.fwMitBlockCodec.size],
        [FW_STATE_MAPS.manV4, layout.fwManV4Codec.size, layout.fwManBlockCodec.size],
        [FW_STATE_MAPS.manV6, layout.fwManV6Codec.size, layout.fwManBlockCodec.size],
        [FW_STATS_MAPS.rules, 4, layout.fwCounterCodec.size],
      ];
      for (const [name, key, value] of sizes) {
        const d = fw.maps(name).description;
        assert.deepEqual([d.keySize, d.valueSize], [key, value], name);
      }
    });
  });
});

