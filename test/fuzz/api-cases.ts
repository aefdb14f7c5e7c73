// Malformed requests for every route: bodies (broken, hostile, oversized, wrong
// content types, random shapes), headers (auth and content), query strings and
// path parameters. Pure data; api.test.ts sends them.

import { rng, generatedSpec, specCase, HOSTILE_NAMES, type Rng } from './spec-cases.ts';

export interface BodyCase {
  name: string;
  payload?: string | Buffer;
  contentType?: string;
  headers?: Record<string, string>;
}

const ONE_MB = 1024 * 1024;

export const FIXED_BODIES: readonly BodyCase[] = [
  { name: 'no body' },
  { name: 'empty json', payload: '', contentType: 'application/json' },
  { name: 'truncated json', payload: '{"name": "web", "ima', contentType: 'application/json' },
  { name: 'json null', payload: 'null', contentType: 'application/json' },
  { name: 'json array', payload: '[]', contentType: 'application/json' },
  { name: 'json string', payload: '"web"', contentType: 'application/json' },
  { name: 'json number', payload: '1e999', contentType: 'application/json' },
  { name: 'json true', payload: 'true', contentType: 'application/json' },
  { name: 'proto pollution', payload: '{"__proto__": {"role": "admin"}, "name": "web"}', contentType: 'application/json' },
  { name: 'constructor pollution', payload: '{"constructor": {"prototype": {"role": "admin"}}}', contentType: 'application/json' },
  { name: 'deep array', payload: `${'['.repeat(20_000)}${']'.repeat(20_000)}`, contentType: 'application/json' },
  { name: 'deep object', payload: `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`, contentType: 'application/json' },
  { name: 'oversized body', payload: `"${'x'.repeat(ONE_MB + 16)}"`, contentType: 'application/json' },
  { name: 'oversized field', payload: JSON.stringify({ name: 'web', image: 'x'.repeat(900_000), envVars: { A: 'y'.repeat(70_000) } }), contentType: 'application/json' },
  { name: 'many keys', payload: JSON.stringify(Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`K${i}`, i]))), contentType: 'application/json' },
  { name: 'many env vars', payload: JSON.stringify({ name: 'web', envVars: Object.fromEntries(Array.from({ length: 600 }, (_, i) => [`K${i}`, 'v'])) }), contentType: 'application/json' },
  { name: 'invalid utf-8', payload: Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x22, 0x7d]), contentType: 'application/json' },
  { name: 'nul bytes', payload: '{"name": "w\u0000eb", "image": "x\u0000"}', contentType: 'application/json' },
  { name: 'text/plain', payload: 'name: web', contentType: 'text/plain' },
  { name: 'form', payload: 'name=web&image=x', contentType: 'application/x-www-form-urlencoded' },
  { name: 'multipart', payload: '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--\r\n', contentType: 'multipart/form-data; boundary=x' },
  { name: 'octet-stream', payload: Buffer.from([0, 1, 2, 255]), contentType: 'application/octet-stream' },
  { name: 'yaml', payload: 'name: web\nimage: x\n', contentType: 'application/yaml' },
  { name: 'json latin1', payload: '{"name": "web"}', contentType: 'application/json; charset=latin1' },
  { name: 'json utf-16', payload: Buffer.from('{"name": "web"}', 'utf16le'), contentType: 'application/json; charset=utf-16le' },
  { name: 'garbage content type', payload: '{}', contentType: ';;; =' },
  { name: 'gzip claimed, plain sent', payload: '{"name": "web"}', contentType: 'application/json', headers: { 'content-encoding': 'gzip' } },
  { name: 'json with BOM', payload: '\uFEFF{"name": "web"}', contentType: 'application/json' },
  { name: 'duplicate keys', payload: '{"name": "web", "name": "../x", "port": 1, "port": "80"}', contentType: 'application/json' },
];

/** Authentication and other headers that must never turn into a 500. */
export const HEADER_CASES: readonly Record<string, string>[] = [
  {},
  { authorization: 'Bearer' },
  { authorization: 'Bearer ' },
  { authorization: 'Bearer a.b.c' },
  { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.' },
  { authorization: 'Basic YWRtaW46YWRtaW4=' },
  { authorization: `Bearer ${'x'.repeat(20_000)}` },
  { 'x-api-key': '' },
  { 'x-api-key': 'ik_' },
  { 'x-api-key': `ik_${'0'.repeat(64)}` },
  { 'x-api-key': 'x'.repeat(20_000) },
  { 'x-api-key': 'ik_../../etc/passwd' },
  { accept: 'text/event-stream' },
  { accept: '*/*;q=garbage' },
  { 'x-forwarded-for': '::::' },
  { 'content-length': '0' },
];

export const QUERY_CASES: readonly string[] = [
  '?limit=-1', '?limit=abc', '?limit=1e999', '?limit=0', '?after=-5', '?after=abc', '?follow=maybe', '?follow=', '?limit=1&limit=2',
  '?%ZZ=1', '?a[b][c]=1', `?x=${'a'.repeat(10_000)}`, '?__proto__[x]=1', '?limit=99999999999999999999',
];

export const HOSTILE_PARAMS: readonly string[] = [
  ...HOSTILE_NAMES.filter((n) => n !== '').map(encodeURIComponent),
  '..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e', '..', '%00', '%ZZ', 'a'.repeat(5_000), '%C0%AE%C0%AE',
];

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, items: readonly T[]): T => items[int(r, items.length)]!;

const JUNK: readonly unknown[] = [null, true, 0, -1, 1.5, 1e308, '', 'x', '../x', [], {}, [null], { a: { b: {} } }, 'a'.repeat(2_000)];
const API_KEYS = ['name', 'image', 'port', 'cpu', 'memory', 'region', 'replicas', 'provider', 'envVars', 'envVarsPatch', 'ttlSeconds', 'to',
  'specs', 'source', 'prune', 'dryRun', 'waitMs', 'lines', 'ok', 'result', 'usage', 'instances', 'processes', 'capacity', 'time', 'id', 'labels', 'addresses'];

function junkFor(r: Rng, key: string): unknown {
  if (key === 'specs') return Array.from({ length: int(r, 3) }, () => (r() < 0.5 ? generatedSpec(r) : { text: specCase(int(r, 1000), int(r, 1000)), file: pick(r, ['a.yaml', '../x', '']) }));
  if (key === 'envVars' || key === 'envVarsPatch') return r() < 0.5 ? { set: { [pick(r, ['A', 'bad key', ''])]: pick(r, JUNK) }, unset: [pick(r, JUNK)] } : { [pick(r, ['A', '1'])]: pick(r, JUNK) };
  if (key === 'name') return pick(r, [...HOSTILE_NAMES, 'web', 'api']);
  return pick(r, JUNK);
}

/** Random JSON bodies: route-shaped keys with values of every wrong type, sometimes spec-shaped. */
export function randomBody(seed: number, index: number): BodyCase {
  const r = rng((seed * 9_000_011 + index) >>> 0);
  const value = r() < 0.3 ? generatedSpec(r)
    : Object.fromEntries(Array.from({ length: 1 + int(r, 5) }, () => { const k = pick(r, API_KEYS); return [k, junkFor(r, k)]; }));
  return { name: `random body ${index}`, payload: JSON.stringify(value), contentType: 'application/json' };
}
