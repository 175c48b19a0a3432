/** Network tooling: packets, pcap, interfaces, namespaces, and the netns testbed. */
export * from './packet.js';
export * from './pcap.js';
export * from './interfaces.js';
export { NETNS_RUN_DIR, netnsPath, currentNetns, enterNetns, withNetns, withNetnsSync } from './netns.js';
export { Testbed, HOST } from './testbed.js';
export type { TestbedOptions, LinkOptions, LinkEnd, TestbedLink } from './testbed.js';
export type { PingOptions, SendUdpOptions, UdpListener, Datagram, TcpListener, TcpConnectOptions, TcpConnectResult } from './testbed-traffic.js';
export { Capture, startCapture } from './capture.js';
export type { CaptureOptions, CapturedPacket } from './capture.js';
export { TEST_NET_V4, TEST_NET_V6, isTestAddress, assertTestAddress } from './test-addresses.js';
export { runCommand } from './command.js';
export type { CommandOptions, CommandResult } from './command.js';
export { TrafficGenerator, flowFrame, headerBytes, TEMPLATE_PROTOCOLS, MAX_FLOWS, MIN_FRAME_SIZE, MAX_FRAME_SIZE } from './traffic-generator.js';
export type { TemplateOptions, TemplateProtocol, GenerateOptions } from './traffic-generator.js';
