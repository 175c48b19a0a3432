/* reflect: answers packets back out of the interface they came in on (XDP_TX).
 *
 * TCP and UDP: Ethernet addresses, IP addresses and ports are swapped. The checksums stay
 *   valid: the pseudo-header and header sums are commutative.
 * ICMP echo request → echo reply, ICMPv6 echo request (128) → echo reply (129): addresses
 *   swapped, the type rewritten with an incremental checksum update, so ping gets a valid
 *   answer.
 * Everything else passes: non-IP, other ICMP types, other protocols, fragments, packets sent
 * to a group (multicast/broadcast) MAC address (their reflection would carry a group source
 * address), and packets the parser rejects. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/csum.h>
#include <xdpkit/packet.h>
#include <xdpkit/stats.h>

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];

	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline void swap_ips(struct xdpkit_pkt *pkt)
{
	if (pkt->l3_proto == XDPKIT_ETH_P_IP) {
		pkt->ip4->saddr = pkt->dst.v4;
		pkt->ip4->daddr = pkt->src.v4;
	} else {
		__builtin_memcpy(&pkt->ip6->saddr, &pkt->dst.in6, sizeof(struct in6_addr));
		__builtin_memcpy(&pkt->ip6->daddr, &pkt->src.in6, sizeof(struct in6_addr));
	}
}

/* Turns an echo request into an echo reply; 0 when the packet is not an echo request. */
static __always_inline int echo_to_reply(struct xdpkit_pkt *pkt)
{
	__be16 old_word, new_word;

	if (pkt->l4_proto == IPPROTO_ICMP && pkt->icmp_type == XDPKIT_ICMP_ECHO_REQUEST) {
		struct xdpkit_icmphdr *icmph = pkt->icmp;

		old_word = *(__be16 *)icmph;
		icmph->type = XDPKIT_ICMP_ECHO_REPLY;
		new_word = *(__be16 *)icmph;
		xdpkit_csum_replace2(&icmph->checksum, old_word, new_word);
		return 1;
	}
	if (pkt->l4_proto == IPPROTO_ICMPV6 && pkt->icmp_type == XDPKIT_ICMPV6_ECHO_REQUEST) {
		struct icmp6hdr *icmp6h = pkt->icmp6;

		old_word = *(__be16 *)icmp6h;
		icmp6h->icmp6_type = XDPKIT_ICMPV6_ECHO_REPLY;
		new_word = *(__be16 *)icmp6h;
		xdpkit_csum_replace2(&icmp6h->icmp6_cksum, old_word, new_word);
		return 1;
	}
	return 0;
}

SEC("xdp")
int xdp_reflect(struct xdp_md *ctx)
{
	struct xdpkit_pkt pkt;

	if (xdpkit_parse_packet(ctx, &pkt) != XDPKIT_PARSE_OK)
		return xdpkit_count(ctx, XDP_PASS);
	if (!xdpkit_pkt_is_ip(&pkt) || !pkt.has_l4 || pkt.is_fragment)
		return xdpkit_count(ctx, XDP_PASS);
	if (xdpkit_eth_dst_is_group(pkt.eth))
		return xdpkit_count(ctx, XDP_PASS);

	if (pkt.l4_proto == IPPROTO_TCP) {
		pkt.tcp->source = pkt.dst_port;
		pkt.tcp->dest = pkt.src_port;
	} else if (pkt.l4_proto == IPPROTO_UDP) {
		pkt.udp->source = pkt.dst_port;
		pkt.udp->dest = pkt.src_port;
	} else if (!echo_to_reply(&pkt)) {
		return xdpkit_count(ctx, XDP_PASS);
	}
	swap_ips(&pkt);
	swap_macs(pkt.eth);
	return xdpkit_count(ctx, XDP_TX);
}

char LICENSE[] SEC("license") = "GPL";
