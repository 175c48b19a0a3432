/**
 * Ring buffer consumer (BPF_MAP_TYPE_RINGBUF). libbpf's ring_buffer owns an epoll fd; koffi's
 * poll handle watches it from Node's event loop, so samples arrive as callbacks without a
 * thread or a busy loop, and consume() drains whatever is ready.
 */
import { errorFromErrno, InvalidArgumentError } from './errors.js';
import { koffi, libbpf, RingBufferSampleFn } from './libbpf.js';
import { BpfMap } from './map.js';
import { MapType } from './map-types.js';

export type SampleHandler = (sample: Buffer) => void;

export class RingBufferConsumer {
  private readonly callback: unknown;
  private readonly handle: unknown;
  private readonly poller: ReturnType<typeof koffi.node.poll>;
  private closed = false;

  constructor(map: BpfMap<unknown, unknown>, onSample: SampleHandler) {
    if (map.description.type !== MapType.ringbuf) {
      throw new InvalidArgumentError(`map ${map.name} is a ${map.typeName}, not a ringbuf`);
    }
    // The sample points into the ring; copy it before libbpf releases the slot.
    this.callback = koffi.register((_ctx: unknown, data: unknown, size: number | bigint) => {
      onSample(Buffer.from(koffi.view(data, Number(size))));
      return 0;
    }, koffi.pointer(RingBufferSampleFn));
    this.handle = libbpf.ringBufferNew(map.fd, this.callback, null, null);
    if (!this.handle) {
      koffi.unregister(this.callback as bigint);
      throw errorFromErrno(`opening ring buffer ${map.name}`, -koffi.errno());
    }
    this.poller = koffi.node.poll(libbpf.ringBufferEpollFd(this.handle) as number, { readable: true }, () => this.consume());
  }

  /** Handles every sample that is ready now; returns how many there were. */
  consume(): number {
    if (this.closed) return 0;
    const n = libbpf.ringBufferConsume(this.handle) as number;
    if (n < 0) throw errorFromErrno('reading ring buffer', n);
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller.close();
    libbpf.ringBufferFree(this.handle);
    koffi.unregister(this.callback as bigint);
  }
}
