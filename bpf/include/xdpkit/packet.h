/* One call that parses a whole packet into struct xdpkit_pkt, so programs stay small:
 *
 *	struct xdpkit_pkt pkt;
 *	if (xdpkit_parse_packet(ctx, &pkt) != XDPKIT_PARSE_OK)
 *		return xdpkit_count(ctx, XDP_PASS);   // truncated or malformed: let the stack decide
 *
 * Layers: Ethernet, up to XDPKIT_MAX_VLAN_DEPTH VLAN tags, IPv4 (with options) or IPv6 (with
 * up to XDPKIT_MAX_IPV6_EXT_HEADERS extension headers), then TCP, UDP, ICMP or ICMPv6.
 * A packet that is not IP (ARP, …) parses OK with l3_proto set and nothing above it; an IP
 * packet with another upper-layer protocol (GRE, SCTP, ESP, …) parses OK with has_l4 = 0. */
#ifndef XDPKIT_PACKET_H
#define XDPKIT_PACKET_H

#include <linux/in6.h>
#include <xdpkit/parsing.h>

union xdpkit_addr {
	__be32 v4;    /* IPv4: the address; the other 12 bytes are zero */
	__be32 v6[4]; /* IPv6, as four network-order words */
	struct in6_addr in6;
};

struct xdpkit_pkt {
	/* Header pointers, bounds-checked for their fixed part; NULL when absent. Decide by
	 * l3_proto / l4_proto / has_l4 which one is set (see xdpkit_pkt_is_ip). */
	struct ethhdr *eth;
	struct iphdr *ip4;    /* l3_proto == ETH_P_IP */
	struct ipv6hdr *ip6;  /* l3_proto == ETH_P_IPV6 */
	union {               /* has_l4: the header named by l4_proto */
		void *l4;
		struct tcphdr *tcp;
		struct udphdr *udp;
		struct xdpkit_icmphdr *icmp;
		struct icmp6hdr *icmp6;
	};

	union xdpkit_addr src; /* IP source address (IPv4 or IPv6) */
	union xdpkit_addr dst; /* IP destination address */
	__be16 src_port;       /* TCP/UDP ports, network order; 0 when there are none */
	__be16 dst_port;

	__u16 l3_proto; /* EtherType after the VLAN tags, host order */
	__u16 l3_off;   /* offset of the IP header from the start of the packet */
	__u16 l4_off;   /* offset of the upper-layer header (after IPv4 options / IPv6 ext.) */
	__u16 vlan_tci[XDPKIT_MAX_VLAN_DEPTH]; /* host order, outermost first */
	__u8 vlan_depth;
	__u8 l4_proto;          /* IPPROTO_*: the upper-layer protocol, also for fragments */
	__u8 is_fragment;       /* part of a fragmented datagram */
	__u8 is_first_fragment; /* is_fragment and offset 0 */
	__u8 has_l4;            /* the TCP/UDP/ICMP/ICMPv6 header was parsed (not a later fragment) */
	__u8 icmp_type;         /* ICMP/ICMPv6 type and code when has_l4 */
	__u8 icmp_code;
};

/* Parses the upper-layer header at the cursor (IPv4 and IPv6 alike). */
static __always_inline int xdpkit_parse_l4(struct hdr_cursor *c, struct xdpkit_pkt *pkt)
{
	int ret;

	switch (pkt->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcph;

		ret = xdpkit_parse_tcphdr(c, &tcph);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->tcp = tcph;
		pkt->src_port = tcph->source;
		pkt->dst_port = tcph->dest;
		break;
	}
	case IPPROTO_UDP: {
		struct udphdr *udph;

		ret = xdpkit_parse_udphdr(c, &udph);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->udp = udph;
		pkt->src_port = udph->source;
		pkt->dst_port = udph->dest;
		break;
	}
	case IPPROTO_ICMP: {
		struct xdpkit_icmphdr *icmph;

		if (pkt->l3_proto != XDPKIT_ETH_P_IP)
			return XDPKIT_PARSE_OK;
		ret = xdpkit_parse_icmphdr(c, &icmph);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->icmp = icmph;
		pkt->icmp_type = icmph->type;
		pkt->icmp_code = icmph->code;
		break;
	}
	case IPPROTO_ICMPV6: {
		struct icmp6hdr *icmp6h;

		if (pkt->l3_proto != XDPKIT_ETH_P_IPV6)
			return XDPKIT_PARSE_OK;
		ret = xdpkit_parse_icmp6hdr(c, &icmp6h);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->icmp6 = icmp6h;
		pkt->icmp_type = icmp6h->icmp6_type;
		pkt->icmp_code = icmp6h->icmp6_code;
		break;
	}
	default:
		return XDPKIT_PARSE_OK;
	}
	pkt->has_l4 = 1;
	return XDPKIT_PARSE_OK;
}

/* Parses the packet in ctx into *pkt (zeroed first). Returns XDPKIT_PARSE_OK or the first
 * problem met; on a problem, the fields of the layers parsed so far are filled in. */
static __always_inline int xdpkit_parse_packet(struct xdp_md *ctx, struct xdpkit_pkt *pkt)
{
	struct xdpkit_frag_info frag = {};
	struct hdr_cursor c;
	__u16 proto;
	int ret;

	__builtin_memset(pkt, 0, sizeof(*pkt));
	xdpkit_cursor_init(&c, ctx);

	ret = xdpkit_parse_ethhdr(&c, &pkt->eth, &proto);
	if (ret != XDPKIT_PARSE_OK)
		return ret;
	ret = xdpkit_parse_vlans(&c, &proto, pkt->vlan_tci, &pkt->vlan_depth);
	pkt->l3_proto = proto;
	if (ret != XDPKIT_PARSE_OK)
		return ret;
	/* Offsets are summed from header sizes: subtracting packet pointers would need
	 * CAP_PERFMON (pointer arithmetic leaks) in the loader. */
	pkt->l3_off = sizeof(struct ethhdr) + pkt->vlan_depth * sizeof(struct xdpkit_vlan_hdr);

	if (proto == XDPKIT_ETH_P_IP) {
		struct iphdr *iph;

		ret = xdpkit_parse_iphdr(&c, &iph);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->ip4 = iph;
		pkt->src.v4 = iph->saddr;
		pkt->dst.v4 = iph->daddr;
		pkt->l4_proto = iph->protocol;
		pkt->l4_off = pkt->l3_off + iph->ihl * 4;
		xdpkit_ipv4_frag_info(iph, &frag);
	} else if (proto == XDPKIT_ETH_P_IPV6) {
		struct ipv6hdr *ip6h;
		__u32 ext_len;
		__u8 nexthdr;

		ret = xdpkit_parse_ipv6hdr(&c, &ip6h);
		if (ret != XDPKIT_PARSE_OK)
			return ret;
		pkt->ip6 = ip6h;
		__builtin_memcpy(&pkt->src.in6, &ip6h->saddr, sizeof(pkt->src.in6));
		__builtin_memcpy(&pkt->dst.in6, &ip6h->daddr, sizeof(pkt->dst.in6));
		nexthdr = ip6h->nexthdr;
		ret = xdpkit_parse_ipv6_ext(&c, &nexthdr, &frag, &ext_len);
		pkt->l4_proto = nexthdr;
		pkt->l4_off = pkt->l3_off + sizeof(*ip6h) + ext_len;
		if (ret != XDPKIT_PARSE_OK)
			return ret;
	} else {
		return XDPKIT_PARSE_OK;
	}

	pkt->is_fragment = frag.is_fragment;
	pkt->is_first_fragment = frag.is_first;
	if (frag.is_fragment && !frag.is_first)
		return XDPKIT_PARSE_OK;
	return xdpkit_parse_l4(&c, pkt);
}

/* IPv4 or IPv6. Test l3_proto rather than the header pointers: clang may merge
 * `!pkt->ip4 && !pkt->ip6` into a bitwise OR of pointers, which the verifier rejects. */
/* The common case without the general parser: an untagged IPv4 packet without options that is
 * not a fragment, with at least a UDP header's 8 bytes after the IP header (TCP callers check
 * the rest). Returns the IP header, its first 28 bytes bounds-checked at once, or NULL for
 * anything else, which takes xdpkit_parse_packet. Skips the VLAN, IPv6 and protocol dispatch. */
static __always_inline struct iphdr *xdpkit_plain_ipv4(struct xdp_md *ctx)
{
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = (void *)(long)ctx->data;
	struct iphdr *iph = (void *)(eth + 1);

	if ((void *)(iph + 1) + sizeof(struct udphdr) > end || eth->h_proto != bpf_htons(XDPKIT_ETH_P_IP))
		return NULL;
	/* Version 4 and IHL 5 in one byte; then neither MF nor an offset. */
	if (*(__u8 *)iph != 0x45 || (iph->frag_off & bpf_htons(XDPKIT_IP_MF | XDPKIT_IP_OFFSET)))
		return NULL;
	return iph;
}

static __always_inline int xdpkit_pkt_is_ip(const struct xdpkit_pkt *pkt)
{
	return pkt->l3_proto == XDPKIT_ETH_P_IP || pkt->l3_proto == XDPKIT_ETH_P_IPV6;
}

/* The destination MAC is a group (multicast or broadcast) address. */
static __always_inline int xdpkit_eth_dst_is_group(const struct ethhdr *eth)
{
	return eth->h_dest[0] & 1;
}

#endif
