import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { capabilitiesCheck, effectiveCapabilities, jitCheck, kernelCheck, kernelVersion, unprivilegedCheck } from '../../src/observe/doctor.js';

const status = (capEff: string) => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe('capabilities', () => {
  it('reads the CapEff bits that matter', () => {
    assert.deepEqual([...effectiveCapabilities(status('000001fffeffffff'))].sort(), ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_SYS_ADMIN']);
    assert.deepEqual([...effectiveCapabilities(status('0000000000000000'))], []);
  });
  it('CAP_NET_ADMIN with CAP_BPF + CAP_PERFMON is enough', () => {
    const mask = ((1n << 12n) | (1n << 38n) | (1n << 39n)).toString(16).padStart(16, '0');
    assert.equal(capabilitiesCheck(status(mask)).status, 'ok');
  });
  it('CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON', () => {
    const mask = ((1n << 12n) | (1n << 21n)).toString(16).padStart(16, '0');
    assert.equal(capabilitiesCheck(status(mask)).status, 'ok');
  });
  it('fails naming what is missing, with the fix', () => {
    const mask = (1n << 39n).toString(16).padStart(16, '0');
    const check = capabilitiesCheck(status(mask));
    assert.equal(check.status, 'fail');
    assert.match(check.summary, /^missing CAP_NET_ADMIN, CAP_PERFMON \(have: CAP_BPF\)$/);
    assert.match(check.fix ?? '', /sudo xdpkit .*setcap cap_bpf,cap_net_admin,cap_perfmon\+ep/);
  });
});

describe('kernel', () => {
  it('parses the release', () => {
    assert.deepEqual(kernelVersion('6.18.44-fc-v595'), [6, 18]);
    assert.deepEqual(kernelVersion('5.10.0-28-amd64'), [5, 10]);
  });
  it('warns below 5.9 (links) and 5.18 (live frames)', () => {
    assert.equal(kernelCheck('6.1.0').status, 'ok');
    assert.equal(kernelCheck('5.18.0').status, 'ok');
    assert.match(kernelCheck('5.15.0').summary, /live frames/);
    assert.equal(kernelCheck('5.15.0').status, 'warn');
    assert.match(kernelCheck('5.4.0').summary, /no BPF links/);
    assert.equal(kernelCheck('5.4.0').status, 'warn');
  });
});

describe('sysctls', () => {
  it('JIT: on is ok, off or debug warns with the sysctl', () => {
    assert.equal(jitCheck('1').status, 'ok');
    assert.deepEqual([jitCheck('0').status, jitCheck('0').fix], ['warn', 'sysctl -w net.core.bpf_jit_enable=1']);
    assert.equal(jitCheck('2').status, 'warn');
    assert.match(jitCheck(undefined, () => true).summary, /was JIT-compiled/);
    assert.equal(jitCheck(undefined, () => true).status, 'ok');
    assert.equal(jitCheck(undefined, () => false).status, 'warn');
    assert.match(jitCheck(undefined, () => undefined).summary, /unknown/);
  });
  it('unprivileged BPF is only information', () => {
    for (const value of ['0', '1', '2', undefined]) assert.equal(unprivilegedCheck(value).status, 'info');
    assert.match(unprivilegedCheck('2').summary, /only privileged users/);
  });
});
