/**
 * Raw libc declarations for the network tooling (interfaces, netlink, namespaces), through
 * koffi. Only this file talks to koffi for libc in src/net; the typed wrappers beside it turn
 * -1/NULL + errno into XdpkitError subclasses (koffi.errno() right after the call).
 *
 * Every call runs on the calling JS thread, which matters for setns(): it moves exactly the
 * thread that makes the following socket()/ioctl() calls.
 */
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

/** struct if_nameindex { unsigned int if_index; char *if_name; } */
export const IfNameIndex = koffi.struct('xdpkit_if_nameindex', {
  if_index: 'unsigned int',
  if_name: 'char *',
});

export const calls = {
  if_nameindex: libc.func('void *if_nameindex(void)'),
  if_freenameindex: libc.func('void if_freenameindex(void *ptr)'),
  if_nametoindex: libc.func('unsigned int if_nametoindex(const char *ifname)'),
  /** `ifname` is a 16-byte (IF_NAMESIZE) Buffer; returns NULL on failure. */
  if_indextoname: libc.func('void *if_indextoname(unsigned int ifindex, void *ifname)'),

  socket: libc.func('int socket(int domain, int type, int protocol)'),
  close: libc.func('int close(int fd)'),
  bind: libc.func('int bind(int fd, const void *addr, uint32_t addrlen)'),
  setsockopt: libc.func('int setsockopt(int fd, int level, int optname, const void *optval, uint32_t optlen)'),
  sendto: libc.func('intptr_t sendto(int fd, const void *buf, size_t len, int flags, const void *dest, uint32_t addrlen)'),
  recv: libc.func('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
  /** Variadic in libc: call as ioctl(fd, request, 'void *', arg). */
  ioctl: libc.func('int ioctl(int fd, unsigned long request, ...)'),

  setns: libc.func('int setns(int fd, int nstype)'),
  gettid: libc.func('int gettid(void)'),
};

export const AF_INET = 2;
export const AF_NETLINK = 16;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const CLONE_NEWNET = 0x40000000;
export const IF_NAMESIZE = 16;
export const SIOCETHTOOL = 0x8946;

export function errno(): number {
  return koffi.errno();
}

/**
 * Native memory that does not move, for structures that hold pointers (ifreq.ifr_data).
 * `bytes` aliases that memory: writes go to native memory, reads see what the kernel wrote.
 */
export function allocBytes(size: number): { address: bigint; bytes: Buffer; free(): void } {
  const pointer = koffi.alloc('uint8_t', size);
  const bytes = Buffer.from(koffi.view(pointer, size));
  bytes.fill(0);
  return { address: koffi.address(pointer), bytes, free: () => koffi.free(pointer) };
}

/** Reads the array if_nameindex() returns (terminated by a zero index) and frees it. */
export function readNameIndex(pointer: unknown): { ifindex: number; name: string }[] {
  const out: { ifindex: number; name: string }[] = [];
  const size = koffi.sizeof(IfNameIndex);
  try {
    for (let i = 0; ; i++) {
      const entry = koffi.decode(pointer, i * size, IfNameIndex) as { if_index: number; if_name: string | null };
      if (entry.if_index === 0) break;
      out.push({ ifindex: entry.if_index, name: entry.if_name ?? '' });
    }
  } finally {
    calls.if_freenameindex(pointer);
  }
  return out;
}
