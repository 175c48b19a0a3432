/* Bounds-checked header parsing for XDP programs.
 *
 * A parser reads through a cursor that holds the next unread byte and the end of the packet.
 * Every helper checks that the whole header lies before the end before it reads a byte of it,
 * advances the cursor past the header only on success, and returns a status:
 *
 *   XDPKIT_PARSE_OK           the header is there and sane
 *   XDPKIT_PARSE_TRUNCATED    the packet ends inside the header
 *   XDPKIT_PARSE_INVALID      a field is impossible (IPv4 IHL < 5, TCP data offset < 5, wrong
 *                             IP version)
 *   XDPKIT_PARSE_UNSUPPORTED  the parser's limits were reached (more VLAN tags or IPv6
 *                             extension headers than XDPKIT_MAX_*)
 *
 * Programs normally use xdpkit_parse_packet() (packet.h), which runs all of these in order;
 * the single-header helpers are for programs that need only part of it. */
#ifndef XDPKIT_PARSING_H
#define XDPKIT_PARSING_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmpv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/consts.h>

enum xdpkit_parse_status {
	XDPKIT_PARSE_OK = 0,
	XDPKIT_PARSE_TRUNCATED = -1,
	XDPKIT_PARSE_INVALID = -2,
	XDPKIT_PARSE_UNSUPPORTED = -3,
};

/* Next unread byte and end of packet. Both are packet pointers: keep the cursor on the stack
 * of the XDP function (helpers here are always inlined). */
struct hdr_cursor {
	void *pos;
	void *end;
};

/* 802.1Q / 802.1ad tag as it follows the MAC addresses (not in the UAPI headers). */
struct xdpkit_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* ICMP header (linux/icmp.h pulls in libc's sys/socket.h, which does not build for BPF). */
struct xdpkit_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 id;       /* echo request/reply */
	__be16 sequence; /* echo request/reply */
};

/* IPv6 fragment extension header (net/ipv6.h's struct frag_hdr, not UAPI). */
struct xdpkit_ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

/* What the IP layer says about fragmentation. A datagram that is not fragmented has
 * is_fragment = 0; IPv6 "atomic fragments" (fragment header, offset 0, M = 0) count as not
 * fragmented, as RFC 6946 asks. */
struct xdpkit_frag_info {
	__u8 is_fragment;
	__u8 is_first; /* fragment offset 0: the upper-layer header is in this fragment */
};

static __always_inline void xdpkit_cursor_init(struct hdr_cursor *c, struct xdp_md *ctx)
{
	c->pos = (void *)(long)ctx->data;
	c->end = (void *)(long)ctx->data_end;
}

/* Ethernet. *proto is the EtherType in host order (an 802.3 length when < 0x0600). */
static __always_inline int xdpkit_parse_ethhdr(struct hdr_cursor *c, struct ethhdr **ethp, __u16 *proto)
{
	struct ethhdr *eth = c->pos;

	if ((void *)(eth + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos = eth + 1;
	*ethp = eth;
	*proto = bpf_ntohs(eth->h_proto);
	return XDPKIT_PARSE_OK;
}

static __always_inline int xdpkit_is_vlan_proto(__u16 proto)
{
	return proto == XDPKIT_ETH_P_8021Q || proto == XDPKIT_ETH_P_8021AD;
}

/* Up to XDPKIT_MAX_VLAN_DEPTH VLAN tags, outermost first. On entry *proto is the EtherType
 * from the Ethernet header; on success it is the EtherType after the last tag. tci[] receives
 * each tag's TCI (host order) and *depth the number of tags. */
static __always_inline int xdpkit_parse_vlans(struct hdr_cursor *c, __u16 *proto,
					      __u16 tci[XDPKIT_MAX_VLAN_DEPTH], __u8 *depth)
{
	__u8 n = 0;

#pragma unroll
	for (int i = 0; i < XDPKIT_MAX_VLAN_DEPTH; i++) {
		struct xdpkit_vlan_hdr *vh = c->pos;

		if (!xdpkit_is_vlan_proto(*proto))
			break;
		if ((void *)(vh + 1) > c->end)
			return XDPKIT_PARSE_TRUNCATED;
		c->pos = vh + 1;
		tci[i] = bpf_ntohs(vh->tci);
		*proto = bpf_ntohs(vh->encap_proto);
		n++;
	}
	*depth = n;
	if (xdpkit_is_vlan_proto(*proto))
		return XDPKIT_PARSE_UNSUPPORTED;
	return XDPKIT_PARSE_OK;
}

/* IPv4 header including options: rejects version != 4 and IHL < 5, and needs all IHL * 4
 * bytes present. The cursor moves past the options. */
static __always_inline int xdpkit_parse_iphdr(struct hdr_cursor *c, struct iphdr **iphp)
{
	struct iphdr *iph = c->pos;
	__u32 hdrsize;

	if ((void *)(iph + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	if (iph->version != 4 || iph->ihl < 5)
		return XDPKIT_PARSE_INVALID;
	hdrsize = iph->ihl * 4;
	if (c->pos + hdrsize > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos += hdrsize;
	*iphp = iph;
	return XDPKIT_PARSE_OK;
}

static __always_inline void xdpkit_ipv4_frag_info(const struct iphdr *iph, struct xdpkit_frag_info *frag)
{
	__u16 frag_off = bpf_ntohs(iph->frag_off);

	frag->is_fragment = (frag_off & (XDPKIT_IP_MF | XDPKIT_IP_OFFSET)) != 0;
	frag->is_first = frag->is_fragment && (frag_off & XDPKIT_IP_OFFSET) == 0;
}

/* Fixed IPv6 header (extension headers: xdpkit_parse_ipv6_ext). */
static __always_inline int xdpkit_parse_ipv6hdr(struct hdr_cursor *c, struct ipv6hdr **ip6hp)
{
	struct ipv6hdr *ip6h = c->pos;

	if ((void *)(ip6h + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	if (ip6h->version != 6)
		return XDPKIT_PARSE_INVALID;
	c->pos = ip6h + 1;
	*ip6hp = ip6h;
	return XDPKIT_PARSE_OK;
}

static __always_inline int xdpkit_is_ipv6_ext(__u8 nexthdr)
{
	return nexthdr == XDPKIT_NEXTHDR_HOP || nexthdr == XDPKIT_NEXTHDR_ROUTING ||
	       nexthdr == XDPKIT_NEXTHDR_FRAGMENT || nexthdr == XDPKIT_NEXTHDR_AUTH ||
	       nexthdr == XDPKIT_NEXTHDR_DEST;
}

/* Walks IPv6 extension headers (hop-by-hop, routing, destination options, fragment, AH), at
 * most XDPKIT_MAX_IPV6_EXT_HEADERS of them. On entry *nexthdr is the fixed header's next
 * header; on success it is the upper-layer protocol, the cursor points at that header and
 * *ext_len holds the bytes of extension headers walked. A non-first fragment stops the walk
 * right after its fragment header: *nexthdr is then the fragment header's next header and
 * there is no upper-layer header to read. ESP and "no next header" end the walk as
 * upper-layer protocols.
 *
 * Verifier cost: each header is read at base + offset, and the offset goes through an opaque
 * mask (a no-op: a chain of headers is shorter than the mask) before every use. The verifier
 * then sees the same bounded offset whichever kinds of headers came before, and prunes the
 * paths as equal instead of exploring every combination: verification grows linearly with
 * XDPKIT_MAX_IPV6_EXT_HEADERS instead of exponentially (reflect: 151k instructions processed
 * with plain pointer advances, 31k with this). */
#define XDPKIT_IPV6_EXT_OFF_MASK 0x7fff
_Static_assert(XDPKIT_MAX_IPV6_EXT_HEADERS * 2048 <= XDPKIT_IPV6_EXT_OFF_MASK,
	       "XDPKIT_MAX_IPV6_EXT_HEADERS too large for XDPKIT_IPV6_EXT_OFF_MASK");

static __always_inline int xdpkit_parse_ipv6_ext(struct hdr_cursor *c, __u8 *nexthdr,
						 struct xdpkit_frag_info *frag, __u32 *ext_len)
{
	int ret = XDPKIT_PARSE_UNSUPPORTED;
	void *base = c->pos;
	__u8 nh = *nexthdr;
	__u32 off = 0;

#pragma unroll
	for (int i = 0; i < XDPKIT_MAX_IPV6_EXT_HEADERS; i++) {
		void *pos;

		if (!xdpkit_is_ipv6_ext(nh)) {
			ret = XDPKIT_PARSE_OK;
			break;
		}
		barrier_var(off);
		off &= XDPKIT_IPV6_EXT_OFF_MASK;
		pos = base + off;

		if (nh == XDPKIT_NEXTHDR_FRAGMENT) {
			struct xdpkit_ipv6_frag_hdr *fh = pos;
			__u16 frag_off;

			if ((void *)(fh + 1) > c->end) {
				ret = XDPKIT_PARSE_TRUNCATED;
				break;
			}
			off += sizeof(*fh);
			nh = fh->nexthdr;
			frag_off = bpf_ntohs(fh->frag_off);
			frag->is_fragment = (frag_off & (XDPKIT_IP6_MF | XDPKIT_IP6_OFFSET)) != 0;
			frag->is_first = frag->is_fragment && (frag_off & XDPKIT_IP6_OFFSET) == 0;
			if (frag->is_fragment && !frag->is_first) {
				ret = XDPKIT_PARSE_OK;
				break;
			}
			continue;
		}

		/* Hop-by-hop, routing, destination options: length in 8-octet units, not counting
		 * the first 8. AH: length in 4-octet units, not counting the first 2. */
		struct ipv6_opt_hdr *oh = pos;
		__u32 len;

		if ((void *)(oh + 1) > c->end) {
			ret = XDPKIT_PARSE_TRUNCATED;
			break;
		}
		if (nh == XDPKIT_NEXTHDR_AUTH)
			len = ((__u32)oh->hdrlen + 2) * 4;
		else
			len = ((__u32)oh->hdrlen + 1) * 8;
		if (pos + len > c->end) {
			ret = XDPKIT_PARSE_TRUNCATED;
			break;
		}
		nh = oh->nexthdr;
		off += len;
	}
	/* All XDPKIT_MAX_IPV6_EXT_HEADERS walked: fine if an upper-layer header comes next. */
	if (ret == XDPKIT_PARSE_UNSUPPORTED && !xdpkit_is_ipv6_ext(nh))
		ret = XDPKIT_PARSE_OK;

	*nexthdr = nh;
	barrier_var(off);
	off &= XDPKIT_IPV6_EXT_OFF_MASK;
	*ext_len = off;
	if (ret == XDPKIT_PARSE_OK)
		c->pos = base + off;
	return ret;
}

/* TCP header including options: rejects a data offset < 5, needs doff * 4 bytes present. */
static __always_inline int xdpkit_parse_tcphdr(struct hdr_cursor *c, struct tcphdr **tcphp)
{
	struct tcphdr *tcph = c->pos;
	__u32 hdrsize;

	if ((void *)(tcph + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	if (tcph->doff < 5)
		return XDPKIT_PARSE_INVALID;
	hdrsize = tcph->doff * 4;
	if (c->pos + hdrsize > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos += hdrsize;
	*tcphp = tcph;
	return XDPKIT_PARSE_OK;
}

static __always_inline int xdpkit_parse_udphdr(struct hdr_cursor *c, struct udphdr **udphp)
{
	struct udphdr *udph = c->pos;

	if ((void *)(udph + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos = udph + 1;
	*udphp = udph;
	return XDPKIT_PARSE_OK;
}

/* ICMP: the 8-byte header (type, code, checksum, rest of header). */
static __always_inline int xdpkit_parse_icmphdr(struct hdr_cursor *c, struct xdpkit_icmphdr **icmphp)
{
	struct xdpkit_icmphdr *icmph = c->pos;

	if ((void *)(icmph + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos = icmph + 1;
	*icmphp = icmph;
	return XDPKIT_PARSE_OK;
}

/* ICMPv6: the 8-byte header (type, code, checksum, rest of header). */
static __always_inline int xdpkit_parse_icmp6hdr(struct hdr_cursor *c, struct icmp6hdr **icmp6hp)
{
	struct icmp6hdr *icmp6h = c->pos;

	if ((void *)(icmp6h + 1) > c->end)
		return XDPKIT_PARSE_TRUNCATED;
	c->pos = icmp6h + 1;
	*icmp6hp = icmp6h;
	return XDPKIT_PARSE_OK;
}

#endif
