/* Map keys and values of the load balancer: one definition, mirrored by the codecs in
 * src/lb/layout.ts (test/kernel/lb-layout.test.ts compares both through the object's BTF). */
#ifndef XDPKIT_LB_STRUCTS_H
#define XDPKIT_LB_STRUCTS_H

#include <xdpkit/packet.h>

struct lb_service_key {
	union xdpkit_addr vip;
	__be16 port; /* 0 = every port */
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* 4 or 6 */
};

struct lb_service_gen {
	__u32 ring_off;  /* absolute index of the first slot in lb_ring */
	__u32 ring_size; /* Maglev table size (a prime) */
	__u8 mode;       /* LB_MODE_* */
	__u8 hash;       /* LB_HASH_* */
	__u8 present;    /* 0: the service does not exist in this generation */
	__u8 pad;
};

struct lb_service {
	__u32 id;
	struct lb_service_gen gen[2];
};

struct lb_backend {
	union xdpkit_addr addr;
	__u8 mac[6];
	__u8 family;
	__u8 flags; /* LB_BACKEND_* */
	__u32 service_id;
	__u32 cookie; /* changes when the id is given to another backend */
};

struct lb_control {
	__u32 active_gen;
	__be32 src4;            /* outer IPv4 source of ipip packets (the load balancer's address) */
	union xdpkit_addr src6; /* outer IPv6 source of ipip packets */
};

/* Per-CPU counters of a service (lb_service_stats[id]) and of a backend (lb_backend_stats[id]):
 * packets and bytes as received, and flows that were given a backend through Maglev. */
struct lb_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows;
};

/* An address lb_decap accepts encapsulated packets for. */
struct lb_decap_key {
	union xdpkit_addr addr;
	__u32 family; /* 4 or 6 */
};

struct lb_flow_key {
	union xdpkit_addr src;
	union xdpkit_addr dst;
	__be16 src_port;
	__be16 dst_port;
	__u8 proto;
	__u8 family;
	__u8 pad[2];
};

struct lb_ct_value {
	__u32 backend_id;
	__u32 cookie;
};

#endif
