/* firewall: XDP firewall over a compiled policy (src/firewall/compile.ts documents the design:
 * LBVS with chunk summaries, each class's bitmap stored from its lowest to its highest
 * non-zero chunk; two generations selected by fw_ctrl; per generation and family one hash of
 * the blocklists' single addresses and one LPM trie of their prefixes). Per packet:
 * parse (firewall_parse.h), read the live generation once, then: malformed → config verdict;
 * source manually blocked (fw block add) → drop; source in a blocklist → drop; source blocked
 * by mitigation or over its threshold → drop; six field lookups → classes; AND their chunk
 * summaries, then their bitmaps in the chunks left, lowest chunk first: the lowest set bit is
 * the first matching rule; none → default. Lookups a policy cannot need are skipped (address
 * tries that hold only /0, a blocklist map without entries, manual blocks while there are
 * none). Every verdict is counted in xdp_stats, every decision in a per-CPU counter of its
 * rule, blocklist or kind. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/stats.h>
#include <xdpkit/firewall_consts.h>
#include <xdpkit/firewall_structs.h>
#include <xdpkit/firewall_maps.h>
#include <xdpkit/firewall_parse.h>

/* Set before load to record each decision in fw_decision_map (private test instances). */
const volatile __u8 fw_record_decision = 0;

static __always_inline void fw_bump(void *map, __u32 index, __u64 bytes)
{
	struct fw_counter *c = bpf_map_lookup_elem(map, &index);

	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int fw_finish(struct xdp_md *ctx, __u8 kind, __u32 index, __u8 drop, __u8 limited, __u32 gen)
{
	if (fw_record_decision) {
		__u32 zero = 0;
		struct fw_decision *d = bpf_map_lookup_elem(&fw_decision_map, &zero);

		if (d) {
			d->seq++;
			d->index = index;
			d->kind = kind;
			d->verdict = drop;
			d->rate_limited = limited;
			d->gen = gen;
		}
	}
	return xdpkit_count(ctx, drop ? XDP_DROP : XDP_PASS);
}

/* Index (0..63) of the lowest set bit of a non-zero word, by de Bruijn multiplication: no
 * branch. (A branch per bit group let the verifier of Linux 6.18, which walks bpf_loop callbacks
 * with exact values, follow every outcome for every chunk and word: over a million
 * instructions, and the program was refused.) */
static const __u8 fw_debruijn_index[64] = {
	0,  1,  48, 2,  57, 49, 28, 3,  61, 58, 50, 42, 38, 29, 17, 4,
	62, 55, 59, 36, 53, 51, 43, 22, 45, 39, 33, 30, 24, 18, 12, 5,
	63, 47, 56, 27, 60, 41, 37, 16, 54, 35, 52, 21, 44, 32, 23, 11,
	46, 26, 40, 15, 34, 20, 31, 10, 25, 14, 19, 9,  13, 8,  7,  6,
};

static __always_inline __u32 fw_lowest_bit(__u64 w)
{
	return fw_debruijn_index[((w & -w) * 0x03f79d71b4cb0a89ULL) >> 58];
}

/* Token bucket of (rule slot, source): 1 when a token was taken. */
static __always_inline int fw_take_token(__u32 slot, const struct fw_facts *f, const struct fw_rule *r)
{
	struct fw_rate_key key = { .rule = slot, .family = f->family };
	struct fw_rate_state *s;
	__u64 now = bpf_ktime_get_ns();
	__u64 cap = (__u64)r->burst * 1000000000ULL;
	__u64 elapsed, add, tokens;

	__builtin_memcpy(key.addr, f->src, 16);
	s = bpf_map_lookup_elem(&fw_rate, &key);
	if (!s) {
		struct fw_rate_state init = { .nanotokens = cap, .last_ns = now };

		if (cap < 1000000000ULL)
			return 0;
		init.nanotokens = cap - 1000000000ULL;
		bpf_map_update_elem(&fw_rate, &key, &init, BPF_ANY);
		return 1;
	}
	elapsed = now - s->last_ns;
	if (r->pps && elapsed > cap / r->pps)
		add = cap;
	else
		add = elapsed * r->pps;
	tokens = s->nanotokens + add;
	if (tokens > cap)
		tokens = cap;
	s->last_ns = now;
	if (tokens < 1000000000ULL) {
		s->nanotokens = tokens;
		return 0;
	}
	s->nanotokens = tokens - 1000000000ULL;
	return 1;
}

_Static_assert(FW_MAX_CHUNKS <= 32, "fw_class.chunks has one bit per chunk");

/* Manual blocks (fw block add): a source in an unexpired prefix of fw_man_v4/v6 → 1 (drop).
 * An expired entry no longer matches (the CLI deletes it later); it also hides a shorter live
 * prefix around it until then, so the CLI removes expired entries whenever it touches blocks. */
static __always_inline int fw_manual_block(const struct fw_facts *f)
{
	struct fw_man_block *b;
	__u32 zero = 0;
	__u32 *active = bpf_map_lookup_elem(&fw_man_active, &zero);

	if (!active || !*active)
		return 0;

	if (f->family == 4) {
		struct fw_man_v4 k = { .prefixlen = 32 };

		__builtin_memcpy(k.addr, f->src, 4);
		b = bpf_map_lookup_elem(&fw_man_v4, &k);
	} else {
		struct fw_man_v6 k = { .prefixlen = 128 };

		__builtin_memcpy(k.addr, f->src, 16);
		b = bpf_map_lookup_elem(&fw_man_v6, &k);
	}
	if (!b || (b->until_ns && bpf_ktime_get_ns() >= b->until_ns))
		return 0;
	__sync_fetch_and_add(&b->dropped, 1);
	return 1;
}

/* Counts a packet of `key` in its fixed one-second window; returns the window's count. */
static __always_inline __u64 fw_count_source(const struct fw_src_key *key, __u64 now)
{
	struct fw_mit_rate *r = bpf_map_lookup_elem(&fw_mit_rate, key);
	__u64 age;

	if (!r) {
		struct fw_mit_rate init = { .window_ns = now, .packets = 1 };

		bpf_map_update_elem(&fw_mit_rate, key, &init, BPF_ANY);
		return 1;
	}
	age = now - r->window_ns;
	if (age >= 1000000000ULL) {
		r->prev_packets = age < 2000000000ULL ? r->packets : 0;
		r->window_ns = now;
		r->packets = 0;
	}
	return __sync_fetch_and_add(&r->packets, 1) + 1;
}

/* Mitigation: every packet of a source is counted (blocked ones too, so that fw top shows what
 * a blocked source still sends); 1 (drop) when the source is blocked, or when this packet takes
 * it over cfg->mit_pps in its current one-second window (then it is blocked for
 * cfg->mit_block_ns; a source still over the threshold when its block ends is blocked again).
 * Fixed windows: a source may send up to 2 × mit_pps across a window boundary unblocked. */
static __always_inline int fw_mitigate(const struct fw_config *cfg, const struct fw_facts *f)
{
	struct fw_src_key key = { .family = f->family };
	struct fw_mit_block *b;
	__u64 now, count;

	if (!cfg->mit_pps)
		return 0;
	__builtin_memcpy(key.addr, f->src, 16);
	now = bpf_ktime_get_ns();
	count = fw_count_source(&key, now);
	b = bpf_map_lookup_elem(&fw_mit_block, &key);
	if (b) {
		if (now < b->until_ns) {
			__sync_fetch_and_add(&b->dropped, 1);
			return 1;
		}
		bpf_map_delete_elem(&fw_mit_block, &key);
	}
	if (count <= cfg->mit_pps)
		return 0;
	{
		struct fw_mit_block nb = { .until_ns = now + cfg->mit_block_ns, .dropped = 1 };

		bpf_map_update_elem(&fw_mit_block, &key, &nb, BPF_ANY);
	}
	return 1;
}

struct fw_scan {
	__u32 gen;
	__u32 chunks;
	__u32 todo; /* chunks still to scan: the AND of the six classes' summaries */
	__u32 first[6]; /* fw_class.first of each field's class: its chunk c is at first + c */
	__u32 rule; /* result: first matching rule, or FW_MAX_RULES */
};

/* Scans the lowest chunk left in s->todo (chunks in rule order, so the first hit is the first
 * matching rule). A chunk whose summary bits are all set may still AND to zero: go on. */
static long fw_scan_chunk(__u32 i, struct fw_scan *s)
{
	struct fw_bitmap_chunk *p[6];
	__u32 base = s->gen * FW_MAX_BITMAP_CHUNKS;
	__u32 c;

	if (!s->todo)
		return 1;
	c = fw_lowest_bit(s->todo);
	s->todo &= s->todo - 1;
	if (c >= s->chunks)
		return 1;
#pragma unroll
	for (int k = 0; k < 6; k++) {
		__u32 idx = base + s->first[k] + c;

		p[k] = bpf_map_lookup_elem(&fw_bitmap, &idx);
		if (!p[k])
			return 1;
	}
#pragma unroll
	for (int w = 0; w < FW_CHUNK_WORDS; w++) {
		__u64 word = p[0]->words[w] & p[1]->words[w] & p[2]->words[w] & p[3]->words[w] &
			     p[4]->words[w] & p[5]->words[w];

		if (word) {
			s->rule = c * FW_RULES_PER_CHUNK + w * 64 + fw_lowest_bit(word);
			return 1;
		}
	}
	return 0;
}

/* LPM lookup of addr in the family's trie of generation gen; NULL when no prefix covers it. */
static __always_inline void *fw_lpm_lookup(void *map4, void *map6, const struct fw_facts *f, const __u8 *addr, __u32 gen)
{
	if (f->family == 4) {
		struct fw_lpm_v4 k = { .prefixlen = 64, .gen = gen };

		__builtin_memcpy(k.addr, addr, 4);
		return bpf_map_lookup_elem(map4, &k);
	} else {
		struct fw_lpm_v6 k = { .prefixlen = 160, .gen = gen };

		__builtin_memcpy(k.addr, addr, 16);
		return bpf_map_lookup_elem(map6, &k);
	}
}

/* The blocklist index of the source address in generation gen's exact hash of its family, or NULL. */
static __always_inline __u32 *fw_exact_lookup(const struct fw_facts *f, __u32 gen)
{
	void *hash;

	/* The key is the address itself: the first 4 or 16 bytes of f->src (on the stack). One call
	 * site per map, so that the verifier can inline both lookups. */
	if (f->family == 4) {
		hash = bpf_map_lookup_elem(&fw_exact_v4, &gen);
		return hash ? bpf_map_lookup_elem(hash, f->src) : NULL;
	}
	hash = bpf_map_lookup_elem(&fw_exact_v6, &gen);
	return hash ? bpf_map_lookup_elem(hash, f->src) : NULL;
}

/* The blocklist index of the longest listed prefix covering the source, or NULL: the source
 * address itself in the exact hash of its family, else the trie (each only when it has entries). */
static __always_inline __u32 *fw_blocklist_lookup(const struct fw_config *cfg, const struct fw_facts *f, __u32 gen)
{
	int v6 = f->family == 6;
	__u32 *list;

	if (cfg->block_families & (v6 ? FW_BLOCK_EXACT_V6 : FW_BLOCK_EXACT_V4)) {
		list = fw_exact_lookup(f, gen);
		if (list)
			return list;
	}
	if (cfg->block_families & (v6 ? FW_BLOCK_PREFIX_V6 : FW_BLOCK_PREFIX_V4)) {
		void *trie4 = bpf_map_lookup_elem(&fw_block_v4, &gen);
		void *trie6 = bpf_map_lookup_elem(&fw_block_v6, &gen);

		if (trie4 && trie6)
			return fw_lpm_lookup(trie4, trie6, f, f->src, gen);
	}
	return NULL;
}

/* The class of a source (field 0) or destination (field 1) address: from the config when
 * the family's trie holds only /0, else by LPM lookup. */
static __always_inline const struct fw_class *fw_address_class(const struct fw_config *cfg, int field, void *map4, void *map6,
							       const struct fw_facts *f, const __u8 *addr, __u32 gen)
{
	__u32 slot = FW_ANY_SLOT(field, f->family) & 3;

	if (cfg->any_fields & (1 << slot))
		return &cfg->any[slot];
	return fw_lpm_lookup(map4, map6, f, addr, gen);
}

/* Adds one field's class to the scan (a missing entry has an empty summary: nothing matches,
 * as the interpreter models it). */
static __always_inline void fw_add_class(struct fw_scan *s, int k, const struct fw_class *v)
{
	s->first[k] = v ? v->first : 0;
	s->todo &= v ? v->chunks : 0;
}

static __always_inline const struct fw_class *fw_array_class(void *map, __u32 index)
{
	return bpf_map_lookup_elem(map, &index);
}

SEC("xdp")
int xdp_firewall(struct xdp_md *ctx)
{
	struct fw_facts f = {};
	struct fw_ctrl *ctrl;
	struct fw_config *cfg;
	struct fw_rule *rule;
	struct fw_scan s = {};
	__u64 bytes = ctx->data_end - ctx->data;
	__u32 zero = 0, gen, slot;
	__u32 *list;
	int kind;

	kind = fw_parse(ctx, &f);
	ctrl = bpf_map_lookup_elem(&fw_ctrl, &zero);
	gen = ctrl ? ctrl->active_gen & 1 : 0;
	if (kind == FW_PARSE_NON_IP) {
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_NON_IP, bytes);
		return fw_finish(ctx, FW_KIND_NON_IP, 0, 0, 0, gen);
	}
	cfg = bpf_map_lookup_elem(&fw_config, &gen);
	if (!cfg)
		return fw_finish(ctx, FW_KIND_DEFAULT, 0, 0, 0, gen);
	if (kind == FW_PARSE_MALFORMED) {
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_MALFORMED, bytes);
		return fw_finish(ctx, FW_KIND_MALFORMED, 0, cfg->malformed_verdict == 1, 0, gen);
	}

	if (fw_manual_block(&f)) {
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_BLOCKED, bytes);
		return fw_finish(ctx, FW_KIND_BLOCKED, 0, 1, 0, gen);
	}

	/* Blocklists: the longest listed source prefix of any list. */
	list = fw_blocklist_lookup(cfg, &f, gen);
	if (list) {
		__u32 l = *list;

		if (l < FW_MAX_BLOCKLISTS)
			fw_bump(&fw_list_stats, gen * FW_MAX_BLOCKLISTS + l, bytes);
		return fw_finish(ctx, FW_KIND_BLOCKLIST, l, 1, 0, gen);
	}

	if (fw_mitigate(cfg, &f)) {
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_MITIGATED, bytes);
		return fw_finish(ctx, FW_KIND_MITIGATED, 0, 1, 0, gen);
	}

	s.gen = gen;
	s.chunks = cfg->chunks;
	s.rule = FW_MAX_RULES;
	s.todo = ~0U;
	fw_add_class(&s, 0, fw_address_class(cfg, 0, &fw_src_v4, &fw_src_v6, &f, f.src, gen));
	fw_add_class(&s, 1, fw_address_class(cfg, 1, &fw_dst_v4, &fw_dst_v6, &f, f.dst, gen));
	fw_add_class(&s, 2, fw_array_class(&fw_proto, gen * FW_PROTO_SLOTS + f.proto));
	fw_add_class(&s, 3, fw_array_class(&fw_sport, gen * FW_PORT_SLOTS + (f.has_ports ? f.sport : FW_PORT_NONE)));
	fw_add_class(&s, 4, fw_array_class(&fw_dport, gen * FW_PORT_SLOTS + (f.has_ports ? f.dport : FW_PORT_NONE)));
	fw_add_class(&s, 5, fw_array_class(&fw_flags, gen * FW_FLAG_SLOTS + (f.has_flags ? f.tcp_flags : FW_FLAGS_NONE)));
	if (s.todo)
		bpf_loop(FW_MAX_CHUNKS, fw_scan_chunk, &s, 0);

	if (s.rule >= FW_MAX_RULES) {
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_DEFAULT, bytes);
		return fw_finish(ctx, FW_KIND_DEFAULT, 0, cfg->default_verdict == 1, 0, gen);
	}
	slot = gen * FW_MAX_RULES + s.rule;
	rule = bpf_map_lookup_elem(&fw_rules, &slot);
	if (!rule)
		return fw_finish(ctx, FW_KIND_DEFAULT, 0, cfg->default_verdict == 1, 0, gen);
	fw_bump(&fw_rule_stats, slot, bytes);
	if (rule->action == FW_ACTION_RATE_LIMIT) {
		if (fw_take_token(slot, &f, rule))
			return fw_finish(ctx, FW_KIND_RULE, s.rule, 0, 0, gen);
		fw_bump(&fw_misc_stats, gen * FW_MISC_SLOTS + FW_MISC_RATE_LIMITED, bytes);
		return fw_finish(ctx, FW_KIND_RULE, s.rule, 1, 1, gen);
	}
	return fw_finish(ctx, FW_KIND_RULE, s.rule, rule->action == FW_ACTION_DROP, 0, gen);
}

char LICENSE[] SEC("license") = "GPL";
