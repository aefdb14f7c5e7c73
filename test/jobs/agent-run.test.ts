// A job run on a real agent (the control plane's local agent, in its sandbox): triggered over
// the API, its command runs once with the service's environment, its exit code lands in the
// run row and its output in the log store under the run's instance.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../api/auth.ts';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane } from '../../api/control-plane.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { freePort } from '../helpers/net.ts';

const EXAMPLE = fileURLToPath(new URL('../../examples/node-hello/', import.meta.url));
const needsRoot = process.getuid?.() === 0 ? false : 'needs root for the agent sandbox';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a triggered job runs once on the agent: exit code in its row, output in the logs', { skip: needsRoot, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-job-run-'));
  const appDir = path.join(dir, 'app');
  cpSync(EXAMPLE, appDir, { recursive: true });
  const env = { PATH: process.env.PATH, FORGE_DATA_DIR: path.join(dir, 'data'), FORGE_API_ADDR: '127.0.0.1:0' };
  const { config } = resolveConfig(env, {}, randomBytes, dir);
  const cgroupRoot = `forge-job-run-${process.pid}-${randomBytes(3).toString('hex')}`;
  const from = 23_000 + Math.floor(Math.random() * 20) * 50;
  const plane = await startControlPlane(config, { env, logger: false, heartbeatIntervalMs: 500, localAgent: { portRange: { from, to: from + 49 }, cgroupRoot } });
  try {
    const { key, hash, prefix } = generateApiKey();
    plane.store.apiKeys.create({ name: 'job', hash, prefix });
    const call = async (method: string, url: string, body?: unknown) => {
      const res = await fetch(`${plane.url}${url}`, { method, headers: { 'x-api-key': key, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, json: await res.json() as Record<string, any> };
    };
    const spec = {
      name: 'jobber', provider: 'agent', source: appDir, build: { commands: ['node --check server.js'] }, run: { command: 'node server.js' }, replicas: 0,
      env: { GREETING: 'hello from the job' },
      jobs: { report: { schedule: '@yearly', command: 'echo "$GREETING at $FORGE_JOB_SCHEDULED_AT"; exit 3', timeout: '60s' } },
    };
    const applied = await call('POST', '/api/v1/apply', { source: 'test', specs: [spec] });
    assert.equal(applied.status, 200, JSON.stringify(applied.json));
    const started = await call('POST', '/api/v1/jobs/jobber/report/trigger');
    assert.equal(started.status, 202, JSON.stringify(started.json));
    const runId = started.json.run.id as string;
    let run: Record<string, any> | undefined;
    for (let i = 0; i < 600; i += 1) {
      run = (await call('GET', '/api/v1/jobs/jobber/report/runs')).json.runs.find((r: { id: string }) => r.id === runId);
      if (run && run.state !== 'pending' && run.state !== 'running') break;
      await sleep(200);
    }
    assert.equal(run?.state, 'failed', JSON.stringify(run));
    assert.equal(run?.exitCode, 3);
    assert.ok(run?.startedAt && run?.endedAt);
    let lines: string[] = [];
    for (let i = 0; i < 50 && !lines.some((l) => l.includes('hello from the job')); i += 1) {
      lines = plane.store.logs.list('jobber', { instance: run!.logs.instance }).map((l) => l.line);
      await sleep(100);
    }
    assert.ok(lines.some((l) => l === `hello from the job at ${run!.scheduledAt}`), `job output in the log store: ${JSON.stringify(lines)}`);
    assert.equal(plane.store.jobs.list('jobber', 'report').length, 1, 'one run, no retry of a failed one');
  } finally {
    await plane.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
