/* Limits of the firewall data plane. They must equal the constants in src/firewall/compile.ts
 * and src/firewall/apply.ts (test/kernel/firewall-layout.test.ts checks the structs and the
 * loaded maps' sizes). */
#ifndef XDPKIT_FIREWALL_CONSTS_H
#define XDPKIT_FIREWALL_CONSTS_H

#define FW_MAX_RULES 16384
#define FW_CHUNK_WORDS 8
#define FW_RULES_PER_CHUNK (FW_CHUNK_WORDS * 64)
#define FW_MAX_CHUNKS (FW_MAX_RULES / FW_RULES_PER_CHUNK)
/* fw_bitmap slots per generation: every class's chunks from its lowest to its highest non-zero one. */
#define FW_MAX_BITMAP_CHUNKS (1 << 18)
#define FW_PORT_SLOTS 65537
#define FW_PORT_NONE 65536
#define FW_FLAG_SLOTS 257
#define FW_FLAGS_NONE 256
#define FW_PROTO_SLOTS 256
#define FW_MAX_BLOCKLISTS 256
/* IPv6 extension headers walked (hop-by-hop, routing, destination options, fragment). */
#define FW_MAX_IPV6_EXT 8

/* Trie capacities (LPM tries are not preallocated: these are caps). FW_FIELD_ENTRIES holds both
 * generations (apply refuses a policy whose prefixes do not fit beside the live one's);
 * FW_BLOCK_ENTRIES is the template of the per-generation blocklist tries and exact hashes, which
 * apply creates sized to the policy's entries. */
#ifndef FW_BLOCK_ENTRIES
#define FW_BLOCK_ENTRIES (4 << 20)
#endif
#ifndef FW_FIELD_ENTRIES
#define FW_FIELD_ENTRIES (1 << 20)
#endif
#ifndef FW_RATE_ENTRIES
#define FW_RATE_ENTRIES 65536
#endif
/* Mitigation state: sources counted, sources blocked (separate, so that a flood of new
 * sources evicting counters never evicts a block). */
#ifndef FW_MIT_RATE_ENTRIES
#define FW_MIT_RATE_ENTRIES 65536
#endif
#ifndef FW_MIT_BLOCK_ENTRIES
#define FW_MIT_BLOCK_ENTRIES 65536
#endif
#ifndef FW_MAN_ENTRIES
#define FW_MAN_ENTRIES 65536
#endif

/* fw_config.any slots: src v4, src v6, dst v4, dst v6 (field 0 src, 1 dst). */
#define FW_ANY_SLOT(field, family) ((field) * 2 + ((family) == 6))

/* fw_config.block_families: the blocklists' IPv4/IPv6 prefixes shorter than an address (in the
 * tries) and single addresses (in the exact hashes). */
#define FW_BLOCK_PREFIX_V4 1
#define FW_BLOCK_PREFIX_V6 2
#define FW_BLOCK_EXACT_V4 4
#define FW_BLOCK_EXACT_V6 8

/* Actions (fw_rules) and verdicts (fw_config). */
#define FW_ACTION_PASS 0
#define FW_ACTION_DROP 1
#define FW_ACTION_RATE_LIMIT 2

/* Decision kinds (fw_decision.kind, test instances only). */
#define FW_KIND_NON_IP 0
#define FW_KIND_MALFORMED 1
#define FW_KIND_BLOCKLIST 2
#define FW_KIND_RULE 3
#define FW_KIND_DEFAULT 4
#define FW_KIND_MITIGATED 5
#define FW_KIND_BLOCKED 6

/* fw_misc_stats slots per generation. */
#define FW_MISC_MALFORMED 0
#define FW_MISC_DEFAULT 1
#define FW_MISC_RATE_LIMITED 2
#define FW_MISC_NON_IP 3
#define FW_MISC_MITIGATED 4 /* dropped by mitigation */
#define FW_MISC_BLOCKED 5   /* dropped by a manual block */
#define FW_MISC_SLOTS 6

#endif
