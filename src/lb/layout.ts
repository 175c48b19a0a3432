/**
 * The load balancer's maps as the data plane sees them: one TypeScript codec per C struct in
 * bpf/include/xdpkit/lb_structs.h (test/kernel/lb-layout.test.ts checks sizes and offsets against
 * the object's BTF), and the limits of bpf/include/xdpkit/lb_consts.h.
 *
 *   lb_services   HASH  lb_service_key → lb_service      which VIP:port/proto, per generation
 *                                                        its ring slice, mode and hash mode
 *   lb_ring       ARRAY u32 → u32 backend id             2 × LB_RING_PER_GEN slots; generation g
 *                                                        owns [g·LB_RING_PER_GEN, (g+1)·…)
 *   lb_backends   ARRAY u32 id → lb_backend              address, MAC, flags, cookie
 *   lb_control    ARRAY 0 → lb_control                   active_gen: the one write that flips
 *   lb_conntrack  LRU_HASH lb_flow_key → lb_ct_value      backend id + cookie of established flows
 *   lb_service_stats / lb_backend_stats  PERCPU_ARRAY id → lb_counters  packets, bytes, new flows
 *   lb_egress     DEVMAP 0 → ifindex                    empty: XDP_TX (one-armed); set: redirect there
 *   lb_too_big    PERCPU_ARRAY 0|1 → u64                 ipip packets over the egress MTU: ICMP sent | dropped
 *   lb_decap_addrs (lb_decap.o)  HASH lb_decap_key → u8  addresses decapsulated for
 */
import { array, bytes, mac, struct, u16be, u32, u64, u8, type Codec } from '../bpf/codecs.js';

export const LB_MAX_SERVICES = 1024;
export const LB_MAX_BACKENDS = 65536;
/** Ring slots per generation: 64 services of the default 65537 slots. */
export const LB_RING_PER_GEN = 1 << 22;
export const LB_CONNTRACK_ENTRIES = 1 << 20;

export const LB_MODE = { 'dsr-l2': 0, ipip: 1 } as const;
export const LB_HASH = { '5-tuple': 0, addresses: 1 } as const;

/** lb_backend.flags */
export const LB_BACKEND_IN_USE = 1;
/** Gets no new flows (not in the ring); existing flows stay. */
export const LB_BACKEND_DRAINING = 2;
/** Failed health checks: not in the ring, and its conntrack entries are re-picked. */
export const LB_BACKEND_DOWN = 4;
/** Its service forwards by ipip (else dsr-l2): the data plane reads the mode of an established flow here. */
export const LB_BACKEND_IPIP = 8;

/** union xdpkit_addr: 16 bytes, aligned like __be32. */
const addr: Codec<Buffer> = { ...bytes(16), align: 4 };

export const serviceKeyCodec = struct({ vip: addr, port: u16be, proto: u8, family: u8 });

export const serviceGenCodec = struct({ ringOff: u32, ringSize: u32, mode: u8, hash: u8, present: u8, pad: u8 });

export const serviceCodec = struct({ id: u32, gen: array(serviceGenCodec, 2) });

export const backendCodec = struct({ addr, mac, family: u8, flags: u8, serviceId: u32, cookie: u32 });

/** active_gen flips generations; src4/src6 are the outer sources of ipip packets. */
export const controlCodec = struct({ activeGen: u32, src4: { ...bytes(4), align: 4 } as Codec<Buffer>, src6: addr });

export const countersCodec = struct({ packets: u64, bytes: u64, newFlows: u64 });

export const decapKeyCodec = struct({ addr, family: u32 });

export const flowKeyCodec = struct({ src: addr, dst: addr, srcPort: u16be, dstPort: u16be, proto: u8, family: u8, pad: bytes(2) });

export const ctValueCodec = struct({ backendId: u32, cookie: u32 });

export type ServiceKey = ReturnType<typeof serviceKeyCodec.decode>;
export type ServiceGen = ReturnType<typeof serviceGenCodec.decode>;
export type ServiceValue = ReturnType<typeof serviceCodec.decode>;
export type BackendValue = ReturnType<typeof backendCodec.decode>;
export type LbCounters = ReturnType<typeof countersCodec.decode>;

export const ABSENT_GEN: ServiceGen = { ringOff: 0, ringSize: 0, mode: 0, hash: 0, present: 0, pad: 0 };
