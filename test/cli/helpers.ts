// A real API (apiHarness with the world provider and a live loop) listening on
// 127.0.0.1:0, and CliDeps pointed at it with a temp HOME, so runCli talks HTTP to
// it exactly as bin/forge would.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliDeps, type CliResult } from '../../cli/index.ts';
import { apiHarness, type ApiHarness, type HarnessOptions } from '../api/helpers.ts';

export interface CliHarness {
  api: ApiHarness;
  url: string;
  home: string;
  deps(extra?: Partial<CliDeps>): CliDeps;
  run(argv: readonly string[], extra?: Partial<CliDeps>): Promise<CliResult>;
  /** Everything run() printed (stdout and stderr), for tests that search it for secret values. */
  printed: string[];
  close(): Promise<void>;
}

export async function cliHarness(options: HarnessOptions = { withLoop: true }): Promise<CliHarness> {
  const api = await apiHarness(options);
  await api.app.listen({ host: '127.0.0.1', port: 0 });
  const address = api.app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  const url = `http://127.0.0.1:${address.port}`;
  const home = mkdtempSync(join(tmpdir(), 'forge-cli-home-'));
  const deps = (extra: Partial<CliDeps> = {}): CliDeps => ({
    cwd: home,
    pollMs: 20,
    ...extra,
    env: { HOME: home, FORGE_URL: url, FORGE_API_KEY: api.key, ...extra.env },
  });
  const printed: string[] = [];
  return {
    api, url, home, deps, printed,
    async run(argv, extra) {
      const result = await runCli(argv, deps(extra));
      printed.push(result.stdout, result.stderr);
      return result;
    },
    async close() {
      await api.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Environment with no Forge settings at all (for usage checks that must fail before any request). */
export function offlineDeps(home: string, extra: Partial<CliDeps> = {}): CliDeps {
  return { cwd: home, ...extra, env: { HOME: home, FORGE_URL: 'http://127.0.0.1:9', ...extra.env } };
}
