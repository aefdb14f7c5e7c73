// A small argv parser shared by the API commands: boolean flags, valued flags
// (`--name web` or `--name=web`, repeatable ones collected in order), positionals.
// Pure: it returns the parse or the usage mistake as text.

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

export function parseArgs(command: string, args: readonly string[], spec: FlagSpec): ParsedArgs | string {
  const booleans = new Set(spec.booleans ?? []);
  const values = new Set(spec.values ?? []);
  const repeated = new Set(spec.repeated ?? []);
  const out: ParsedArgs = { booleans: new Set(), values: new Map(), repeated: new Map(), positional: [] };
  let flagsDone = false;
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (flagsDone || !arg.startsWith('-') || arg === '-') {
      out.positional.push(arg);
      continue;
    }
    if (arg === '--') {
      flagsDone = true;
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const written = eq > 0 ? arg.slice(0, eq) : arg;
    const flag = spec.aliases?.[written] ?? written;
    if (booleans.has(flag)) {
      if (eq > 0) return `forge ${command}: ${flag} takes no value`;
      out.booleans.add(flag);
    } else if (values.has(flag) || repeated.has(flag)) {
      let value: string | undefined;
      if (eq > 0) value = arg.slice(eq + 1);
      else {
        value = args[i + 1];
        i += 1;
      }
      if (value === undefined) return `forge ${command}: ${written} needs a value`;
      if (repeated.has(flag)) out.repeated.set(flag, [...(out.repeated.get(flag) ?? []), value]);
      else if (out.values.has(flag)) return `forge ${command}: ${flag} was given twice`;
      else out.values.set(flag, value);
    } else return `forge ${command}: unknown flag \`${written}\``;
  }
  return out;
}

/** A positive integer flag value, or the usage mistake. */
export function intFlag(command: string, flag: string, text: string | undefined, min = 1): number | undefined | string {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) < min) return `forge ${command}: ${flag} must be a whole number ≥ ${min}, got ${JSON.stringify(text)}`;
  return Number(text);
}
