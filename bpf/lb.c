/* lb: XDP L4 load balancer (dsr-l2 and ipip).
 *
 * A TCP/UDP packet of an established flow goes to the backend its lb_conntrack entry names, as
 * long as that backend is still in use and up (same cookie). Any other packet to a VIP:port/proto
 * in lb_services (exact port, then port 0 = all ports) goes to the Maglev slot
 * lb_ring[ring_off + hash % ring_size] of the live generation (lb_control.active_gen), and its
 * flow is remembered in lb_conntrack. Conntrack comes first because the backend record holds
 * what forwarding needs (its service's id and mode, MAC, address): an established flow costs one
 * hash lookup, not two (BPF_PROG_TEST_RUN here, UDP/IPv4: 106 → 77 ns per packet), and other
 * traffic pays for that lookup before the service lookup (non-VIP: 71 → 95 ns). The mode is the backend's (LB_BACKEND_IPIP, set by the
 * compiler from its service's), so a flow follows a mode change of its service. dsr-l2 rewrites the Ethernet
 * destination to the backend's MAC (source = the old destination, our own); the backend holds the
 * VIP on loopback and answers the client directly.
 * ipip encapsulates the packet in an outer IPv4/IPv6 header toward the backend (lb_encap.h; the
 * backend strips it with lb_decap.c) for the next hop, whose MAC is the backend's lb_backend.mac;
 * VLAN tags stay in front of the outer header; a packet whose encapsulated form would exceed
 * the egress MTU is answered with ICMP "fragmentation needed" / ICMPv6 "packet too big"
 * (lb_icmp.h).
 * Both send the frame with XDP_TX, or redirect it to the device in lb_egress slot 0 when set.
 * Every packet given to a backend is counted per service and per backend (lb_service_stats,
 * lb_backend_stats: packets, bytes as received, new flows picked through Maglev).
 * Everything else passes untouched; a VIP without a backend for new flows drops. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/packet.h>
#include <xdpkit/stats.h>
#include <xdpkit/lb_consts.h>
#include <xdpkit/lb_structs.h>
#include <xdpkit/lb_maps.h>
#include <xdpkit/lb_hash.h>
#include <xdpkit/lb_encap.h>
#include <xdpkit/lb_icmp.h>

static __always_inline struct lb_service *lb_find_service(const struct xdpkit_pkt *pkt, __u8 family)
{
	struct lb_service_key key = {};
	struct lb_service *svc;

	__builtin_memcpy(&key.vip, &pkt->dst, sizeof(key.vip));
	key.port = pkt->dst_port;
	key.proto = pkt->l4_proto;
	key.family = family;
	svc = bpf_map_lookup_elem(&lb_services, &key);
	if (svc)
		return svc;
	key.port = 0;
	return bpf_map_lookup_elem(&lb_services, &key);
}

static __always_inline struct lb_backend *lb_usable(__u32 id, __u32 cookie)
{
	struct lb_backend *b = bpf_map_lookup_elem(&lb_backends, &id);

	if (!b || !(b->flags & LB_BACKEND_IN_USE) || (b->flags & LB_BACKEND_DOWN) || b->cookie != cookie)
		return NULL;
	return b;
}

static __always_inline void lb_account(void *map, __u32 id, __u64 len, __u64 new_flow)
{
	struct lb_counters *c = bpf_map_lookup_elem(map, &id);

	if (c) {
		c->packets++;
		c->bytes += len;
		c->new_flows += new_flow;
	}
}

/* The common case (xdpkit_plain_ipv4): UDP, or TCP with its whole header present. Fills `pkt`
 * as xdpkit_parse_packet would and returns 0; anything else returns -1 and goes through the
 * general parser (same outcome for every packet, only cheaper for these). */
static __always_inline int lb_parse_plain_ipv4(struct xdp_md *ctx, struct xdpkit_pkt *pkt)
{
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *iph = xdpkit_plain_ipv4(ctx);
	struct udphdr *udph;

	if (!iph)
		return -1;
	udph = (void *)(iph + 1);
	if (iph->protocol == IPPROTO_TCP) {
		struct tcphdr *tcph = (void *)(iph + 1);

		if ((void *)(tcph + 1) > end || tcph->doff < 5 || (void *)tcph + tcph->doff * 4 > end)
			return -1;
	} else if (iph->protocol != IPPROTO_UDP) {
		return -1;
	}
	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->eth = (void *)iph - sizeof(struct ethhdr);
	pkt->ip4 = iph;
	pkt->l4 = udph;
	pkt->src.v4 = iph->saddr;
	pkt->dst.v4 = iph->daddr;
	/* TCP and UDP both start with the two ports. */
	pkt->src_port = udph->source;
	pkt->dst_port = udph->dest;
	pkt->l3_proto = XDPKIT_ETH_P_IP;
	pkt->l3_off = sizeof(struct ethhdr);
	pkt->l4_off = sizeof(struct ethhdr) + sizeof(struct iphdr);
	pkt->l4_proto = iph->protocol;
	pkt->has_l4 = 1;
	return 0;
}

SEC("xdp")
int xdp_lb(struct xdp_md *ctx)
{
	struct lb_control *control = NULL;
	struct lb_backend *b = NULL;
	struct lb_flow_key fk = {};
	struct lb_ct_value *ct;
	struct xdpkit_pkt pkt;
	__u32 zero = 0, id = 0;
	__u64 len = ctx->data_end - ctx->data;
	__u64 new_flow = 0;
	__u8 family, ipip;

	if (lb_parse_plain_ipv4(ctx, &pkt) < 0) {
		if (xdpkit_parse_packet(ctx, &pkt) != XDPKIT_PARSE_OK)
			return xdpkit_count(ctx, XDP_PASS);
		if (!xdpkit_pkt_is_ip(&pkt) || !pkt.has_l4 || pkt.is_fragment)
			return xdpkit_count(ctx, XDP_PASS);
		if (pkt.l4_proto != IPPROTO_TCP && pkt.l4_proto != IPPROTO_UDP)
			return xdpkit_count(ctx, XDP_PASS);
	}
	family = pkt.l3_proto == XDPKIT_ETH_P_IP ? 4 : 6;

	__builtin_memcpy(&fk.src, &pkt.src, sizeof(fk.src));
	__builtin_memcpy(&fk.dst, &pkt.dst, sizeof(fk.dst));
	fk.src_port = pkt.src_port;
	fk.dst_port = pkt.dst_port;
	fk.proto = pkt.l4_proto;
	fk.family = family;

	/* Established flows first: their backend record says everything the packet needs (service
	 * id, mode, MAC, address), so the service lookup is only for new flows and everything else. */
	ct = bpf_map_lookup_elem(&lb_conntrack, &fk);
	if (ct) {
		id = ct->backend_id;
		b = lb_usable(id, ct->cookie);
	}
	if (!b) {
		struct lb_service *svc = lb_find_service(&pkt, family);
		struct lb_service_gen *gen;
		struct lb_ct_value nv;
		__u32 *ring_id, slot;

		if (!svc)
			return xdpkit_count(ctx, XDP_PASS);
		control = bpf_map_lookup_elem(&lb_control, &zero);
		if (!control)
			return xdpkit_count(ctx, XDP_ABORTED);
		gen = &svc->gen[control->active_gen & 1];
		if (!gen->present)
			return xdpkit_count(ctx, XDP_PASS);
		if (gen->ring_size == 0)
			return xdpkit_count(ctx, XDP_DROP);
		slot = gen->ring_off + lb_flow_hash(&fk, gen->hash) % gen->ring_size;
		ring_id = bpf_map_lookup_elem(&lb_ring, &slot);
		if (!ring_id || *ring_id == LB_EMPTY_SLOT)
			return xdpkit_count(ctx, XDP_DROP);
		id = *ring_id;
		b = bpf_map_lookup_elem(&lb_backends, &id);
		if (!b || !(b->flags & LB_BACKEND_IN_USE))
			return xdpkit_count(ctx, XDP_DROP);
		nv.backend_id = id;
		nv.cookie = b->cookie;
		bpf_map_update_elem(&lb_conntrack, &fk, &nv, BPF_ANY);
		new_flow = 1;
	}

	/* Read once: another CPU may rewrite the flags, and both branches below must agree. */
	ipip = b->flags & LB_BACKEND_IPIP;
	if (ipip) {
		int too_big;

		if (!control)
			control = bpf_map_lookup_elem(&lb_control, &zero);
		if (!control)
			return xdpkit_count(ctx, XDP_ABORTED);
		too_big = lb_check_mtu(ctx, &pkt, b);
		if (too_big >= 0)
			return xdpkit_count(ctx, too_big);
	}
	lb_account(&lb_service_stats, b->service_id, len, new_flow);
	lb_account(&lb_backend_stats, id, len, new_flow);

	if (ipip) {
		if (!control || lb_encap(ctx, &pkt, b, control))
			return xdpkit_count(ctx, XDP_DROP);
	} else {
		__builtin_memcpy(pkt.eth->h_source, pkt.eth->h_dest, ETH_ALEN);
		__builtin_memcpy(pkt.eth->h_dest, b->mac, ETH_ALEN);
	}
	/* An empty slot 0 gives XDP_TX (the flags' low bits are the verdict when the lookup fails). */
	return xdpkit_count(ctx, bpf_redirect_map(&lb_egress, 0, XDP_TX));
}

char LICENSE[] SEC("license") = "GPL";
