/** BpfProgram: one program of a BpfObject — its names, type, fd once loaded, and test runs. */
import { InvalidArgumentError } from './errors.js';
import { programInfo, type ProgramInfo } from './info.js';
import { libbpf } from './libbpf.js';
import { testRun, type TestRunOptions, type TestRunResult } from './test-run.js';

export class BpfProgram {
  /** The verifier's log from the last load, when a log level was requested. */
  verifierLog = '';

  constructor(private readonly handle: unknown) {}

  /** The C function name. */
  get name(): string {
    return libbpf.programName(this.handle) as string;
  }

  /** The ELF section, e.g. "xdp" or a legacy "xdp_drop_udp". */
  get section(): string {
    return libbpf.programSectionName(this.handle) as string;
  }

  /** BPF program type (enum bpf_prog_type). */
  get type(): number {
    return libbpf.programType(this.handle) as number;
  }

  setType(type: number): void {
    libbpf.programSetType(this.handle, type);
  }

  /** enum bpf_attach_type the kernel checks at load and when a link swaps programs. */
  setExpectedAttachType(type: number): void {
    libbpf.programSetExpectedAttachType(this.handle, type);
  }

  /** The program fd; valid only after the object is loaded. */
  get fd(): number {
    const fd = libbpf.programFd(this.handle) as number;
    if (fd < 0) throw new InvalidArgumentError(`program ${this.name} is not loaded`, { hint: 'load the object first' });
    return fd;
  }

  /** The kernel's view of the loaded program: id, tag, run statistics. */
  info(): ProgramInfo {
    return programInfo(this.fd);
  }

  /** Runs the program on a packet in the kernel (BPF_PROG_TEST_RUN). */
  testRun(options: TestRunOptions): TestRunResult {
    return testRun(this.fd, this.name, options);
  }

  /** Gives libbpf a buffer for this program's verifier log; returns it for reading after load. */
  attachLogBuffer(level: number, size: number): Buffer {
    const buffer = Buffer.alloc(size);
    libbpf.programSetLogBuf(this.handle, buffer, size);
    libbpf.programSetLogLevel(this.handle, level);
    return buffer;
  }
}
