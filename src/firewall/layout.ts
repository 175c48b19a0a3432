/**
 * The firewall's C structs (bpf/include/xdpkit/firewall_structs.h) as TypeScript codecs: the
 * one TS definition of each byte layout. compile.ts encodes with them, instance.ts and
 * live.ts decode with them, and test/kernel/firewall-layout.test.ts checks every size and
 * offset against the BTF of build/bpf/firewall.o.
 */
import { array, struct, u32, u64, u8 } from '../bpf/codecs.js';

export const fwLpmV4Codec = struct({ prefixlen: u32, gen: u8, pad: array(u8, 3), addr: array(u8, 4) });
export const fwLpmV6Codec = struct({ prefixlen: u32, gen: u8, pad: array(u8, 3), addr: array(u8, 16) });
export const fwClassCodec = struct({ first: u32, chunks: u32 });
export const fwConfigCodec = struct({
  rule_count: u32,
  chunks: u32,
  default_verdict: u8,
  malformed_verdict: u8,
  any_fields: u8,
  block_families: u8,
  mit_pps: u32,
  mit_block_ns: u64,
  any: array(fwClassCodec, 4),
});
export const fwRuleCodec = struct({ action: u8, pad: array(u8, 3), pps: u32, burst: u32 });
export const fwCounterCodec = struct({ packets: u64, bytes: u64 });
export const fwRateKeyCodec = struct({ rule: u32, family: u8, pad: array(u8, 3), addr: array(u8, 16) });
export const fwRateStateCodec = struct({ nanotokens: u64, last_ns: u64 });
export const fwSrcKeyCodec = struct({ family: u8, pad: array(u8, 3), addr: array(u8, 16) });
export const fwMitRateCodec = struct({ window_ns: u64, packets: u64, prev_packets: u64 });
export const fwMitBlockCodec = struct({ until_ns: u64, dropped: u64 });
export const fwManV4Codec = struct({ prefixlen: u32, addr: array(u8, 4) });
export const fwManV6Codec = struct({ prefixlen: u32, addr: array(u8, 16) });
export const fwManBlockCodec = struct({ until_ns: u64, dropped: u64 });
export const fwDecisionCodec = struct({ seq: u32, index: u32, kind: u8, verdict: u8, rate_limited: u8, gen: u8 });

