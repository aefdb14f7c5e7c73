// `forge dev [PATH]`: one process runs the control plane (SQLite in .forge/), a
// local agent and, when installed, caddy; applies every spec under PATH and
// watches the spec files and each service's source: a save rebuilds and
// redeploys through the health-gated cutover, changes within the debounce window
// coalesce into one deploy, and an invalid edit keeps the last good release.
// Ctrl-C (deps.signal) stops everything it started.

import { watch } from 'chokidar';
import { join, resolve } from 'node:path';
import { loadConfig } from '../api/config.ts';
import { startControlPlane } from '../api/control-plane.ts';
import { bundleLimitBytes } from '../api/startup.ts';
import { createBundleStore } from '../api/bundle-store.ts';
import { DEFAULT_BUNDLE_LIMIT_BYTES } from '../specs/bundle.ts';
import { startRouting } from '../router/start.ts';
import type { CliDeps } from './deps.ts';
import { parseArgs } from './args.ts';
import { HELP } from './help.ts';
import { success, usageFailure, type CliResult } from './output.ts';
import { applyDirectory } from './dev/apply-dir.ts';
import { createLogTail } from './dev/log-tail.ts';
import { isIgnoredPath } from './dev/source-digest.ts';
import { createStatusPrinter } from './dev/status-printer.ts';

export const DEV_USAGE = HELP.dev!.usage;

interface DevArgs { path: string; addr?: string; debounceMs: number; noRouter: boolean }

function parseDevArgs(args: readonly string[]): DevArgs | string {
  const parsed = parseArgs('dev', args, { booleans: ['--no-router'], values: ['--addr', '--debounce'] });
  if (typeof parsed === 'string') return parsed;
  if (parsed.positional.length > 1) return 'forge dev: give one PATH (a spec file or a folder of specs)';
  const out: DevArgs = { path: parsed.positional[0] ?? '.', debounceMs: 150, noRouter: parsed.booleans.has('--no-router') };
  const addr = parsed.values.get('--addr');
  if (addr !== undefined) out.addr = addr;
  const debounce = parsed.values.get('--debounce');
  if (debounce !== undefined) {
    if (!/^\d+$/.test(debounce)) return `forge dev: --debounce takes milliseconds (got \`${debounce}\`)`;
    out.debounceMs = Number(debounce);
  }
  return out;
}

export async function devCommand(args: readonly string[], deps: CliDeps): Promise<CliResult> {
  const parsed = parseDevArgs(args);
  if (typeof parsed === 'string') return usageFailure(parsed, DEV_USAGE);
  const print = (text: string) => deps.print?.(text);
  const env: Record<string, string | undefined> = { ...deps.env, FORGE_MODE: deps.env.FORGE_MODE ?? 'development' };
  if (parsed.addr) env.FORGE_API_ADDR = parsed.addr;
  const { config, notices } = loadConfig(env, deps.cwd);

  const routing = await startRouting({
    env, dataDir: config.dataDir, domain: config.domain, production: false, ...(parsed.noRouter ? { mode: 'off' as const } : {}),
  });
  let plane;
  try {
    plane = await startControlPlane(config, {
      env, logger: false, resyncIntervalMs: 2_000, heartbeatIntervalMs: 1_000,
      ...(routing.router ? { routes: routing.router } : {}),
    });
  } catch (error) {
    await routing.stop();
    throw error;
  }
  print(`forge dev: control plane on ${plane.url}, data in ${config.dataDir}\n`);
  print(`forge dev: ${routing.notice}\n`);
  for (const notice of notices) print(`forge dev: ${notice}\n`);

  // The same folder the API serves agents from: dev ships source as bundles like apply does.
  const bundles = createBundleStore(join(config.dataDir, 'bundles'), bundleLimitBytes(env) ?? DEFAULT_BUNDLE_LIMIT_BYTES);
  const target = resolve(deps.cwd, parsed.path);
  const names = new Set<string>();
  const sourceDirs = new Set<string>([target]);
  const statuses = createStatusPrinter({ store: plane.store, router: routing.router, print });
  const logs = createLogTail(join(config.dataDir, 'agent'), print);

  let applying = Promise.resolve();
  const apply = () => {
    applying = applying.then(async () => {
      const result = await applyDirectory(plane.store, parsed.path, deps.cwd, bundles, plane.pinSpec);
      if (!result.ok) {
        print(`forge dev: the specs have errors; the last good release keeps serving:\n${result.problems.map((p) => `  ${p}\n`).join('')}`);
        return;
      }
      names.clear();
      for (const spec of result.specs) {
        names.add(spec.name);
        if (spec.sourceDir) sourceDirs.add(spec.sourceDir);
      }
      for (const entry of result.plan.entries) {
        if (entry.op !== 'unchanged') print(`forge dev: ${entry.name}: ${entry.op}${entry.op === 'update' ? ` (${entry.changes.map((c) => c.path).join(', ')})` : ''}\n`);
      }
      for (const key of result.plan.changed) plane.nudge(key);
      for (const dir of sourceDirs) watcher.add(dir);
    }).catch((error: unknown) => {
      // Never leave the chain rejected: the next save must still apply.
      print(`forge dev: apply failed: ${(error as Error).message}\n`);
    });
    return applying;
  };

  const watcher = watch([...sourceDirs], { ignoreInitial: true, ignored: (path) => isIgnoredPath(path) });
  let timer: NodeJS.Timeout | undefined;
  watcher.on('all', () => {
    // Saves within the window (an editor writing several files) become one deploy.
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => void apply(), parsed.debounceMs);
  });
  await apply();

  let polling = false;
  const ticker = setInterval(() => {
    if (polling) return; // a slow poll must not overlap the next and print lines twice
    polling = true;
    void (async () => {
      const observed = await plane.observe([...names]);
      statuses.poll([...names], observed);
      await logs.poll(observed);
    })().catch(() => undefined).finally(() => { polling = false; });
  }, 300);

  await new Promise<void>((done) => {
    if (!deps.signal) return;
    if (deps.signal.aborted) done();
    else deps.signal.addEventListener('abort', () => done(), { once: true });
  });
  print('forge dev: stopping\n');
  clearInterval(ticker);
  await watcher.close();
  if (timer) clearTimeout(timer);
  await applying;
  try {
    await plane.close();
  } finally {
    await routing.stop();
  }
  print('forge dev: stopped; every process it started has exited\n');
  return success('');
}
