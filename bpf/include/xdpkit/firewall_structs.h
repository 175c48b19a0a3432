/* Firewall map keys and values: the one C definition of the byte layouts that
 * src/firewall/compile.ts encodes (its header lists them) and src/firewall/layout.ts decodes. */
#ifndef XDPKIT_FIREWALL_STRUCTS_H
#define XDPKIT_FIREWALL_STRUCTS_H

#include <linux/types.h>

struct fw_ctrl {
	__u32 active_gen;
};

/* What a field lookup (src/dst tries, proto/sport/dport/flags arrays) returns: where the class's
 * bitmap is stored and a summary of it, bit c set when the class allows some rule of chunk c.
 * The program ANDs the six summaries and scans only the chunks left, so a packet that falls
 * through usually scans none (cost flat in the rule count). A class's chunks are stored from
 * its lowest to its highest non-zero one (a chunk outside is never read: its summary bit is
 * clear), chunk c at fw_bitmap[gen * FW_MAX_BITMAP_CHUNKS + first + c] (u32 arithmetic: first
 * is where the lowest stored chunk lies minus its number, and may wrap). */
struct fw_class {
	__u32 first;
	__u32 chunks;
};

struct fw_config {
	__u32 rule_count;
	__u32 chunks;
	__u8 default_verdict; /* 0 pass, 1 drop */
	__u8 malformed_verdict;
	/* Bit FW_ANY_* set: that field trie holds only its /0 (no rule names a prefix of that field
	 * and family), so every address has the class in any[] and the lookup is skipped. */
	__u8 any_fields;
	__u8 block_families; /* FW_BLOCK_* bits: which blocklist maps hold entries (else not looked up) */
	__u32 mit_pps;      /* mitigation threshold per source; 0 = no mitigation */
	__u64 mit_block_ns; /* how long mitigation blocks a source */
	struct fw_class any[4]; /* indexed FW_ANY_SLOT(field, family) */
};

/* LPM keys: prefixlen = 32 + prefix length; gen and pad are always fully matched. */
struct fw_lpm_v4 {
	__u32 prefixlen;
	__u8 gen;
	__u8 pad[3];
	__u8 addr[4];
};

struct fw_lpm_v6 {
	__u32 prefixlen;
	__u8 gen;
	__u8 pad[3];
	__u8 addr[16];
};

struct fw_bitmap_chunk {
	__u64 words[8];
};

struct fw_rule {
	__u8 action; /* FW_ACTION_* */
	__u8 pad[3];
	__u32 pps;
	__u32 burst;
};

/* Per-CPU packet and byte counters (fw_rule_stats, fw_list_stats, fw_misc_stats). */
struct fw_counter {
	__u64 packets;
	__u64 bytes;
};

/* Token bucket per (generation's rule slot, source address), in fw_rate (LRU). */
struct fw_rate_key {
	__u32 rule; /* gen * FW_MAX_RULES + rule */
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct fw_rate_state {
	__u64 nanotokens; /* tokens × 1e9 */
	__u64 last_ns;
};

/* A source address (fw_mit_rate, fw_mit_block): IPv4 in addr[0..3], the rest zero. */
struct fw_src_key {
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

/* Mitigation's packet count of one source in fixed one-second windows. */
struct fw_mit_rate {
	__u64 window_ns;    /* bpf_ktime_get_ns() when the current window began */
	__u64 packets;      /* in the current window */
	__u64 prev_packets; /* in the window just before (0 when there was a gap) */
};

/* A source mitigation blocks until until_ns (bpf_ktime_get_ns clock), and what it dropped. */
struct fw_mit_block {
	__u64 until_ns;
	__u64 dropped;
};

/* Manual blocks (fw_man_v4/fw_man_v6): LPM keys without a generation, since they live outside
 * the policy; prefixlen is the prefix length itself. */
struct fw_man_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct fw_man_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct fw_man_block {
	__u64 until_ns; /* bpf_ktime_get_ns clock; 0 = until deleted */
	__u64 dropped;
};

/* The last packet's decision (fw_decision[0]), written only when fw_record_decision is set
 * before load: for private test instances (fw test, kernel tests), never for a live interface. */
struct fw_decision {
	__u32 seq;      /* incremented per decision */
	__u32 index;    /* rule or blocklist index */
	__u8 kind;      /* FW_KIND_* */
	__u8 verdict;   /* 0 pass, 1 drop */
	__u8 rate_limited;
	__u8 gen;
};

#endif
