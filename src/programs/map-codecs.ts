/**
 * Typed views of the maps xdpkit's own programs declare, by map name, so `map dump` shows
 * "drop: 12 packets" instead of hex. A codec is used only if its sizes match the map (checked
 * by withCodecs); anything else (foreign maps) is shown as hex bytes.
 */
import { BpfMap, hex, struct, u32, u64, u8, type Codec } from '../bpf/index.js';

/** struct xdpkit_action_stats (bpf/include/xdpkit/stats.h). */
export const actionStatsCodec = struct({ packets: u64, bytes: u64 });
/** struct bpf_cpumap_val: queue size and an optional program (by id when read back). */
export const cpumapValueCodec = struct({ qsize: u32, prog_id: u32 });

/** Key and value codecs of xdpkit's well-known maps, by map name. */
const KNOWN_MAPS: Record<string, { key: Codec<unknown>; value: Codec<unknown> }> = {
  xdp_stats: { key: u32, value: actionStatsCodec },
  drop_ports: { key: u32, value: u8 },
  redirect_map: { key: u32, value: u32 },
  xdp_devmap: { key: u32, value: u32 },
  cpus_available: { key: u32, value: u32 },
  cpu_map: { key: u32, value: cpumapValueCodec },
};

/** The map with typed codecs when xdpkit knows it and the sizes match, otherwise hex. */
export function typedView(map: BpfMap): { map: BpfMap<unknown, unknown>; typed: boolean } {
  const known = KNOWN_MAPS[map.name];
  if (known && known.key.size === map.description.keySize && known.value.size === map.description.valueSize) {
    return { map: map.withCodecs(known.key, known.value), typed: true };
  }
  return { map: map.withCodecs(hex(map.description.keySize), hex(map.description.valueSize)), typed: false };
}
