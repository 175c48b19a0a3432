/* Per-CPU packet and byte counters per XDP action, shared by every xdpkit program.
 * The control plane reads the map named xdp_stats: key = XDP action (0..4),
 * value = struct xdpkit_action_stats per CPU. */
#ifndef XDPKIT_STATS_H
#define XDPKIT_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define XDPKIT_ACTION_MAX (XDP_REDIRECT + 1)

struct xdpkit_action_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, XDPKIT_ACTION_MAX);
	__type(key, __u32);
	__type(value, struct xdpkit_action_stats);
} xdp_stats SEC(".maps");

/* Counts the packet under its verdict and returns the verdict, so a program ends with
 * `return xdpkit_count(ctx, XDP_DROP);`. Out-of-range verdicts are counted as XDP_ABORTED. */
static __always_inline __u32 xdpkit_count(struct xdp_md *ctx, __u32 action)
{
	__u32 key = action < XDPKIT_ACTION_MAX ? action : XDP_ABORTED;
	struct xdpkit_action_stats *s = bpf_map_lookup_elem(&xdp_stats, &key);

	if (s) {
		s->packets++;
		s->bytes += ctx->data_end - ctx->data;
	}
	return action;
}

#endif
