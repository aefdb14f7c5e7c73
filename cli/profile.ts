// The profile `forge login` saves: $XDG_CONFIG_HOME/forge/profile.json (default
// ~/.config/forge/profile.json), mode 0600 since it holds an API key. The home
// directory comes from the env given to the CLI, so tests use a temp dir.

import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

export interface Profile {
  url: string;
  apiKey: string;
}

type Env = Readonly<Record<string, string | undefined>>;

export function profilePath(env: Env): string {
  const config = env.XDG_CONFIG_HOME?.trim() || join(env.HOME?.trim() || homedir(), '.config');
  return join(config, 'forge', 'profile.json');
}

/** The saved profile, or undefined when there is none (or it is unreadable: the env may still say where to go). */
export function readProfile(env: Env): Profile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(profilePath(env), 'utf8')) as Partial<Profile>;
    if (typeof parsed.url === 'string' && typeof parsed.apiKey === 'string') return { url: parsed.url, apiKey: parsed.apiKey };
  } catch {
    // no profile
  }
  return undefined;
}

export function writeProfile(env: Env, profile: Profile): string {
  const file = profilePath(env);
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  return file;
}
