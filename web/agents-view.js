// The agents page's rows, from GET /api/v1/agents: where each worker is, whether it
// is online, what it offers and uses, what it runs and which runtimes it has.

import { h } from './dom.js';

const mib = (bytes) => `${Math.round(bytes / 2 ** 20)} MB`;

function capacity(agent) {
  const text = `${agent.capacity.cpus} CPU, ${mib(agent.capacity.memoryBytes)}`;
  return agent.capacityVerified ? text : `${text} (unverified)`;
}

function usage(agent) {
  const { cpus, memoryBytes } = agent.usage;
  if (cpus === null && memoryBytes === null) return '—';
  return `${cpus === null ? '?' : cpus.toFixed(2)} CPU, ${memoryBytes === null ? '?' : mib(memoryBytes)}`;
}

function state(agent) {
  if (agent.revokedAt) return h('span', { class: 'status status-failed' }, 'revoked');
  return h('span', { class: agent.online ? 'status status-running' : 'status status-stopped', title: agent.lastSeenAt ? `last seen ${new Date(agent.lastSeenAt).toLocaleString()}` : 'never seen' },
    agent.online ? 'online' : 'offline');
}

/** @param {import('../api/routes/agents.ts').AgentJson} agent */
export function agentRow(agent) {
  const { count, running, services } = agent.instances;
  return h('tr', { dataset: { id: agent.id } },
    h('td', { class: 'mono' }, agent.id), h('td', {}, agent.name), h('td', {}, agent.address ?? '—'), h('td', {}, state(agent)),
    h('td', {}, capacity(agent)), h('td', {}, usage(agent)),
    h('td', { title: services.join(', ') }, `${running}/${count} running${services.length > 0 ? ` (${services.join(', ')})` : ''}`),
    // An agent may find one runtime under two binaries (python3 and python3.11): each is named once.
    h('td', {}, agent.runtimes.length > 0 ? [...new Set(agent.runtimes)].join(', ') : '—'));
}
