/**
 * BPF_PROG_TEST_RUN: runs a loaded program on a packet inside the kernel, without any
 * interface. The basis of the kernel tests, and (with BPF_F_TEST_XDP_LIVE_FRAMES) of the
 * in-kernel traffic generator: then XDP_TX/XDP_REDIRECT really transmit the frames.
 */
import { errorFromErrno, InvalidArgumentError } from './errors.js';
import { BPF_F_TEST_XDP_LIVE_FRAMES, libbpf } from './libbpf.js';

export interface TestRunOptions {
  /** The packet, starting at the Ethernet header. */
  data: Buffer;
  /** Raw context (struct xdp_md for XDP); see xdpContext(). */
  context?: Buffer;
  /** Runs the program this many times; duration is then the mean per run. */
  repeat?: number;
  /** Room for the output packet; defaults to the input length + 512 (programs may grow it). */
  dataOutSize?: number;
  /** Send the frames for real (XDP_TX / XDP_REDIRECT transmit); needs repeat ≥ 1. */
  liveFrames?: boolean;
  /** Frames per batch in live-frames mode (kernel default 64). */
  batchSize?: number;
  /** Extra BPF_F_TEST_* flags. */
  flags?: number;
}

export interface TestRunResult {
  /** The program's return code (the XDP verdict). */
  retval: number;
  /** Mean run time in ns per repetition, as measured by the kernel. */
  durationNs: number;
  /** The packet after the program ran (empty in live-frames mode). */
  data: Buffer;
  /** The context after the run, when a context was given. */
  context?: Buffer;
}

const XDP_MD_SIZE = 24;

/**
 * struct xdp_md for a test run. The test run's data is `metadataLength` bytes of XDP metadata
 * (0..32, a multiple of 4), then the packet: the kernel wants data = the metadata's length and
 * data_end = the whole length.
 */
export function xdpContext(packetLength: number, options: { ingressIfindex?: number; rxQueue?: number; metadataLength?: number } = {}): Buffer {
  const meta = options.metadataLength ?? 0;
  const ctx = Buffer.alloc(XDP_MD_SIZE);
  ctx.writeUInt32LE(meta, 0); // data
  ctx.writeUInt32LE(meta + packetLength, 4); // data_end
  ctx.writeUInt32LE(0, 8); // data_meta
  ctx.writeUInt32LE(options.ingressIfindex ?? 0, 12);
  ctx.writeUInt32LE(options.rxQueue ?? 0, 16);
  return ctx;
}

export function testRun(programFd: number, programName: string, options: TestRunOptions): TestRunResult {
  const live = options.liveFrames ?? false;
  const repeat = options.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) throw new InvalidArgumentError(`repeat must be a positive integer, got ${repeat}`);
  const dataOut = live ? null : Buffer.alloc(options.dataOutSize ?? options.data.length + 512);
  const contextOut = options.context && !live ? Buffer.alloc(options.context.length) : null;
  const opts = {
    sz: 80,
    data_in: options.data,
    data_out: dataOut,
    data_size_in: options.data.length,
    data_size_out: dataOut?.length ?? 0,
    ctx_in: options.context ?? null,
    ctx_out: contextOut,
    ctx_size_in: options.context?.length ?? 0,
    ctx_size_out: contextOut?.length ?? 0,
    retval: 0,
    repeat,
    duration: 0,
    flags: (options.flags ?? 0) | (live ? BPF_F_TEST_XDP_LIVE_FRAMES : 0),
    cpu: 0,
    batch_size: options.batchSize ?? 0,
  };
  const rc = libbpf.progTestRun(programFd, opts) as number;
  if (rc < 0) {
    const error = errorFromErrno(`test-running program ${programName}`, rc);
    if (-rc === 22) {
      throw new InvalidArgumentError(error.message, {
        errno: 22,
        hint: live
          ? 'live frames need kernel ≥ 5.18, an XDP program, no data_out and a packet of at least 14 bytes'
          : 'the packet must be at least 14 bytes (Ethernet header) and the context a valid struct xdp_md',
      });
    }
    throw error;
  }
  return {
    retval: opts.retval,
    durationNs: opts.duration,
    data: dataOut ? dataOut.subarray(0, opts.data_size_out) : Buffer.alloc(0),
    ...(contextOut ? { context: contextOut.subarray(0, opts.ctx_size_out) } : {}),
  };
}
