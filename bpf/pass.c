/* pass: lets every packet through and counts it. The smallest useful XDP program,
 * used to check that attach works and to measure the cost of XDP itself. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpkit/stats.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	return xdpkit_count(ctx, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
