// A real registry for tests (Debian's docker-registry, on 127.0.0.1, a free port,
// storage in a temp dir, optionally htpasswd auth) and images built here without any
// network: umoci makes a layout whose only content is the static busybox binary and
// a page, skopeo pushes it. Everything started here is stopped by pid in stop().

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './net.ts';

const run = promisify(execFile);

export interface TestRegistry {
  host: string;
  /** Pushes the layout's tag to `repo:tag`, returns the manifest digest. */
  push(layout: string, layoutTag: string, repoTag: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts the registry on a free port and waits until it answers as a registry. The port is
 * free when picked but not reserved: when something else takes it first, the registry exits
 * (or another server answers without the registry's API header) and a new port is tried.
 */
async function serveOnFreePort(dir: string, authBlock: string): Promise<{ host: string; child: ChildProcess }> {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const host = `127.0.0.1:${await freePort()}`;
    const config = path.join(dir, 'config.yml');
    writeFileSync(config, `version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: ${path.join(dir, 'store')}}\n  delete: {enabled: true}\nhttp:\n  addr: ${host}\n${authBlock}`);
    const child: ChildProcess = spawn('docker-registry', ['serve', config], { stdio: 'ignore' });
    const exited = new Promise<'exited'>((resolve) => child.once('exit', () => resolve('exited')));
    for (let i = 0; i < 200; i++) {
      const answer = await fetch(`http://${host}/v2/`).then((r) => r.headers.has('docker-distribution-api-version'), () => false);
      if (answer) return { host, child };
      if (await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]) === 'exited') break;
    }
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  }
  throw new Error(`docker-registry did not start in ${dir} (3 ports tried)`);
}

export async function startRegistry(dir: string, auth?: { username: string; password: string }): Promise<TestRegistry> {
  mkdirSync(dir, { recursive: true });
  let authBlock = '';
  if (auth !== undefined) {
    // bcrypt, as the registry requires; the password goes through stdin (-i), not argv.
    const htpasswd = await new Promise<string>((resolve, reject) => {
      const child = execFile('htpasswd', ['-B', '-n', '-i', auth.username], (e, out) => (e ? reject(e) : resolve(out)));
      child.stdin!.end(auth.password);
    });
    writeFileSync(path.join(dir, 'htpasswd'), htpasswd, { mode: 0o600 });
    authBlock = `auth:\n  htpasswd: {realm: forge-test, path: ${path.join(dir, 'htpasswd')}}\n`;
  }
  const { host, child } = await serveOnFreePort(dir, authBlock);
  const authFile = path.join(dir, 'push-auth.json');
  if (auth !== undefined) {
    writeFileSync(authFile, JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString('base64') } } }), { mode: 0o600 });
  }
  return {
    host,
    async push(layout, layoutTag, repoTag) {
      const dest = `docker://${host}/${repoTag}`;
      await run('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...(auth ? ['--dest-authfile', authFile] : []), `oci:${layout}:${layoutTag}`, dest]);
      const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', ...(auth ? ['--authfile', authFile] : []), '--format', '{{.Digest}}', dest]);
      return stdout.trim();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}

/**
 * An OCI layout tag holding /bin/busybox and /www/index.html with `page`, whose
 * entrypoint serves /www with busybox httpd on $PORT as uid 1000.
 */
export async function buildBusyboxImage(layout: string, tag: string, page: string, files: Record<string, string> = {}, command = 'exec /bin/busybox httpd -f -p "$PORT" -h /www'): Promise<void> {
  const bundle = `${layout}-${tag}-bundle`;
  await run('sh', ['-c', 'test -d "$0" || umoci init --layout "$0"', layout]);
  await run('umoci', ['new', '--image', `${layout}:${tag}`]);
  await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  mkdirSync(path.join(rootfs, 'www'), { recursive: true });
  await run('cp', ['/bin/busybox', path.join(rootfs, 'bin', 'busybox')]);
  await run('ln', ['-s', 'busybox', path.join(rootfs, 'bin', 'sh')]);
  writeFileSync(path.join(rootfs, 'www', 'index.html'), page);
  writeFileSync(path.join(rootfs, 'www', 'health'), 'ok\n');
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(rootfs, rel)), { recursive: true });
    writeFileSync(path.join(rootfs, rel), content, { mode: 0o755 });
  }
  await run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
  await run('rm', ['-rf', bundle]);
  await run('umoci', ['config', '--image', `${layout}:${tag}`, '--config.entrypoint', '/bin/sh', '--config.cmd', '-c',
    '--config.cmd', command, '--config.env', 'GREETING=from-image',
    '--config.workingdir', '/www', '--config.user', '1000:1000']);
}
