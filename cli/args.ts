// The one argument parser every command uses, built on node:util parseArgs:
// `--flag value` and `--flag=value`, short spellings (`-f x`, `-y`), `--` ends
// flags, `-h`/`--help` everywhere. parseArgs tokenizes; this file decides what
// the tokens mean, so mistakes come back as one clear line (with a "did you
// mean" for a misspelt flag) instead of a thrown error. Pure.

import { parseArgs as tokenize } from 'node:util';

export interface FlagSpec {
  /** Flags without a value, e.g. ['--json', '--yes']. */
  booleans?: readonly string[];
  /** Flags taking a value, e.g. ['--name', '--port']. */
  values?: readonly string[];
  /** Valued flags that may repeat (collected in order), e.g. ['--env-set']. */
  repeated?: readonly string[];
  /** Short spellings, e.g. { '-f': '--file', '-y': '--yes' }. */
  aliases?: Readonly<Record<string, string>>;
}

export interface ParsedArgs {
  booleans: Set<string>;
  values: Map<string, string>;
  repeated: Map<string, string[]>;
  positional: string[];
}

/** Every command accepts these. */
export const HELP_FLAGS: FlagSpec = { booleans: ['--help'], aliases: { '-h': '--help' } };

export function mergeSpecs(...specs: readonly FlagSpec[]): FlagSpec {
  return {
    booleans: specs.flatMap((s) => s.booleans ?? []),
    values: specs.flatMap((s) => s.values ?? []),
    repeated: specs.flatMap((s) => s.repeated ?? []),
    aliases: Object.assign({}, ...specs.map((s) => s.aliases ?? {})) as Record<string, string>,
  };
}

/** All spellings a spec accepts, long first: the candidates for "did you mean". */
export function knownFlags(spec: FlagSpec): string[] {
  return [...(spec.booleans ?? []), ...(spec.values ?? []), ...(spec.repeated ?? []), ...Object.keys(spec.aliases ?? {})];
}

type TokenOptions = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

function tokenOptions(spec: FlagSpec): TokenOptions {
  const options: TokenOptions = {};
  for (const flag of spec.booleans ?? []) options[flag.slice(2)] = { type: 'boolean' };
  for (const flag of [...(spec.values ?? []), ...(spec.repeated ?? [])]) options[flag.slice(2)] = { type: 'string', multiple: true };
  for (const [short, long] of Object.entries(spec.aliases ?? {})) {
    const option = options[long.slice(2)];
    // node:util takes one-letter shorts only; longer aliases are resolved below.
    if (option && /^-[A-Za-z0-9]$/.test(short)) option.short = short.slice(1);
  }
  return options;
}

export function parseArgs(command: string, args: readonly string[], spec: FlagSpec): ParsedArgs | string {
  const full = mergeSpecs(spec, HELP_FLAGS);
  const booleans = new Set(full.booleans);
  const values = new Set(full.values);
  const repeated = new Set(full.repeated);
  const out: ParsedArgs = { booleans: new Set(), values: new Map(), repeated: new Map(), positional: [] };
  // strict: false so unknown flags come back as tokens (reported below, with a suggestion);
  // a valued flag takes the next argument even when it starts with "-" (`--replicas -1`).
  const { tokens } = tokenize({ args: [...args], options: tokenOptions(full), strict: false, allowPositionals: true, tokens: true });
  for (let i = 0; i < tokens.length; i += 1) {
    const token = tokens[i]!;
    if (token.kind === 'positional') {
      out.positional.push(token.value);
      continue;
    }
    if (token.kind === 'option-terminator') continue;
    const written = token.rawName;
    const flag = written.startsWith('--') ? written : full.aliases?.[written] ?? (token.name.length > 1 ? `--${token.name}` : written);
    if (booleans.has(flag)) {
      if (token.value !== undefined) return `forge ${command}: ${flag} takes no value`;
      out.booleans.add(flag);
      continue;
    }
    if (!values.has(flag) && !repeated.has(flag)) return unknownFlag(command, written, full);
    const value = token.value;
    // Only the last flag can lack its value: node:util takes the next argument otherwise.
    if (value === undefined) return `forge ${command}: ${written} needs a value`;
    if (repeated.has(flag)) out.repeated.set(flag, [...(out.repeated.get(flag) ?? []), value]);
    else if (out.values.has(flag)) return `forge ${command}: ${flag} was given twice`;
    else out.values.set(flag, value);
  }
  return out;
}

function unknownFlag(command: string, written: string, spec: FlagSpec): string {
  const suggestion = closest(written.replace(/=.*$/, ''), knownFlags(spec));
  return `forge ${command}: unknown flag \`${written}\`${suggestion ? ` (did you mean ${suggestion}?)` : ''}`;
}

/** The nearest candidate by edit distance, when it is near enough to be a likely typo. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  const bare = word.replace(/^-+/, '');
  // One-letter flags are all one edit apart: suggesting among them would be noise.
  const limit = bare.length < 3 ? 0 : Math.max(1, Math.floor(bare.length / 3));
  if (best !== undefined && bestDistance <= limit) return best;
  // A prefix of exactly one flag (`--dry` → `--dry-run`) is a likely mistake too.
  const prefixed = bare.length >= 3 ? candidates.filter((c) => c.startsWith(word)) : [];
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Edits (insert, delete, change, swap two neighbours) from a to b: typos are often swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[a.length]![b.length]!;
}

/** A positive integer flag value, or the usage mistake. */
export function intFlag(command: string, flag: string, text: string | undefined, min = 1): number | undefined | string {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) return `forge ${command}: ${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`;
  return Number(text);
}

/** True when `--help`/`-h` appears before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const arg of args) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}
