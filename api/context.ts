// What the route modules share: the store, the cipher, the loop's nudge and the
// read-side hooks into providers. Built once by buildApi.

import type { Observed, Provider, ProviderCapabilities, ProviderEvent } from '../providers/types.ts';
import type { ProviderRuns } from '../providers/select.ts';
import type { ProviderName } from '../specs/types.ts';
import type { Cipher } from '../store/cipher.ts';
import type { Store } from '../store/index.ts';
import type { DeployToken } from '../providers/fly/provider.ts';
import type { BundleStore } from './bundle-store.ts';

export interface ProviderAvailability {
  configured: boolean;
  /** Why not (or how), in words for `GET /api/compute/config` and `forge server`. */
  reason?: string;
  /** What it runs (from its capabilities): a spec that names no provider goes to one that runs it. */
  runs?: ProviderRuns;
  /** Image specs on it are pinned to their digest when written (api/image-pins.ts). */
  pinsImages?: boolean;
}

export type ProvidersConfig = Record<ProviderName, ProviderAvailability>;

export interface LogOptions {
  follow: boolean;
  signal: AbortSignal;
}

export interface ApiContext {
  store: Store;
  cipher: Cipher;
  /** HMAC key for desired hashes of services with secrets (see secrets.ts). */
  hashKey: Buffer;
  nudge(key: string): void;
  providers: ProvidersConfig;
  /** FORGE_DOMAIN: services answer at `<name>.<domain>` (hostname ownership, see hostnames.ts). */
  domain: string;
  observe(keys: readonly string[]): Promise<Observed[]>;
  /** Mints a short-lived token to push a source build for one service; undefined when no Fly provider. */
  deployToken?: (name: string, ttlSeconds?: number) => Promise<DeployToken>;
  logs?: (name: string, options: LogOptions) => AsyncIterable<string>;
  /** The service's own provider's events (Fly's machine lifecycle); merged into GET …/:id/events. */
  providerEvents?: (key: string, provider: ProviderName) => Promise<ProviderEvent[]>;
  /** What a configured provider can do; undefined for one not running here. Routes ask this, never a provider's name. */
  capabilities?: (provider: ProviderName) => ProviderCapabilities | undefined;
  /** The Fly app a service runs as (its `flyAppId`); undefined when no Fly provider. */
  flyAppName?: (name: string) => string;
  /** Source bundles kept by this control plane (uploads, webhook checkouts). */
  bundles?: BundleStore;
  /**
   * Production: a source-mode service must build from a bundle, never from a folder path
   * (a path on the client's disk that agents on other hosts cannot read).
   */
  sourceFromBundlesOnly?: boolean;
  /** Releases kept per service (FORGE_RELEASE_HISTORY): rollback targets, and the bundles they name. */
  releaseHistory: number;
  /** One-offs (`forge run`): the provider serving a name and a service's decrypted secrets; absent in API-only tests. */
  oneOffs?: { provider(name: ProviderName): Provider | undefined; secretsFor(name: string): Record<string, string> };
  /** The cron scheduler (manual triggers); absent when this process runs none. */
  jobs?: { trigger(service: string, job: string): import('../store/index.ts').JobRunRow };
  /** Resolves an image tag to its digest (api/image-pins.ts); absent: images are not pinned. */
  pinImage?: (image: string, options?: { timeoutMs?: number }) => Promise<string>;
  /** All the tags one request resolves, together (default PIN_REQUEST_BUDGET_MS in api/image-pins.ts). */
  pinBudgetMs?: number;
  now(): number;
}
