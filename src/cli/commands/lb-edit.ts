/**
 * `xdpkit lb service add|del|list` and `lb backend add|del|drain|undrain|weight`: edits of the live load
 * balancer, each one compiled into the inactive generation and made live by one flip (the same
 * path as `lb apply`), under the load balancer's lock. A refused edit changes nothing.
 *
 * Edits take `--iface`, optional when this network namespace has one load balancer. They change
 * the live config only: the next `lb apply -f FILE` replaces it with the file's, and warns which
 * edits it undid (each edit is kept in the live state until then; lb-apply.ts).
 */
import { Command } from 'commander';
import { InvalidArgumentError } from '../../bpf/errors.js';
import { freeRingSlots, lbHealthPath, lbInterface, lbStateOf, updateLoadBalancer, type LbApplyOutcome, type LbState } from '../../lb/deploy.js';
import { claimOwner } from '../../lb/lock.js';
import { addBackend, addService, findService, removeBackend, removeService, setBackendState, setBackendWeight } from '../../lb/edit.js';
import { backendRef, DEFAULT_TABLE_SIZE, formatHealthCheck, formatServiceKey, largestPrimeAtMost, MAX_WEIGHT, type BackendState, type LoadBalancer } from '../../lb/model.js';
import { neighbourMacs } from '../../lb/neighbours.js';
import { checkTableSize, parseAddress, parseHealthCheckSpec, parseMac, parseVip } from '../../lb/schema.js';
import { formatCount, formatCounted, outputFor, type Output } from '../output.js';
import { argParser, parseInterfaceName } from '../validate.js';

/** A field parser from src/lb (throws Error) as a commander parser that names the option. */
export function lbArg<T>(parse: (value: string) => T, option: string, hint: string): (value: string) => T {
  return (value) => {
    try {
      return parse(value);
    } catch (error) {
      if (error instanceof InvalidArgumentError) throw error;
      throw new InvalidArgumentError(`${option}: ${(error as Error).message}`, { hint });
    }
  };
}

const vipArg = lbArg((v) => (parseVip(v), v), 'service', 'e.g. 198.18.0.10:80/tcp or [2001:db8::10]:443/udp');
const addressArg = lbArg((v) => parseAddress(v).address, 'backend address', 'e.g. 198.18.1.1 or 2001:db8:1::1');
const weightArg = lbArg(
  (v) => {
    if (!/^\d+$/.test(v) || Number(v) > MAX_WEIGHT) throw new Error(`"${v}" is not a whole number 0..${MAX_WEIGHT}`);
    return Number(v);
  },
  'weight',
  '0 = no new flows; a backend with weight 2 gets twice the flows of one with 1',
);
const tableSizeArg = lbArg((v) => checkTableSize(Number(v)), '--table-size', 'a prime, e.g. 65537 (default), 16411 or 4099');
const enumArg = <T extends string>(values: readonly T[], option: string) =>
  lbArg(
    (v) => {
      if (!(values as readonly string[]).includes(v)) throw new Error(`"${v}" is not ${values.join(' or ')}`);
      return v as T;
    },
    option,
    `use ${values.join(' or ')}`,
  );

const EDITS_NOTE =
  '\nEdits change the live load balancer only: the next lb apply -f FILE replaces the live config with\n' +
  "the file's and undoes the edits it lacks (it says which). See first: xdpkit lb diff -f FILE;\n" +
  'save the live config with the edits: xdpkit lb export > FILE.\n';

const SERVICE_ARG = 'name, ADDRESS:PORT/PROTO, or the VIP when that names one service';

interface Edit {
  iface?: string;
}

/**
 * One line saying what changed and what is live now, then whatever `more` prints; `--json`: the
 * same as an object (with `extra`).
 */
export function report(out: Output, change: string, r: LbApplyOutcome, extra: Record<string, unknown> = {}, more?: () => void): void {
  const result = {
    iface: r.state.ifname,
    change,
    ...extra,
    egress: r.state.egress?.name ?? null,
    generation: r.state.image.generation,
    services: r.state.image.services.length,
    backends: r.state.image.backends.length,
    learnedMacs: r.learned,
    warnings: r.state.image.warnings,
  };
  out.result(result, () => {
    out.line(`${result.iface}: ${change}; generation ${result.generation} live (${formatCounted(result.services, 'service')}, ${formatCounted(result.backends, 'backend')})${result.egress ? `, out of ${result.egress}` : ''}`);
    more?.();
    for (const [a, m] of Object.entries(r.learned)) out.note(`MAC of ${a} from the neighbour table: ${m}`);
    for (const w of result.warnings) out.warn(w);
  });
}

/**
 * Applies one edit under the lock. `change` returns the next model and what it did (`done`, kept in
 * the live state until the next lb apply -f replaces it, which then says so); an edit that changed
 * nothing returns the model it got and no `done`.
 */
function edit(options: Edit, what: string, change: (model: LoadBalancer, state: LbState) => { model: LoadBalancer; done?: string }): LbApplyOutcome & { done?: string } {
  const ifname = lbInterface(options.iface);
  let done: string | undefined;
  const r = updateLoadBalancer(ifname, `${what} on ${ifname}`, (state) => {
    const next = change(state.model, state);
    done = next.done;
    return { model: next.model, ...(done !== undefined && { edit: done }) };
  });
  return { ...r, ...(done !== undefined && { done }) };
}

const ifaceOption = (command: Command): Command =>
  command.option('--iface <name>', 'interface of the load balancer (default: the only one in this namespace)', argParser(parseInterfaceName, '--iface'));

export function lbServiceCommand(): Command {
  const service = new Command('service').description('services (VIP:port/proto) of the live load balancer').addHelpText('after', EDITS_NOTE);

  service.addCommand(
    ifaceOption(
      new Command('add')
        .description('add a service (no backends yet: add them with lb backend add)')
        .argument('<vip>', 'ADDRESS:PORT/PROTO, e.g. 198.18.0.10:80/tcp; no :PORT = every port', vipArg)
        .option('--name <name>', 'service name (default svc-N)')
        .option('--mode <mode>', 'dsr-l2 (rewrite the MAC) or ipip (encapsulate)', enumArg(['dsr-l2', 'ipip'] as const, '--mode'), 'dsr-l2')
        .option('--hash <hash>', '5-tuple, or addresses (for protocols that change ports)', enumArg(['5-tuple', 'addresses'] as const, '--hash'), '5-tuple')
        .option('--table-size <prime>', 'Maglev table size, a prime (default 65537, or the most the ring has left)', tableSizeArg)
        .option('--health-check <spec>', "TYPE[:PORT][/PATH]: tcp, tcp:8080, http:80/healthz, to each backend's own address (run by lb health)")
        .option('--health-expect <statuses>', 'http check: statuses that count as healthy, e.g. 200, 2xx, 200-299 or 200,301 (default 2xx and 3xx)')
        .option('--health-host <name>', 'http check: the Host header to send, e.g. www.example.com'),
    ).action((vip: string, options: Edit & { name?: string; mode: 'dsr-l2' | 'ipip'; hash: '5-tuple' | 'addresses'; tableSize?: number; healthCheck?: string; healthExpect?: string; healthHost?: string }, command: Command) => {
      if (options.healthCheck === undefined && (options.healthExpect !== undefined || options.healthHost !== undefined)) {
        throw new InvalidArgumentError(`${options.healthExpect !== undefined ? '--health-expect' : '--health-host'} belongs to an http check, and there is no --health-check`, { hint: 'add one, e.g. --health-check http:80/healthz' });
      }
      const flags = { ...(options.healthExpect !== undefined && { expect: options.healthExpect }), ...(options.healthHost !== undefined && { host: options.healthHost }) };
      const healthCheck = options.healthCheck === undefined ? undefined : parseHealthCheckSpec(options.healthCheck, parseVip(vip).port, flags);
      let fitted: number | undefined;
      const r = edit(options, `adding service ${vip}`, (model, state) => {
        const free = freeRingSlots(state);
        // Without --table-size: the usual 65537 when the ring has room for it, else the most that fits.
        fitted = options.tableSize === undefined && free < DEFAULT_TABLE_SIZE ? largestPrimeAtMost(free) : undefined;
        const tableSize = options.tableSize ?? fitted;
        const next = addService(model, {
          vip,
          mode: options.mode,
          hash: options.hash,
          ...(options.name !== undefined && { name: options.name }),
          ...(tableSize !== undefined && { tableSize }),
          ...(healthCheck && { healthCheck }),
        });
        const added = next.services.at(-1)!;
        return { model: next, done: `service ${added.name} (${formatServiceKey(added)}) added` };
      });
      const out = outputFor(command);
      report(out, r.done!, r, { tableSize: r.state.model.services.at(-1)!.tableSize }, () => {
        if (fitted !== undefined) {
          out.note(`Maglev table of ${formatCount(fitted)} slots: what the ring has left (the default ${formatCount(DEFAULT_TABLE_SIZE)} needs a ring sized for it: lb apply --ring-slots on the first apply)`);
        }
      });
    }),
  );

  service.addCommand(
    ifaceOption(
      new Command('del')
        .alias('delete')
        .description('remove a service; its traffic passes to the host untouched from the flip on')
        .argument('<service>', SERVICE_ARG),
    ).action((ref: string, options: Edit, command: Command) =>
      editService(options, command, ref, `removing service ${ref}`, (model) => removeService(model, ref), (s) => `service ${s} removed`),
    ),
  );

  service.addCommand(
    new Command('list')
      .alias('ls')
      .description('services, their backends, weights, states and health')
      .argument('[iface]', 'interface (default: the only load balancer in this namespace)', argParser(parseInterfaceName, 'interface'))
      .action((ifname: string | undefined, _o: unknown, command: Command) => listServices(lbStateOf(lbInterface(ifname)), outputFor(command))),
  );
  return service;
}

function listServices(state: LbState, out: Output): void {
  const down = new Set(state.down ?? []);
  const services = state.model.services.map((s) => ({
    name: s.name,
    vip: formatServiceKey(s),
    mode: s.mode,
    hash: s.hash,
    tableSize: s.tableSize,
    healthCheck: s.healthCheck ?? null,
    backends: s.backends.map((b) => ({
      address: b.address,
      weight: b.weight,
      state: b.state,
      /** up/down as the health checker last decided; null without a health check. */
      health: s.healthCheck ? (down.has(backendRef(s, b.address)) ? 'down' : 'up') : null,
      mac: state.image.backends.find((x) => x.service === s.name && x.address === b.address)?.value.mac ?? null,
    })),
  }));
  const owner = claimOwner(lbHealthPath(state.key));
  const checker = owner?.alive ? { pid: owner.pid } : null;
  // What the first apply sized, so that an operator sees the room left for lb service add.
  const capacity = { ringSlotsPerGeneration: state.ringPerGen, ringSlotsUsed: state.model.services.reduce((n, s) => n + s.tableSize, 0), conntrackEntries: state.conntrack };
  out.result({ iface: state.ifname, generation: state.image.generation, appliedAt: state.appliedAt, checker, capacity, services }, () => {
    out.note(
      `${state.ifname}: generation ${state.image.generation} live; Maglev slots ${formatCount(capacity.ringSlotsUsed)} of ${formatCount(capacity.ringSlotsPerGeneration)} used; conntrack ${formatCount(capacity.conntrackEntries)} entries`,
    );
    if (services.some((s) => s.healthCheck)) {
      out.note(checker ? `health checker running (pid ${checker.pid})` : `no health checker runs: HEALTH is its last decision; start one: xdpkit lb health ${state.ifname}`);
    }
    if (services.length === 0) {
      out.line(`${state.ifname}: no services (add one: xdpkit lb service add ADDRESS:PORT/PROTO)`);
      return;
    }
    out.table(
      ['SERVICE', 'VIP', 'MODE', 'HASH', 'TABLE', 'CHECK', 'BACKEND', 'WEIGHT', 'STATE', 'HEALTH', 'MAC'].map((header) => ({
        header,
        ...((header === 'TABLE' || header === 'WEIGHT') && { align: 'right' as const }),
      })),
      services.flatMap((s) => {
        const head = [s.name, s.vip, s.mode, s.hash, s.tableSize, s.healthCheck ? formatHealthCheck(s.healthCheck) : '-'];
        if (s.backends.length === 0) return [[...head, '(none)', '', '', '', '']];
        return s.backends.map((b, i) => [...(i === 0 ? head : head.map(() => '')), b.address, b.weight, b.state, b.health ?? '-', b.mac ?? '-']);
      }),
    );
  });
}

/** `lb backend VERB <service> <address>` with --iface. */
const backendVerb = (verb: string, description: string): Command =>
  ifaceOption(new Command(verb).description(description).argument('<service>', SERVICE_ARG).argument('<address>', "the backend's address", addressArg));

/**
 * Applies one edit of a service and reports it; `says` gets the service as `name (key)` and
 * whether the edit changed nothing (draining a draining backend).
 */
function editService(options: Edit, command: Command, ref: string, what: string, change: (model: LoadBalancer) => LoadBalancer, says: (service: string, unchanged: boolean) => string): void {
  let text = '';
  const r = edit(options, what, (model) => {
    const service = describe(model, ref);
    const next = change(model);
    const unchanged = next === model;
    text = says(service, unchanged);
    return { model: next, ...(!unchanged && { done: text }) };
  });
  report(outputFor(command), text, r);
}

export function lbBackendCommand(): Command {
  const backend = new Command('backend').description('backends of a service of the live load balancer').addHelpText('after', EDITS_NOTE);

  backend.addCommand(
    backendVerb('add', 'add a backend to a service (it gets its Maglev share of new flows from the flip on)')
      .option('--weight <w>', `share of new flows, 0..${MAX_WEIGHT} (default 1)`, weightArg)
      .option('--mac <mac>', 'next-hop MAC (default: from the neighbour table)', lbArg(parseMac, '--mac', 'e.g. 02:00:00:00:01:01'))
      .action((ref: string, address: string, options: Edit & { weight?: number; mac?: string }, command: Command) => {
        if (options.mac === undefined && !neighbourMacs().has(address)) {
          throw new InvalidArgumentError(`no MAC for ${address}: this host's neighbour table does not have it`, {
            hint: `give it with --mac, or let this host learn it first (ping -c 1 ${address})`,
          });
        }
        const spec = { address, ...(options.weight !== undefined && { weight: options.weight }), ...(options.mac !== undefined && { mac: options.mac }) };
        editService(options, command, ref, `adding backend ${address} to ${ref}`, (model) => addBackend(model, ref, spec), (s) => `backend ${address} added to ${s}`);
      }),
  );
  backend.addCommand(
    backendVerb('del', 'remove a backend: its flows move to the others (drain it first to let them end)')
      .alias('delete')
      .action((ref: string, address: string, options: Edit, command: Command) =>
        editService(options, command, ref, `removing backend ${address} from ${ref}`, (model) => removeBackend(model, ref, address), (s) => `backend ${address} removed from ${s}`),
      ),
  );
  backend.addCommand(
    backendVerb('weight', "change a backend's share of new flows (its established flows stay)")
      .argument('<weight>', `0..${MAX_WEIGHT} (0 = no new flows)`, weightArg)
      .action((ref: string, address: string, weight: number, options: Edit, command: Command) =>
        editService(options, command, ref, `setting the weight of backend ${address} of ${ref}`, (model) => setBackendWeight(model, ref, address, weight), (s) => `backend ${address} of ${s} now has weight ${weight}`),
      ),
  );
  const stateVerb = (verb: string, state: BackendState, description: string): Command =>
    backendVerb(verb, description).action((ref: string, address: string, options: Edit, command: Command) =>
      editService(options, command, ref, `setting backend ${address} of ${ref} ${state}`, (model) => setBackendState(model, ref, address, state), (s, unchanged) => `backend ${address} of ${s} ${unchanged ? 'was already' : 'now'} ${state}`),
    );
  backend.addCommand(stateVerb('drain', 'draining', 'no new flows to a backend; its established flows stay until they end'));
  backend.addCommand(stateVerb('undrain', 'active', 'a drained backend takes new flows again').alias('activate'));
  return backend;
}

const describe = (model: LoadBalancer, ref: string): string => {
  const s = findService(model, ref);
  return `${s.name} (${formatServiceKey(s)})`;
};
