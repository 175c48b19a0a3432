/**
 * Options of the built-in programs, turned into .rodata constants (set before load) and map
 * writes (made after load, before attach), so a program goes live fully configured.
 */
import {
  BpfMap,
  BpfObject,
  bytes,
  InvalidArgumentError,
  u32,
  u8,
  XdpAction,
  type ConstantValue,
} from '../bpf/index.js';
import { cpumapValueCodec } from './map-codecs.js';
import { resolveTarget } from './target.js';

export interface BuiltinOptions {
  /** drop_udp: drop only UDP to these destination ports. */
  ports?: number[];
  /** redirect: the interface to send packets to. */
  target?: string;
  /** redirect: the verdict when the target is missing (pass, drop, …). */
  fallback?: string;
  /** cpumap: the CPUs to steer to. */
  cpus?: number[];
  /** cpumap: per-CPU queue size. */
  qsize?: number;
}

export interface BuiltinSetup {
  constants: Record<string, ConstantValue>;
  configure: (object: BpfObject) => void;
}

/** Which built-in takes each option, and the option's name on the command line. */
const OPTION_OWNERS: Record<keyof BuiltinOptions, { owner: string; flag: string }> = {
  ports: { owner: 'drop_udp', flag: '--port' },
  target: { owner: 'redirect', flag: '--target' },
  fallback: { owner: 'redirect', flag: '--fallback' },
  cpus: { owner: 'cpumap', flag: '--cpus' },
  qsize: { owner: 'cpumap', flag: '--qsize' },
};

/** Checks that each option belongs to the program, then builds its constants and map writes. */
export function builtinSetup(builtin: string | undefined, options: BuiltinOptions): BuiltinSetup {
  for (const [option, { owner, flag }] of Object.entries(OPTION_OWNERS) as [keyof BuiltinOptions, { owner: string; flag: string }][]) {
    if (options[option] !== undefined && builtin !== owner) {
      throw new InvalidArgumentError(`${flag} applies only to the built-in ${owner} program`, {
        hint: builtin ? `${builtin} does not take ${flag}` : `for your own objects set constants with --set and maps with xdpkit map set`,
      });
    }
  }
  switch (builtin) {
    case 'drop_udp':
      return dropUdpSetup(options.ports);
    case 'redirect':
      return redirectSetup(options.target, options.fallback);
    case 'cpumap':
      return cpumapSetup(options.cpus, options.qsize);
    default:
      return { constants: {}, configure: () => {} };
  }
}

function dropUdpSetup(ports: number[] | undefined): BuiltinSetup {
  if (!ports || ports.length === 0) return { constants: { match_ports: 0 }, configure: () => {} };
  return {
    constants: { match_ports: 1 },
    configure: (object) => {
      const map = object.map('drop_ports').withCodecs(u32, u8);
      for (const port of ports) map.set(port, 1);
    },
  };
}

function redirectSetup(target: string | undefined, fallback: string | undefined): BuiltinSetup {
  const constants: Record<string, ConstantValue> = {};
  if (fallback !== undefined) {
    // redirect itself makes no sense as the verdict for "nowhere to redirect to".
    const allowed: Record<string, number> = { aborted: XdpAction.aborted, drop: XdpAction.drop, pass: XdpAction.pass, tx: XdpAction.tx };
    const action = allowed[fallback.toLowerCase()];
    if (action === undefined) {
      throw new InvalidArgumentError(`invalid --fallback ${JSON.stringify(fallback)}: expected pass, drop, tx or aborted`, {
        hint: 'use --fallback pass (hand the packet to the stack) or --fallback drop',
      });
    }
    constants.fallback_action = action;
  }
  return {
    constants,
    configure: (object) => {
      if (target !== undefined) setRedirectTarget(object.map('redirect_map'), 0, target);
    },
  };
}

/**
 * Writes `target` (a name or an ifindex) into slot `slot` of a DEVMAP. The value is the ifindex,
 * alone (4 bytes) or as the first field of struct bpf_devmap_val (8 bytes, no program).
 */
export function setRedirectTarget(devmap: BpfMap, slot: number, target: string): number {
  const ifindex = /^\d+$/.test(target) ? Number(target) : resolveTarget(target).ifindex;
  const value = Buffer.alloc(devmap.description.valueSize);
  value.writeUInt32LE(ifindex, 0);
  devmap.withCodecs(u32, bytes(value.length)).set(slot, value);
  return ifindex;
}

function cpumapSetup(cpus: number[] | undefined, qsize: number | undefined): BuiltinSetup {
  const chosen = cpus ?? [0];
  return {
    constants: { nr_cpus: chosen.length },
    configure: (object) => {
      const cpuMap = object.map('cpu_map').withCodecs(u32, cpumapValueCodec);
      const available = object.map('cpus_available').withCodecs(u32, u32);
      chosen.forEach((cpu, slot) => {
        cpuMap.set(cpu, { qsize: qsize ?? 2048, prog_id: 0 });
        available.set(slot, cpu);
      });
    },
  };
}
