// A real control plane with its embedded agent (in `dir`) and a headless chromium, for the
// dashboard's end-to-end tests. The caller closes both and sweeps `cgroupRoot` at the end.

import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { resolveConfig } from '../../api/config.ts';
import { startControlPlane, type ControlPlane } from '../../api/control-plane.ts';

export const CHROMIUM = process.env.FORGE_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Why a dashboard e2e cannot run here, or undefined when it can. */
export const chromiumSkipReason = (): string | undefined => (process.getuid?.() !== 0
  ? 'needs root for the sandbox'
  : existsSync(CHROMIUM) ? undefined : `no chromium at ${CHROMIUM} (scripts/setup.sh installs it, or set FORGE_TEST_CHROMIUM)`);

export interface PlaneAndBrowser {
  plane: ControlPlane;
  browser: Browser;
  cgroupRoot: string;
  dataDir: string;
}

/** `tag` names the agent's cgroup root; `portBase` starts the range its apps' ports are drawn from. */
export async function startPlaneAndBrowser(dir: string, tag: string, portBase: number): Promise<PlaneAndBrowser> {
  const dataDir = path.join(dir, 'data');
  const env = { PATH: process.env.PATH, FORGE_DATA_DIR: dataDir, FORGE_API_ADDR: '127.0.0.1:0' };
  const { config } = resolveConfig(env, {}, randomBytes, dir);
  const cgroupRoot = `forge-e2e-${tag}-${process.pid}`;
  const from = portBase + Math.floor(Math.random() * 50) * 100;
  const plane = await startControlPlane(config, {
    env, logger: false, resyncIntervalMs: 500, heartbeatIntervalMs: 300,
    localAgent: { portRange: { from, to: from + 99 }, cgroupRoot },
  });
  try {
    const browser = await chromium.launch({
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    return { plane, browser, cgroupRoot, dataDir };
  } catch (error) {
    await plane.close();
    throw error;
  }
}
