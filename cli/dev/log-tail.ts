// Streams the output of every instance of the given services, each line prefixed
// with the service name, by following the agent's log files (they rotate: a
// file that shrinks is read again from its start).

import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Observed } from '../../providers/types.ts';

export interface LogTail {
  poll(observed: readonly Observed[]): Promise<void>;
}

export function createLogTail(agentDataDir: string, write: (line: string) => void): LogTail {
  const offsets = new Map<string, number>();
  const partial = new Map<string, string>();

  async function follow(file: string, prefix: string): Promise<void> {
    const info = await stat(file).catch(() => null);
    if (!info) return;
    let offset = offsets.get(file) ?? 0;
    if (info.size < offset) offset = 0;
    if (info.size === offset) return;
    const handle = await open(file, 'r');
    try {
      const length = Math.min(info.size - offset, 256 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, offset);
      offsets.set(file, offset + length);
      const text = (partial.get(file) ?? '') + buffer.toString('utf8');
      const lines = text.split('\n');
      partial.set(file, lines.pop() ?? '');
      for (const line of lines) write(`${prefix} ${line}\n`);
    } finally {
      await handle.close();
    }
  }

  return {
    async poll(observed) {
      for (const service of observed) {
        for (const instance of service.instances) {
          const dir = join(agentDataDir, 'instances', instance.id, 'logs');
          const tag = service.instances.length > 1 ? `${service.key}[${instance.replica}]` : service.key;
          await follow(join(dir, 'build.log'), `${tag} build |`);
          await follow(join(dir, 'output.log'), `${tag} |`);
        }
      }
    },
  };
}
