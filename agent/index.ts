// The public surface of agent/: the daemon, its embedded form, and its exporter.

export { startAgent, parsePortRange, DEFAULT_AGENT_DATA_DIR, type AgentHandle, type AgentOptions } from './daemon.ts';
export { startLocalAgent, createLocalAgentToken, type LocalAgentOptions } from './local.ts';
export { createAgentMetrics, serveMetrics, DEFAULT_METRICS_PORT, type AgentMetrics, type AgentSample } from './metrics.ts';
export { createProtocolClient, type ProtocolClient } from './protocol-client.ts';
