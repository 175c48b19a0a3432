/* bench_fwd: the minimal XDP forwarder, the baseline forwarders are judged against. Rewrites
 * both MAC addresses (set before load) and redirects through slot 0 of a DEVMAP. It writes
 * into the frame, so the live-frames page goes back to the generator changed: bench_gen
 * rewrites the whole template into every frame for that reason. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

const volatile __u8 src_mac[ETH_ALEN] = {};
const volatile __u8 dst_mac[ETH_ALEN] = {};

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} fwd_map SEC(".maps");

SEC("xdp")
int xdp_bench_fwd(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	/* Byte by byte through the volatile: a memcpy would cast it away and let the compiler
	 * copy the zero initialiser instead of what the loader set. */
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = dst_mac[i];
		eth->h_source[i] = src_mac[i];
	}
	return bpf_redirect_map(&fwd_map, 0, XDP_DROP);
}

char LICENSE[] SEC("license") = "GPL";
