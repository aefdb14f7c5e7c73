// Control-plane configuration from the environment (DESIGN.md "Configuration").
// `resolveConfig` is pure: (env, the secret files already in the data dir, a
// source of random bytes) → the config, the files to generate and the notices to
// print. `loadConfig` is the thin I/O around it.

import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ForgeError } from '../errors/index.ts';
import { parseEncryptionKey } from '../store/cipher.ts';
import { checkGitUrlTemplate, DEFAULT_GIT_URL_TEMPLATE } from './git-url.ts';
import { assertStrongSecret } from './secret-strength.ts';

export type Mode = 'development' | 'production';

export interface ListenAddr {
  host: string;
  port: number;
}

export interface Config {
  mode: Mode;
  dataDir: string;
  apiAddr: ListenAddr;
  /** The first key seals; every key opens (rotation). */
  encryptionKeys: Buffer[];
  jwtSecret: Uint8Array;
  webhookSecret?: string;
  allowedRepos: string[];
  allowedBranches: string[];
  /** Where pushed repositories are cloned from: `{owner}`/`{repo}` filled from FORGE_ALLOWED_REPOS. */
  gitUrlTemplate: string;
  domain: string;
  metricsToken?: string;
  /**
   * FORGE_IMAGE_PINNING=agent: the control plane does not resolve image tags at write time (it
   * cannot reach the registry its agents pull from); the agent that first runs a release
   * resolves it and the release records that digest. Unset: the control plane pins (the default).
   */
  imagePinning?: 'agent';
}

/** Secret files a development control plane keeps in its data dir. */
export const SECRET_FILES = { encryptionKey: 'encryption.key', jwtSecret: 'jwt.secret' } as const;

export interface SecretFiles {
  /** Contents of <dataDir>/encryption.key (base64 keys, one per line, newest first), if present. */
  encryptionKey?: string;
  /** Contents of <dataDir>/jwt.secret, if present. */
  jwtSecret?: string;
}

export interface ResolvedConfig {
  config: Config;
  /** Files to create in the data dir (mode 0600), keyed by file name. */
  generate: Partial<Record<keyof typeof SECRET_FILES, string>>;
  notices: string[];
}

type Env = Readonly<Record<string, string | undefined>>;

function set(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function commaList(value: string | undefined): string[] {
  return (value ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

export function parseListenAddr(text: string, variable = 'FORGE_API_ADDR'): ListenAddr {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new ForgeError('E_USAGE', `${variable} must be host:port (e.g. 127.0.0.1:8080), got ${JSON.stringify(text)}`);
  }
  const host = match[1] ?? match[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

function parseKeyList(text: string, origin: string): Buffer[] {
  const parts = text.split(/[\s,]+/).filter((s) => s !== '');
  if (parts.length === 0) throw new ForgeError('E_USAGE', `${origin} holds no key`);
  try {
    return parts.map(parseEncryptionKey);
  } catch (cause) {
    throw new ForgeError('E_USAGE', `${origin}: every key must be 32 bytes encoded as base64`, { cause });
  }
}

export function resolveConfig(env: Env, files: SecretFiles, random: (n: number) => Buffer, cwd = '/'): ResolvedConfig {
  const modeText = set(env, 'FORGE_MODE') ?? 'development';
  if (modeText !== 'development' && modeText !== 'production') {
    throw new ForgeError('E_USAGE', `FORGE_MODE must be development or production, got ${JSON.stringify(modeText)}`);
  }
  const mode: Mode = modeText;
  const dataDir = resolve(cwd, set(env, 'FORGE_DATA_DIR') ?? '.forge');
  const generate: ResolvedConfig['generate'] = {};
  const notices: string[] = [];

  const missing = (variable: string) =>
    new ForgeError('E_USAGE', `${variable} is required in production mode (FORGE_MODE=production); set it to 32 random bytes encoded as base64 (e.g. \`openssl rand -base64 32\`)`);

  let encryptionKeys: Buffer[];
  const envKey = set(env, 'FORGE_ENCRYPTION_KEY');
  if (envKey !== undefined) encryptionKeys = parseKeyList(envKey, 'FORGE_ENCRYPTION_KEY');
  else if (mode === 'production') throw missing('FORGE_ENCRYPTION_KEY');
  else if (files.encryptionKey !== undefined) encryptionKeys = parseKeyList(files.encryptionKey, join(dataDir, SECRET_FILES.encryptionKey));
  else {
    const key = random(32);
    encryptionKeys = [key];
    generate.encryptionKey = `${key.toString('base64')}\n`;
    notices.push(`development mode: generated an encryption key in ${join(dataDir, SECRET_FILES.encryptionKey)} (set FORGE_ENCRYPTION_KEY in production)`);
  }

  let jwtSecret: Uint8Array;
  const envJwt = set(env, 'FORGE_JWT_SECRET');
  if (envJwt !== undefined) jwtSecret = Buffer.from(envJwt, 'utf8');
  else if (mode === 'production') throw missing('FORGE_JWT_SECRET');
  else if (files.jwtSecret !== undefined && files.jwtSecret.trim() !== '') jwtSecret = Buffer.from(files.jwtSecret.trim(), 'utf8');
  else {
    const secret = random(32).toString('base64');
    jwtSecret = Buffer.from(secret, 'utf8');
    generate.jwtSecret = `${secret}\n`;
    notices.push(`development mode: generated a JWT secret in ${join(dataDir, SECRET_FILES.jwtSecret)} (set FORGE_JWT_SECRET in production)`);
  }

  const branches = commaList(env.FORGE_ALLOWED_BRANCHES);
  const config: Config = {
    mode,
    dataDir,
    apiAddr: parseListenAddr(set(env, 'FORGE_API_ADDR') ?? '127.0.0.1:8080'),
    encryptionKeys,
    jwtSecret,
    allowedRepos: commaList(env.FORGE_ALLOWED_REPOS),
    allowedBranches: branches.length > 0 ? branches : ['main'],
    gitUrlTemplate: set(env, 'FORGE_GIT_URL_TEMPLATE') ?? DEFAULT_GIT_URL_TEMPLATE,
    domain: set(env, 'FORGE_DOMAIN') ?? 'localhost',
  };
  checkGitUrlTemplate(config.gitUrlTemplate, mode);
  if (mode === 'production') {
    // Whoever guesses one of these is an admin, an agent or GitHub: trivial values are refused.
    for (const variable of ['FORGE_JWT_SECRET', 'FORGE_AGENT_TOKEN', 'FORGE_WEBHOOK_SECRET']) {
      const value = set(env, variable);
      if (value !== undefined) assertStrongSecret(variable, value);
    }
  }
  const webhookSecret = set(env, 'FORGE_WEBHOOK_SECRET');
  if (webhookSecret !== undefined) config.webhookSecret = webhookSecret;
  const metricsToken = set(env, 'FORGE_METRICS_TOKEN');
  if (metricsToken !== undefined) config.metricsToken = metricsToken;
  const pinning = set(env, 'FORGE_IMAGE_PINNING');
  if (pinning !== undefined && pinning !== 'control-plane' && pinning !== 'agent') {
    throw new ForgeError('E_USAGE', `FORGE_IMAGE_PINNING must be control-plane (the default) or agent, got ${JSON.stringify(pinning)}`);
  }
  if (pinning === 'agent') config.imagePinning = 'agent';
  return { config, generate, notices };
}

function readIfPresent(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads the data dir's secret files, resolves, and writes generated secrets with mode 0600. */
export function loadConfig(env: Env, cwd: string = process.cwd()): { config: Config; notices: string[] } {
  const dataDir = resolve(cwd, set(env, 'FORGE_DATA_DIR') ?? '.forge');
  const files: SecretFiles = {};
  const enc = readIfPresent(join(dataDir, SECRET_FILES.encryptionKey));
  const jwt = readIfPresent(join(dataDir, SECRET_FILES.jwtSecret));
  if (enc !== undefined) files.encryptionKey = enc;
  if (jwt !== undefined) files.jwtSecret = jwt;
  const { config, generate, notices } = resolveConfig(env, files, randomBytes, cwd);
  if (Object.keys(generate).length > 0) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  for (const [name, content] of Object.entries(generate)) {
    const path = join(config.dataDir, SECRET_FILES[name as keyof typeof SECRET_FILES]);
    // 'wx': never overwrite a key another process wrote a moment ago.
    writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
  }
  return { config, notices };
}
