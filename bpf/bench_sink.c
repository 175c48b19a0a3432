/* bench_sink: the far end of a forwarding benchmark. Reads the EtherType and drops (veth
 * delivers redirected frames only to a peer with an XDP program). On request it copies the
 * head of the next frame into .bss, so a test can check what the forwarder sent. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

#define SAMPLE_MAX 128

/* One struct, so the control plane knows the layout: it sets req = done + 1 to ask for a
 * sample; the program copies the next frame's first len bytes and sets done = req. */
struct sample {
	__u32 req;
	__u32 done;
	__u32 len;
	__u32 pad;
	__u8 data[SAMPLE_MAX];
};

struct sample sample = {};

SEC("xdp")
int xdp_bench_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__u16 proto = eth->h_proto;
	asm volatile("" : : "r"(proto));

	if (sample.req != sample.done) {
		__u32 len = end - data;

		if (len > SAMPLE_MAX)
			len = SAMPLE_MAX;
		if (len >= ETH_HLEN && bpf_xdp_load_bytes(ctx, 0, sample.data, len) == 0)
			sample.len = len;
		sample.done = sample.req;
	}
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
