/* bench_touch: the touch-and-drop ceiling. Reads the EtherType (the first read of a frame
 * another CPU just wrote costs what every real program pays), then drops. Programs are judged
 * against this one. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_bench_touch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__u16 proto = eth->h_proto;

	/* Tell the compiler the value is used, so the read stays. */
	asm volatile("" : : "r"(proto));
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
