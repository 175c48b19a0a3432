/**
 * Packets for tests and tools: build from a declarative layer list, parse back into layers with
 * offsets, check checksums. One import for the four files that do the work.
 */
export { buildPacket } from './packet-build.js';
export type { BuildOptions } from './packet-build.js';
export { parsePacket, findLayer, findLayers } from './packet-parse.js';
export type { ParseOptions } from './packet-parse.js';
export { verifyChecksums, checksumsValid, assertChecksumsValid, recomputeChecksums } from './packet-verify.js';
export type { ChecksumCheck } from './packet-verify.js';
export { internetChecksum, onesSum, pseudoHeader, transportChecksum, ipv4HeaderChecksum } from './checksum.js';
export { macBytes, formatMac, formatIp, tcpFlagsFromString, tcpFlagNames } from './packet-fields.js';
export * from './packet-types.js';
