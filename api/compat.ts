// The InsForge Compute contract in one place, so InsForge's own CLI drives Forge
// unchanged: the request fields that client sends (imageUrl, scaleToZero,
// protocol) become Forge's body, and Forge's answers take the shapes it reads
// (bare arrays, imageUrl/endpointUrl/flyAppId, epoch-ms event timestamps), with
// Forge's own fields kept beside them. docs/api.md, "Compatibility", lists both.

import type { FastifyInstance } from 'fastify';
import { ForgeError } from '../errors/index.ts';
import type { DesiredRow, EventRow } from '../store/types.ts';
import type { ServiceJson } from './service-json.ts';
import type { ServiceBody } from './service-spec.ts';

/** What InsForge's CLI may send besides Forge's own fields. */
export interface ComputeBody extends ServiceBody {
  imageUrl?: string;
  scaleToZero?: boolean;
  protocol?: 'http' | 'tcp';
}

/** The InsForge request fields, for the body schemas (schemas.ts). */
export const computeBodyFields = {
  imageUrl: { type: 'string', description: 'Container image reference (InsForge\'s name for `image`).', minLength: 1, maxLength: 1024 },
  scaleToZero: { type: 'boolean', description: 'Stop idle instances and start them on the next request: the spec\'s `autoStop`.' },
  protocol: { enum: ['http', 'tcp'], description: 'Only `http` is served; `tcp` is refused with 400 (TCP routes need Caddy\'s layer-4 module).' },
} as const;

const TCP_REFUSED = 'protocol tcp is not supported: Forge serves services through Caddy\'s HTTP routes, and raw TCP routing needs ' +
  'Caddy\'s layer-4 module, which the caddy package Forge runs (Debian\'s build) does not include; send protocol http or leave it out';

function badField(path: string, message: string, full: string): ForgeError {
  return new ForgeError('E_BAD_REQUEST', full, { details: [{ path, message }] });
}

/** An InsForge-shaped body → Forge's ServiceBody. Refuses what Forge cannot serve, before anything is written. */
export function forgeBody(body: ComputeBody | null | undefined): ServiceBody {
  const { imageUrl, scaleToZero, protocol, ...rest } = body ?? {};
  if (protocol === 'tcp') throw badField('protocol', 'only http is supported', TCP_REFUSED);
  if (imageUrl !== undefined && rest.image !== undefined && imageUrl !== rest.image) {
    throw badField('imageUrl', 'differs from image', 'imageUrl and image name two different images; send one of them');
  }
  const out: ServiceBody = { ...rest };
  if (imageUrl !== undefined) out.image = imageUrl;
  if (scaleToZero !== undefined) out.autoStop = scaleToZero;
  return out;
}

const FLY_REGISTRY = 'registry.fly.io/';

/**
 * Checked on PATCH of a Fly-backed service, the last step of the source-mode flow
 * (`/deploy` → `/deploy-token` → build and push → PATCH imageUrl): the push lands in
 * `registry.fly.io/<its flyAppId>`, so another app's name there (or `undefined`, from
 * a client that never learned the app) means the client lost track of its app and
 * would launch the wrong code or none. A create (POST) may name any image, another
 * app's of the same Fly org included, as Fly itself allows. `flyApp` is the
 * service's Fly app, undefined when Fly is not configured here.
 */
export function refuseForeignFlyImage(name: string, image: string | undefined, flyApp: string | undefined): void {
  if (image === undefined || flyApp === undefined || !image.toLowerCase().startsWith(FLY_REGISTRY)) return;
  const app = image.slice(FLY_REGISTRY.length).split(/[/:@]/)[0] ?? '';
  if (app === flyApp) return;
  throw badField('imageUrl', `names Fly app ${JSON.stringify(app)}, not ${flyApp}`,
    `image ${image} is in Fly app ${JSON.stringify(app)}'s registry, but service ${name} runs as Fly app ${flyApp}: ` +
    `push the build to ${FLY_REGISTRY}${flyApp}:<tag> (the flyAppId of the service) and send that`);
}

/** A service object as InsForge's clients read it: Forge's ServiceJson plus InsForge's field names. */
export interface ComputeServiceJson extends ServiceJson {
  imageUrl: string | null;
  endpointUrl: string | null;
  /** Always `http`: the only protocol Forge serves. */
  protocol: 'http';
  scaleToZero: boolean;
  /** The Fly app of a Fly-backed service (what `flyctl --app` takes); null elsewhere. */
  flyAppId: string | null;
  /** The first Fly machine of a Fly-backed service, once one exists; null elsewhere. */
  flyMachineId: string | null;
}

/** `ownApp`: the service's provider gives it an app of its own (capability `registryPerService`). */
export function computeService(json: ServiceJson, row: DesiredRow, ownApp: boolean, flyAppName: ((key: string) => string) | undefined): ComputeServiceJson {
  return {
    ...json,
    imageUrl: json.image,
    endpointUrl: json.url,
    protocol: 'http',
    scaleToZero: row.spec.autoStop,
    flyAppId: ownApp && flyAppName ? flyAppName(row.name) : null,
    flyMachineId: ownApp ? (json.instances.find((i) => i.machineId !== undefined)?.machineId ?? null) : null,
  };
}

/** An event as InsForge's clients read it (`timestamp` in epoch ms, `message`), Forge's fields kept. */
export type ComputeEvent<E extends Pick<EventRow, 'time' | 'message'>> = E & { timestamp: number };

export function computeEvents<E extends Pick<EventRow, 'time' | 'message'>>(events: readonly E[]): ComputeEvent<E>[] {
  return events.map((e) => ({ timestamp: Date.parse(e.time), ...e }));
}

/** The delete answer: InsForge's `{ message }`, with Forge's snapshot of what is being destroyed. */
export function deletedAnswer<D>(deleted: D): { message: 'Service deleted'; deleted: D } {
  return { message: 'Service deleted', deleted };
}

/**
 * Forge's error codes as InsForge's clients expect them on /api/compute/… routes.
 * Elsewhere (POST /api/v1/apply) Forge's own codes stay.
 */
const COMPUTE_CODES: Readonly<Record<string, string>> = {
  E_REGION_IMMUTABLE: 'COMPUTE_REGION_CHANGE_NOT_SUPPORTED',
};

export function compatErrorCode(code: string, url: string): string {
  return url.startsWith('/api/compute/') ? (COMPUTE_CODES[code] ?? code) : code;
}

/**
 * InsForge's clients send `Content-Type: application/json` with an empty body
 * (stop, start, delete, deploy-token); InsForge reads that as `{}`, and so does
 * Forge. Anything else goes to Fastify's own JSON parser (prototype-poisoning checks kept).
 */
export function acceptEmptyJsonBodies(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Called in an encapsulated context (the admin routes): it overrides the built-in parser there only.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') {
      done(null, {});
      return;
    }
    parseJson(request, text, done);
  });
}

/** InsForge's CLI posts usage after every command: accepted (204) and dropped, so the client stays quiet. */
export function registerUsageSink(app: FastifyInstance): void {
  app.post('/api/usage/mcp', async (_request, reply) => reply.status(204).send());
}
