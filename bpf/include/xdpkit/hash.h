/* Flow hashing: a small MurmurHash3-style mixer and a symmetric 5-tuple hash, so both
 * directions of a connection get the same value (and so the same CPU or backend). */
#ifndef XDPKIT_HASH_H
#define XDPKIT_HASH_H

#include <xdpkit/packet.h>

static __always_inline __u32 xdpkit_rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> (32 - shift));
}

/* Mixes one 32-bit word into the running hash h. */
static __always_inline __u32 xdpkit_hash_mix(__u32 h, __u32 k)
{
	k *= 0xcc9e2d51;
	k = xdpkit_rol32(k, 15);
	k *= 0x1b873593;
	h ^= k;
	h = xdpkit_rol32(h, 13);
	return h * 5 + 0xe6546b64;
}

/* Final avalanche: every input bit affects every output bit. */
static __always_inline __u32 xdpkit_hash_final(__u32 h)
{
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static __always_inline __u32 xdpkit_hash_endpoint(__u32 seed, const union xdpkit_addr *addr, __be16 port)
{
	__u32 h = seed;

	h = xdpkit_hash_mix(h, addr->v6[0]);
	h = xdpkit_hash_mix(h, addr->v6[1]);
	h = xdpkit_hash_mix(h, addr->v6[2]);
	h = xdpkit_hash_mix(h, addr->v6[3]);
	return xdpkit_hash_mix(h, port);
}

/* Symmetric hash over addresses, upper-layer protocol and ports. Fragments (first or not) hash
 * without ports, so every fragment of a datagram gets the same value. Non-IP packets hash to
 * the same value for a given seed. */
static __always_inline __u32 xdpkit_flow_hash(const struct xdpkit_pkt *pkt, __u32 seed)
{
	__be16 sport = pkt->is_fragment ? 0 : pkt->src_port;
	__be16 dport = pkt->is_fragment ? 0 : pkt->dst_port;
	__u32 a = xdpkit_hash_endpoint(seed, &pkt->src, sport);
	__u32 b = xdpkit_hash_endpoint(seed, &pkt->dst, dport);
	__u32 h = seed ^ 0x9e3779b9;

	h = xdpkit_hash_mix(h, a < b ? a : b);
	h = xdpkit_hash_mix(h, a < b ? b : a);
	h = xdpkit_hash_mix(h, pkt->l4_proto | ((__u32)pkt->l3_proto << 16));
	return xdpkit_hash_final(h);
}

#endif
