// The control plane's view of its agents for /metrics: forge_agents_online.

import { Gauge, type Registry } from 'prom-client';
import type { Store } from '../../store/index.ts';

/** Sets `gauge` to the number of agents the store holds as online. */
export function updateAgentsOnline(gauge: Gauge, store: Store): number {
  const online = store.agents.list().filter((a) => a.online).length;
  gauge.set(online);
  return online;
}

/** Registers forge_agents_online on `registry`, read from the store at every scrape. */
export function registerAgentsOnlineGauge(registry: Registry, store: Store): Gauge {
  const gauge: Gauge = new Gauge({
    name: 'forge_agents_online',
    help: 'Worker agents currently online (heartbeating within their timeout).',
    registers: [registry],
    collect() {
      updateAgentsOnline(gauge, store);
    },
  });
  return gauge;
}
