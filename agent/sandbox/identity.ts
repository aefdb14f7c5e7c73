// Unprivileged host identities, one per service. Each service gets a block of
// 65536 host uids/gids that its user namespace maps 0..65535 onto; the app runs
// as uid/gid 1000 inside, which is host `base + slot*65536 + 1000` outside.
// Two services never share a block, so neither can touch the other's files or
// signal its processes, and none of them is host root.
//
// Blocks are handed out in order and recorded in <agent data dir>/identities.json
// (not derived from a hash of the name, which could collide). The range starts
// above where Debian's useradd hands out subordinate ids (SUB_UID_MAX 600100000),
// so it does not overlap rootless containers of host users.

import { promises as fs } from 'node:fs';
import path from 'node:path';

export const IDENTITY_BASE = 1_000_000_000;
export const IDENTITY_BLOCK = 65_536;
/** (2^32 - 2 - base) / block, rounded down to leave room: uid 4294967295 is "no uid". */
export const IDENTITY_SLOTS = 50_000;
/** The uid and gid an app runs as inside its namespace. */
export const APP_ID_INSIDE = 1000;

export interface SandboxIdentity {
  /** First host uid (and gid) of the block: what container id 0 maps to. */
  hostBase: number;
  /** Host uid/gid of the app (container id APP_ID_INSIDE): owns the release dir. */
  hostUid: number;
  hostGid: number;
  /** Slot index in identities.json; for messages and tests. */
  slot: number;
}

export function identityForSlot(slot: number): SandboxIdentity {
  if (!Number.isInteger(slot) || slot < 0 || slot >= IDENTITY_SLOTS) throw new RangeError(`identity slot ${slot} out of range`);
  const hostBase = IDENTITY_BASE + slot * IDENTITY_BLOCK;
  return { hostBase, hostUid: hostBase + APP_ID_INSIDE, hostGid: hostBase + APP_ID_INSIDE, slot };
}

interface IdentityFile {
  version: 1;
  services: Record<string, number>;
}

/** The slot for a service: its recorded one, else the lowest free one (pure). */
export function pickSlot(recorded: Record<string, number>, service: string): number {
  const existing = recorded[service];
  if (existing !== undefined) return existing;
  const used = new Set(Object.values(recorded));
  // Slot 0 is kept for sandboxes that name no service (tests, probes).
  for (let slot = 1; slot < IDENTITY_SLOTS; slot++) if (!used.has(slot)) return slot;
  throw new RangeError(`all ${IDENTITY_SLOTS - 1} service identities are taken`);
}

/** Allocates and records identities in one file; calls are serialized within the process. */
export function createIdentityStore(file: string) {
  let chain: Promise<unknown> = Promise.resolve();
  async function read(): Promise<IdentityFile> {
    try {
      const parsed = JSON.parse(await fs.readFile(file, 'utf8')) as IdentityFile;
      if (parsed.version === 1 && typeof parsed.services === 'object' && parsed.services !== null) return parsed;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { version: 1, services: {} };
  }
  async function assign(service: string): Promise<SandboxIdentity> {
    const state = await read();
    const slot = pickSlot(state.services, service);
    if (state.services[service] === undefined) {
      state.services[service] = slot;
      await fs.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
      await fs.rename(tmp, file);
    }
    return identityForSlot(slot);
  }
  return {
    forService(service: string): Promise<SandboxIdentity> {
      const next = chain.then(() => assign(service));
      chain = next.catch(() => undefined);
      return next;
    },
  };
}

export type IdentityStore = ReturnType<typeof createIdentityStore>;

/** Hands a directory tree to an identity (lchown: symlinks are not followed out of it). */
export async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fs.lchown(dir, uid, gid);
  const entries = await fs.readdir(dir, { withFileTypes: true });
  await Promise.all(
    entries.map(async (entry) => {
      const p = path.join(dir, entry.name);
      if (entry.isDirectory()) await chownTree(p, uid, gid);
      else await fs.lchown(p, uid, gid);
    }),
  );
}
