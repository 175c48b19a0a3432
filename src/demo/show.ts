/**
 * How the demo talks to the user: section headings, the xdpkit commands it runs (printed the way
 * a user would type them, then their real output), and checks that stop the demo when the
 * kernel does not do what the text claims.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pc from 'picocolors';

const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));
const colors = pc.createColors(process.stdout.isTTY === true && !('NO_COLOR' in process.env));

export function heading(text: string): void {
  console.log(`\n${colors.bold(colors.cyan(`== ${text}`))}`);
}

export function say(text: string): void {
  console.log(text);
}

/**
 * Runs `xdpkit ARGS` inside the network namespace `netns` (entering only its network, so pins
 * in /sys/fs/bpf stay visible), prints the command and its output, and returns stdout.
 * A failing command stops the demo.
 */
export function xdpkit(netns: string, label: string, args: string[]): string {
  console.log(colors.dim(`[${label}]`) + colors.bold(` $ xdpkit ${args.join(' ')}`));
  const result = runIn(netns, args);
  const text = `${result.stdout}${result.stderr}`.trimEnd();
  if (text) console.log(text.replace(/^/gm, '    '));
  if (result.status !== 0) throw new Error(`xdpkit ${args.join(' ')} failed (exit ${result.status})`);
  return result.stdout;
}

/** Runs xdpkit in the namespace without printing anything (cleanup); failures are ignored. */
export function quietly(netns: string, args: string[]): void {
  runIn(netns, args);
}

function runIn(netns: string, args: string[]) {
  return spawnSync('nsenter', [`--net=/run/netns/${netns}`, process.execPath, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...(colors.isColorSupported ? { FORCE_COLOR: '1' } : { NO_COLOR: '1' }) },
  });
}

/** States an observed fact; throws when it is not what the demo expects. */
export function check(ok: boolean, fact: string, expected: string): void {
  if (!ok) throw new Error(`${fact}, but expected ${expected}`);
  console.log(`  ${colors.green('✔')} ${fact}`);
}
