// Every route of the API (read from fastify's own route table, so a new route is
// fuzzed without editing this file) against malformed and oversized bodies,
// hostile headers, query strings and path parameters: never an HTTP 500.
// Webhook bodies with wrong or missing signatures are refused before the JSON
// parser ever sees them; hostile service names are refused by validation.
// FORGE_FUZZ=full (npm run test:fuzz) sends many more random bodies per route.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { connect, type AddressInfo } from 'node:net';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { FIXED_BODIES, HEADER_CASES, HOSTILE_PARAMS, QUERY_CASES, randomBody, type BodyCase } from './api-cases.ts';
import { fuzzApi, type FuzzApi, WEBHOOK_SECRET } from './api-harness.ts';
import { HOSTILE_NAMES } from './spec-cases.ts';

const FULL = process.env.FORGE_FUZZ === 'full';
const RANDOM_BODIES_PER_ROUTE = FULL ? 400 : 12;

type Method = NonNullable<InjectOptions['method']>;

/** A 503 naming an unconfigured provider is an answer about configuration, not a crash. */
function serverError(res: LightMyRequestResponse): boolean {
  if (res.statusCode < 500) return false;
  return !(res.statusCode === 503 && res.body.includes('COMPUTE_NOT_CONFIGURED'));
}

function concrete(f: FuzzApi, path: string): string {
  return path
    .replace(':taskId', 'tsk_missing')
    .replace(':file', 'app.js')
    .replace(':id', path.startsWith('/api/agents/') ? f.agentId : path.startsWith('/api/v1/deployments/') ? '1' : 'web');
}

function goodAuth(f: FuzzApi, path: string): Record<string, string> {
  return path.startsWith('/api/agents/') ? { authorization: `Bearer ${f.agentToken}` } : { 'x-api-key': f.apiKey };
}

function withBody(body: BodyCase): Pick<InjectOptions, 'payload' | 'headers'> {
  return {
    ...(body.payload === undefined ? {} : { payload: body.payload }),
    headers: { ...(body.contentType ? { 'content-type': body.contentType } : {}), ...body.headers },
  };
}

test(`malformed bodies, headers, queries and params against every route: 0 HTTP 500s`, async (t) => {
  const f = await fuzzApi();
  const failures: string[] = [];
  let sent = 0;
  let unsendable = 0;
  const send = async (method: Method, url: string, label: string, extra: Pick<InjectOptions, 'payload' | 'headers'>, auth: Record<string, string>) => {
    let res: LightMyRequestResponse;
    try {
      res = await f.app.inject({ method, url, ...extra, headers: { ...auth, ...extra.headers } });
    } catch {
      unsendable += 1; // the client library refused to build it (e.g. an illegal header): nothing reached the server
      return;
    }
    sent += 1;
    if (serverError(res) && failures.length < 30) failures.push(`${method} ${url.slice(0, 120)} [${label}] → ${res.statusCode} ${res.body.slice(0, 200)}`);
  };
  try {
    assert.ok(f.routes.length >= 26, `routes read from fastify: ${JSON.stringify(f.routes)}`);
    for (const [index, [method, path]] of f.routes.entries()) {
      // Earlier cases may have deleted or stopped it; every route starts with the service there.
      await f.app.inject({ method: 'POST', url: '/api/compute/services', headers: { 'x-api-key': f.apiKey }, payload: { name: 'web', image: 'nginx:1' } });
      const url = concrete(f, path);
      const auth = goodAuth(f, path);
      const m = method as Method;
      const bodies = [...FIXED_BODIES, ...Array.from({ length: RANDOM_BODIES_PER_ROUTE }, (_, i) => randomBody(index + 1, i))];
      for (const body of bodies) await send(m, url, body.name, withBody(body), auth);
      for (const headers of HEADER_CASES) {
        await send(m, url, `headers ${Object.keys(headers).join(',')}`, { headers }, {});
        await send(m, url, `auth + headers ${Object.keys(headers).join(',')}`, { headers }, auth);
      }
      if (method === 'GET') for (const query of QUERY_CASES) await send(m, `${url}${query}`, `query ${query.slice(0, 30)}`, {}, auth);
      for (const param of path.match(/:[A-Za-z]+/g) ?? []) {
        for (const hostile of HOSTILE_PARAMS) {
          const target = concrete(f, path.replace(param, hostile));
          await send(m, target, `param ${param}=${hostile.slice(0, 30)}`, withBody({ name: 'json', payload: '{}', contentType: 'application/json' }), auth);
        }
      }
    }
    t.diagnostic(`fuzz api: ${sent} requests over ${f.routes.length} routes, ${failures.length} HTTP 5xx (${unsendable} not sendable)`);
    assert.deepEqual(failures, []);
  } finally {
    await f.close();
  }
});

const sign = (secret: string, body: string | Buffer) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

test('webhook bodies with wrong or missing signatures are refused before the JSON parser runs', async () => {
  const f = await fuzzApi();
  const marker = 'fuzz-marker-7c1d';
  const validPush = JSON.stringify({ ref: 'refs/heads/main', after: 'a'.repeat(40), repository: { full_name: 'acme/app' }, marker });
  const notJson = `{"ref": "refs/heads/main", ${marker}`;
  const parsed: string[] = [];
  const realParse = JSON.parse;
  // Any parse of a body carrying the marker, by anyone (fastify's parser or the route), is a failure.
  JSON.parse = ((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    if (typeof text === 'string' && text.includes(marker)) parsed.push(text.slice(0, 40));
    else if (Buffer.isBuffer(text) && (text as Buffer).includes(marker)) parsed.push('buffer');
    return realParse(text, reviver);
  }) as typeof JSON.parse;
  const statuses: Record<string, number> = {};
  try {
    const cases: [string, string, Record<string, string>][] = [];
    for (const [bodyName, body] of [['valid push', validPush], ['not json', notJson]] as const) {
      cases.push(
        [`${bodyName}, no signature`, body, {}],
        [`${bodyName}, empty signature`, body, { 'x-hub-signature-256': '' }],
        [`${bodyName}, bare prefix`, body, { 'x-hub-signature-256': 'sha256=' }],
        [`${bodyName}, wrong hex`, body, { 'x-hub-signature-256': `sha256=${'0'.repeat(64)}` }],
        [`${bodyName}, short hex`, body, { 'x-hub-signature-256': 'sha256=abcd' }],
        [`${bodyName}, not hex`, body, { 'x-hub-signature-256': `sha256=${'z'.repeat(64)}` }],
        [`${bodyName}, sha1 scheme`, body, { 'x-hub-signature': `sha1=${createHmac('sha1', WEBHOOK_SECRET).update(body).digest('hex')}` }],
        [`${bodyName}, other secret`, body, { 'x-hub-signature-256': sign('not-the-secret', body) }],
        [`${bodyName}, signature of another body`, body, { 'x-hub-signature-256': sign(WEBHOOK_SECRET, `${body} `) }],
        [`${bodyName}, uppercase hex of another body`, body, { 'x-hub-signature-256': sign(WEBHOOK_SECRET, 'x').toUpperCase() }],
      );
    }
    for (const [name, body, headers] of cases) {
      for (const contentType of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
        const res = await f.app.inject({
          method: 'POST', url: '/api/v1/webhook/github', payload: body,
          headers: { 'content-type': contentType, 'x-github-event': 'push', 'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958', ...headers },
        });
        statuses[`${name} (${contentType})`] = res.statusCode;
      }
    }
    assert.deepEqual(parsed, [], 'the JSON parser ran on an unverified body');
    const refused = Object.entries(statuses).filter(([, status]) => status === 401 || status === 415);
    assert.deepEqual(Object.fromEntries(Object.entries(statuses).filter(([, s]) => s !== 401 && s !== 415)), {}, 'every unsigned body is refused');
    assert.equal(refused.length, cases.length * 3);
    // The JSON content type reaches the route and is refused there, 401, even for text that is not JSON.
    assert.equal(statuses['not json, no signature (application/json)'], 401);
    assert.equal(statuses['not json, wrong hex (application/json)'], 401);

    // The control: correctly signed, the same invalid JSON is a 400 (the parser is reached only after verification).
    const signedBad = await f.app.inject({
      method: 'POST', url: '/api/v1/webhook/github', payload: notJson,
      headers: { 'content-type': 'application/json', 'x-github-event': 'push', 'x-hub-signature-256': sign(WEBHOOK_SECRET, notJson) },
    });
    assert.equal(signedBad.statusCode, 400);
    assert.equal(parsed.length, 1, 'parsed once, after the signature matched');
  } finally {
    JSON.parse = realParse;
    await f.close();
  }
});

test('path-traversal and shell-metacharacter service names are refused by validation with 400, nothing written', async () => {
  const f = await fuzzApi();
  const auth = { 'x-api-key': f.apiKey };
  const statuses = new Map<string, number[]>();
  try {
    for (const name of HOSTILE_NAMES) {
      const results = [
        await f.app.inject({ method: 'POST', url: '/api/compute/services', headers: auth, payload: { name, image: 'nginx:1' } }),
        await f.app.inject({ method: 'POST', url: '/api/compute/services/deploy', headers: auth, payload: { name, image: 'nginx:1' } }),
        await f.app.inject({ method: 'POST', url: '/api/v1/apply', headers: auth, payload: { specs: [{ name, image: 'nginx:1' }] } }),
        await f.app.inject({ method: 'POST', url: '/api/v1/apply', headers: auth, payload: { specs: [{ text: `name: ${JSON.stringify(name)}\nimage: nginx:1\n`, file: 'x.yaml' }] } }),
        await f.app.inject({ method: 'POST', url: '/api/v1/apply', headers: auth, payload: { dryRun: true, specs: [{ name, image: 'nginx:1' }] } }),
      ];
      statuses.set(name, results.map((r) => r.statusCode));
      for (const res of results) assert.match(res.json<{ error: string }>().error, /^E_(SPEC_INVALID|BAD_REQUEST)$/, `${JSON.stringify(name)}: ${res.body}`);
    }
    assert.deepEqual([...statuses].filter(([, codes]) => codes.some((c) => c !== 400)), []);
    assert.deepEqual(f.store.services.list().map((r) => r.name), ['web']);
    // As a path parameter the same names find nothing (404) or are refused (400), and touch no file.
    for (const name of HOSTILE_NAMES.filter((n) => n !== '')) {
      const res = await f.app.inject({ method: 'GET', url: `/api/compute/services/${encodeURIComponent(name)}/logs`, headers: auth });
      assert.ok(res.statusCode === 404 || res.statusCode === 400, `${JSON.stringify(name)} → ${res.statusCode}`);
    }
  } finally {
    await f.close();
  }
});

/** Sends raw bytes and returns the status line's code (0 when the server just closed the connection). */
function rawRequest(port: number, bytes: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.setTimeout(5_000, () => { socket.destroy(); reject(new Error('raw request got no answer within 5 s')); });
    socket.on('data', (chunk) => { text += chunk.toString('latin1'); });
    socket.on('error', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0)));
    socket.end(bytes);
  });
}

test('malformed HTTP on a real socket (huge headers, bad framing) is answered 4xx or closed, never 5xx', async () => {
  const f = await fuzzApi();
  try {
    await f.app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = f.app.server.address() as AddressInfo;
    const auth = `x-api-key: ${f.apiKey}\r\n`;
    const cases: Record<string, string> = {
      'header block over 16 KB': `GET /api/compute/services HTTP/1.1\r\nHost: x\r\n${auth}x-big: ${'a'.repeat(20_000)}\r\n\r\n`,
      'garbage request line': 'HELLO?? / WORLD\r\n\r\n',
      'bad chunked framing': `POST /api/compute/services HTTP/1.1\r\nHost: x\r\n${auth}content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`,
      'content-length and chunked': `POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n${auth}content-type: application/json\r\ncontent-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
      'content-length longer than body': `POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n${auth}content-type: application/json\r\ncontent-length: 100\r\n\r\n{}`,
      'negative content-length': `POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n${auth}content-type: application/json\r\ncontent-length: -1\r\n\r\n{}`,
      'NUL in a header': `GET /api/compute/services HTTP/1.1\r\nHost: x\r\nx-api-key: a\u0000b\r\n\r\n`,
      'two content-lengths': `POST /api/v1/apply HTTP/1.1\r\nHost: x\r\n${auth}content-type: application/json\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}`,
      'absolute-form traversal': `GET http://x/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n`,
      'encoded traversal in path': `GET /web/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: x\r\n\r\n`,
    };
    const statuses: Record<string, number> = {};
    for (const [name, bytes] of Object.entries(cases)) statuses[name] = await rawRequest(port, bytes);
    assert.deepEqual(Object.entries(statuses).filter(([, s]) => s >= 500), [], JSON.stringify(statuses));
    assert.equal(statuses['header block over 16 KB'], 431);
    assert.equal(statuses['encoded traversal in path'] === 200, false, 'a file outside web/ was served');
  } finally {
    await f.close();
  }
});
