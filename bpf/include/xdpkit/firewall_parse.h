/* The firewall's packet parser: exactly the semantics of packetFacts() in
 * src/firewall/reference.ts, which differ from xdpkit_parse_packet on purpose:
 *   - up to two VLAN tags; a truncated tag, a third tag or another EtherType is "not IP";
 *   - IPv4: < 20 bytes, version != 4, IHL < 5 or options not present → malformed;
 *   - IPv6: < 40 bytes or version != 6 → malformed; hop-by-hop (0), routing (43), destination
 *     options (60) and fragment (44) headers are walked, at most FW_MAX_IPV6_EXT; one not wholly
 *     present, or a ninth → malformed. AH and anything else is the protocol. A non-first
 *     fragment ends the walk with the fragment header's next header as the protocol;
 *   - an unfragmented packet or first fragment of TCP/UDP/ICMP/ICMPv6 (by number, any family)
 *     with fewer than 20/8/4/4 bytes after the IP headers → malformed.
 * The cursor helpers of parsing.h are reused for Ethernet and the fixed IP headers. */
#ifndef XDPKIT_FIREWALL_PARSE_H
#define XDPKIT_FIREWALL_PARSE_H

#include <xdpkit/parsing.h>
#include <xdpkit/firewall_consts.h>

#define FW_PARSE_NON_IP 0
#define FW_PARSE_MALFORMED 1
#define FW_PARSE_IP 2

struct fw_facts {
	__u8 src[16];
	__u8 dst[16];
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 has_ports; /* TCP/UDP carrying its header */
	__u8 has_flags; /* TCP carrying its header */
	__u8 tcp_flags;
	__u8 pad;
	__u16 sport; /* host order */
	__u16 dport;
};

#define FW_EXT_OFF_MASK 0x7fff

static __always_inline int fw_is_walked_ext(__u8 nh)
{
	return nh == XDPKIT_NEXTHDR_HOP || nh == XDPKIT_NEXTHDR_ROUTING || nh == XDPKIT_NEXTHDR_DEST ||
	       nh == XDPKIT_NEXTHDR_FRAGMENT;
}

/* Returns FW_PARSE_*; fills *f for FW_PARSE_IP. */
static __always_inline int fw_parse(struct xdp_md *ctx, struct fw_facts *f)
{
	struct hdr_cursor c;
	struct ethhdr *eth;
	__u16 proto;
	void *l4;
	int later = 0;

	xdpkit_cursor_init(&c, ctx);
	if (xdpkit_parse_ethhdr(&c, &eth, &proto) != XDPKIT_PARSE_OK)
		return FW_PARSE_NON_IP;
#pragma unroll
	for (int i = 0; i < 2; i++) {
		struct xdpkit_vlan_hdr *vh = c.pos;

		if (!xdpkit_is_vlan_proto(proto))
			break;
		if ((void *)(vh + 1) > c.end)
			return FW_PARSE_NON_IP;
		proto = bpf_ntohs(vh->encap_proto);
		c.pos = vh + 1;
	}

	if (proto == XDPKIT_ETH_P_IP) {
		struct iphdr *iph;
		__u16 fo;

		if (xdpkit_parse_iphdr(&c, &iph) != XDPKIT_PARSE_OK)
			return FW_PARSE_MALFORMED;
		f->family = 4;
		f->proto = iph->protocol;
		__builtin_memcpy(f->src, &iph->saddr, 4);
		__builtin_memcpy(f->dst, &iph->daddr, 4);
		fo = bpf_ntohs(iph->frag_off);
		later = (fo & XDPKIT_IP_OFFSET) != 0;
		l4 = c.pos;
	} else if (proto == XDPKIT_ETH_P_IPV6) {
		struct ipv6hdr *ip6h;
		void *base;
		__u32 off = 0;
		__u8 nh;
		int done = 0;

		if (xdpkit_parse_ipv6hdr(&c, &ip6h) != XDPKIT_PARSE_OK)
			return FW_PARSE_MALFORMED;
		f->family = 6;
		__builtin_memcpy(f->src, &ip6h->saddr, 16);
		__builtin_memcpy(f->dst, &ip6h->daddr, 16);
		nh = ip6h->nexthdr;
		base = c.pos;
#pragma unroll
		for (int i = 0; i < FW_MAX_IPV6_EXT; i++) {
			__u8 *pos;

			if (!fw_is_walked_ext(nh)) {
				done = 1;
				break;
			}
			barrier_var(off);
			off &= FW_EXT_OFF_MASK;
			pos = base + off;
			if ((void *)(pos + 8) > c.end)
				return FW_PARSE_MALFORMED;
			if (nh == XDPKIT_NEXTHDR_FRAGMENT) {
				__u16 fo = ((__u16)pos[2] << 8) | pos[3];

				nh = pos[0];
				off += 8;
				if ((fo & 0xfff8) != 0) {
					later = 1;
					done = 1;
					break;
				}
			} else {
				__u32 hl = ((__u32)pos[1] + 1) * 8;

				if ((void *)(pos + hl) > c.end)
					return FW_PARSE_MALFORMED;
				nh = pos[0];
				off += hl;
			}
		}
		if (!done && fw_is_walked_ext(nh))
			return FW_PARSE_MALFORMED;
		f->proto = nh;
		barrier_var(off);
		off &= FW_EXT_OFF_MASK;
		l4 = base + off;
	} else {
		return FW_PARSE_NON_IP;
	}

	f->has_ports = 0;
	f->has_flags = 0;
	if (later)
		return FW_PARSE_IP;
	switch (f->proto) {
	case IPPROTO_TCP: {
		__u8 *t = l4;

		if ((void *)(t + 20) > c.end)
			return FW_PARSE_MALFORMED;
		f->sport = ((__u16)t[0] << 8) | t[1];
		f->dport = ((__u16)t[2] << 8) | t[3];
		f->tcp_flags = t[13];
		f->has_ports = 1;
		f->has_flags = 1;
		break;
	}
	case IPPROTO_UDP: {
		__u8 *u = l4;

		if ((void *)(u + 8) > c.end)
			return FW_PARSE_MALFORMED;
		f->sport = ((__u16)u[0] << 8) | u[1];
		f->dport = ((__u16)u[2] << 8) | u[3];
		f->has_ports = 1;
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (l4 + 4 > c.end)
			return FW_PARSE_MALFORMED;
		break;
	}
	return FW_PARSE_IP;
}

#endif
