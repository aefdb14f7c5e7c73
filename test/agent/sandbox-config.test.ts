// Pure parts of the sandbox boundary: the OCI config crun gets, the seccomp
// profile, identity slots, the env an app sees, pasta's argv, the socket table.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { insideEnv } from '../../agent/sandbox/index.ts';
import { identityForSlot, pickSlot } from '../../agent/sandbox/identity.ts';
import { pastaArgs, tableListens } from '../../agent/sandbox/network.ts';
import { ociConfig, type OciInput } from '../../agent/sandbox/oci-config.ts';
import { seccompProfile } from '../../agent/sandbox/seccomp.ts';
import { unifiedToHide } from '../../agent/sandbox/runtime.ts';

const input: OciInput = {
  args: ['/bin/sh', '-c', 'x'], env: { PORT: '1', SECRET: 's3' }, hostname: 'web', identity: identityForSlot(2),
  appDir: '/data/instances/i1/disk/app', rootfs: '/run/forge/r/rootfs', view: { readOnlyDirs: ['/usr'], etcEntries: ['/etc/resolv.conf'] },
  generatedEtc: { '/run/forge/r/bundles/i1.etc/passwd': '/etc/passwd' }, netnsPath: '/run/netns/r.i1', tmpSizeMb: 64, seccomp: seccompProfile('x64'),
};

describe('ociConfig', () => {
  test('an unprivileged identity: uid 1000 in a user namespace mapped onto the service block, no capabilities, no_new_privs', () => {
    const c = ociConfig(input) as { process: Record<string, unknown>; linux: Record<string, unknown>; root: unknown };
    assert.deepEqual(c.process.user, { uid: 1000, gid: 1000, additionalGids: [] });
    assert.deepEqual(c.linux.uidMappings, [{ containerID: 0, hostID: 1_000_131_072, size: 65_536 }]);
    assert.deepEqual(c.process.capabilities, { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] });
    assert.equal(c.process.noNewPrivileges, true);
    assert.deepEqual((c.linux.namespaces as { type: string }[]).map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'user', 'uts']);
    assert.deepEqual(c.root, { path: '/run/forge/r/rootfs', readonly: true });
    assert.equal(c.process.cwd, '/app');
    assert.deepEqual(c.process.env, ['PORT=1', 'SECRET=s3']);
    assert.ok(!(c.process.args as string[]).some((a) => a.includes('s3')), 'no secret in argv');
  });

  test('the release is the only writable bind; system dirs are read-only; no /sys', () => {
    const mounts = (ociConfig(input) as { mounts: { destination: string; type: string; options?: string[] }[] }).mounts;
    const binds = mounts.filter((m) => m.type === 'bind');
    assert.deepEqual(binds.filter((m) => m.options?.includes('rw')).map((m) => m.destination), ['/app']);
    assert.ok(binds.filter((m) => m.destination !== '/app').every((m) => m.options?.includes('ro')));
    assert.ok(!mounts.some((m) => m.destination.startsWith('/sys')));
  });
});

describe('seccomp profile', () => {
  test('denies new namespaces, mounts, module loading and bpf; clone3 falls back to clone', () => {
    const p = seccompProfile('x64');
    const denied = p.syscalls[0]?.names ?? [];
    for (const name of ['unshare', 'setns', 'mount', 'umount2', 'init_module', 'finit_module', 'bpf', 'keyctl', 'ptrace']) assert.ok(denied.includes(name), name);
    assert.equal(p.syscalls.filter((r) => r.names[0] === 'clone').length, 7);
    assert.deepEqual(p.syscalls.at(-1), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });
});

describe('identities', () => {
  test('a service keeps its slot; a new one takes the lowest free slot above 0', () => {
    assert.equal(pickSlot({ a: 1, b: 3 }, 'a'), 1);
    assert.equal(pickSlot({ a: 1, b: 3 }, 'c'), 2);
    assert.equal(pickSlot({}, 'c'), 1);
    assert.deepEqual(identityForSlot(1), { hostBase: 1_000_065_536, hostUid: 1_000_066_536, hostGid: 1_000_066_536, slot: 1 });
  });
});

describe('what the app sees of its env', () => {
  test('host paths of the work dir become /app; PATH keeps only visible entries', () => {
    assert.deepEqual(insideEnv({ HOME: '/data/i1/app', PATH: '/root/.pyenv/shims:/usr/local/bin:/usr/bin:/opt/x', X: '/data/i1/app/sub' }, '/data/i1/app'), {
      HOME: '/app', PATH: '/usr/local/bin:/usr/bin', X: '/app/sub',
    });
  });
});

describe('network plumbing', () => {
  test("pasta forwards only $PORT on the agent's address, nothing back to the host, no gateway alias of loopback", () => {
    const args = pastaArgs({ name: 'n', stateDir: '/s', port: 20001, bindHost: '10.0.0.3', egress: true }, '/run/netns/n', '/s/p', '/s/l');
    assert.deepEqual(args.slice(args.indexOf('--no-map-gw')), ['--no-map-gw', '-t', '10.0.0.3/20001', '-u', 'none', '-T', 'none', '-U', 'none']);
    const build = pastaArgs({ name: 'n', stateDir: '/s', bindHost: '127.0.0.1', egress: true }, '/n', '/p', '/l');
    assert.equal(build[build.indexOf('-t') + 1], 'none', 'no port: nothing forwarded in');
  });

  test('a listening socket is found in /proc/<pid>/net/tcp by port and state 0A', () => {
    const table = '  sl  local_address rem_address   st\n   0: 00000000:4E21 00000000:0000 0A 0\n   1: 0100007F:4E22 0100007F:9C40 01 0\n';
    assert.equal(tableListens(table, 20001), true);
    assert.equal(tableListens(table, 20002), false, 'established, not listening');
  });

  test('a hybrid host whose unified hierarchy carries controllers has it hidden from crun', () => {
    const mountinfo = '30 25 0:26 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n';
    assert.equal(unifiedToHide(mountinfo, () => 'hugetlb\n'), '/sys/fs/cgroup/unified');
    assert.equal(unifiedToHide(mountinfo, () => ''), null);
    assert.equal(unifiedToHide('30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n', () => 'memory cpu'), null);
  });
});
