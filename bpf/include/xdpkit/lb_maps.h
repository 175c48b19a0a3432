/* The load balancer's maps (layouts in lb_structs.h, generations explained in src/lb/compile.ts). */
#ifndef XDPKIT_LB_MAPS_H
#define XDPKIT_LB_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <xdpkit/lb_consts.h>
#include <xdpkit/lb_structs.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, struct lb_service_key);
	__type(value, struct lb_service);
} lb_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * LB_RING_PER_GEN);
	__type(key, __u32);
	__type(value, __u32);
} lb_ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_backend);
} lb_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_control);
} lb_control SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, LB_CONNTRACK_ENTRIES);
	__type(key, struct lb_flow_key);
	__type(value, struct lb_ct_value);
} lb_conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct lb_counters);
} lb_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct lb_counters);
} lb_backend_stats SEC(".maps");

/* Where balanced frames leave: slot 0 = the egress device. Empty (the default): XDP_TX, back out
 * of the interface they came in on (one-armed). Set, they are redirected to that device
 * (two-armed: VIP traffic arrives on one interface, the backends sit behind another). */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lb_egress SEC(".maps");

/* ipip packets too big for the egress MTU (lb_icmp.h): [0] answered with ICMP, [1] dropped. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} lb_too_big SEC(".maps");

#endif
