// What commands may use from the outside world. bin/forge fills it from the
// real process; tests pass their own. Other commands add members here.

export interface CliDeps {
  /** Directory relative paths are resolved against (and shown relative to). */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
}
