/* redirect: sends every packet to the device in slot 0 of redirect_map. When the slot is empty
 * (or its device has gone), the verdict is fallback_action instead, and that verdict is the
 * one counted. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpkit/stats.h>

#ifndef MAX_REDIRECT_TARGETS
#define MAX_REDIRECT_TARGETS 64
#endif

/* Set before load: XDP_ABORTED (0), XDP_DROP (1), XDP_PASS (2, default) or XDP_TX (3), the
 * only verdicts bpf_redirect_map can fall back to. Anything larger counts as XDP_ABORTED. */
const volatile __u32 fallback_action = XDP_PASS;

/* key: slot (only 0 is used), value: target ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_REDIRECT_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} redirect_map SEC(".maps");

SEC("xdp")
int xdp_redirect(struct xdp_md *ctx)
{
	__u64 fallback = fallback_action;

	if (fallback > XDP_TX)
		fallback = XDP_ABORTED;
	return xdpkit_count(ctx, bpf_redirect_map(&redirect_map, 0, fallback));
}

char LICENSE[] SEC("license") = "GPL";
