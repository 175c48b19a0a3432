/* Limits and protocol numbers shared by xdpkit's BPF programs.
 * Every limit can be overridden at build time (-DXDPKIT_MAX_VLAN_DEPTH=1, …). */
#ifndef XDPKIT_CONSTS_H
#define XDPKIT_CONSTS_H

/* VLAN tags parsed after the Ethernet header (802.1Q and 802.1ad, in any order). */
#ifndef XDPKIT_MAX_VLAN_DEPTH
#define XDPKIT_MAX_VLAN_DEPTH 2
#endif

/* IPv6 extension headers walked before giving up on finding the upper-layer header. */
#ifndef XDPKIT_MAX_IPV6_EXT_HEADERS
#define XDPKIT_MAX_IPV6_EXT_HEADERS 6
#endif

/* EtherTypes (host order); linux/if_ether.h has them too, repeated here so that a program
 * including only this header can compare against them. */
#define XDPKIT_ETH_P_IP 0x0800
#define XDPKIT_ETH_P_ARP 0x0806
#define XDPKIT_ETH_P_8021Q 0x8100
#define XDPKIT_ETH_P_8021AD 0x88A8
#define XDPKIT_ETH_P_IPV6 0x86DD
/* Values below this in the EtherType field are 802.3 lengths, not protocols. */
#define XDPKIT_ETH_P_802_3_MIN 0x0600

/* IPv6 next-header values of the extension headers the parser walks (kernel-internal
 * NEXTHDR_* in net/ipv6.h, not UAPI). */
#define XDPKIT_NEXTHDR_HOP 0
#define XDPKIT_NEXTHDR_ROUTING 43
#define XDPKIT_NEXTHDR_FRAGMENT 44
#define XDPKIT_NEXTHDR_ESP 50
#define XDPKIT_NEXTHDR_AUTH 51
#define XDPKIT_NEXTHDR_NONE 59
#define XDPKIT_NEXTHDR_DEST 60

/* IPv4 frag_off bits (host order after bpf_ntohs). */
#define XDPKIT_IP_RF 0x8000
#define XDPKIT_IP_DF 0x4000
#define XDPKIT_IP_MF 0x2000
#define XDPKIT_IP_OFFSET 0x1FFF

/* IPv6 fragment header frag_off (host order): offset in 8-byte units << 3, M flag in bit 0. */
#define XDPKIT_IP6_MF 0x0001
#define XDPKIT_IP6_OFFSET 0xFFF8

/* ICMP types the programs act on. */
#define XDPKIT_ICMP_ECHO_REPLY 0
#define XDPKIT_ICMP_ECHO_REQUEST 8
#define XDPKIT_ICMPV6_ECHO_REQUEST 128
#define XDPKIT_ICMPV6_ECHO_REPLY 129

#endif
