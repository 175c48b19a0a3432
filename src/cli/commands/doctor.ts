/**
 * `xdpkit doctor [iface]`: one row per check, then the commands that fix what is wrong.
 * Exit status 1 when a check failed (after printing the whole report, --json included).
 */
import { Command } from 'commander';
import { type CheckResult, type CheckStatus, runDoctor } from '../../observe/doctor.js';
import { type Output, outputFor } from '../output.js';
import { argParser, parseInterfaceName } from '../validate.js';

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('check that this machine (and an interface) can run XDP programs')
    .argument('[interface]', 'interface to check (default: every interface)', argParser(parseInterfaceName, 'interface'))
    .option('--fix', 'perform the safe fixes: mount bpffs and tracefs')
    .action((iface: string | undefined, options: { fix?: boolean }, command: Command) => {
      const out = outputFor(command);
      const report = runDoctor({ fix: options.fix === true, interface: iface });
      out.result(report, () => printReport(report.checks, out));
      if (!report.ok) process.exitCode = 1;
    });
}

function printReport(checks: CheckResult[], out: Output): void {
  const paint = statusColors(out);
  out.table(
    [{ header: 'CHECK' }, { header: 'STATUS' }, { header: 'RESULT' }],
    checks.map((check) => [label(check), paint[check.status](check.status), check.summary]),
  );

  const toFix = checks.filter((check) => check.fix !== undefined && (check.status === 'warn' || check.status === 'fail'));
  if (toFix.length > 0) {
    out.line();
    out.line(out.colors.bold('To fix:'));
    const width = Math.max(...toFix.map((check) => label(check).length));
    for (const check of toFix) out.line(`  ${label(check).padEnd(width)}  ${check.fix}`);
  }
  const fixed = checks.flatMap((check) => (check.fixed === undefined ? [] : [check.fixed]));
  if (fixed.length > 0) {
    out.line();
    out.line(out.colors.bold('Fixed:'));
    for (const what of fixed) out.line(`  ${what}`);
  }

  const count = (status: CheckStatus) => checks.filter((check) => check.status === status).length;
  const failures = count('fail');
  const warnings = count('warn');
  out.line();
  out.line(
    failures > 0
      ? paint.fail(`${failures} failed, ${warnings} warning${warnings === 1 ? '' : 's'}`)
      : warnings > 0
        ? paint.warn(`no failures, ${warnings} warning${warnings === 1 ? '' : 's'}`)
        : paint.ok('all checks passed'),
  );
}

/** "interface:eth0" reads better as "interface eth0". */
function label(check: CheckResult): string {
  return check.id.replace(':', ' ');
}

function statusColors(out: Output): Record<CheckStatus, (text: string) => string> {
  const { green, yellow, red, dim } = out.colors;
  return { ok: green, info: dim, warn: yellow, fail: red };
}
