// The agent's Prometheus exporter (its own registry, served on :9108 by default).

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';

export interface AgentSample {
  cpuUsed: number;
  memoryUsedBytes: number;
  memoryCapacityBytes: number;
  processes: number;
  /** Epoch ms of the last heartbeat the control plane accepted; null before the first. */
  lastHeartbeatMs: number | null;
}

export interface AgentMetrics {
  registry: Registry;
  update(sample: AgentSample): void;
}

export const DEFAULT_METRICS_PORT = 9108;

export function createAgentMetrics(labels: { agent: string }): AgentMetrics {
  const registry = new Registry();
  registry.setDefaultLabels(labels);
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const cpu = gauge('forge_agent_cpu_used', 'CPU cores busy on the agent host, measured over the last heartbeat interval.');
  const memory = gauge('forge_agent_memory_used_bytes', 'Memory used by the instances the agent runs (their cgroups), in bytes.');
  const capacity = gauge('forge_agent_memory_capacity_bytes', 'Memory the agent offers to instances, in bytes.');
  const processes = gauge('forge_agent_processes', 'Processes running inside the agent\'s sandboxes.');
  const heartbeat = gauge('forge_agent_last_heartbeat_seconds',
    'Unix time (seconds) of the last heartbeat the control plane accepted; alert on time() minus this.');
  return {
    registry,
    update(sample) {
      cpu.set(sample.cpuUsed);
      memory.set(sample.memoryUsedBytes);
      capacity.set(sample.memoryCapacityBytes);
      processes.set(sample.processes);
      if (sample.lastHeartbeatMs !== null) heartbeat.set(sample.lastHeartbeatMs / 1000);
    },
  };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics from the registry on host:port (port 0: any free port). */
export async function serveMetrics(registry: Registry, port: number, host: string): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
