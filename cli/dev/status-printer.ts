// Prints a line when a service's phase or address changes, with the URL to use:
// the stable route through caddy, or the instance's direct address (which
// changes on every redeploy) when no router runs.

import type { Observed } from '../../providers/types.ts';
import type { Store } from '../../store/index.ts';

export function createStatusPrinter(options: { store: Store; router?: { url(name: string): string }; print: (text: string) => void }) {
  const last = new Map<string, string>();
  return {
    poll(names: readonly string[], observed: readonly Observed[]) {
      for (const name of names) {
        const status = options.store.status.get(name);
        if (!status) continue;
        const instances = observed.find((o) => o.key === name)?.instances ?? [];
        const direct = instances.filter((i) => i.state === 'running' && i.health === 'healthy' && i.address).map((i) => `http://${i.address}`);
        const url = options.router ? options.router.url(name) : direct.join(' ');
        const detail = status.phase === 'running'
          ? `${url}${options.router ? '' : ' (direct address: it changes on redeploy until caddy is installed)'}`
          : status.lastError?.message ?? status.conditions.find((c) => c.type === 'Ready')?.message ?? '';
        const line = `${name}: ${status.phase} (generation ${status.observedGeneration})${detail ? ` ${detail}` : ''}`;
        if (last.get(name) !== line) {
          last.set(name, line);
          options.print(`forge dev: ${line}\n`);
        }
      }
    },
  };
}
