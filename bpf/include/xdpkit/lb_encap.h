/* IPIP / IPv6-in-IP encapsulation toward a backend, and its reverse (lb_decap.c).
 *
 * Encapsulation grows the head by one outer header (20 bytes IPv4, 40 IPv6, chosen by the
 * backend's family) and writes, in this order on the wire:
 *   Ethernet  dst = next-hop MAC (lb_backend.mac), src = the frame's old destination (ours),
 *             type = the outer family
 *   outer IP  IPv4: version 4, IHL 5, TOS = inner TOS, total length = inner length + 20, id 0,
 *             no fragment flags, TTL 64, protocol IPPROTO_IPIP (4) for an IPv4 inner packet or
 *             IPPROTO_IPV6 (41) for IPv6, checksum, source lb_control.src4, destination backend
 *             IPv6: version 6, traffic class = inner TOS/traffic class, flow label 0, payload
 *             length = inner length, next header 4 or 41, hop limit 64, source lb_control.src6
 *   inner     the original IP packet, untouched (its length from its own header)
 * VLAN tags (up to XDPKIT_MAX_VLAN_DEPTH) stay where they were, right after the MACs: the
 * outer header goes between the last tag's EtherType (now the outer family's) and the inner
 * packet. */
#ifndef XDPKIT_LB_ENCAP_H
#define XDPKIT_LB_ENCAP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/csum.h>
#include <xdpkit/packet.h>
#include <xdpkit/lb_structs.h>

#define LB_OUTER_TTL 64

static __always_inline __sum16 lb_ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	return (__sum16)~xdpkit_csum_fold32(sum);
}

/* Returns 0 when the frame now holds the encapsulated packet, -1 when it could not (the frame
 * is unchanged unless bpf_xdp_adjust_head succeeded and the bounds check then failed, which
 * cannot happen for a frame that parsed). */
static __always_inline int lb_encap(struct xdp_md *ctx, const struct xdpkit_pkt *pkt, const struct lb_backend *b,
				    const struct lb_control *control)
{
	__u8 our_mac[ETH_ALEN], tags[4 * XDPKIT_MAX_VLAN_DEPTH];
	__u32 depth = pkt->vlan_depth, l2, outer;
	struct ethhdr *eth;
	void *data, *data_end;
	__u16 inner_len;
	__u8 tos, proto;

	if (depth > XDPKIT_MAX_VLAN_DEPTH)
		return -1;
	/* The tags as they are on the wire (TPID and TCI); a parsed frame has at least that many
	 * bytes after the MACs (tags, EtherType, IP header). */
	data_end = (void *)(long)ctx->data_end;
	if ((void *)pkt->eth + 2 * ETH_ALEN + sizeof(tags) > data_end)
		return -1;
	__builtin_memcpy(tags, (void *)pkt->eth + 2 * ETH_ALEN, sizeof(tags));
	__builtin_memcpy(our_mac, pkt->eth->h_dest, ETH_ALEN);
	if (pkt->l3_proto == XDPKIT_ETH_P_IP) {
		inner_len = bpf_ntohs(pkt->ip4->tot_len);
		tos = pkt->ip4->tos;
		proto = IPPROTO_IPIP;
	} else {
		inner_len = bpf_ntohs(pkt->ip6->payload_len) + sizeof(struct ipv6hdr);
		tos = (pkt->ip6->priority << 4) | (pkt->ip6->flow_lbl[0] >> 4);
		proto = IPPROTO_IPV6;
	}

	outer = b->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	if (bpf_xdp_adjust_head(ctx, -(int)outer))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	l2 = ETH_HLEN + 4 * depth;
	if (data + ETH_HLEN + sizeof(tags) + sizeof(struct ipv6hdr) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, b->mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, our_mac, ETH_ALEN);
	/* The tags move to the new front with the MACs; the EtherType after them becomes the outer family's. */
	if (depth > 0)
		__builtin_memcpy(data + 2 * ETH_ALEN, tags, 4);
	if (depth > 1)
		__builtin_memcpy(data + 2 * ETH_ALEN + 4, tags + 4, 4);
	*(__be16 *)(data + l2 - 2) = bpf_htons(b->family == 4 ? XDPKIT_ETH_P_IP : XDPKIT_ETH_P_IPV6);

	if (b->family == 4) {
		struct iphdr *ip = data + l2;

		ip->version = 4;
		ip->ihl = 5;
		ip->tos = tos;
		ip->tot_len = bpf_htons(inner_len + sizeof(*ip));
		ip->id = 0;
		ip->frag_off = 0;
		ip->ttl = LB_OUTER_TTL;
		ip->protocol = proto;
		ip->check = 0;
		ip->saddr = control->src4;
		ip->daddr = b->addr.v4;
		ip->check = lb_ipv4_csum(ip);
	} else {
		struct ipv6hdr *ip6 = data + l2;

		ip6->version = 6;
		ip6->priority = tos >> 4;
		ip6->flow_lbl[0] = (tos & 0xf) << 4;
		ip6->flow_lbl[1] = 0;
		ip6->flow_lbl[2] = 0;
		ip6->payload_len = bpf_htons(inner_len);
		ip6->nexthdr = proto;
		ip6->hop_limit = LB_OUTER_TTL;
		__builtin_memcpy(&ip6->saddr, &control->src6, sizeof(ip6->saddr));
		__builtin_memcpy(&ip6->daddr, &b->addr, sizeof(ip6->daddr));
	}
	return 0;
}

#endif
