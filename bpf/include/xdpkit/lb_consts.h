/* Limits and constants of the load balancer (src/lb/layout.ts holds the same numbers). */
#ifndef XDPKIT_LB_CONSTS_H
#define XDPKIT_LB_CONSTS_H

#ifndef LB_MAX_SERVICES
#define LB_MAX_SERVICES 1024
#endif
#ifndef LB_MAX_BACKENDS
#define LB_MAX_BACKENDS 65536
#endif
#ifndef LB_RING_PER_GEN
#define LB_RING_PER_GEN (1 << 22)
#endif
#ifndef LB_CONNTRACK_ENTRIES
#define LB_CONNTRACK_ENTRIES (1 << 20)
#endif

#define LB_HASH_SEED 0x4c420001

#define LB_MODE_DSR_L2 0
#define LB_MODE_IPIP 1
#define LB_HASH_5TUPLE 0
#define LB_HASH_ADDRESSES 1

#define LB_BACKEND_IN_USE 1
#define LB_BACKEND_DRAINING 2
#define LB_BACKEND_DOWN 4
#define LB_BACKEND_IPIP 8 /* its service's mode is ipip (else dsr-l2) */

#define LB_EMPTY_SLOT 0xffffffff

#endif
