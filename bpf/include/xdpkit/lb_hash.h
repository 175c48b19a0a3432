/* The load balancer's flow hash; src/lb/hash.ts (lbFlowHash) is its reference, word for word. */
#ifndef XDPKIT_LB_HASH_H
#define XDPKIT_LB_HASH_H

#include <xdpkit/hash.h>
#include <xdpkit/lb_consts.h>
#include <xdpkit/lb_structs.h>

static __always_inline __u32 lb_flow_hash(const struct lb_flow_key *k, __u8 hash_mode)
{
	__u32 h = LB_HASH_SEED;

	h = xdpkit_hash_mix(h, k->src.v6[0]);
	h = xdpkit_hash_mix(h, k->src.v6[1]);
	h = xdpkit_hash_mix(h, k->src.v6[2]);
	h = xdpkit_hash_mix(h, k->src.v6[3]);
	h = xdpkit_hash_mix(h, k->dst.v6[0]);
	h = xdpkit_hash_mix(h, k->dst.v6[1]);
	h = xdpkit_hash_mix(h, k->dst.v6[2]);
	h = xdpkit_hash_mix(h, k->dst.v6[3]);
	if (hash_mode == LB_HASH_5TUPLE)
		h = xdpkit_hash_mix(h, (__u32)k->src_port | ((__u32)k->dst_port << 16));
	h = xdpkit_hash_mix(h, (__u32)k->proto | ((__u32)k->family << 8));
	return xdpkit_hash_final(h);
}

#endif
