/* The firewall's maps. Names, key and value layouts and sizes are those encodeGeneration()
 * in src/firewall/compile.ts writes; both generations live in the same maps (arrays indexed
 * gen * SLOTS + i, trie keys carrying gen after the prefix length), except the blocklists:
 * one trie and one exact hash per generation and family, in fw_block_v4/v6[gen] and
 * fw_exact_v4/v6[gen]. */
#ifndef XDPKIT_FIREWALL_MAPS_H
#define XDPKIT_FIREWALL_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpkit/firewall_consts.h>
#include <xdpkit/firewall_structs.h>

#define FW_ARRAY(name, entries, value_type)              \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_ARRAY);         \
		__uint(max_entries, entries);             \
		__type(key, __u32);                       \
		__type(value, value_type);                \
	} name SEC(".maps")

#define FW_PERCPU(name, entries, value_type)             \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);  \
		__uint(max_entries, entries);             \
		__type(key, __u32);                       \
		__type(value, value_type);                \
	} name SEC(".maps")

#define FW_LPM(name, entries, key_type, value_type)      \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);      \
		__uint(max_entries, entries);             \
		__uint(map_flags, BPF_F_NO_PREALLOC);     \
		__type(key, key_type);                    \
		__type(value, value_type);                \
	} name SEC(".maps")

#define FW_LRU(name, entries, key_type, value_type)      \
	struct {                                          \
		__uint(type, BPF_MAP_TYPE_LRU_HASH);      \
		__uint(max_entries, entries);             \
		__type(key, key_type);                    \
		__type(value, value_type);                \
	} name SEC(".maps")

FW_ARRAY(fw_ctrl, 1, struct fw_ctrl);
FW_ARRAY(fw_config, 2, struct fw_config);
/* Blocklists: one LPM trie per generation and family, held in a two-slot ARRAY_OF_MAPS. An
 * apply creates a fresh trie for the new generation, fills it, and puts it in that slot before
 * the flip; the trie it replaces (the generation before last) is freed by the kernel with its
 * last reference. So a million prefixes are never deleted one by one, and a half-written trie
 * of a failed apply is simply dropped. Slots are empty until the first apply (no hit). */
struct fw_block_trie_v4 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FW_BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_lpm_v4);
	__type(value, __u32);
};

struct fw_block_trie_v6 {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, FW_BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fw_lpm_v6);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fw_block_trie_v4);
} fw_block_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fw_block_trie_v6);
} fw_block_v6 SEC(".maps");

/* The blocklists' single addresses (/32, /128): one hash per generation and family, held and
 * replaced like the tries, and looked up before them (an exact address is the longest match
 * there is; a hash lookup does not walk a million-prefix trie). */
struct fw_block_exact_v4 {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FW_BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[4]); /* the address */
	__type(value, __u32);
};

struct fw_block_exact_v6 {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FW_BLOCK_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u8[16]);
	__type(value, __u32);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fw_block_exact_v4);
} fw_exact_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct fw_block_exact_v6);
} fw_exact_v6 SEC(".maps");

FW_LPM(fw_src_v4, FW_FIELD_ENTRIES, struct fw_lpm_v4, struct fw_class);
FW_LPM(fw_src_v6, FW_FIELD_ENTRIES, struct fw_lpm_v6, struct fw_class);
FW_LPM(fw_dst_v4, FW_FIELD_ENTRIES, struct fw_lpm_v4, struct fw_class);
FW_LPM(fw_dst_v6, FW_FIELD_ENTRIES, struct fw_lpm_v6, struct fw_class);
FW_ARRAY(fw_proto, 2 * FW_PROTO_SLOTS, struct fw_class);
FW_ARRAY(fw_sport, 2 * FW_PORT_SLOTS, struct fw_class);
FW_ARRAY(fw_dport, 2 * FW_PORT_SLOTS, struct fw_class);
FW_ARRAY(fw_flags, 2 * FW_FLAG_SLOTS, struct fw_class);
FW_ARRAY(fw_bitmap, 2 * FW_MAX_BITMAP_CHUNKS, struct fw_bitmap_chunk);
FW_ARRAY(fw_rules, 2 * FW_MAX_RULES, struct fw_rule);

/* Counters, per CPU, indexed gen * SLOTS + i (apply zeroes the new generation's slots). */
FW_PERCPU(fw_rule_stats, 2 * FW_MAX_RULES, struct fw_counter);
FW_PERCPU(fw_list_stats, 2 * FW_MAX_BLOCKLISTS, struct fw_counter);
FW_PERCPU(fw_misc_stats, 2 * FW_MISC_SLOTS, struct fw_counter);

FW_LRU(fw_rate, FW_RATE_ENTRIES, struct fw_rate_key, struct fw_rate_state);

/* Mitigation and manual blocks: outside the generations (a policy apply keeps them). */
FW_LRU(fw_mit_rate, FW_MIT_RATE_ENTRIES, struct fw_src_key, struct fw_mit_rate);
FW_LRU(fw_mit_block, FW_MIT_BLOCK_ENTRIES, struct fw_src_key, struct fw_mit_block);
FW_LPM(fw_man_v4, FW_MAN_ENTRIES, struct fw_man_v4, struct fw_man_block);
FW_LPM(fw_man_v6, FW_MAN_ENTRIES, struct fw_man_v6, struct fw_man_block);
/* [0] = 1 while the manual-block tries may hold entries (the CLI keeps it): without any, the
 * program skips their lookup. */
FW_ARRAY(fw_man_active, 1, __u32);

FW_ARRAY(fw_decision_map, 1, struct fw_decision);

#endif
