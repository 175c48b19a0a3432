/**
 * `xdpkit lb health [iface] [--verbose]`: the health checker, a long-running command beside the
 * load balancer (as keepalived's checkers sit beside IPVS and Katran's healthchecker beside its
 * XDP program): it checks the backends of every service that has a healthCheck and takes
 * failing ones out of the Maglev tables and puts them back, one generation flip per change,
 * logging one line per change. `lb apply` stays a one-shot command; the forwarding goes on with
 * the last decided states if the checker stops (run it under systemd with Restart=always).
 */
import { Command } from 'commander';
import { lbInterface, lbStateOf } from '../../lb/deploy.js';
import { checkOnce, runHealthChecker, type HealthChange } from '../../lb/health-checker.js';
import { formatCounted, outputFor } from '../output.js';
import { argParser, parseInterfaceName } from '../validate.js';

/** `2026-11-25T10:31:02.123Z web 198.18.0.10:80/tcp 198.18.1.2 up→down: 3 failed checks in a row (fall 3): tcp:80 connect ECONNREFUSED` */
export const formatHealthChange = (c: HealthChange): string => `${c.time} ${c.service} ${c.vip} ${c.backend} ${c.from}→${c.to}: ${c.reason}`;

export function lbHealthCommand(): Command {
  return new Command('health')
    .description('run the health checks of the live load balancer until Ctrl-C; take failing backends out and back in')
    .argument('[iface]', 'interface (default: the only load balancer in this namespace)', argParser(parseInterfaceName, 'interface'))
    .option('--verbose', 'print every check result (stderr)')
    .option('--once', 'run every check once and show the results; change nothing (a dry run)')
    .addHelpText(
      'after',
      '\nChecks come from each service\'s healthCheck (YAML, defaults.healthCheck, or lb service\n' +
        'add --health-check): a TCP connect, or an HTTP GET that must answer an expected status (2xx/3xx\n' +
        'unless expect says; Host header from host), to each backend\'s own address and the check port,\n' +
        'never through the VIP, from this network namespace, every interval. fall failures in a row\n' +
        'take a backend out of the Maglev table (its flows are re-picked), rise good ones put it back.\n' +
        'One line per change on stdout (--json: one object per line). Stopping the checker leaves the\n' +
        'tables as they are.',
    )
    .action(async (ifname: string | undefined, options: { verbose?: boolean; once?: boolean }, command: Command) => {
      const out = outputFor(command);
      const iface = lbInterface(ifname);
      if (options.once) {
        const results = await checkOnce(lbStateOf(iface));
        out.result({ iface, checks: results }, () => {
          if (results.length === 0) out.line(`${iface}: no service has a healthCheck`);
          else
            out.table(
              ['SERVICE', 'BACKEND', 'CHECK', 'RESULT', 'DETAIL', 'MS', 'IN TABLE'].map((header) => ({ header, ...(header === 'MS' && { align: 'right' as const }) })),
              results.map((r) => [r.service, r.backend, r.check.type, r.result.ok ? 'good' : 'FAILED', r.result.detail, r.result.ms, r.health]),
            );
        });
        return;
      }
      const stop = new AbortController();
      const onSignal = (): void => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      try {
        await runHealthChecker({
          ifname: iface,
          signal: stop.signal,
          onChange: (c) => (out.json ? out.jsonLine(c) : out.line(formatHealthChange(c))),
          onError: (e) => out.warn(`${e.message} (tried again next round)`),
          onWarning: (w) => out.warn(w),
          onTargets: (targets) => {
            if (targets.length === 0) {
              out.note(`${iface}: no service has a healthCheck; waiting for one (lb apply a config with healthCheck:, or lb service add --health-check)`);
              return;
            }
            const services = new Set(targets.map((t) => t.service));
            out.note(`${iface}: checking ${formatCounted(targets.length, 'backend')} of ${formatCounted(services.size, 'service')} (Ctrl-C to stop)`);
          },
          ...(options.verbose && { onProbe: (t, r) => out.note(`${new Date().toISOString()} ${t.service} ${t.backend} ${r.ok ? 'good' : 'FAILED'}: ${r.detail} (${r.ms} ms)`) }),
        });
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
