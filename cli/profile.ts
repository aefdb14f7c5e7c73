// The profile file `forge login` writes: $XDG_CONFIG_HOME/forge/profile.json
// (default ~/.config/forge/profile.json), mode 0600 since it holds API keys.
// It holds named contexts (`forge context use prod`, `forge --context prod …`,
// FORGE_CONTEXT), each a URL and a key, and which one is current. A file from
// before contexts (`{ url, apiKey }`) reads as the context `default`. The home
// directory comes from the env given to the CLI, so tests use a temp dir.

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Profile {
  url: string;
  apiKey: string;
}

export interface ProfileFile {
  current: string;
  contexts: Record<string, Profile>;
}

type Env = Readonly<Record<string, string | undefined>>;

export const DEFAULT_CONTEXT = 'default';

export function profilePath(env: Env): string {
  const config = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(config, 'forge', 'profile.json');
}

function isProfile(value: unknown): value is Profile {
  const p = value as Partial<Profile> | null;
  return typeof p === 'object' && p !== null && typeof p.url === 'string' && typeof p.apiKey === 'string';
}

/** The whole file; an empty one when there is none or it cannot be read (the env may still say where to go). */
export function readProfileFile(env: Env): ProfileFile {
  try {
    const parsed = JSON.parse(readFileSync(profilePath(env), 'utf8')) as Record<string, unknown>;
    if (isProfile(parsed)) return { current: DEFAULT_CONTEXT, contexts: { [DEFAULT_CONTEXT]: { url: parsed.url, apiKey: parsed.apiKey } } };
    const contexts: Record<string, Profile> = {};
    for (const [name, value] of Object.entries((parsed.contexts ?? {}) as Record<string, unknown>)) if (isProfile(value)) contexts[name] = value;
    const current = typeof parsed.current === 'string' ? parsed.current : DEFAULT_CONTEXT;
    return { current, contexts };
  } catch {
    return { current: DEFAULT_CONTEXT, contexts: {} };
  }
}

/** The context a command uses: FORGE_CONTEXT (or --context) when set, else the file's current one. */
export function contextName(env: Env, file: ProfileFile = readProfileFile(env)): string {
  return env.FORGE_CONTEXT?.trim() || file.current;
}

/** The selected context's URL and key, or undefined when it has none. */
export function readProfile(env: Env): Profile | undefined {
  const file = readProfileFile(env);
  return file.contexts[contextName(env, file)];
}

export function writeProfileFile(env: Env, file: ProfileFile): string {
  const path = profilePath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

/** Saves `profile` as the selected context (see contextName) and makes it current. */
export function writeProfile(env: Env, profile: Profile): string {
  const file = readProfileFile(env);
  const name = contextName(env, file);
  return writeProfileFile(env, { current: name, contexts: { ...file.contexts, [name]: profile } });
}
