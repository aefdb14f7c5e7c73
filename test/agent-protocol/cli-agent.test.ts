// `forge agent` argument handling and its run-until-signal lifecycle (daemon faked).

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { agentCommand, parseAgentArgs, AGENT_USAGE, TOKEN_IN_ARGV_WARNING } from '../../cli/agent.ts';
import type { AgentHandle, AgentOptions } from '../../agent/index.ts';

const deps = { cwd: '/work', env: {} as Record<string, string | undefined> };

describe('forge agent arguments', () => {
  test('all flags', () => {
    assert.deepEqual(parseAgentArgs([
      '--server', 'http://cp:8080', '--token=T', '--data-dir', 'd', '--port-range', '21000-21099', '--metrics-port', '0',
      '--name', 'n1', '--cgroup-root', 'forge-n1', '--host', '10.0.0.5',
    ], deps), {
      server: 'http://cp:8080', token: 'T', dataDir: '/work/d', mode: 'development', portRange: { from: 21000, to: 21099 },
      metricsPort: 0, name: 'n1', cgroupRoot: 'forge-n1', host: '10.0.0.5',
    });
  });

  test('several replicas: a comma-separated --server (or FORGE_URL) list, normalized', () => {
    const env = { FORGE_AGENT_TOKEN: 'tok', FORGE_DATA_DIR: '/var/lib/forge' };
    assert.equal((parseAgentArgs(['--server', 'http://a:8080/, http://b:8080'], { cwd: '/', env }) as { server: string }).server, 'http://a:8080,http://b:8080');
    assert.equal((parseAgentArgs([], { cwd: '/', env: { ...env, FORGE_URL: 'http://a,http://b/' } }) as { server: string }).server, 'http://a,http://b');
  });

  test('environment fallbacks', () => {
    const env = { FORGE_URL: 'https://cp.example', FORGE_AGENT_TOKEN: 'tok', FORGE_DATA_DIR: '/var/lib/forge', FORGE_MODE: 'production' };
    assert.deepEqual(parseAgentArgs(['--metrics-port', 'off'], { cwd: '/', env }), {
      server: 'https://cp.example', token: 'tok', dataDir: '/var/lib/forge/agent', mode: 'production', metricsPort: null,
    });
  });

  const bad: Array<[string[], string]> = [
    [[], 'forge agent: --server URL is required (or set FORGE_URL)'],
    [['--server', 'http://x'], 'forge agent: a registration token is required: --token-file F (or set FORGE_AGENT_TOKEN)'],
    [['--server', 'ftp://x', '--token', 't'], 'forge agent: --server must be an http(s) URL or a comma-separated list of them, got `ftp://x`'],
    [['--server', 'http://a,ftp://b', '--token', 't'], 'forge agent: --server must be an http(s) URL or a comma-separated list of them, got `ftp://b`'],
    [['--server', ' , ', '--token', 't'], 'forge agent: --server needs at least one URL'],
    [['--server', 'http://x', '--token', 't', '--port-range', '5-1'], 'forge agent: invalid port range `5-1`: expected FROM-TO, e.g. 20000-32767'],
    [['--server', 'http://x', '--token', 't', '--metrics-port', 'x'], 'forge agent: --metrics-port must be a port number or `off`, got `x`'],
    [['--server', 'http://x', '--token', 't', '--cgroup-root', '../up'], 'forge agent: --cgroup-root must be a plain directory name, got `../up`'],
    [['--verbose'], 'forge agent: unknown flag `--verbose`'],
    [['--server'], 'forge agent: --server needs a value'],
  ];
  for (const [args, message] of bad) {
    test(`refuses ${args.join(' ') || 'no arguments'}`, async () => {
      assert.equal(parseAgentArgs(args, deps), message);
      assert.deepEqual(await agentCommand(args, deps), { exitCode: 2, stdout: '', stderr: `${message}\n${AGENT_USAGE}\n` });
    });
  }
});

describe('forge agent lifecycle', () => {
  test('runs the agent until the signal aborts, then stops it', async () => {
    const calls: string[] = [];
    const controller = new AbortController();
    const fake = async (options: AgentOptions): Promise<AgentHandle> => {
      calls.push(`start ${options.server} ${options.dataDir}`);
      setTimeout(() => controller.abort(), 10);
      return { id: 'agt_x', stop: async () => void calls.push('stop') } as unknown as AgentHandle;
    };
    const result = await agentCommand(['--server', 'http://cp:1', '--token', 't'], {
      ...deps, signal: controller.signal, startAgent: fake, log: (line) => calls.push(line),
    });
    assert.deepEqual(result, { exitCode: 0, stdout: 'agent agt_x stopped\n', stderr: '' });
    assert.deepEqual(calls, [TOKEN_IN_ARGV_WARNING, 'start http://cp:1 /work/.forge/agent', 'stopping: ending instances', 'stop']);
  });
});
