/* bench_gen: the benchmarks' in-kernel traffic generator.
 *
 * Run with BPF_PROG_TEST_RUN + BPF_F_TEST_XDP_LIVE_FRAMES on one end of a veth pair: every
 * frame it returns XDP_TX for is really transmitted to the peer. Live-frames pages are
 * recycled without their data being reset, and a receiver that rewrites frames in place would
 * otherwise poison later ones, so the whole template is written into every frame.
 *
 * template: flow 0's complete frame (Ethernet, untagged IPv4 without options or IPv6 without
 * extension headers, then UDP, TCP or an ICMP/ICMPv6 echo request), built with valid checksums
 * by the control plane, of the length of the test-run packet. Frame n is flow i = n % nr_flows:
 * source address + i / 256 and source port (ICMP: echo identifier) + i % 256, its checksums
 * updated incrementally. One template instead of one per flow keeps the program's working set
 * at one frame whatever the number of flows (1,000,000 templates would be 1.5 GB). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdpkit/csum.h>

#ifndef BENCH_MAX_FRAME
#define BENCH_MAX_FRAME 1536
#endif

struct bench_template {
	__u32 len;
	__u8 data[BENCH_MAX_FRAME];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bench_template);
} template SEC(".maps");

/* Set before load: flows in use (1 = every frame is the template as it is), the template's IP
 * version (4 or 6) and upper-layer protocol (IPPROTO_UDP, _TCP, _ICMP or _ICMPV6). */
const volatile __u32 nr_flows = 1;
const volatile __u8 flow_family = 4;
const volatile __u8 flow_proto = IPPROTO_UDP;

/* Frames generated and frames whose template could not be written (both read by the loader, at
 * these offsets), the pace (ns between frames, 0 = as fast as possible; written by the loader
 * between runs, at this offset), when the next frame is due, and the flow of the next frame
 * (generated % nr_flows without a division). A test run stays on one CPU, so plain increments
 * are exact. */
struct bench_state {
	__u64 generated;
	__u64 failed;
	__u64 interval_ns;
	__u64 due_ns;
	__u32 next_flow;
};

struct bench_state state = {};

/* Frames a late generator may send back to back to catch up; beyond that it forgets the
 * backlog (it was between test runs, or preempted) rather than burst into a full ring. */
#define BENCH_MAX_CATCH_UP 64

static long bench_not_yet(__u64 index, void *due)
{
	return bpf_ktime_get_ns() >= *(__u64 *)due;
}

/* Holds the frame until it is due. Pacing keeps the receiver below saturation: a ring that
 * overflows makes the sender hand the refused frames back to the page pool the receiver also
 * returns to, and the two CPUs then fight over its lock, which the receiver's cost would
 * measure instead of the program (40 % of its time at full rate, 2 % at two thirds). */
static __always_inline void bench_pace(void)
{
	__u64 interval = state.interval_ns, now, due;

	if (!interval)
		return;
	now = bpf_ktime_get_ns();
	due = state.due_ns;
	if (due + BENCH_MAX_CATCH_UP * interval < now)
		due = now;
	if (now < due)
		bpf_loop(1 << 23, bench_not_yet, &due, 0);
	state.due_ns = due + interval;
}

/* ICMP and ICMPv6 echo request. */
struct bench_echo {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be16 id;
	__be16 seq;
};

/* Adds n to an address held as `words` network-order 32-bit words, carrying upwards. */
static __always_inline void bench_add_to_address(__be32 *address, int words, __u32 n)
{
#pragma unroll
	for (int i = words - 1; i >= 0; i--) {
		__u32 old = bpf_ntohl(address[i]);

		address[i] = bpf_htonl(old + n);
		n = old + n < old;
	}
}

static __always_inline void bench_add_to_port(__be16 *port, __u32 n)
{
	*port = bpf_htons(bpf_ntohs(*port) + n);
}

/* Turns the template (flow 0) in the frame into flow `flow`. Every checksum over a changed field
 * grows by what was added to it (xdpkit_csum_add): the IPv4 header's by the address step, the
 * upper layer's by the port step and, through the pseudo-header, the address step (ICMPv4 has
 * no pseudo-header). */
static __always_inline int bench_set_flow(struct xdp_md *ctx, __u32 flow)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 addr_step = flow >> 8, port_step = flow & 255;
	__u32 l4_step = port_step + (flow_proto == IPPROTO_ICMP ? 0 : addr_step);
	void *l4;

	if (flow_family == 4) {
		struct iphdr *ip = data + sizeof(struct ethhdr);

		if ((void *)(ip + 1) > end)
			return -1;
		bench_add_to_address(&ip->saddr, 1, addr_step);
		xdpkit_csum_add(&ip->check, addr_step);
		l4 = ip + 1;
	} else {
		struct ipv6hdr *ip6 = data + sizeof(struct ethhdr);

		if ((void *)(ip6 + 1) > end)
			return -1;
		bench_add_to_address(ip6->saddr.in6_u.u6_addr32, 4, addr_step);
		l4 = ip6 + 1;
	}
	if (flow_proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > end)
			return -1;
		bench_add_to_port(&udp->source, port_step);
		xdpkit_csum_add(&udp->check, l4_step);
		/* Zero on the wire means "no checksum" (RFC 768): a computed zero is sent as all ones. */
		if (!udp->check)
			udp->check = 0xffff;
	} else if (flow_proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > end)
			return -1;
		bench_add_to_port(&tcp->source, port_step);
		xdpkit_csum_add(&tcp->check, l4_step);
	} else {
		struct bench_echo *echo = l4;

		if ((void *)(echo + 1) > end)
			return -1;
		bench_add_to_port(&echo->id, port_step);
		xdpkit_csum_add(&echo->check, l4_step);
	}
	return 0;
}

SEC("xdp")
int xdp_bench_gen(struct xdp_md *ctx)
{
	__u32 zero = 0, flow = state.next_flow;
	struct bench_template *t;
	__u32 len;

	state.generated++;
	state.next_flow = flow + 1 < nr_flows ? flow + 1 : 0;
	t = bpf_map_lookup_elem(&template, &zero);
	if (!t)
		goto fail;
	len = t->len;
	if (len < 14 || len > BENCH_MAX_FRAME || len != ctx->data_end - ctx->data)
		goto fail;
	if (bpf_xdp_store_bytes(ctx, 0, t->data, len))
		goto fail;
	/* One flow: the template as it is (nr_flows is a constant, so this is decided at load). */
	if (nr_flows > 1 && bench_set_flow(ctx, flow))
		goto fail;
	bench_pace();
	return XDP_TX;
fail:
	state.failed++;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
