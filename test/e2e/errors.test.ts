/**
 * Every way `xdpkit prog load` (and map/redirect/status) can fail, as a user sees it: the
 * message, the details, the hint and the exit status, both human (stderr) and --json (stdout);
 * and after each failure, that nothing changed: the drop_udp loaded at the start is still the
 * program on the interface, still dropping UDP to port 53 and passing port 54.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runCommand, Testbed, type UdpListener } from '../../src/net/index.js';
import {
  assertHumanError,
  assertJsonError,
  assertOk,
  cleanUpNamespace,
  cliIn,
  skipUnlessRoot,
  type CliOptions,
  type ExpectedError,
} from '../helpers/cli.js';

interface StatusEntry {
  ifname: string;
  attachments: { programId: number; programName: string; linkId?: number; mode: string; managed: boolean }[];
}

describe('errors: message, hint, exit status (human and --json), and the previous state intact', { skip: skipUnlessRoot }, () => {
  let bed: Testbed;
  let netns: string;
  let cli: ReturnType<typeof cliIn>;
  let port53: UdpListener;
  let port54: UdpListener;
  let dropId = 0;
  let linkId = 0;

  before(async () => {
    bed = await Testbed.pair();
    netns = bed.netns('b');
    cli = cliIn(netns);
    // A device without native XDP.
    await runCommand(['ip', '-n', netns, 'link', 'add', 'br0', 'type', 'bridge']);
    await runCommand(['ip', '-n', netns, 'link', 'set', 'br0', 'up']);
    port53 = await bed.udpListen('b', bed.address('b'), 53);
    port54 = await bed.udpListen('b', bed.address('b'), 54);
    const load = assertOk(await cli(['--json', 'prog', 'load', 'eth0', 'drop_udp', '--port', '53']));
    dropId = load.json<{ programId: number }>().programId;
    linkId = (await attachment('eth0'))!.linkId!;
  });

  after(async () => {
    const forced = bed ? await cleanUpNamespace(netns, ['eth0', 'br0']) : [];
    await bed?.destroy();
    assert.deepEqual(forced, [], 'the tests left pins or records behind');
  });

  async function attachment(ifname: string): Promise<StatusEntry['attachments'][number] | undefined> {
    const run = assertOk(await cli(['status', ifname, '--json']));
    return run.json<StatusEntry[]>()[0]?.attachments[0];
  }

  /** drop_udp (the same program, through the same link) still runs: 53 dropped, 54 delivered. */
  async function assertIntact(): Promise<void> {
    const now = await attachment('eth0');
    assert.equal(now?.programId, dropId, 'the program on eth0 is unchanged');
    assert.equal(now?.linkId, linkId, 'through the same link');
    assert.equal(now?.managed, true);
    const dropped = port53.count;
    const delivered = port54.count;
    await bed.sendUdp('a', { dst: bed.address('b'), port: 53, payload: 'still dropped?' });
    await bed.sendUdp('a', { dst: bed.address('b'), port: 54, payload: 'still delivered?' });
    assert.equal(await port54.waitFor(delivered + 1, 5000), delivered + 1, 'port 54 still delivered');
    assert.equal(port53.count, dropped, 'port 53 still dropped');
  }

  /** Runs `args` twice, human and --json, checks both reports, then that nothing changed. */
  async function fails(args: string[], expected: ExpectedError & { type: string; errno?: string }, options: Omit<CliOptions, 'netns'> = {}): Promise<void> {
    assertHumanError(await cli(args, options), expected);
    assertJsonError(await cli(['--json', ...args], options), expected);
    await assertIntact();
  }

  const ROOT_HINT = /root.*CAP_BPF.*CAP_NET_ADMIN|CAP_NET_ADMIN.*CAP_BPF/;

  it('not root: load fails with EPERM, says permission denied, hints root / CAP_BPF / CAP_NET_ADMIN', async () => {
    await fails(
      ['prog', 'load', 'eth0', 'pass', '--force'],
      { code: 1, type: 'PermissionDeniedError', errno: 'EPERM', message: /^loading \S+\/build\/bpf\/pass\.o: permission denied$/, hint: ROOT_HINT },
      { unprivileged: true },
    );
  });

  it('not root: status and unload fail the same way, and unload removes nothing', async () => {
    for (const args of [['status'], ['prog', 'unload', 'eth0'], ['map', 'dump', 'eth0', 'drop_ports']]) {
      await fails(args, { code: 1, type: 'PermissionDeniedError', errno: 'EPERM', message: /permission denied$/, hint: ROOT_HINT }, { unprivileged: true });
    }
  });

  it('the verifier rejects unbounded.o: its complaint, the trimmed log with the failing instruction, a hint', async () => {
    const args = ['prog', 'load', 'eth0', 'build/fixtures/kernel/unbounded.o', '--force'];
    const expected = {
      code: 1 as const,
      type: 'VerifierError',
      message: /^the verifier rejected \S+\/build\/fixtures\/kernel\/unbounded\.o: invalid access to packet, off=12 size=1/,
      details: /r2 = \*\(u8 \*\)\(r1 \+12\)\n\s*invalid access to packet/,
      hint: /bounds check.*--log-level 2/,
    };
    await fails(args, expected);
    const json = assertJsonError(await cli(['--json', ...args]), expected);
    assert.match(json.details ?? '', /if \(eth->h_proto == 0x0008\)/, 'the source line is in the log');
    assert.ok((json.details ?? '').split('\n').length < 40, 'the log is trimmed');
  });

  it('native mode on a bridge: names the driver and hints --mode generic; br0 stays without a program', async () => {
    await fails(['prog', 'load', 'br0', 'pass'], {
      code: 1,
      type: 'NotSupportedError',
      errno: 'EOPNOTSUPP',
      message: /^native XDP is not supported by the bridge driver of br0$/,
      hint: /--mode generic/,
    });
    assert.equal(await attachment('br0'), undefined);
  });

  it('--mode auto on the bridge works, in generic mode, and warns that it fell back', async () => {
    const human = assertOk(await cli(['prog', 'load', 'br0', 'pass', '--mode', 'auto']));
    assert.match(human.stdout, /^loaded pass \(xdp_pass, id \d+\) on br0 in generic mode via link\n$/);
    assert.match(human.stderr, /^warning: native XDP is not supported by the bridge driver of br0: attached in generic mode \(--mode auto\)$/m);
    assert.equal((await attachment('br0'))?.mode, 'generic');
    assertOk(await cli(['prog', 'unload', 'br0']));
    const json = assertOk(await cli(['--json', 'prog', 'load', 'br0', 'pass', '--mode', 'auto']));
    const result = json.json<{ mode: string; fallbackReason: string | null }>();
    assert.equal(result.mode, 'generic');
    assert.equal(result.fallbackReason, 'native XDP is not supported by the bridge driver of br0');
    assert.equal(json.stderr, '', '--json keeps stderr for errors');
    assertOk(await cli(['prog', 'unload', 'br0']));
    await assertIntact();
  });

  it('EBUSY: a second load without --force names the attached program and its id; hints --force and unload', async () => {
    await fails(['prog', 'load', 'eth0', 'pass'], {
      code: 1,
      type: 'BusyError',
      errno: 'EBUSY',
      message: new RegExp(`^eth0 already has XDP program xdp_drop_udp \\(id ${dropId}, native mode, link ${linkId}\\)$`),
      hint: /--force.*xdpkit prog unload eth0/,
    });
  });

  it('an unknown interface: lists the ones that exist', async () => {
    await fails(['prog', 'load', 'nosuch0', 'pass'], {
      code: 1,
      type: 'NotFoundError',
      errno: 'ENODEV',
      message: /^interface nosuch0 does not exist in this network namespace$/,
      details: /^\s*interfaces here: lo \(1\), eth0 \(\d+\), br0 \(\d+\)$/,
      hint: /ip -br link/,
    });
  });

  it('a missing object file', async () => {
    await fails(['prog', 'load', 'eth0', './missing.o', '--force'], {
      code: 1,
      type: 'NotFoundError',
      message: /^object file \/\S+\/missing\.o does not exist$/,
      hint: /clang .*-target bpf.*built-in/,
    });
  });

  it('a mistyped built-in name: lists the built-ins and suggests the near one', async () => {
    await fails(['prog', 'load', 'eth0', 'drop_upd', '--force'], {
      code: 1,
      type: 'NotFoundError',
      message: /^there is no built-in program or object file named "drop_upd"$/,
      details: /built-in programs: pass, drop_udp, /,
      hint: /^did you mean drop_udp\?$/,
    });
  });

  it('a missing section: lists the programs and sections in the file', async () => {
    await fails(['prog', 'load', 'eth0', 'build/fixtures/seed/xdp_drop_udp.o', '--section', 'nope', '--force'], {
      code: 1,
      type: 'NotFoundError',
      message: /^\S+\/xdp_drop_udp\.o has no program or section named "nope"$/,
      details: /program xdp_drop_udp_func\s+section xdp_drop_udp/,
      hint: /--section/,
    });
  });

  it('a bad --mode is a usage error naming the option', async () => {
    await fails(['prog', 'load', 'eth0', 'pass', '--mode', 'turbo', '--force'], {
      code: 2,
      type: 'InvalidArgumentError',
      message: /^invalid --mode "turbo": expected native, generic or auto$/,
      hint: /--mode native .*generic.*auto/,
    });
  });

  it('--port 70000 is a usage error naming the option and the range', async () => {
    await fails(['prog', 'load', 'eth0', 'drop_udp', '--port', '70000', '--force'], {
      code: 2,
      type: 'InvalidArgumentError',
      message: /^invalid --port "70000": a port is 0 to 65535$/,
      hint: /--port .*0 to 65535/,
    });
  });

  it('--port with a program other than drop_udp is a usage error naming --port', async () => {
    await fails(['prog', 'load', 'eth0', 'pass', '--port', '53', '--force'], {
      code: 2,
      type: 'InvalidArgumentError',
      message: /^--port applies only to the built-in drop_udp program$/,
      hint: /^pass does not take --port$/,
    });
    await fails(['prog', 'load', 'eth0', 'build/fixtures/seed/xdp_pass.o', '--port', '53', '--force'], {
      code: 2,
      type: 'InvalidArgumentError',
      message: /^--port applies only to the built-in drop_udp program$/,
      hint: /--set .*map set/,
    });
  });

  it('map get: a key past the array, a map the program does not have', async () => {
    await fails(['map', 'get', 'eth0', 'drop_ports', '70000'], {
      code: 1,
      type: 'NotFoundError',
      message: /^map drop_ports has no key 70000: its keys run from 0 to 65535$/,
      hint: /0 to 65535/,
    });
    await fails(['map', 'get', 'eth0', 'nosuch', '1'], {
      code: 1,
      type: 'NotFoundError',
      message: /^the program on eth0 has no map "nosuch"$/,
      details: /its maps: .*drop_ports \(id \d+, array\)/,
      hint: /xdpkit map list eth0/,
    });
  });

  it('map get on an interface without a program says how to load one', async () => {
    await fails(['map', 'get', 'br0', 'drop_ports', '53'], {
      code: 1,
      type: 'NotFoundError',
      message: /^br0 has no XDP program$/,
      hint: /xdpkit prog load br0/,
    });
  });

  it('redirect set on an interface whose program has no DEVMAP', async () => {
    await fails(['redirect', 'set', 'eth0', 'lo'], {
      code: 1,
      type: 'NotFoundError',
      message: /^the program on eth0 has no DEVMAP$/,
      hint: /xdpkit prog load eth0 redirect --target/,
    });
  });

  it('an unknown option and a missing argument are usage errors (exit 2) pointing at the help', async () => {
    await fails(['prog', 'load', 'eth0', 'pass', '--bogus'], { code: 2, type: 'UsageError', message: /^unknown option '--bogus'$/, hint: /xdpkit prog load --help/ });
    await fails(['prog', 'load', 'eth0'], { code: 2, type: 'UsageError', message: /^missing required argument 'program'$/, hint: /xdpkit prog load --help/ });
  });
});
