/* Path MTU for ipip: a packet whose encapsulated form would not fit the egress device's MTU is
 * not sent. The client gets, like Katran does it, an ICMP "fragmentation needed" (IPv4, DF set)
 * or an ICMPv6 "packet too big" that names the largest inner packet that fits (egress MTU −
 * outer header), sent back with XDP_TX from the VIP to the client; its stack lowers its path MTU
 * and resends smaller. An IPv4 packet without DF cannot be fragmented here: it is dropped, and
 * so is a VLAN-tagged one (the message is built for untagged frames).
 * Both outcomes are counted in lb_too_big (LB_TOO_BIG_ICMP, LB_TOO_BIG_DROP).
 *
 * The message, built in place over the original frame:
 *   Ethernet  dst = the frame's source (the client's next hop), src = its destination (ours)
 *   IPv4      version 4, IHL 5, TOS 0, total length 20 + 8 + LB_ICMP_QUOTE, id 0, no fragment
 *             flags, TTL 64, protocol 1, checksum, source = the VIP, destination = the client
 *   ICMP      type 3 code 4, checksum, unused 0, next-hop MTU
 *   or
 *   IPv6      version 6, class 0, flow 0, payload length 8 + LB_ICMP_QUOTE, next header 58,
 *             hop limit 64, source = the VIP, destination = the client
 *   ICMPv6    type 2 code 0, checksum (with the pseudo-header), MTU (32 bits)
 *   quote     the first LB_ICMP_QUOTE bytes of the original IP packet (its header and ports) */
#ifndef XDPKIT_LB_ICMP_H
#define XDPKIT_LB_ICMP_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/consts.h>
#include <xdpkit/csum.h>
#include <xdpkit/packet.h>
#include <xdpkit/lb_encap.h>
#include <xdpkit/lb_maps.h>

/* Bytes of the original packet quoted: an IPv6 header and 24 more, an IPv4 header with up to
 * 44 bytes after it; a packet too big for the link is always longer. A multiple of 4. */
#define LB_ICMP_QUOTE 64
#define LB_TOO_BIG_ICMP 0
#define LB_TOO_BIG_DROP 1
#define LB_ICMP_TTL 64
/* linux/icmp.h drags in libc headers; the two numbers it would give. */
#define LB_ICMP_DEST_UNREACH 3
#define LB_ICMP_FRAG_NEEDED 4

static __always_inline void lb_count_too_big(__u32 what)
{
	__u64 *n = bpf_map_lookup_elem(&lb_too_big, &what);

	if (n)
		*n += 1;
}

/* 64-bit sum of 32-bit words → the 16-bit one's-complement checksum. */
static __always_inline __sum16 lb_csum_finish(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__sum16)~xdpkit_csum_fold32((__u32)sum);
}

/* Makes room for `grow` bytes of new headers in front of the original IP packet (which then
 * starts at ETH_HLEN + grow), trims the frame to the headers and the quote, and writes the
 * Ethernet header back to the sender. Returns the new start of the frame or NULL. */
static __always_inline void *lb_icmp_frame(struct xdp_md *ctx, const __u8 *macs, int grow, __u16 ether_type)
{
	void *data, *end;
	struct ethhdr *eth;
	int len, want = ETH_HLEN + grow + LB_ICMP_QUOTE;

	if (bpf_xdp_adjust_head(ctx, -grow))
		return NULL;
	len = (int)(ctx->data_end - ctx->data);
	if (len < want || bpf_xdp_adjust_tail(ctx, want - len))
		return NULL;
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	if (data + ETH_HLEN + grow + LB_ICMP_QUOTE > end)
		return NULL;
	eth = data;
	__builtin_memcpy(eth->h_dest, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(eth->h_source, macs, ETH_ALEN);
	eth->h_proto = bpf_htons(ether_type);
	return data;
}

static __always_inline int lb_icmp4_too_big(struct xdp_md *ctx, const __u8 *macs, __be32 client, __be32 vip, __u16 mtu)
{
	const int grow = sizeof(struct iphdr) + sizeof(struct xdpkit_icmphdr);
	void *data = lb_icmp_frame(ctx, macs, grow, XDPKIT_ETH_P_IP);
	struct iphdr *ip;
	struct xdpkit_icmphdr *icmp;
	__s64 sum;

	if (!data)
		return -1;
	ip = data + ETH_HLEN;
	icmp = (void *)(ip + 1);
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(grow + LB_ICMP_QUOTE);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = LB_ICMP_TTL;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = vip;
	ip->daddr = client;
	ip->check = lb_ipv4_csum(ip);
	icmp->type = LB_ICMP_DEST_UNREACH;
	icmp->code = LB_ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->id = 0;                 /* unused */
	icmp->sequence = bpf_htons(mtu); /* next-hop MTU */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp, sizeof(*icmp) + LB_ICMP_QUOTE, 0);
	if (sum < 0)
		return -1;
	icmp->checksum = lb_csum_finish((__u32)sum);
	return 0;
}

static __always_inline int lb_icmp6_too_big(struct xdp_md *ctx, const __u8 *macs, const union xdpkit_addr *client, const union xdpkit_addr *vip, __u32 mtu)
{
	const int grow = sizeof(struct ipv6hdr) + sizeof(struct icmp6hdr);
	void *data = lb_icmp_frame(ctx, macs, grow, XDPKIT_ETH_P_IPV6);
	struct ipv6hdr *ip6;
	struct icmp6hdr *icmp6;
	__s64 sum;
	__u64 total;

	if (!data)
		return -1;
	ip6 = data + ETH_HLEN;
	icmp6 = (void *)(ip6 + 1);
	ip6->version = 6;
	ip6->priority = 0;
	ip6->flow_lbl[0] = 0;
	ip6->flow_lbl[1] = 0;
	ip6->flow_lbl[2] = 0;
	ip6->payload_len = bpf_htons(sizeof(*icmp6) + LB_ICMP_QUOTE);
	ip6->nexthdr = IPPROTO_ICMPV6;
	ip6->hop_limit = LB_ICMP_TTL;
	__builtin_memcpy(&ip6->saddr, vip, sizeof(ip6->saddr));
	__builtin_memcpy(&ip6->daddr, client, sizeof(ip6->daddr));
	icmp6->icmp6_type = ICMPV6_PKT_TOOBIG;
	icmp6->icmp6_code = 0;
	icmp6->icmp6_cksum = 0;
	icmp6->icmp6_mtu = bpf_htonl(mtu);
	/* Pseudo-header: both addresses, the upper-layer length and the next header (32 bits each). */
	sum = bpf_csum_diff(NULL, 0, (__be32 *)&ip6->saddr, 2 * sizeof(ip6->saddr), 0);
	if (sum < 0)
		return -1;
	total = (__u32)sum + (__u64)bpf_htonl(sizeof(*icmp6) + LB_ICMP_QUOTE) + (__u64)bpf_htonl(IPPROTO_ICMPV6);
	sum = bpf_csum_diff(NULL, 0, (__be32 *)icmp6, sizeof(*icmp6) + LB_ICMP_QUOTE, 0);
	if (sum < 0)
		return -1;
	icmp6->icmp6_cksum = lb_csum_finish(total + (__u32)sum);
	return 0;
}

/* -1: the encapsulated packet fits the egress device (or its MTU is unknown): go on. Otherwise
 * the verdict for a packet that does not fit: XDP_TX with the ICMP message in the frame, or
 * XDP_DROP. `pkt` is stale afterwards. */
static __always_inline int lb_check_mtu(struct xdp_md *ctx, const struct xdpkit_pkt *pkt, const struct lb_backend *b)
{
	__u32 zero = 0, *egress = bpf_map_lookup_elem(&lb_egress, &zero);
	__u32 outer_hdr = b->family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);
	__u32 inner_len, mtu;
	__u8 macs[2 * ETH_ALEN];
	union xdpkit_addr client, vip;

	if (pkt->l3_proto == XDPKIT_ETH_P_IP)
		inner_len = bpf_ntohs(pkt->ip4->tot_len);
	else
		inner_len = bpf_ntohs(pkt->ip6->payload_len) + sizeof(struct ipv6hdr);
	mtu = inner_len + outer_hdr;
	/* ifindex 0: the device the frame came in on, which XDP_TX sends it out of. */
	if (bpf_check_mtu(ctx, egress ? *egress : 0, &mtu, 0, 0) != BPF_MTU_CHK_RET_FRAG_NEEDED)
		return -1;
	/* The message is built for untagged frames only. */
	if (mtu <= outer_hdr || pkt->vlan_depth)
		goto drop;
	__builtin_memcpy(macs, pkt->eth, sizeof(macs));
	__builtin_memcpy(&client, &pkt->src, sizeof(client));
	__builtin_memcpy(&vip, &pkt->dst, sizeof(vip));
	if (pkt->l3_proto == XDPKIT_ETH_P_IP) {
		if (!(pkt->ip4->frag_off & bpf_htons(XDPKIT_IP_DF)))
			goto drop;
		if (lb_icmp4_too_big(ctx, macs, client.v4, vip.v4, mtu - outer_hdr))
			goto drop;
	} else if (lb_icmp6_too_big(ctx, macs, &client, &vip, mtu - outer_hdr)) {
		goto drop;
	}
	lb_count_too_big(LB_TOO_BIG_ICMP);
	return XDP_TX;
drop:
	lb_count_too_big(LB_TOO_BIG_DROP);
	return XDP_DROP;
}

#endif
