import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseListenAddr, resolveConfig } from '../../api/config.ts';
import { ForgeError } from '../../errors/index.ts';

const KEY_A = Buffer.alloc(32, 1).toString('base64');
const KEY_B = Buffer.alloc(32, 2).toString('base64');
const random = (n: number) => Buffer.alloc(n, 9);
const STRONG = '5d41402abc4b2a76b9719d911017c592e4da3b7fbbce2345d7772b0674a318d5';

test('resolveConfig: defaults, lists and generated development secrets', () => {
  const { config, generate, notices } = resolveConfig({}, {}, random, '/srv');
  assert.deepEqual({ ...config, encryptionKeys: undefined, jwtSecret: undefined }, {
    mode: 'development', dataDir: '/srv/.forge', apiAddr: { host: '127.0.0.1', port: 8080 },
    encryptionKeys: undefined, jwtSecret: undefined, allowedRepos: [], allowedBranches: ['main'], domain: 'localhost',
    gitUrlTemplate: 'https://github.com/{owner}/{repo}.git',
  });
  assert.deepEqual(config.encryptionKeys, [Buffer.alloc(32, 9)]);
  assert.deepEqual(generate, { encryptionKey: `${Buffer.alloc(32, 9).toString('base64')}\n`, jwtSecret: `${Buffer.alloc(32, 9).toString('base64')}\n` });
  assert.deepEqual(notices, [
    'development mode: generated an encryption key in /srv/.forge/encryption.key (set FORGE_ENCRYPTION_KEY in production)',
    'development mode: generated a JWT secret in /srv/.forge/jwt.secret (set FORGE_JWT_SECRET in production)',
  ]);
});

test('resolveConfig table', () => {
  const cases: [string, Record<string, string>, { encryptionKey?: string; jwtSecret?: string }, (c: ReturnType<typeof resolveConfig>) => unknown, unknown][] = [
    ['env lists', { FORGE_ALLOWED_REPOS: 'a/b, c/d,', FORGE_ALLOWED_BRANCHES: 'main,release' }, {}, (r) => [r.config.allowedRepos, r.config.allowedBranches], [['a/b', 'c/d'], ['main', 'release']]],
    ['keys from env, newest first', { FORGE_ENCRYPTION_KEY: `${KEY_B},${KEY_A}` }, {}, (r) => r.config.encryptionKeys.map((k) => k[0]), [2, 1]],
    ['key file reused', {}, { encryptionKey: `${KEY_A}\n`, jwtSecret: 'jwt\n' }, (r) => [r.generate, r.notices, Buffer.from(r.config.jwtSecret).toString()], [{}, [], 'jwt']],
    ['production with everything', { FORGE_MODE: 'production', FORGE_ENCRYPTION_KEY: KEY_A, FORGE_JWT_SECRET: STRONG }, {}, (r) => r.config.mode, 'production'],
    ['addr, domain, webhook, metrics token', { FORGE_API_ADDR: ':9090', FORGE_DOMAIN: 'apps.example.com', FORGE_WEBHOOK_SECRET: 'w', FORGE_METRICS_TOKEN: 'm' }, {},
      (r) => [r.config.apiAddr, r.config.domain, r.config.webhookSecret, r.config.metricsToken], [{ host: '0.0.0.0', port: 9090 }, 'apps.example.com', 'w', 'm']],
  ];
  for (const [label, env, files, pick, expected] of cases) assert.deepEqual(pick(resolveConfig(env, files, random, '/d')), expected, label);
});

test('resolveConfig errors name the variable', () => {
  const cases: [Record<string, string>, string][] = [
    [{ FORGE_MODE: 'production', FORGE_JWT_SECRET: 's' }, 'FORGE_ENCRYPTION_KEY is required in production mode (FORGE_MODE=production); set it to 32 random bytes encoded as base64 (e.g. `openssl rand -base64 32`)'],
    [{ FORGE_MODE: 'production', FORGE_ENCRYPTION_KEY: KEY_A }, 'FORGE_JWT_SECRET is required in production mode (FORGE_MODE=production); set it to 32 random bytes encoded as base64 (e.g. `openssl rand -base64 32`)'],
    [{ FORGE_MODE: 'staging' }, 'FORGE_MODE must be development or production, got "staging"'],
    [{ FORGE_ENCRYPTION_KEY: 'c2hvcnQ=' }, 'FORGE_ENCRYPTION_KEY: every key must be 32 bytes encoded as base64'],
    [{ FORGE_API_ADDR: 'localhost' }, 'FORGE_API_ADDR must be host:port (e.g. 127.0.0.1:8080), got "localhost"'],
  ];
  for (const [env, message] of cases) {
    assert.throws(() => resolveConfig(env, {}, random), (error: unknown) => error instanceof ForgeError && error.code === 'E_USAGE' && error.message === message, message);
  }
});

test('parseListenAddr', () => {
  assert.deepEqual(parseListenAddr('[::1]:80'), { host: '::1', port: 80 });
  assert.deepEqual(parseListenAddr('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
});

test('loadConfig writes generated secrets once with mode 0600 and reuses them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-config-'));
  try {
    const env = { FORGE_DATA_DIR: join(dir, 'data') };
    const first = loadConfig(env, dir);
    assert.equal(first.notices.length, 2);
    assert.equal(statSync(join(dir, 'data', 'encryption.key')).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'data', 'jwt.secret')).mode & 0o777, 0o600);
    const second = loadConfig(env, dir);
    assert.deepEqual(second.notices, []);
    assert.deepEqual(second.config.encryptionKeys, first.config.encryptionKeys);
    assert.equal(readFileSync(join(dir, 'data', 'encryption.key'), 'utf8').trim(), first.config.encryptionKeys[0]!.toString('base64'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('FORGE_GIT_URL_TEMPLATE: https by default, ssh if configured, a local path only in development', () => {
  const prod = { FORGE_MODE: 'production', FORGE_ENCRYPTION_KEY: KEY_A, FORGE_JWT_SECRET: STRONG };
  assert.equal(resolveConfig({}, {}, random).config.gitUrlTemplate, 'https://github.com/{owner}/{repo}.git');
  assert.equal(resolveConfig({ ...prod, FORGE_GIT_URL_TEMPLATE: 'ssh://git@git.example.com/{owner}/{repo}.git' }, {}, random).config.gitUrlTemplate,
    'ssh://git@git.example.com/{owner}/{repo}.git');
  assert.equal(resolveConfig({ FORGE_GIT_URL_TEMPLATE: 'file:///srv/git/{repo}.git' }, {}, random).config.gitUrlTemplate, 'file:///srv/git/{repo}.git');
  const refused: [Record<string, string>, string][] = [
    [{ ...prod, FORGE_GIT_URL_TEMPLATE: 'file:///srv/git/{repo}.git' }, 'FORGE_GIT_URL_TEMPLATE may name a local path only in development mode'],
    [{ FORGE_GIT_URL_TEMPLATE: 'http://127.0.0.1:2019/{owner}/{repo}' }, 'FORGE_GIT_URL_TEMPLATE must start with https:// or ssh://'],
    [{ FORGE_GIT_URL_TEMPLATE: 'https://github.com/acme/shop.git' }, 'FORGE_GIT_URL_TEMPLATE must contain {owner} and/or {repo}'],
  ];
  for (const [env, start] of refused) {
    assert.throws(() => resolveConfig(env, {}, random), (error: unknown) => error instanceof ForgeError && error.code === 'E_USAGE' && error.message.startsWith(start), start);
  }
});

test('production refuses weak JWT secret, agent token and webhook secret, naming the variable and how to make one', () => {
  const strong = 'f3a9c1d27b8e4f60a5d3c9e1b7f2a4c6d8e0f1a3b5c7d9e2f4a6b8c0d2e4f6a8';
  const prod = { FORGE_MODE: 'production', FORGE_ENCRYPTION_KEY: KEY_A, FORGE_JWT_SECRET: strong };
  assert.equal(resolveConfig({ ...prod, FORGE_AGENT_TOKEN: strong, FORGE_WEBHOOK_SECRET: strong }, {}, random).config.mode, 'production');
  const weak: [Record<string, string>, string][] = [
    [{ ...prod, FORGE_JWT_SECRET: 'a' }, 'FORGE_JWT_SECRET'],
    [{ ...prod, FORGE_AGENT_TOKEN: 'agent-token' }, 'FORGE_AGENT_TOKEN'],
    [{ ...prod, FORGE_WEBHOOK_SECRET: 'w' }, 'FORGE_WEBHOOK_SECRET'],
    [{ ...prod, FORGE_JWT_SECRET: 'a'.repeat(64) }, 'FORGE_JWT_SECRET'],
    [{ ...prod, FORGE_JWT_SECRET: 'passwordpasswordpasswordpassword' }, 'FORGE_JWT_SECRET'],
  ];
  for (const [env, variable] of weak) {
    assert.throws(() => resolveConfig(env, {}, random), (error: unknown) => error instanceof ForgeError && error.code === 'E_USAGE'
      && error.message === `${variable} is too weak for production mode: use at least 32 random characters (128 bits or more), e.g. \`openssl rand -hex 32\``, variable);
  }
  // Development mode takes what it is given (tests, local trials).
  assert.equal(resolveConfig({ FORGE_JWT_SECRET: 'a', FORGE_WEBHOOK_SECRET: 'w' }, {}, random).config.webhookSecret, 'w');
});
