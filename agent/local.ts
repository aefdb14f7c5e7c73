// The embedded agent of `forge server` / `forge dev`: the same daemon, in-process,
// talking to the local API over HTTP like any other agent (so one code path is
// tested). The server generates a one-time registration token, adds it to the
// tokens its agent routes accept, and hands it here.

import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { startAgent, type AgentHandle, type AgentOptions } from './daemon.ts';

export interface LocalAgentOptions extends Omit<AgentOptions, 'server' | 'token' | 'dataDir' | 'name'> {
  /** The local API's base URL, e.g. http://127.0.0.1:8080. */
  apiUrl: string;
  /** A registration token the local API accepts (see createLocalAgentToken). */
  registrationToken: string;
  /** The control plane's data dir; the agent keeps its own state in `<dataDir>/agent`. */
  dataDir: string;
  name?: string;
}

/** A random registration token for the embedded agent; never written anywhere. */
export function createLocalAgentToken(): string {
  return `fagr_${randomBytes(24).toString('base64url')}`;
}

export function startLocalAgent(options: LocalAgentOptions): Promise<AgentHandle> {
  const { apiUrl, registrationToken, dataDir, name, ...rest } = options;
  return startAgent({
    // The exporter stays off unless asked for: the control plane's /metrics covers a one-machine setup.
    metricsPort: null,
    cgroupRoot: 'forge-local',
    ...rest,
    server: apiUrl,
    token: registrationToken,
    dataDir: path.join(dataDir, 'agent'),
    name: name ?? `${os.hostname()}-local`,
  });
}
