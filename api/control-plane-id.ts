// This control plane's identity: generated once, kept in the data dir, never changed.
// Providers write it on every remote object they create (the cloud remote's `source`,
// Fly machine metadata `forge_owner`) and adopt, update or delete only objects that
// carry it: "in the same project" is not proof of ownership.

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ForgeError } from '../errors/index.ts';

export const CONTROL_PLANE_ID_FILE = 'control-plane.id';
const SHAPE = /^cp_[0-9a-f]{16}$/;

/** The id in `<dataDir>/control-plane.id`, created (cp_ + 16 hex) on first start. */
export function controlPlaneId(dataDir: string, random: (n: number) => Buffer = randomBytes): string {
  const file = join(dataDir, CONTROL_PLANE_ID_FILE);
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (text !== undefined) {
    if (!SHAPE.test(text)) {
      throw new ForgeError('E_USAGE', `${file} holds ${JSON.stringify(text.slice(0, 40))}, not a control-plane id (cp_ and 16 hex digits); restore it from a backup: remote objects are recognised by it`);
    }
    return text;
  }
  const id = `cp_${random(8).toString('hex')}`;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // `wx`: two processes starting at once on one data dir agree on the first one's id.
  try {
    writeFileSync(file, `${id}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return controlPlaneId(dataDir, random);
    throw error;
  }
  return id;
}
