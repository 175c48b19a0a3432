/* Incremental Internet checksum updates (RFC 1624), for programs that rewrite a header field
 * in place instead of summing the packet again. All values in network byte order. */
#ifndef XDPKIT_CSUM_H
#define XDPKIT_CSUM_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Folds a 32-bit one's-complement sum to 16 bits (carries added back). */
static __always_inline __u16 xdpkit_csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* A 16-bit field covered by *sum changed from `from` to `to`: HC' = ~(~HC + ~m + m'). */
static __always_inline void xdpkit_csum_replace2(__sum16 *sum, __be16 from, __be16 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~from;
	s += to;
	*sum = (__sum16)~xdpkit_csum_fold32(s);
}

/* Same for a 32-bit field. */
static __always_inline void xdpkit_csum_replace4(__sum16 *sum, __be32 from, __be32 to)
{
	__u32 s = (__u16)~*sum;

	s += (__u16)~(from >> 16) + (__u16)~(from & 0xffff);
	s += (to >> 16) + (to & 0xffff);
	*sum = (__sum16)~xdpkit_csum_fold32(s);
}

/* The data *sum covers, read as big-endian 16-bit words, grew by `delta` (host order) in all.
 * Adding n to a big-endian number of any width (a port, an address) adds n modulo 0xffff to the
 * sum of its 16-bit words, since 0x10000 = 1 modulo 0xffff: such an n is a delta here, whatever
 * carries happened inside the number. delta < 0xffff0000. */
static __always_inline void xdpkit_csum_add(__sum16 *sum, __u32 delta)
{
	__u32 s = (__u16)~bpf_ntohs(*sum);

	s += delta;
	*sum = bpf_htons((__u16)~xdpkit_csum_fold32(s));
}

#endif
