// The DNS sidecar keeps Caddy's upstream lookups answered while the control plane
// is down. A real caddy, a real upstream, and the router in a child process
// (test/router/dns-router-child.ts) that is SIGKILLed as an OOM kill would. The
// in-process responder, run the same way, shows what the sidecar fixes: caddy
// fails every request about a refresh after its owner died.

import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { dnsSidecarPaths, isOurSidecar, startDnsSidecar } from '../../router/dns-sidecar.ts';
import { findCaddy } from '../../router/managed-caddy.ts';
import { startUpstreamSource } from '../../router/upstream-source.ts';
import { forkReady, stop } from '../chaos/children.ts';
import { freePort, startCaddyFixture, startUpstream, viaCaddy, type CaddyFixture, type Upstream } from './caddy-harness.ts';

const CHILD = fileURLToPath(new URL('./dns-router-child.ts', import.meta.url));
const noCaddy = findCaddy() === null ? 'caddy is not installed' : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Pids of every DNS sidecar serving this data dir's records. */
function sidecarsOf(dataDir: string): number[] {
  const { recordsPath } = dnsSidecarPaths(dataDir);
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let cmdline = '';
    try { cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8'); } catch { continue; }
    if (isOurSidecar(cmdline, recordsPath)) out.push(Number(name));
  }
  return out;
}

/** Ends what a failed test may have left: sidecars of this data dir, by pid. */
function endSidecars(dataDir: string): void {
  for (const pid of sidecarsOf(dataDir)) process.kill(pid, 'SIGKILL');
}

describe('DNS sidecar: caddy keeps serving while the control plane is down', { skip: noCaddy }, () => {
  let caddy: CaddyFixture;
  let one: Upstream;
  let two: Upstream;
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const dataDir = () => { const d = mkdtempSync(join(tmpdir(), 'forge-dns-sidecar-')); dirs.push(d); return d; };

  before(async () => {
    caddy = await startCaddyFixture();
    one = await startUpstream('one');
    two = await startUpstream('two');
  });
  after(async () => {
    for (const child of children) await stop(child);
    for (const dir of dirs) { endSidecars(dir); rmSync(dir, { recursive: true, force: true }); }
    await one.close();
    await two.close();
    await caddy.stop();
  });

  async function router(mode: 'sidecar' | 'in-process', dir: string, dnsAddr: string, service: string) {
    const { child, first } = await forkReady<{ notice: string; pid: number }>(CHILD, [mode, dir, dnsAddr, caddy.caddy.adminUrl, caddy.httpAddr, service, one.addr], {});
    children.push(child);
    return { child, ...first };
  }

  /** Requests through caddy every 100 ms for `ms` (or up to the first failure): each answer as `<status> <body>`, or `error`. */
  async function watch(host: string, ms: number, untilFailure = false): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < ms / 100; i += 1) {
      seen.push(await viaCaddy(caddy.httpAddr, host).then((r) => `${r.status} ${r.body}`, () => 'error'));
      if (untilFailure && !seen.at(-1)!.startsWith('200 ')) break;
      await sleep(100);
    }
    return seen;
  }

  test('in-process responder (the fallback): once its process is SIGKILLed, caddy fails the service within a few seconds', async () => {
    const dir = dataDir();
    const plane = await router('in-process', dir, `127.0.0.1:${await freePort()}`, 'inproc');
    assert.equal((await viaCaddy(caddy.httpAddr, 'inproc.localhost')).status, 200);
    await stop(plane.child);
    const seen = await watch('inproc.localhost', 4_000, true);
    assert.ok(seen.some((s) => !s.startsWith('200 ')), `expected failures once nothing answers caddy's lookups, saw ${[...new Set(seen)].join(', ')}`);
  });

  test('sidecar: a SIGKILLed control plane leaves caddy answering 200; a restart takes the sidecar over and its next publish is served; a clean stop ends it', async () => {
    const dir = dataDir();
    const dnsAddr = `127.0.0.1:${await freePort()}`;
    const first = await router('sidecar', dir, dnsAddr, 'web');
    assert.match(first.notice, /DNS sidecar at udp\/127\.0\.0\.1:\d+ \(pid \d+;/);
    assert.deepEqual(sidecarsOf(dir), [first.pid]);
    assert.equal((await viaCaddy(caddy.httpAddr, 'web.localhost')).body, 'one /');

    // (1) The control plane dies; the sidecar answers the last set: every request still 200 for 4 s (4 refreshes).
    await stop(first.child);
    const seen = await watch('web.localhost', 4_000);
    assert.deepEqual([...new Set(seen)], ['200 one /']);

    // (2) A restarted control plane adopts the same sidecar (no gap in answers) and publishes through it.
    const second = await router('sidecar', dir, dnsAddr, 'web');
    assert.equal(second.pid, first.pid);
    assert.match(second.notice, /taken over from an earlier run, pid \d+/);
    const done = new Promise((resolve) => second.child.once('message', resolve));
    second.child.send({ set: [two.addr] });
    await done;
    // set() resolved after caddy's refresh: the new upstream answers now.
    assert.equal((await viaCaddy(caddy.httpAddr, 'web.localhost')).body, 'two /');

    // (3) A clean stop ends the sidecar and removes its pid file.
    second.child.send('stop');
    await new Promise((resolve) => second.child.once('exit', resolve));
    for (let i = 0; i < 50 && sidecarsOf(dir).length > 0; i += 1) await sleep(50);
    assert.deepEqual(sidecarsOf(dir), []);
    assert.throws(() => readFileSync(dnsSidecarPaths(dir).pidPath), /ENOENT/);
  });

  test('(4) a stale sidecar whose control plane died is ended by the next start that does not adopt it; a live owner\'s is left alone', async () => {
    const dir = dataDir();
    const first = await router('sidecar', dir, `127.0.0.1:${await freePort()}`, 'stale');
    // While its owner lives, another start on the data dir refuses to touch it.
    await assert.rejects(startDnsSidecar({ dataDir: dir, addr: '127.0.0.1:0' }), /another Forge \(pid \d+\) runs the DNS sidecar/);
    assert.deepEqual(sidecarsOf(dir), [first.pid]);
    await stop(first.child);
    assert.deepEqual(sidecarsOf(dir), [first.pid], 'the sidecar outlives its SIGKILLed owner');

    // The next start wants another address: the left-behind sidecar is ended and a new one serves.
    const second = await router('sidecar', dir, `127.0.0.1:${await freePort()}`, 'stale');
    assert.notEqual(second.pid, first.pid);
    assert.deepEqual(sidecarsOf(dir), [second.pid]);
    assert.equal((await viaCaddy(caddy.httpAddr, 'stale.localhost')).body, 'one /');
    await stop(second.child);

    // The next start serves no DNS answers (FORGE_DNS_ADDR=off): the left-behind sidecar is ended.
    const off = await startUpstreamSource({ env: { FORGE_DNS_ADDR: 'off' }, dataDir: dir });
    assert.match(off.notice, /FORGE_DNS_ADDR=off/);
    assert.deepEqual(sidecarsOf(dir), []);
  });
});
