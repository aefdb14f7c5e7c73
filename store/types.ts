// What the rest of Forge may ask of the store. store/ is the only room that
// writes SQL; everything else talks to these interfaces.

import type { ServiceSpec } from '../specs/types.ts';

export type Phase = 'pending' | 'creating' | 'deploying' | 'running' | 'stopped' | 'failed' | 'destroying';

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

export interface DesiredRow {
  id: string;
  name: string;
  spec: ServiceSpec;
  hash: string;
  generation: number;
  /** Who owns the row: `file:<set>`, `api`, `git:<repo>@<branch>`. */
  source: string;
  state: 'running' | 'stopped';
  /** Two-phase delete: set when deletion is asked; the row goes only when the provider confirms. */
  deleting: boolean;
  createdAt: string;
  updatedAt: string;
}

/** The columns a no-op resync pass needs, read for every service in one query. */
export interface DesiredSummary {
  name: string;
  hash: string;
  generation: number;
  state: 'running' | 'stopped';
  deleting: boolean;
}

export interface UpsertResult {
  row: DesiredRow;
  created: boolean;
  /** True when the hash changed and the generation was bumped. */
  changed: boolean;
}

export interface StatusRow {
  name: string;
  phase: Phase;
  observedGeneration: number;
  conditions: Condition[];
  url: string | null;
  lastError: { code: string; message: string } | null;
  /** Persisted xstate snapshot of the lifecycle machine (JSON). */
  lifecycle: unknown;
  updatedAt: string;
}

export interface EventRow {
  id: number;
  name: string;
  time: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface ReleaseRow {
  name: string;
  generation: number;
  hash: string;
  spec: ServiceSpec;
  /** Image reference or commit the release was built from, when known. */
  revision: string | null;
  createdAt: string;
  outcome: 'pending' | 'succeeded' | 'failed';
  reason: string | null;
}

export interface SecretRow {
  name: string;
  key: string;
  /** Opaque ciphertext: the API's cipher produces and reads it. */
  ciphertext: Buffer;
  keyId: string;
}

export interface AuditRow {
  id: number;
  time: string;
  actor: string;
  action: string;
  target: string;
  details: unknown;
}
