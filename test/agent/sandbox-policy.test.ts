// Pure pieces of the sandbox: parsing the kernel's cgroup files, limits
// arithmetic, exit classification and the argv that joins a cgroup.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { createCgroupV2 } from '../../agent/sandbox/cgroup-v2.ts';
import { classifyExit, isForkFailureLine, signalFromCode, type ExitFacts } from '../../agent/sandbox/exit.ts';
import { sandboxArgv } from '../../agent/sandbox/namespaces.ts';
import {
  cpuQuota,
  locateV1,
  locateV2,
  memoryLimitBytes,
  ownCgroupDir,
  parseKeyedCounters,
  parseMountinfo,
  parseProcCgroup,
  safeCgroupName,
} from '../../agent/sandbox/paths.ts';

const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw`;

const HYBRID_PROC_CGROUP = `9:name=systemd:/
8:pids:/
4:memory:/process_api/abc
1:cpu,cpuacct:/
0::/`;

describe('parseMountinfo', () => {
  test('finds v1 hierarchies with their controllers and the unified mount', () => {
    assert.deepEqual(parseMountinfo(HYBRID_MOUNTINFO), [
      { fsType: 'cgroup', mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', controllers: ['cpu', 'cpuacct'] },
      { fsType: 'cgroup', mountPoint: '/sys/fs/cgroup/memory', root: '/', controllers: ['memory'] },
      { fsType: 'cgroup', mountPoint: '/sys/fs/cgroup/pids', root: '/', controllers: ['pids'] },
      { fsType: 'cgroup', mountPoint: '/sys/fs/cgroup/systemd', root: '/', controllers: [] },
      { fsType: 'cgroup2', mountPoint: '/sys/fs/cgroup/unified', root: '/', controllers: [] },
    ]);
  });

  test('unescapes spaces in mount points', () => {
    const [mount] = parseMountinfo('50 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 cgroup2 rw');
    assert.equal(mount?.mountPoint, '/mnt/my cgroups');
  });
});

describe('locating our cgroup', () => {
  test('v1: each controller maps to our own cgroup dir in its hierarchy', () => {
    const mounts = parseMountinfo(HYBRID_MOUNTINFO);
    assert.deepEqual(locateV1(mounts, parseProcCgroup(HYBRID_PROC_CGROUP), ['memory', 'cpu', 'pids']), {
      memory: '/sys/fs/cgroup/memory/process_api/abc',
      cpu: '/sys/fs/cgroup/cpu,cpuacct',
      pids: '/sys/fs/cgroup/pids',
    });
  });

  test('v1: a missing controller is left out', () => {
    const mounts = parseMountinfo(HYBRID_MOUNTINFO).filter((m) => !m.controllers.includes('pids'));
    assert.deepEqual(Object.keys(locateV1(mounts, parseProcCgroup(HYBRID_PROC_CGROUP), ['memory', 'pids'])), ['memory']);
  });

  test('v2: the unified mount point', () => {
    assert.equal(locateV2(parseMountinfo(HYBRID_MOUNTINFO)), '/sys/fs/cgroup/unified');
    assert.equal(locateV2(parseMountinfo('25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw')), '/sys/fs/cgroup');
    assert.equal(locateV2([]), undefined);
  });

  test('a container mount rooted below / is resolved relative to its root', () => {
    const mount = { fsType: 'cgroup' as const, mountPoint: '/sys/fs/cgroup/memory', root: '/docker/c1', controllers: ['memory'] };
    assert.equal(ownCgroupDir(mount, '/docker/c1'), '/sys/fs/cgroup/memory');
    assert.equal(ownCgroupDir(mount, '/docker/c1/app'), '/sys/fs/cgroup/memory/app');
    assert.equal(ownCgroupDir(mount, '/other'), undefined);
  });

  test('parseProcCgroup keeps the v2 line and drops named hierarchies from controller lists', () => {
    assert.deepEqual(parseProcCgroup(HYBRID_PROC_CGROUP), [
      { hierarchyId: 9, controllers: [], path: '/' },
      { hierarchyId: 8, controllers: ['pids'], path: '/' },
      { hierarchyId: 4, controllers: ['memory'], path: '/process_api/abc' },
      { hierarchyId: 1, controllers: ['cpu', 'cpuacct'], path: '/' },
      { hierarchyId: 0, controllers: [], path: '/' },
    ]);
  });
});

describe('limits arithmetic', () => {
  const cases: Array<[number, number | null]> = [
    [0.5, 50_000],
    [1, 100_000],
    [2.25, 225_000],
    [0.001, 1000], // the kernel's floor
    [0, null],
    [-1, null],
  ];
  for (const [cpus, quota] of cases) {
    test(`cpuQuota(${cpus}) → ${quota}`, () => assert.deepEqual(cpuQuota(cpus), { quotaUs: quota, periodUs: 100_000 }));
  }
  test('memoryLimitBytes', () => {
    assert.equal(memoryLimitBytes(64), 67_108_864);
    assert.equal(memoryLimitBytes(0.5), 524_288);
  });
  test('safeCgroupName keeps ids to a safe alphabet', () => {
    assert.equal(safeCgroupName('web-1.build_2'), 'web-1.build_2');
    assert.equal(safeCgroupName('../../etc'), '__.._etc');
    assert.equal(safeCgroupName('a b/c'), 'a_b_c');
    assert.equal(safeCgroupName(''), '_');
  });
  test('parseKeyedCounters reads memory.events and memory.oom_control', () => {
    assert.deepEqual(parseKeyedCounters('low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n'), { low: 0, high: 0, max: 12, oom: 1, oom_kill: 1 });
    assert.deepEqual(parseKeyedCounters('oom_kill_disable 0\nunder_oom 0\noom_kill 3'), { oom_kill_disable: 0, under_oom: 0, oom_kill: 3 });
    assert.deepEqual(parseKeyedCounters(''), {});
  });
});

describe('classifyExit', () => {
  const base: ExitFacts = {
    code: 0,
    signal: null,
    oomKills: 0,
    pidsMaxHits: 0,
    forkFailureSeen: false,
    stopRequested: false,
    codeMaySignal: true,
    memoryMb: 64,
    pidsMax: 32,
  };
  const table: Array<[string, Partial<ExitFacts>, { reason: string; message: string; signal: string | null }]> = [
    ['clean exit', {}, { reason: 'exited', message: 'exited with code 0', signal: null }],
    ['failure', { code: 1 }, { reason: 'exited', message: 'exited with code 1', signal: null }],
    ['OOM through the shell init (137)', { code: 137, oomKills: 1 }, { reason: 'oom', message: 'OOM-killed at 64 MB limit', signal: 'SIGKILL' }],
    ['OOM, direct signal', { code: null, signal: 'SIGKILL', oomKills: 2 }, { reason: 'oom', message: 'OOM-killed at 64 MB limit', signal: 'SIGKILL' }],
    ['OOM of a helper but a clean exit', { code: 0, oomKills: 1 }, { reason: 'exited', message: 'exited with code 0', signal: null }],
    ['pids.max hit', { code: 2, pidsMaxHits: 5 }, { reason: 'pids-limit', message: 'stopped by the process limit: fork refused at pids.max=32', signal: null }],
    ['fork failure seen in output', { code: 2, forkFailureSeen: true }, { reason: 'pids-limit', message: 'stopped by the process limit: fork refused at pids.max=32', signal: null }],
    ['stopped by Forge', { code: 143, stopRequested: true }, { reason: 'stopped', message: 'stopped (SIGTERM)', signal: 'SIGTERM' }],
    ['stopped, app exits 0 on SIGTERM', { code: 0, stopRequested: true }, { reason: 'stopped', message: 'stopped (exit code 0)', signal: null }],
    ['segfault', { code: 139 }, { reason: 'signaled', message: 'killed by signal SIGSEGV', signal: 'SIGSEGV' }],
    ['unconfined: 137 is just a code', { code: 137, codeMaySignal: false }, { reason: 'exited', message: 'exited with code 137', signal: null }],
  ];
  for (const [name, facts, want] of table) {
    test(name, () => {
      const got = classifyExit({ ...base, ...facts });
      assert.deepEqual({ reason: got.reason, message: got.message, signal: got.signal }, want);
    });
  }

  test('signalFromCode', () => {
    assert.equal(signalFromCode(137), 'SIGKILL');
    assert.equal(signalFromCode(143), 'SIGTERM');
    assert.equal(signalFromCode(128), null);
    assert.equal(signalFromCode(1), null);
    assert.equal(signalFromCode(null), null);
  });

  test('fork failure lines from dash, bash and libc', () => {
    assert.equal(isForkFailureLine('/bin/sh: 0: Cannot fork'), true);
    assert.equal(isForkFailureLine('bash: fork: retry: Resource temporarily unavailable'), true);
    assert.equal(isForkFailureLine('bash: fork: Resource temporarily unavailable'), true);
    assert.equal(isForkFailureLine('forked 3 workers'), false);
  });
});

describe('sandboxArgv', () => {
  test('joins every cgroup before exec-ing unshare and a shell init', () => {
    const [file, args] = sandboxArgv(['/cg/memory/x/cgroup.procs', '/cg/pids/x/cgroup.procs'], 'npm start', true);
    assert.equal(file, '/bin/sh');
    assert.equal(args[0], '-c');
    assert.deepEqual(args.slice(2), [
      'forge-join',
      '/cg/memory/x/cgroup.procs',
      '/cg/pids/x/cgroup.procs',
      '--',
      'unshare',
      '--mount',
      '--pid',
      '--ipc',
      '--uts',
      '--fork',
      '--mount-proc',
      '/bin/sh',
      '-c',
      '/bin/sh -c "$1" forge-run "$2"; exit $?',
      'forge-init',
      'trap : TERM; eval "$1"; exit $?',
      'npm start',
    ]);
  });

  test('unconfined: just the run shell', () => {
    assert.deepEqual(sandboxArgv([], 'npm start', false), ['/bin/sh', ['-c', 'trap : TERM; eval "$1"; exit $?', 'forge-run', 'npm start']]);
  });
});

describe('cgroup v2 driver on a stand-in tree', () => {
  // This CI host binds memory/cpu to v1, so the v2 file writes are checked on
  // plain files laid out like a delegated v2 hierarchy.
  test('writes memory.max, memory.swap.max, cpu.max and pids.max, and reads the event counters', async () => {
    const mount = mkdtempSync(path.join(tmpdir(), 'forge-fake-cgroup2-'));
    try {
      writeFileSync(path.join(mount, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
      writeFileSync(path.join(mount, 'cgroup.subtree_control'), 'cpu memory pids\n');
      mkdirSync(path.join(mount, 'forge'));
      writeFileSync(path.join(mount, 'forge', 'cgroup.controllers'), 'cpu memory pids\n');
      writeFileSync(path.join(mount, 'forge', 'cgroup.subtree_control'), 'cpu memory pids\n');
      const leaf = path.join(mount, 'forge', 'web-1');
      const handle = await createCgroupV2(mount, 'forge', 'web-1', { memoryMb: 64, cpus: 0.5, pidsMax: 32 });
      assert.deepEqual(handle.dirs, [leaf]);
      assert.deepEqual(handle.procsFiles, [path.join(leaf, 'cgroup.procs')]);
      const read = (f: string) => readFileSync(path.join(leaf, f), 'utf8');
      assert.equal(read('memory.max'), '67108864');
      assert.equal(read('cpu.max'), '50000 100000');
      assert.equal(read('pids.max'), '32');
      writeFileSync(path.join(leaf, 'memory.events'), 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n');
      writeFileSync(path.join(leaf, 'pids.events'), 'max 4\n');
      writeFileSync(path.join(leaf, 'memory.current'), '1048576\n');
      writeFileSync(path.join(leaf, 'pids.current'), '3\n');
      assert.deepEqual(await handle.counters(), { oomKills: 1, pidsMaxHits: 4, memoryBytes: 1_048_576, pids: 3 });
    } finally {
      rmSync(mount, { recursive: true, force: true });
    }
  });
});
