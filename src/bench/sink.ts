/**
 * The far end of a forwarding benchmark (bpf/bench_sink.c), in the third namespace: reads the
 * EtherType and drops every frame (veth delivers redirected frames only to a peer with an XDP
 * program), and on request copies the head of the next frame, to check what a forwarder sent.
 */
import { join } from 'node:path';
import { attachXdp, BpfObject, closeLinkFd } from '../bpf/index.js';
import { packageRoot } from '../programs/catalogue.js';

const SAMPLE_HEADER = 16; // struct sample { u32 req, done, len, pad; u8 data[128]; }

export class Sink {
  private constructor(
    private readonly object: BpfObject,
    private readonly linkFd: number | undefined,
  ) {}

  /** Loads the sink and attaches it natively; call inside the sink's namespace. */
  static attach(ifindex: number, ifname: string): Sink {
    const object = BpfObject.open(join(packageRoot(), 'build', 'bpf', 'bench_sink.o'));
    try {
      object.load();
      const result = attachXdp({ ifindex, name: ifname }, object.program('xdp_bench_sink').fd, { mode: 'native' });
      return new Sink(object, result.linkFd);
    } catch (error) {
      object.close();
      throw error;
    }
  }

  /**
   * Asks for a copy of the next frame, runs `send` (which should make one arrive) and returns
   * the frame's first bytes (up to 128), or undefined when none arrived within a second.
   */
  async sample(send: () => unknown): Promise<Buffer | undefined> {
    const bss = this.object.map(this.object.mapNames().find((n) => n.endsWith('.bss')) ?? '.bss');
    const key = Buffer.alloc(4);
    const value = bss.get(key) ?? Buffer.alloc(SAMPLE_HEADER + 128);
    const request = value.readUInt32LE(4) + 1;
    value.writeUInt32LE(request >>> 0, 0);
    value.writeUInt32LE(0, 8);
    bss.set(key, value);
    await send();
    for (let i = 0; i < 50; i++) {
      const now = bss.get(key);
      if (now && now.readUInt32LE(4) === request >>> 0) {
        const len = now.readUInt32LE(8);
        return len > 0 ? Buffer.from(now.subarray(SAMPLE_HEADER, SAMPLE_HEADER + len)) : undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  }

  close(): void {
    if (this.linkFd !== undefined) closeLinkFd(this.linkFd);
    this.object.close();
  }
}
