// What commands may use from the outside world. bin/forge fills it from the
// real process; tests pass their own. Other commands add members here.

export interface CliDeps {
  /** Directory relative paths are resolved against (and shown relative to). */
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGINT/SIGTERM: long-running commands (server, agent, dev, logs -f) stop cleanly. */
  signal?: AbortSignal;
  /** Streams output while a command runs (progress, logs); without it, output comes back in the result. */
  print?: (text: string) => void;
  /** Streams to stderr while a command runs. */
  printError?: (text: string) => void;
  /** True when stdout is a terminal: tables may use colour (unless NO_COLOR) and delete may ask. */
  isTTY?: boolean;
  /** Asks a yes/no question on the terminal; absent when there is no terminal to ask on. */
  confirm?: (question: string) => Promise<boolean>;
  /** Reads all of stdin (for values that must stay out of argv, e.g. `forge secrets set S K=-`); absent when there is none. */
  readStdin?: () => Promise<string>;
  /** How often `apply`/`deploy` poll while waiting for services to settle (ms; default 500). Tests shorten it. */
  pollMs?: number;
}
