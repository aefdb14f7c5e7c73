// Which caddy `forge server` / `forge dev` route through: the operator's at FORGE_CADDY_ADMIN
// when one answers there, a managed one only on an address nobody else holds. The
// "operator's" caddy is a real `caddy run` this test starts (and ends, by its pid).

import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { managedCaddyConfig } from '../../router/caddy-config.ts';
import { findCaddy, managedCaddyPaths } from '../../router/managed-caddy.ts';
import { startRouting } from '../../router/start.ts';
import { isForgeError } from '../../errors/index.ts';
import { alive } from '../helpers/process.ts';
import { adminRaw, freePort, startUpstream, viaCaddy } from './caddy-harness.ts';

const noCaddy = findCaddy() === null ? 'caddy is not installed' : false;

interface OperatorCaddy {
  admin: string;
  adminAddr: string;
  pid: number;
  stop(): Promise<void>;
}

/** A caddy run by "the operator": its own config and state, admin API on a free loopback port. */
async function startOperatorCaddy(): Promise<OperatorCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'forge-operator-caddy-'));
  const adminAddr = `127.0.0.1:${await freePort()}`;
  const config = join(dir, 'caddy.json');
  writeFileSync(config, JSON.stringify({ admin: { listen: adminAddr }, apps: { http: { servers: {} } } }));
  const child: ChildProcess = spawn(findCaddy()!, ['run', '--config', config], {
    env: { ...process.env, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config') },
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  const admin = `http://${adminAddr}`;
  for (let i = 0; i < 200; i += 1) {
    if (await adminRaw(admin, 'GET', '/config/').then((r) => r.status === 200, () => false)) return { admin, adminAddr, pid: child.pid!, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  await stop();
  throw new Error('the operator caddy did not answer within 10 s');
}

describe('startRouting picks the caddy', { skip: noCaddy }, () => {
  test("FORGE_CADDY_ADMIN at the operator's running caddy: routes go through it, and no managed caddy is started", async () => {
    const operator = await startOperatorCaddy();
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    const httpAddr = `127.0.0.1:${await freePort()}`;
    const upstream = await startUpstream('app');
    let routing: Awaited<ReturnType<typeof startRouting>> | undefined;
    try {
      routing = await startRouting({
        env: { PATH: process.env.PATH, FORGE_CADDY_ADMIN: operator.admin, FORGE_HTTP_ADDR: httpAddr, FORGE_DNS_ADDR: '127.0.0.1:0' },
        dataDir, domain: 'localhost', production: false,
      });
      assert.equal(routing.caddy, undefined, 'a managed caddy was started beside the operator\'s');
      assert.equal(existsSync(join(dataDir, 'caddy', 'caddy.pid')), false);
      assert.match(routing.notice, new RegExp(`routing through the caddy at ${operator.admin}`));
      assert.match(routing.notice, /upstreams from Forge's DNS sidecar at udp\/127\.0\.0\.1:\d+ \(pid \d+;/);
      routing.router!.replaceAll(new Map()); // the control plane's first full table primes pushes
      await routing.router!.set('web', { domains: [], upstreams: [upstream.addr] });
      const reply = await viaCaddy(httpAddr, 'web.localhost');
      assert.deepEqual([reply.status, reply.body], [200, 'app /']);
      assert.equal(alive(operator.pid), true);
      // The operator's caddy gets the instances from Forge's responder, named in the route.
      const dynamic = await adminRaw(operator.admin, 'GET', '/id/forge-web');
      assert.equal((dynamic.json as { handle: Array<{ dynamic_upstreams?: { source?: string } }> }).handle[0]!.dynamic_upstreams?.source, 'srv');
      // Forge stopping leaves the operator's caddy static upstreams: it keeps serving without Forge.
      await routing.stop();
      routing = undefined;
      const pinned = await adminRaw(operator.admin, 'GET', '/id/forge-web');
      assert.deepEqual((pinned.json as { handle: Array<{ upstreams?: unknown }> }).handle[0]!.upstreams, [{ dial: upstream.addr }]);
      assert.equal((await viaCaddy(httpAddr, 'web.localhost')).body, 'app /');
      // …and ends the DNS sidecar it no longer needs.
      assert.equal(existsSync(join(dataDir, 'dns', 'sidecar.pid')), false);
    } finally {
      await routing?.stop();
      await upstream.close();
      await operator.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('--router managed on an address another caddy holds is refused, saying so; that caddy is left alone', async () => {
    const operator = await startOperatorCaddy();
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    try {
      await assert.rejects(
        startRouting({
          env: { PATH: process.env.PATH, FORGE_CADDY_ADMIN: operator.admin, FORGE_HTTP_ADDR: `127.0.0.1:${await freePort()}` },
          dataDir, domain: 'localhost', production: false, mode: 'managed',
        }),
        (error: unknown) => isForgeError(error) && error.code === 'E_CONFLICT'
          && error.message.includes(`${operator.adminAddr} is already in use by a caddy that Forge did not start`),
      );
      assert.equal(existsSync(join(dataDir, 'caddy', 'caddy.pid')), false);
      assert.equal((await adminRaw(operator.admin, 'GET', '/config/admin/listen')).json, operator.adminAddr);
    } finally {
      await operator.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('without FORGE_CADDY_ADMIN, an admin address held by another process starts no caddy and says why', async () => {
    const sockets = new Set<Socket>();
    const holder = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => {}); // the probe hangs up first
      socket.end('not caddy\n');
    });
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const adminAddr = `127.0.0.1:${(holder.address() as { port: number }).port}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    try {
      const routing = await startRouting({
        env: { PATH: process.env.PATH, FORGE_HTTP_ADDR: `127.0.0.1:${await freePort()}` }, dataDir, domain: 'localhost', production: false, adminAddr,
      });
      assert.equal(routing.caddy, undefined);
      assert.equal(routing.router, undefined);
      assert.match(routing.notice, new RegExp(`not starting a managed caddy: ${adminAddr} is already in use by another process \\(not a caddy admin API\\)`));
      await routing.stop();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => holder.close(resolve));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('without FORGE_CADDY_ADMIN the managed caddy\'s admin API is a Unix socket in a 0700 dir, and routes go through it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    const httpAddr = `127.0.0.1:${await freePort()}`;
    const upstream = await startUpstream('sock');
    const routing = await startRouting({
      env: { PATH: process.env.PATH, FORGE_HTTP_ADDR: httpAddr, FORGE_DNS_ADDR: '127.0.0.1:0' }, dataDir, domain: 'localhost', production: false, mode: 'managed',
    });
    try {
      const socketPath = join(dataDir, 'caddy', 'admin', 'admin.sock');
      assert.equal(routing.caddy?.adminUrl, `unix/${socketPath}`);
      assert.equal(statSync(join(dataDir, 'caddy', 'admin')).mode & 0o777, 0o700, 'only root may enter the dir');
      assert.ok(statSync(socketPath).isSocket());
      // Caddy's own view: its admin API listens on the socket and nowhere else.
      const listen = spawnSync('curl', ['-sS', '--unix-socket', socketPath, '-H', 'Host;', 'http://localhost/config/admin/listen'], { encoding: 'utf8' });
      assert.equal(JSON.parse(listen.stdout), `unix/${socketPath}`);
      routing.router!.replaceAll(new Map()); // the control plane's first full table primes pushes
      await routing.router!.set('sock', { domains: [], upstreams: [upstream.addr] });
      const reply = await viaCaddy(httpAddr, 'sock.localhost');
      assert.deepEqual([reply.status, reply.body], [200, 'sock /']);
    } finally {
      await routing.stop();
      await upstream.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('FORGE_CADDY_ADMIN at a free loopback address: Forge starts its managed caddy there', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    const adminAddr = `127.0.0.1:${await freePort()}`;
    const routing = await startRouting({
      env: { PATH: process.env.PATH, FORGE_CADDY_ADMIN: `http://${adminAddr}`, FORGE_HTTP_ADDR: `127.0.0.1:${await freePort()}` },
      dataDir, domain: 'localhost', production: false,
    });
    try {
      assert.ok(routing.caddy?.pid !== undefined);
      assert.equal(routing.caddy.adminUrl, `http://${adminAddr}`);
      assert.match(routing.notice, /caddy started/);
    } finally {
      await routing.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('the caddy a killed Forge run of this data dir left at FORGE_CADDY_ADMIN is replaced, not adopted', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'forge-routing-'));
    const adminAddr = `127.0.0.1:${await freePort()}`;
    const httpAddr = `127.0.0.1:${await freePort()}`;
    // What a SIGKILLed `forge server` leaves: its caddy running the managed config, and a pid
    // file naming that caddy and a Forge that is gone.
    const paths = managedCaddyPaths(dataDir);
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.configPath, JSON.stringify(managedCaddyConfig({ adminAddr, httpAddr, domain: 'localhost', dataDir, server: 'forge' })));
    const orphan = spawn(findCaddy()!, ['run', '--config', paths.configPath], {
      env: { ...process.env, XDG_DATA_HOME: join(paths.dir, 'data'), XDG_CONFIG_HOME: join(paths.dir, 'config') }, stdio: 'ignore',
    });
    const orphanExited = new Promise<void>((resolve) => orphan.once('exit', () => resolve()));
    const goneForge = spawnSync('true').pid;
    writeFileSync(paths.pidPath, `${orphan.pid} ${goneForge}\n`);
    let routing: Awaited<ReturnType<typeof startRouting>> | undefined;
    try {
      for (let i = 0; i < 200 && !(await adminRaw(`http://${adminAddr}`, 'GET', '/config/').then((r) => r.status === 200, () => false)); i += 1) {
        await new Promise((r) => setTimeout(r, 50));
      }
      routing = await startRouting({
        env: { PATH: process.env.PATH, FORGE_CADDY_ADMIN: `http://${adminAddr}`, FORGE_HTTP_ADDR: httpAddr }, dataDir, domain: 'localhost', production: false,
      });
      assert.ok(routing.caddy?.pid !== undefined && routing.caddy.pid !== orphan.pid);
      assert.match(routing.notice, new RegExp(`after stopping the caddy \\(pid ${orphan.pid}\\) an earlier run left behind`));
      await orphanExited;
    } finally {
      await routing?.stop();
      if (orphan.exitCode === null && orphan.signalCode === null) orphan.kill('SIGKILL');
      await orphanExited;
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

