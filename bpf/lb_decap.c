/* lb_decap: the backend side of the load balancer's ipip mode (`xdpkit lb decap`).
 *
 * An IPv4 packet with protocol IPPROTO_IPIP (4) or IPPROTO_IPV6 (41), or an IPv6 packet (after
 * its extension headers) with next header 4 or 41, addressed to an address in lb_decap_addrs,
 * loses its outer header: the Ethernet addresses stay, the EtherType becomes the inner family's,
 * and the inner packet goes up the stack (XDP_PASS) as if it had arrived bare. This host needs
 * no ipip/sit tunnel device (the kernels here have none).
 * Everything else passes untouched: other addresses, VLAN-tagged frames, fragments of the outer
 * packet, an inner packet whose version does not match the outer protocol number. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/packet.h>
#include <xdpkit/stats.h>
#include <xdpkit/lb_consts.h>
#include <xdpkit/lb_structs.h>

#ifndef LB_DECAP_MAX_ADDRS
#define LB_DECAP_MAX_ADDRS 64
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_DECAP_MAX_ADDRS);
	__type(key, struct lb_decap_key);
	__type(value, __u8);
} lb_decap_addrs SEC(".maps");

SEC("xdp")
int xdp_lb_decap(struct xdp_md *ctx)
{
	struct lb_decap_key key = {};
	unsigned char macs[2 * ETH_ALEN];
	struct xdpkit_pkt pkt;
	struct ethhdr *eth;
	void *data, *data_end;
	__u8 *inner;
	__u16 inner_type;
	__u32 outer_len;

	if (xdpkit_parse_packet(ctx, &pkt) != XDPKIT_PARSE_OK)
		return xdpkit_count(ctx, XDP_PASS);
	if (!xdpkit_pkt_is_ip(&pkt) || pkt.vlan_depth || pkt.is_fragment)
		return xdpkit_count(ctx, XDP_PASS);
	if (pkt.l4_proto != IPPROTO_IPIP && pkt.l4_proto != IPPROTO_IPV6)
		return xdpkit_count(ctx, XDP_PASS);
	__builtin_memcpy(&key.addr, &pkt.dst, sizeof(key.addr));
	key.family = pkt.l3_proto == XDPKIT_ETH_P_IP ? 4 : 6;
	if (!bpf_map_lookup_elem(&lb_decap_addrs, &key))
		return xdpkit_count(ctx, XDP_PASS);

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	outer_len = pkt.l4_off - pkt.l3_off;
	if (outer_len > 512)
		return xdpkit_count(ctx, XDP_PASS);
	inner = data + sizeof(struct ethhdr) + outer_len;
	if ((void *)(inner + 1) > data_end)
		return xdpkit_count(ctx, XDP_PASS);
	if (pkt.l4_proto == IPPROTO_IPIP) {
		if ((*inner >> 4) != 4)
			return xdpkit_count(ctx, XDP_PASS);
		inner_type = XDPKIT_ETH_P_IP;
	} else {
		if ((*inner >> 4) != 6)
			return xdpkit_count(ctx, XDP_PASS);
		inner_type = XDPKIT_ETH_P_IPV6;
	}

	__builtin_memcpy(macs, pkt.eth, sizeof(macs));
	if (bpf_xdp_adjust_head(ctx, (int)outer_len))
		return xdpkit_count(ctx, XDP_PASS);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return xdpkit_count(ctx, XDP_DROP);
	__builtin_memcpy(eth, macs, sizeof(macs));
	eth->h_proto = bpf_htons(inner_type);
	return xdpkit_count(ctx, XDP_PASS);
}

char LICENSE[] SEC("license") = "GPL";
