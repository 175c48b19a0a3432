/* cpumap: spreads packets over CPUs. Each packet goes to CPU cpus_available[h % nr_cpus],
 * where h is a symmetric flow hash over addresses, protocol and ports (both directions of a
 * connection land on the same CPU; fragments hash without ports so a datagram stays together).
 * Non-IP packets and packets the parser rejects use slot 0. The CPU's entry in cpu_map (its
 * queue) must exist; when it does not, the packet passes on the CPU that received it. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpkit/hash.h>
#include <xdpkit/packet.h>
#include <xdpkit/stats.h>

#ifndef MAX_CPUS
#define MAX_CPUS 64
#endif

/* Set before load: how many entries of cpus_available are in use (1..MAX_CPUS). 0 means not
 * configured: every packet passes. */
const volatile __u32 nr_cpus = 0;
/* Set before load: seed of the flow hash. */
const volatile __u32 hash_seed = 0;

/* key: CPU id, value: struct bpf_cpumap_val (qsize, and optionally a program to run there). */
struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, MAX_CPUS);
	__type(key, __u32);
	__type(value, struct bpf_cpumap_val);
} cpu_map SEC(".maps");

/* key: slot 0..nr_cpus-1, value: CPU id (a key of cpu_map). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_CPUS);
	__type(key, __u32);
	__type(value, __u32);
} cpus_available SEC(".maps");

SEC("xdp")
int xdp_cpumap(struct xdp_md *ctx)
{
	struct xdpkit_pkt pkt;
	__u32 n = nr_cpus, slot = 0, *cpu;

	if (n == 0)
		return xdpkit_count(ctx, XDP_PASS);
	if (n > MAX_CPUS)
		n = MAX_CPUS;
	if (xdpkit_parse_packet(ctx, &pkt) == XDPKIT_PARSE_OK && xdpkit_pkt_is_ip(&pkt))
		slot = xdpkit_flow_hash(&pkt, hash_seed) % n;

	cpu = bpf_map_lookup_elem(&cpus_available, &slot);
	if (!cpu)
		return xdpkit_count(ctx, XDP_PASS);
	return xdpkit_count(ctx, bpf_redirect_map(&cpu_map, *cpu, XDP_PASS));
}

char LICENSE[] SEC("license") = "GPL";
