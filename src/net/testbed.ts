/**
 * A throwaway network for tests: network namespaces joined by veth pairs, addressed from the
 * test ranges, torn down afterwards, also when the test fails or the run is interrupted.
 *
 *   const bed = await Testbed.create({ namespaces: ['client', 'server'], links: [{ a: 'client', b: 'server' }] });
 *   try { await bed.ping('client', bed.address('server')); } finally { await bed.destroy(); }
 *
 * Namespaces get unique names (prefix-NAME-random), so tests can run in parallel. Every link
 * gets its own /24 of 198.18.0.0/15 and /64 of 2001:db8::/32 (side a .1/::1, side b .2/::2),
 * IPv6 without duplicate address detection (usable at once). Everything is set up with `ip`;
 * commands run inside with `ip netns exec`, which also gives them the namespace's own /sys.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { InvalidArgumentError } from '../bpf/errors.js';
import { startCapture, type Capture, type CaptureOptions } from './capture.js';
import { runCommand, type CommandOptions, type CommandResult } from './command.js';
import { interfaceByName, listInterfaces } from './interfaces.js';
import { linkDetails } from './link-info.js';
import { withNetns, withNetnsSync } from './netns.js';
import { linkSubnets, V4_SUBNETS } from './test-addresses.js';
import * as traffic from './testbed-traffic.js';

/** Use as a link end to put it in the namespace the test runs in (the host, usually). */
export const HOST = '@host';

export interface LinkOptions {
  /** Logical namespace names (from `namespaces`) or HOST. */
  a: string;
  b: string;
  /** Interface names; by default eth0, eth1, … in each namespace, and a unique name on the host. */
  aName?: string;
  bName?: string;
  /** Assign the link's IPv4 and IPv6 addresses (default true). */
  addresses?: boolean;
  mtu?: number;
  /** Turn GRO on or off on both ends; left at the kernel default when undefined. */
  gro?: boolean;
  /**
   * Checksum offload on transmit (ethtool -K tx). veth leaves TCP/UDP checksums unfinished
   * (CHECKSUM_PARTIAL) by default, so captures and XDP programs see pseudo-header sums only;
   * turn it off when a test checks L4 checksums on the wire.
   */
  txChecksumOffload?: boolean;
  /** Threaded NAPI on both ends (/sys/class/net/IF/threaded); needs GRO or XDP on veth to matter. */
  threadedNapi?: boolean;
}

export interface TestbedOptions {
  /** Logical names of the namespaces to create. */
  namespaces: string[];
  links?: LinkOptions[];
  /** Start of the real namespace names (default "xdpkit"). */
  prefix?: string;
}

export interface LinkEnd {
  /** Logical namespace name, or HOST. */
  ns: string;
  /** Real namespace name (for `ip netns exec`, withNetns), undefined on the host. */
  netns: string | undefined;
  ifname: string;
  ifindex: number;
  mac: string;
  ipv4: string | undefined;
  ipv6: string | undefined;
}

export interface TestbedLink {
  index: number;
  a: LinkEnd;
  b: LinkEnd;
  /** The link's subnets (also when addresses were not assigned). */
  subnetV4: string;
  subnetV6: string;
}

/** Testbeds not yet destroyed, for the exit and signal handlers. */
const live = new Set<Testbed>();

export class Testbed {
  /** Random part of every name this testbed creates. */
  readonly id: string;
  readonly links: TestbedLink[] = [];
  private readonly realNames = new Map<string, string>();
  private readonly hostLinks: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private destroying: Promise<void> | undefined;
  private readonly v4Base = randomInt(V4_SUBNETS);
  private readonly v6Group = randomInt(0x10000);

  private constructor(options: TestbedOptions) {
    this.id = randomBytes(3).toString('hex');
    const prefix = options.prefix ?? 'xdpkit';
    for (const ns of options.namespaces) {
      if (ns === HOST || !/^[A-Za-z0-9_.-]{1,32}$/.test(ns)) throw new InvalidArgumentError(`"${ns}" is not a usable namespace name (letters, digits, _ . -)`);
      if (this.realNames.has(ns)) throw new InvalidArgumentError(`namespace "${ns}" is listed twice`);
      this.realNames.set(ns, `${prefix}-${ns}-${this.id}`);
    }
  }

  /** Creates namespaces and links; on failure removes whatever it had created, then throws. */
  static async create(options: TestbedOptions): Promise<Testbed> {
    const bed = new Testbed(options);
    for (const link of options.links ?? []) {
      for (const end of [link.a, link.b]) {
        if (end !== HOST && !bed.realNames.has(end)) throw new InvalidArgumentError(`link end "${end}" is not one of the namespaces (${options.namespaces.join(', ')}) or HOST`);
      }
    }
    registerCleanup(bed);
    try {
      for (const [ns, real] of bed.realNames) await bed.createNamespace(ns, real);
      for (const link of options.links ?? []) await bed.createLink(link);
    } catch (error) {
      await bed.destroy();
      throw error;
    }
    return bed;
  }

  /** Two namespaces, "a" and "b", joined by one veth pair: the common case. */
  static pair(link: Partial<Omit<LinkOptions, 'a' | 'b'>> = {}): Promise<Testbed> {
    return Testbed.create({ namespaces: ['a', 'b'], links: [{ ...link, a: 'a', b: 'b' }] });
  }

  /** Logical names of the namespaces. */
  get namespaces(): string[] {
    return [...this.realNames.keys()];
  }

  /** The real name of a namespace (what `ip netns list` shows). */
  netns(ns: string): string {
    const real = this.realNames.get(ns);
    if (!real) throw new InvalidArgumentError(`"${ns}" is not a namespace of this testbed (${this.namespaces.join(', ')})`);
    return real;
  }

  /** The end of a link that sits in `ns` (the first such link unless `linkIndex` says). */
  end(ns: string, linkIndex?: number): LinkEnd {
    const links = linkIndex === undefined ? this.links : [this.link(linkIndex)];
    for (const link of links) {
      if (link.a.ns === ns) return link.a;
      if (link.b.ns === ns) return link.b;
    }
    throw new InvalidArgumentError(`namespace "${ns}" has no link${linkIndex === undefined ? '' : ` ${linkIndex}`}`);
  }

  link(index: number): TestbedLink {
    const link = this.links[index];
    if (!link) throw new InvalidArgumentError(`link ${index} does not exist (this testbed has ${this.links.length})`);
    return link;
  }

  /** The address of `ns` on its first link (or link `linkIndex`). */
  address(ns: string, family: 4 | 6 = 4, linkIndex?: number): string {
    const end = this.end(ns, linkIndex);
    const address = family === 4 ? end.ipv4 : end.ipv6;
    if (!address) throw new InvalidArgumentError(`${ns} has no IPv${family} address on that link (created with addresses: false)`);
    return address;
  }

  /** Runs a command inside a namespace (HOST: right here) and collects its output. */
  exec(ns: string, argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
    return runCommand(this.argvIn(ns, argv), options);
  }

  /** Starts a command inside a namespace; it is killed by destroy() if still running. */
  spawn(ns: string, argv: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const [file, ...args] = this.argvIn(ns, argv);
    const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  /** Runs fn with the main thread in the namespace (see netns.ts for what that covers). */
  withNetns<T>(ns: string, fn: () => T | Promise<T>): Promise<T> {
    return ns === HOST ? Promise.resolve().then(fn) : withNetns(this.netns(ns), fn);
  }

  // Traffic helpers (testbed-traffic.ts): destinations must be test addresses.

  /** Pings and returns how many replies came back. */
  ping(ns: string, address: string, options: traffic.PingOptions = {}): Promise<number> {
    return traffic.ping(this, ns, address, options);
  }

  sendUdp(ns: string, options: traffic.SendUdpOptions): Promise<number> {
    return traffic.sendUdp(this, ns, options);
  }

  udpListen(ns: string, address: string, port: number): Promise<traffic.UdpListener> {
    return traffic.udpListen(this, ns, address, port);
  }

  tcpListen(ns: string, address: string, port: number): Promise<traffic.TcpListener> {
    return traffic.tcpListen(this, ns, address, port);
  }

  tcpConnect(ns: string, options: traffic.TcpConnectOptions): Promise<traffic.TcpConnectResult> {
    return traffic.tcpConnect(this, ns, options);
  }

  /** Starts tcpdump on an interface; resolves once it is listening. */
  capture(ns: string, ifname: string, options: CaptureOptions = {}): Promise<Capture> {
    return startCapture((argv) => this.spawn(ns, argv, { stdio: ['ignore', 'pipe', 'pipe'] }), ifname, options);
  }

  /** Removes everything; safe to call more than once and concurrently. */
  destroy(): Promise<void> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<void> {
    await Promise.all([...this.children].map((child) => stopChild(child)));
    for (const ifname of this.hostLinks) await runCommand(['ip', 'link', 'del', 'dev', ifname], { check: false });
    for (const real of this.realNames.values()) await runCommand(['ip', 'netns', 'del', real], { check: false });
    live.delete(this);
  }

  /** For exit and signal handlers, where nothing async runs any more. */
  destroySync(): void {
    for (const child of this.children) child.kill('SIGKILL');
    const quiet = { stdio: 'ignore' as const, timeout: 10_000 };
    for (const ifname of this.hostLinks) tryRun(() => execFileSync('ip', ['link', 'del', 'dev', ifname], quiet));
    for (const real of this.realNames.values()) tryRun(() => execFileSync('ip', ['netns', 'del', real], quiet));
    live.delete(this);
  }

  private argvIn(ns: string, argv: readonly string[]): string[] {
    if (argv.length === 0) throw new InvalidArgumentError('empty command');
    return ns === HOST ? [...argv] : ['ip', 'netns', 'exec', this.netns(ns), ...argv];
  }

  private async createNamespace(ns: string, real: string): Promise<void> {
    await runCommand(['ip', 'netns', 'add', real]);
    await runCommand(['ip', '-n', real, 'link', 'set', 'lo', 'up']);
    // nodad on each address covers them; this also covers link-local and later addresses.
    await this.exec(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
  }

  private async createLink(options: LinkOptions): Promise<void> {
    const index = this.links.length;
    const subnets = linkSubnets(this.v4Base + index, this.v6Group, index);
    const aName = options.aName ?? this.defaultName(options.a, index, 'a');
    const bName = options.bName ?? this.defaultName(options.b, index, 'b');
    const place = (ns: string) => (ns === HOST ? [] : ['netns', this.netns(ns)]);
    const mtu = options.mtu === undefined ? [] : ['mtu', String(options.mtu)];
    for (const [ns, ifname] of [
      [options.a, aName],
      [options.b, bName],
    ] as const) {
      // Never adopt an existing host interface: destroy() would delete it.
      if (ns === HOST && listInterfaces().some((i) => i.name === ifname)) {
        throw new InvalidArgumentError(`interface ${ifname} already exists here; a testbed link needs a new name`);
      }
    }
    // Recorded before it exists: an interrupt while `ip` runs must still remove the host end.
    if (options.a === HOST) this.hostLinks.push(aName);
    else if (options.b === HOST) this.hostLinks.push(bName);
    await runCommand(['ip', 'link', 'add', aName, ...place(options.a), ...mtu, 'type', 'veth', 'peer', 'name', bName, ...place(options.b), ...mtu]);

    const withAddresses = options.addresses ?? true;
    const ends: LinkEnd[] = [];
    for (const [ns, ifname, v4, v6] of [
      [options.a, aName, subnets.v4.a, subnets.v6.a],
      [options.b, bName, subnets.v4.b, subnets.v6.b],
    ] as const) {
      const ip = ns === HOST ? ['ip'] : ['ip', '-n', this.netns(ns)];
      if (options.gro !== undefined) await this.exec(ns, ['ethtool', '-K', ifname, 'gro', options.gro ? 'on' : 'off']);
      if (options.txChecksumOffload !== undefined) await this.exec(ns, ['ethtool', '-K', ifname, 'tx', options.txChecksumOffload ? 'on' : 'off']);
      await runCommand([...ip, 'link', 'set', 'dev', ifname, 'up']);
      if (withAddresses) {
        await runCommand([...ip, 'addr', 'add', `${v4}/${subnets.v4.prefix}`, 'dev', ifname]);
        await runCommand([...ip, '-6', 'addr', 'add', `${v6}/${subnets.v6.prefix}`, 'dev', ifname, 'nodad']);
      }
      if (options.threadedNapi !== undefined) {
        // `ip netns exec` mounts the namespace's own /sys, so this path is the right device.
        await this.exec(ns, ['sh', '-c', 'echo "$1" > "/sys/class/net/$0/threaded"', ifname, options.threadedNapi ? '1' : '0']);
      }
      const details = await this.inNamespace(ns, () => linkDetails(interfaceByName(ifname).ifindex));
      ends.push({
        ns,
        netns: ns === HOST ? undefined : this.netns(ns),
        ifname,
        ifindex: details.ifindex,
        mac: details.mac ?? '',
        ipv4: withAddresses ? v4 : undefined,
        ipv6: withAddresses ? v6 : undefined,
      });
    }
    this.links.push({ index, a: ends[0]!, b: ends[1]!, subnetV4: subnets.v4.subnet, subnetV6: subnets.v6.subnet });
  }

  private inNamespace<T>(ns: string, fn: () => T): T {
    return ns === HOST ? fn() : withNetnsSync(this.netns(ns), fn);
  }

  /** eth0, eth1, … per namespace; on the host a name unique to this testbed (≤ 15 chars). */
  private defaultName(ns: string, index: number, side: 'a' | 'b'): string {
    if (ns === HOST) return `xk${this.id}${index}${side}`;
    const used = this.links.filter((l) => l.a.ns === ns || l.b.ns === ns).length;
    return `eth${used}`;
  }
}

/** Kills a child (TERM, then KILL after 2 s) and waits for it to exit. */
function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function tryRun(fn: () => unknown): void {
  try {
    fn();
  } catch {
    // Already gone, or nothing more can be done while the process exits.
  }
}

let handlersInstalled = false;

/**
 * Removes live testbeds when the process exits or is interrupted. On a signal, once cleaned
 * up, the signal is raised again if nobody else handles it, so the process still dies of it.
 */
function registerCleanup(bed: Testbed): void {
  live.add(bed);
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', () => {
    for (const t of [...live]) t.destroySync();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = (): void => {
      for (const t of [...live]) t.destroySync();
      process.removeListener(signal, handler);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, handler);
  }
}
