// Deterministic spec fuzz cases: case `i` of seed `s` is always the same text, so
// a failure is reproduced by its number alone and the cases can be split across
// processes. Kinds: generated spec objects written as YAML, mutations of the
// example specs, YAML-ish token soup, raw bytes, and adversarial shapes (deep
// nesting, alias bombs, oversized values, tags, many documents).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

export type Rng = () => number;

/** mulberry32: small, fast and good enough to spread cases; never used for secrets. */
export function rng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (r: Rng, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rng, items: readonly T[]): T => items[int(r, items.length)]!;

const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const CORPUS: readonly string[] = [
  'examples/specs/web.yaml', 'examples/specs/workers.yaml', 'examples/node-hello/forge.yaml', 'examples/python-hello/forge.yaml',
].map((f) => readFileSync(REPO + f, 'utf8'));

/** Names a person (or an attacker) might type: valid labels, traversal, shell metacharacters, unicode, sizes. */
export const HOSTILE_NAMES: readonly string[] = [
  '../etc', '../../etc/passwd', '..', '.', 'a/b', 'a\\b', '/abs', 'web;rm -rf /', 'web && id', 'web|cat', '$(id)', '`id`',
  'web\nname: x', 'web\u0000', 'we b', 'Web', '-web', 'web-', 'wéb', '💥', 'a'.repeat(64), '%2e%2e', 'web?x=1', 'web#x', '*', '',
];
const NAMES = ['web', 'api', 'cache', 'svc-1', 'a', 'x'.repeat(63), ...HOSTILE_NAMES];
const STRINGS = ['', ' ', 'x', '256M', '1Gi', '10s', '0s', '-1s', 'shared-2x', 'performance-8x', 'nginx:1.27', '../node-hello', '/health', 'health',
  'iad', 'ams', 'zz', 'yes', 'no', 'null', '~', '0x10', '1e309', 'NaN', '${HOME}', 'é', '\t', '0', '-0', '\u202e', 'a'.repeat(300)];
const NUMBERS = [0, 1, -1, 0.5, 80, 8080, 65535, 65536, 1e21, -0, 2 ** 53, 3.7, 256, 1024, 999999999999];

function junkValue(r: Rng, depth = 0): unknown {
  switch (int(r, depth > 2 ? 5 : 8)) {
    case 0: return pick(r, STRINGS);
    case 1: return pick(r, NUMBERS);
    case 2: return r() < 0.5;
    case 3: return null;
    case 4: return pick(r, NAMES);
    case 5: return Array.from({ length: int(r, 4) }, () => junkValue(r, depth + 1));
    case 6: return Object.fromEntries(Array.from({ length: int(r, 4) }, () => [pick(r, [...STRINGS, 'path', 'command', 'port']), junkValue(r, depth + 1)]));
    default: return {};
  }
}

/** Each key: a plausible value most of the time, a wrong one sometimes, absent sometimes. */
const FIELDS: Record<string, (r: Rng) => unknown> = {
  name: (r) => pick(r, NAMES),
  provider: (r) => pick(r, ['agent', 'fly', 'cloud', 'aws', '']),
  image: (r) => pick(r, ['nginx:1.27', 'redis:7-alpine', '', 'a b']),
  source: (r) => pick(r, ['.', '../node-hello', '/srv/app', '']),
  runtime: (r) => pick(r, ['node20', 'python3.11', 'cobol']),
  build: (r) => (r() < 0.7 ? { commands: Array.from({ length: int(r, 3) }, () => pick(r, ['npm ci', 'make', '', 'x'])) } : { dockerfile: pick(r, ['Dockerfile', '']) }),
  run: (r) => ({ command: pick(r, ['node server.js', '', 'python3 app.py']), ...(r() < 0.3 ? { port: pick(r, NUMBERS) } : {}) }),
  port: (r) => pick(r, NUMBERS),
  cpu: (r) => pick(r, ['shared-1x', 'shared-2x', 'performance-1x', 'huge-9x', '']),
  memory: (r) => (r() < 0.5 ? pick(r, ['256M', '1Gi', '512', '0M', '9999G', 'lots']) : pick(r, NUMBERS)),
  resources: (r) => ({ memory: pick(r, ['256M', 128, '1G', -4]), cpu: pick(r, [0.5, 1, 0, -1, 64, 'two']) }),
  region: (r) => pick(r, ['iad', 'ams', 'lhr', '', 'mars']),
  env: (r) => Object.fromEntries(Array.from({ length: int(r, 4) }, () => [pick(r, ['LOG', 'A_B', 'bad key', '1X', '', 'PORT']), junkValue(r, 2)])),
  secrets: (r) => Array.from({ length: int(r, 3) }, () => pick(r, ['DB_URL', 'bad name', '', 'X'])),
  replicas: (r) => pick(r, [0, 1, 2, 3, -1, 1000, 1.5]),
  domains: (r) => Array.from({ length: int(r, 3) }, () => pick(r, ['example.com', 'www.example.com', 'bad_domain', '', '*.example.com'])),
  autoStop: (r) => r() < 0.5,
  health: (r) => (r() < 0.2 ? false : { path: pick(r, ['/health', 'health', '']), interval: pick(r, ['5s', '10s', '0s', 'x']), timeout: pick(r, ['2s', '1h']), retries: pick(r, [0, 3, -2, 100]) }),
};

export function generatedSpec(r: Rng): Record<string, unknown> {
  const spec: Record<string, unknown> = {};
  for (const [key, make] of Object.entries(FIELDS)) {
    const roll = r();
    if (key === 'name' ? roll < 0.95 : roll < 0.35) spec[key] = roll < 0.9 ? make(r) : junkValue(r);
  }
  if (r() < 0.1) spec[pick(r, ['imgae', 'ports', 'Health', 'x-extra', '<<'])] = junkValue(r);
  return spec;
}

const YAML_CHARS = 'name:image-run\n\n  - []{},#&*!|>\'"%@`?~0123456789.sMGi_ABC\t';
const TOKENS = ['\n', ': ', '- ', '---\n', '...\n', '&a ', '*a', '!!str ', '!!binary ', '!!js/function ', '<<: ', '? ', '|\n', '>-\n',
  '{', '}', '[', ']', '"', "'", '#', '\t', '\r\n', '\uFEFF', '\u0000', 'name', 'health', 'env', 'port', '8080', '%YAML 1.2\n', '%TAG ! tag:x,2000:\n'];

function mutate(r: Rng, text: string): string {
  const at = int(r, text.length + 1);
  const lines = text.split('\n');
  const line = int(r, lines.length);
  switch (int(r, 8)) {
    case 0: return text.slice(0, at) + text.slice(at + 1 + int(r, 12));
    case 1: return text.slice(0, at) + pick(r, TOKENS) + text.slice(at);
    case 2: return text.slice(0, at) + YAML_CHARS[int(r, YAML_CHARS.length)] + text.slice(at);
    case 3: lines.splice(line, 0, lines[line] ?? ''); return lines.join('\n');
    case 4: { const next = (line + 1) % lines.length; [lines[line], lines[next]] = [lines[next] ?? '', lines[line] ?? '']; return lines.join('\n'); }
    case 5: { const by = int(r, 6) - 2; const cur = lines[line] ?? ''; lines[line] = by >= 0 ? ' '.repeat(by) + cur : cur.slice(-by); return lines.join('\n'); }
    case 6: return text.slice(0, at);
    default: return text.slice(0, at) + String.fromCharCode(int(r, 0x10000)) + text.slice(at);
  }
}

function adversarial(r: Rng): string {
  const depth = 1 + int(r, 1000);
  switch (int(r, 10)) {
    case 0: return `name: web\nimage: x\nenv: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
    case 1: return `name: web\nimage: x\nenv:\n${Array.from({ length: Math.min(depth, 400) }, (_, i) => `${' '.repeat(i + 1)}k${i}:`).join('\n')} v\n`;
    case 2: { // billion laughs: each level doubles
      const levels = Array.from({ length: 12 }, (_, i) => `l${i + 1}: &l${i + 1} [${Array(8).fill(`*l${i}`).join(', ')}]`);
      return `l0: &l0 x\n${levels.join('\n')}\nname: web\nimage: x\n`;
    }
    case 3: return `name: web\nimage: ${'x'.repeat(1 + int(r, r() < 0.1 ? 1_000_000 : 10_000))}\n`;
    case 4: return Array.from({ length: 1 + int(r, 60) }, (_, i) => `name: s${i % 40}\nimage: x\n`).join('---\n');
    case 5: return `name: web\nimage: x\nenv:\n${Array.from({ length: 1 + int(r, 500) }, (_, i) => `  K${i}: v${i}`).join('\n')}\n`;
    case 6: return `name: web\nimage: x\nport: ${'9'.repeat(1 + int(r, 400))}\nreplicas: 1e${int(r, 400)}\n`;
    case 7: return `name: !!binary aGVsbG8=\nimage: !!js/function "function(){}"\nport: !!float 80\nhealth: !custom x\n`;
    case 8: return `name: web\nname: web\nimage: x\nimage: y\n<<: {port: 80}\n? [a, b]\n: c\n`;
    default: return `${'\uFEFF'}name: web\r\nimage: x\r\n\u2028port: 80\u0085\n`;
  }
}

/** The text of case `index` under `seed`. */
export function specCase(seed: number, index: number): string {
  const r = rng((seed * 1_000_003 + index) >>> 0);
  const kind = index % 10;
  if (kind <= 2) {
    const text = r() < 0.7 ? stringify(generatedSpec(r)) : stringify(generatedSpec(r), { collectionStyle: 'flow' });
    let out = text;
    for (let n = int(r, 3); n > 0; n -= 1) out = mutate(r, out);
    return out;
  }
  if (kind <= 6) {
    let out = pick(r, CORPUS);
    for (let n = 1 + int(r, 5); n > 0; n -= 1) out = mutate(r, out);
    return out;
  }
  if (kind === 7) return Array.from({ length: int(r, 120) }, () => (r() < 0.5 ? pick(r, TOKENS) : YAML_CHARS[int(r, YAML_CHARS.length)])).join('');
  if (kind === 8) return Array.from({ length: int(r, 300) }, () => String.fromCharCode(r() < 0.5 ? int(r, 128) : int(r, 0x10000))).join('');
  return adversarial(r);
}

/** A spec given as a value (the API's path): generated, or arbitrary junk. */
export function objectCase(seed: number, index: number): unknown {
  const r = rng((seed * 7_000_003 + index) >>> 0);
  return r() < 0.8 ? generatedSpec(r) : junkValue(r);
}
