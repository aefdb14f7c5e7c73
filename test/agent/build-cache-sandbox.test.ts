// The build cache under the real sandbox: a build runs in its own root where only
// /app (and /tmp) were writable, so npm_config_cache / XDG_CACHE_HOME naming host
// paths under the agent's data dir could not be written. The service's cache dir
// is mounted at /cache (owned by the service's identity) and the env names it there.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { createSupervisor, type Supervisor } from '../../agent/supervisor.ts';
import { createPortPool } from '../../agent/runner/ports.ts';
import { detectIsolation, isolationComplete, sweepSandboxes } from '../../agent/sandbox/index.ts';
import { makeSpec } from '../helpers/spec.ts';

const ROOT = `forge-test-buildcache-${process.pid}`;
const isolation = process.getuid?.() === 0 ? await detectIsolation({ root: ROOT }) : null;
const skip = isolation === null ? 'needs root' : isolationComplete(isolation) ? false : `isolation incomplete here: ${isolation.missing.join(', ')}`;

const dir = mkdtempSync(path.join(tmpdir(), 'forge-buildcache-sb-'));
let supervisor: Supervisor | undefined;

after(async () => {
  await supervisor?.stopAll(0);
  if (skip === false) await sweepSandboxes(ROOT);
  rmSync(dir, { recursive: true, force: true });
});

// Prints what the cache already holds, then writes into both caches (a failed write fails the build).
const BUILD = [
  'echo "cache at $npm_config_cache and $XDG_CACHE_HOME"',
  'cat "$npm_config_cache/mark" 2>/dev/null || echo "npm cache empty"',
  'cat "$XDG_CACHE_HOME/mark" 2>/dev/null || echo "xdg cache empty"',
  'echo "npm mark of $SERVICE_NAME" > "$npm_config_cache/mark" && echo "xdg mark of $SERVICE_NAME" > "$XDG_CACHE_HOME/mark"',
];

describe('the build cache inside the sandbox', { skip }, () => {
  test('a build writes its npm and XDG caches; the next build of the same service sees them, another service does not', async () => {
    const source = path.join(dir, 'src');
    mkdirSync(source);
    writeFileSync(path.join(source, 'server.js'), "require('node:http').createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT));\n");
    supervisor = createSupervisor({
      dataDir: path.join(dir, 'agent'), ports: createPortPool({ from: 23_400, to: 23_499 }), host: '127.0.0.1',
      mode: 'production', cgroupRoot: ROOT, startTimeoutMs: 20_000, onChange: () => {}, log: () => {},
    });
    const build = async (name: string, instanceId: string): Promise<string[]> => {
      const { image: _image, ...spec } = makeSpec({
        name, sourceDir: source, build: { commands: BUILD }, run: { command: 'node server.js' }, env: { SERVICE_NAME: name },
        resources: { memoryMb: 128, cpus: 0.5 }, health: { type: 'http', path: '/', intervalMs: 300, timeoutMs: 1_000, retries: 3 },
      });
      const lines: string[] = [];
      const result = await supervisor!.run({ instanceId, spec, hash: `h-${instanceId}`, generation: 1, replica: 0 },
        { secrets: {}, onLine: (line) => lines.push(line), signal: new AbortController().signal });
      assert.equal(result.ok, true, `${JSON.stringify(result.result)}\n${lines.join('\n')}`);
      return lines;
    };

    const first = await build('cache-a', 'a1');
    assert.ok(first.includes(`cache at /cache/npm and /cache/xdg`), `the env names the in-sandbox cache:\n${first.join('\n')}`);
    assert.ok(first.includes('npm cache empty') && first.includes('xdg cache empty'), first.join('\n'));

    const second = await build('cache-a', 'a2');
    assert.ok(second.includes('npm mark of cache-a'), `the second build sees the first's npm cache:\n${second.join('\n')}`);
    assert.ok(second.includes('xdg mark of cache-a'), second.join('\n'));

    const other = await build('cache-b', 'b1');
    assert.ok(other.includes('npm cache empty') && other.includes('xdg cache empty'), `another service has its own cache:\n${other.join('\n')}`);
  });
});
