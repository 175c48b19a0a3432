/**
 * `xdpkit lb …`: the load balancer on an interface.
 *   lb apply -f lb.yaml --iface IF [--source ADDR]… [--egress IF] [--mode] [--conntrack N] [--force] [--dry-run]
 *   lb diff -f lb.yaml [--iface IF], lb export [IF]   the config as a whole (lb-apply.ts)
 *   lb service add|del|list, lb backend add|del|drain|undrain   edits of the live config (lb-edit.ts)
 *   lb health [IF]               the health checker, until Ctrl-C (lb-health.ts)
 *   lb stats [IF] [--watch]      per-service and per-backend packets, bytes, new flows, rates (lb-stats.ts)
 *   lb explain IF <proto> <src>:<sport> <dst>:<dport>   which backend and why
 *   lb decap IF --address ADDR…  attach lb_decap (strip IPIP / IPv6-in-IP to these addresses)
 */
import { join } from 'node:path';
import { Command } from 'commander';
import { u8 } from '../../bpf/codecs.js';
import { InvalidArgumentError } from '../../bpf/errors.js';
import { explainFlow, parseEndpoint } from '../../lb/explain.js';
import { lbStateOf, openLbMaps } from '../../lb/deploy.js';
import { decapKeyCodec } from '../../lb/layout.js';
import type { LbProto } from '../../lb/model.js';
import { parseAddress } from '../../lb/schema.js';
import { packageRoot } from '../../programs/catalogue.js';
import { loadOnInterface } from '../../programs/manager.js';
import { outputFor } from '../output.js';
import { lbApplyCommand, lbDiffCommand, lbExportCommand } from './lb-apply.js';
import { lbArg, lbBackendCommand, lbServiceCommand } from './lb-edit.js';
import { lbHealthCommand } from './lb-health.js';
import { lbStatsCommand } from './lb-stats.js';
import { argParser, parseInterfaceName, parseMode, repeatable } from '../validate.js';

export function lbCommand(): Command {
  const lb = new Command('lb').description('L4 load balancer: Maglev, conntrack, dsr-l2 and ipip');
  lb.addCommand(lbApplyCommand());
  lb.addCommand(lbDiffCommand());
  lb.addCommand(lbExportCommand());
  lb.addCommand(lbServiceCommand());
  lb.addCommand(lbBackendCommand());
  lb.addCommand(lbStatsCommand());
  lb.addCommand(lbHealthCommand());
  lb.addCommand(
    new Command('explain')
      .description('which backend a flow goes to and why (conntrack hit or Maglev slot)')
      .argument('<iface>', 'interface', argParser(parseInterfaceName, 'interface'))
      .argument('<proto>', 'tcp or udp')
      .argument('<src>', 'client ADDRESS:PORT ([v6]:port)')
      .argument('<dst>', 'VIP ADDRESS:PORT')
      .addHelpText(
        'after',
        '\nThe flow as the client sends it, e.g. lb explain eth0 tcp 198.18.0.1:40000 198.18.0.10:80\n' +
          '(IPv6: [2001:db8::1]:40000). Reads the live maps the way the XDP program does and changes\n' +
          'nothing: a conntrack hit keeps an established flow on its backend; a new flow takes the\n' +
          'backend in its Maglev slot (hash % table size); anything that is no VIP:port/proto passes.',
      )
      .action((ifname: string, proto: string, srcText: string, dstText: string, _o: unknown, command: Command) => {
        const out = outputFor(command);
        if (proto !== 'tcp' && proto !== 'udp') throw new InvalidArgumentError(`protocol "${proto}": the load balancer handles tcp or udp`, { hint: 'e.g. lb explain eth0 tcp 198.18.0.1:40000 198.18.0.10:80' });
        let src, dst;
        try {
          src = parseEndpoint(srcText);
          dst = parseEndpoint(dstText);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message, { hint: 'e.g. lb explain eth0 tcp 198.18.0.1:40000 198.18.0.10:80' });
        }
        const state = lbStateOf(ifname);
        const maps = openLbMaps(state);
        try {
          const r = explainFlow(maps, state.image, { proto: proto as LbProto, src: src.address, srcPort: src.port, dst: dst.address, dstPort: dst.port });
          out.result(r, () => {
            const service = r.serviceName !== undefined ? `${r.serviceName} (${r.service})` : r.service;
            const verdict = r.verdict === 'backend' ? `backend ${r.backend!.address} (id ${r.backend!.id}) of ${service}, ${r.mode}` : r.verdict === 'drop' ? `drop, service ${service}` : r.verdict;
            out.line(`${r.flow}: ${verdict}`);
            out.line(`  ${r.reason}`);
          });
        } finally {
          maps.close();
        }
      }),
  );
  lb.addCommand(
    new Command('decap')
      .description('on a backend (ipip mode): attach lb_decap, which strips the outer IPv4/IPv6 header of packets to the --address addresses and passes the inner packet up')
      .argument('<iface>', 'interface the encapsulated traffic arrives on', argParser(parseInterfaceName, 'interface'))
      .requiredOption('--address <addr>', 'an address of this host that tunnels end at (repeatable)', repeatable(lbArg(parseAddress, '--address', 'e.g. --address 198.18.1.1 --address 2001:db8:1::1')))
      .option('--mode <mode>', 'XDP mode: native, generic or auto', argParser(parseMode, '--mode'), 'auto')
      .option('--force', 'replace another XDP program on the interface')
      .action((ifname: string, options: { address: ReturnType<typeof parseAddress>[]; mode: ReturnType<typeof parseMode>; force?: boolean }, command: Command) => {
        const out = outputFor(command);
        const r = loadOnInterface({
          ifname,
          program: join(packageRoot(), 'build', 'bpf', 'lb_decap.o'),
          mode: options.mode,
          force: options.force ?? false,
          pinMaps: true,
          configure: (object) => {
            const addrs = object.map('lb_decap_addrs').withCodecs(decapKeyCodec, u8);
            for (const a of options.address) addrs.set({ addr: a.bytes, family: a.family }, 1);
          },
        });
        const result = { iface: r.record.ifname, mode: r.record.mode, addresses: options.address.map((a) => a.address) };
        out.result(result, () => out.line(`${result.iface}: lb_decap attached (${result.mode}) for ${result.addresses.join(', ')}`));
      }),
  );
  return lb;
}
