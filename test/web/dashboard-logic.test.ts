// The dashboard's pure modules, run in Node: the deploy dialog's body, the env
// text, the SSE parser, link and status helpers, and the API client's errors.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

type FormModule = {
  parseEnvLines(text: string): { env: Record<string, string>; errors: string[] };
  deployBody(fields: Record<string, string>): { body: Record<string, unknown> | null; errors: { field: string; message: string }[] };
};
type SseModule = { createSseParser(onEvent: (e: { event: string; data: string }) => void): { push(chunk: string): void } };
type DomModule = { safeHref(value: unknown): string | null; statusClass(status: string): string; statusText(service: { status: string; statusReason?: string | null }): string };
type ApiError = Error & { status: number; code: string; details: unknown };
type ApiModule = {
  ApiError: new (status: number, code: string, message: string, details?: unknown) => ApiError;
  describeError(error: unknown): string;
  createApi(key: string, fetchFn: typeof fetch): Record<string, (...args: any[]) => Promise<any>>;
};

// Plain browser modules (no types): imported by URL so the type checker does not look for declarations.
const web = (file: string) => new URL(`../../web/${file}`, import.meta.url).href;
const form = (await import(web('deploy-form.js'))) as FormModule;
const sse = (await import(web('sse.js'))) as SseModule;
const dom = (await import(web('dom.js'))) as DomModule;
const api = (await import(web('api.js'))) as ApiModule;

describe('parseEnvLines', () => {
  const cases: [string, string, Record<string, string>, string[]][] = [
    ['empty', '', {}, []],
    ['pairs, blank lines and comments', 'A=1\n\n# note\n  B_2=two words \r\n', { A: '1', B_2: 'two words ' }, []],
    ['value keeps later = signs', 'URL=postgres://u:p@h/db?x=1', { URL: 'postgres://u:p@h/db?x=1' }, []],
    ['empty value', 'EMPTY=', { EMPTY: '' }, []],
    ['no =', 'A=1\nnonsense', { A: '1' }, ['line 2: expected KEY=VALUE']],
    ['bad name', 'lower=1\n1X=2', {}, [
      'line 1: "lower" is not a valid name (A-Z, 0-9 and _, not starting with a digit)',
      'line 2: "1X" is not a valid name (A-Z, 0-9 and _, not starting with a digit)',
    ]],
    ['duplicate', 'A=1\nA=2', { A: '1' }, ['line 2: A is given twice']],
  ];
  for (const [name, text, env, errors] of cases) {
    test(name, () => assert.deepEqual(form.parseEnvLines(text), { env, errors }));
  }
});

describe('deployBody', () => {
  test('every field, typed as the API wants', () => {
    assert.deepEqual(form.deployBody({
      name: ' hello ', image: 'nginx:1.27', port: '8080', cpu: 'shared-2x', memory: '512', region: 'ams', provider: 'agent', env: 'A=1',
    }), { body: { name: 'hello', image: 'nginx:1.27', port: 8080, memory: 512, cpu: 'shared-2x', region: 'ams', provider: 'agent', envVars: { A: '1' } }, errors: [] });
  });
  test('empty optional fields are left out (an existing service keeps them, env included)', () => {
    assert.deepEqual(form.deployBody({ name: 'a', image: 'i', port: '', cpu: '', memory: '', region: '', provider: '', env: '  \n' }),
      { body: { name: 'a', image: 'i' }, errors: [] });
  });
  test('a memory size with a unit is sent as text', () => {
    assert.deepEqual(form.deployBody({ name: 'a', image: 'i', memory: '1G' }).body, { name: 'a', image: 'i', memory: '1G' });
  });
  test('every problem at once, and no body', () => {
    assert.deepEqual(form.deployBody({ name: '', image: '', port: '80x', env: 'bad' }), {
      body: null,
      errors: [
        { field: 'name', message: 'a name is required' },
        { field: 'image', message: 'an image is required (for example nginx:1.27)' },
        { field: 'port', message: 'the port is a number from 1 to 65535' },
        { field: 'env', message: 'line 1: expected KEY=VALUE' },
      ],
    });
    assert.deepEqual(form.deployBody({ name: 'a', image: 'i', port: '70000' }).errors, [{ field: 'port', message: 'the port is a number from 1 to 65535' }]);
  });
});

describe('createSseParser', () => {
  const parse = (chunks: string[]) => {
    const events: { event: string; data: string }[] = [];
    const parser = sse.createSseParser((e) => events.push(e));
    for (const chunk of chunks) parser.push(chunk);
    return events;
  };
  test('frames as the logs route writes them, split anywhere', () => {
    const stream = 'data: one\n\ndata: two\ndata:  three\n\n: comment\n\nevent: end\ndata: \n\n';
    const expected = [{ event: 'message', data: 'one' }, { event: 'message', data: 'two\n three' }, { event: 'end', data: '' }];
    assert.deepEqual(parse([stream]), expected);
    assert.deepEqual(parse([...stream]), expected, 'one character at a time');
  });
  test('CRLF and CR line endings, including a CRLF cut between chunks', () => {
    assert.deepEqual(parse(['data: a\r', '\n\r\ndata: b\r\r\n']), [{ event: 'message', data: 'a' }, { event: 'message', data: 'b' }]);
  });
  test('an event cut off by the end of the stream is not dispatched', () => {
    assert.deepEqual(parse(['data: whole\n\ndata: partial\n']), [{ event: 'message', data: 'whole' }]);
  });
});

describe('dom helpers', () => {
  const hrefs: [unknown, string | null][] = [
    ['https://hello.example.com/', 'https://hello.example.com/'],
    ['http://127.0.0.1:20000', 'http://127.0.0.1:20000/'],
    ['#/services/a', '#/services/a'],
    ['javascript:alert(1)', null],
    ['JaVaScRiPt:alert(1)', null],
    ['data:text/html,<b>x</b>', null],
    ['/relative', null],
    ['', null],
    [null, null],
  ];
  for (const [value, expected] of hrefs) test(`safeHref(${JSON.stringify(value)})`, () => assert.equal(dom.safeHref(value), expected));

  test('statusClass: one class per phase, a neutral one otherwise', () => {
    assert.deepEqual(['running', 'failed', 'pending', 'bogus" onclick="x'].map(dom.statusClass),
      ['status status-running', 'status status-failed', 'status status-pending', 'status status-unknown']);
  });
});

describe('API client', () => {
  const recorded: { url: string; init: RequestInit }[] = [];
  const fakeFetch = (status: number, body: unknown) => (async (url: string, init: RequestInit) => {
    recorded.push({ url, init });
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof fetch;

  test('every call carries the key; bodies are JSON; names are path-encoded', async () => {
    recorded.length = 0;
    const client = api.createApi('ik_abc', fakeFetch(200, { name: 'a b' }));
    await client.deploy!({ name: 'x' });
    await client.rollback!('a b');
    assert.deepEqual(recorded.map((r) => [r.init.method, r.url, r.init.body, (r.init.headers as Record<string, string>)['x-api-key']]), [
      ['POST', '/api/compute/services', '{"name":"x"}', 'ik_abc'],
      ['POST', '/api/compute/services/a%20b/rollback', '{}', 'ik_abc'],
    ]);
  });

  test('an error body becomes an ApiError with code, message and details', async () => {
    const client = api.createApi('ik_abc', fakeFetch(400, {
      error: 'E_SPEC_INVALID', message: 'spec is invalid', details: [{ path: 'port', message: 'must be <= 65535' }],
    }));
    const error = await client.deploy!({ name: 'x' }).catch((e: unknown) => e as ApiError);
    assert.ok(error instanceof api.ApiError);
    assert.deepEqual([error.status, error.code], [400, 'E_SPEC_INVALID']);
    assert.equal(api.describeError(error), 'spec is invalid (port: must be <= 65535) [E_SPEC_INVALID]');
  });

  test('a non-JSON error page still says what failed', async () => {
    const client = api.createApi('ik_abc', fakeFetch(502, '<html>bad gateway</html>'));
    const error = await client.listServices!().catch((e: unknown) => e as ApiError);
    assert.equal(api.describeError(error), 'GET /api/compute/services failed with HTTP 502 [HTTP_502]');
  });

  test('an unreachable API is E_NETWORK', async () => {
    const client = api.createApi('ik_abc', (async () => { throw new TypeError('fetch failed'); }) as unknown as typeof fetch);
    const error = await client.listServices!().catch((e: unknown) => e as ApiError);
    assert.deepEqual([error.status, error.code, error.message], [0, 'E_NETWORK', 'cannot reach the Forge API (fetch failed)']);
  });
});

describe('statusText (the list row\'s status, issue 13.18)', () => {
  test('the phase, with the reason when there is one', () => {
    assert.equal(dom.statusText({ status: 'running', statusReason: 'CrashLoopBackOff' }), 'running (CrashLoopBackOff)');
    assert.equal(dom.statusText({ status: 'running', statusReason: null }), 'running');
    assert.equal(dom.statusText({ status: 'failed' }), 'failed');
  });
});
