/* bench_empty: the empty-XDP_DROP ceiling. Never reads the packet, so it measures what the
 * receiver costs before any program touches the frame. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bench_empty(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
