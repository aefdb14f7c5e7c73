// What each command is for, how it is called, its options and examples: the
// text of `forge CMD -h` and `forge help CMD`, kept apart from the commands so
// help (and the command list) loads without loading any command's code.

import { GLOBAL_HELP } from './globals.ts';

export interface CommandHelp {
  /** One line for the command list. */
  summary: string;
  /** The usage line(s), each starting `usage: forge …`. */
  usage: string;
  /** What it does, in a sentence or two. */
  about?: string;
  /** [spelling, meaning] */
  options?: readonly (readonly [string, string])[];
  examples?: readonly string[];
}

const JSON_OPT = ['--json', 'print the API\'s JSON instead of text (same as -o json)'] as const;
const WAIT_OPTS = [
  ['--no-wait', 'return once the change is accepted, without waiting for it to run'],
  ['--timeout D', 'how long to wait (default 5m; e.g. 90s, 10m)'],
] as const;
const FIELD_OPTS = [
  ['--image URL', 'container image to run (needs a provider with an image capability, e.g. fly)'],
  ['--port P', 'port the app listens on ($PORT)'],
  ['--cpu TIER', 'CPU tier, e.g. shared-1x, shared-2x, performance-1x (agents take a CPU count from the spec: resources.cpu)'],
  ['--memory MB', 'memory limit, e.g. 256 or 512M'],
  ['--region R', 'region (fly); cannot be changed in place'],
  ['--replicas N', 'number of instances (0 keeps the service but runs none)'],
  ['--provider P', 'agent, fly or cloud'],
  ['--env JSON', 'replace every env var with this JSON object'],
  ['--env-file F', 'replace every env var with a KEY=VALUE file'],
  ['--env-set K=V', 'set one env var (repeatable); for secret values prefer forge secrets set K=-'],
  ['--env-unset K', 'remove one env var (repeatable)'],
] as const;
const FIELD_FLAGS = '[--image URL] [--port P] [--cpu TIER] [--memory MB] [--region R] [--replicas N] [--provider agent|fly|cloud]';
const ENV_USAGE = '[--env JSON | --env-file F | --env-set K=V… --env-unset K…]';

export const HELP: Record<string, CommandHelp> = {
  apply: {
    summary: 'apply spec files as one set and wait until they run',
    usage: 'usage: forge apply -f PATH… [--prune] [--dry-run] [--source S] [--no-wait] [--timeout 5m] [--json]',
    about: 'Applies every spec under the paths as one set; waits until changed services run (or fail) unless --no-wait.\nExits 1 when any service of the set does not end running (also one that was unchanged and failed).',
    options: [['-f, --file PATH', 'spec file or folder (repeatable)'], ['--prune', 'delete services this source applied before that are no longer in the set'],
      ['--dry-run', 'show the plan, change nothing'], ['--source S', 'who owns the set (default file:<first path>)'], ...WAIT_OPTS, JSON_OPT],
    examples: ['forge apply -f forge.yaml', 'forge apply -f services/ --prune --timeout=10m'],
  },
  diff: {
    summary: 'show what apply would change (exit 1 when something would)',
    usage: 'usage: forge diff -f PATH… [--prune] [--source S] [--json]',
    about: 'Shows what apply would create, update (field by field) and delete.\nExit 0: nothing would change; 1: something would; 2: usage or errors.',
    options: [['-f, --file PATH', 'spec file or folder (repeatable)'], ['--prune', 'include deletions of services no longer in the set'], ['--source S', 'who owns the set'], JSON_OPT],
    examples: ['forge diff -f forge.yaml'],
  },
  deploy: {
    summary: 'create or update a service by name',
    usage: `usage: forge deploy [DIR] --name N ${FIELD_FLAGS} ${ENV_USAGE} [--json] [--no-wait] [--timeout 5m]`,
    about: 'Creates the service or updates it (by name); waits until it runs unless --no-wait, and exits 1 when it does not.\nDIR without --image is a source deploy: a DIR whose forge.yaml has build + run ships as a bundle\n(like forge apply; flags override its fields); any other DIR is built remotely by a provider that\ndoes remote builds (Fly\'s builder via flyctl). With --json, prints the state after waiting.',
    options: [['--name N', 'service name (a DNS label)'], ...FIELD_OPTS, ...WAIT_OPTS, JSON_OPT],
    examples: ['forge deploy --name web --image nginx:1.27 --port 80 --provider fly', 'forge deploy ./app --name=api --region=iad'],
  },
  update: {
    summary: 'change fields of an existing service',
    usage: `usage: forge update NAME ${FIELD_FLAGS} ${ENV_USAGE} [--json] [--no-wait] [--timeout 5m]`,
    about: 'Changes an existing service; waits until it runs unless --no-wait.',
    options: [...FIELD_OPTS, ...WAIT_OPTS, JSON_OPT],
    examples: ['forge update web --memory 512', 'forge update web --env-set=LOG_LEVEL=debug'],
  },
  list: {
    summary: 'services with status, provider, replicas and URL',
    usage: 'usage: forge list [--json]',
    options: [JSON_OPT],
    examples: ['forge list', 'forge list -o yaml'],
  },
  get: {
    summary: 'one service in detail',
    usage: 'usage: forge get NAME [--json]',
    options: [JSON_OPT],
    examples: ['forge get web'],
  },
  start: {
    summary: 'run a stopped service again (retries a failed one)',
    usage: 'usage: forge start NAME [--json]',
    about: 'Makes a stopped service desired running. On a failed service it retries the release (like forge restart).',
    options: [JSON_OPT],
    examples: ['forge start web'],
  },
  stop: {
    summary: 'stop a service (its URL and config are kept)',
    usage: 'usage: forge stop NAME [--json]',
    options: [JSON_OPT],
    examples: ['forge stop web'],
  },
  restart: {
    summary: 'roll out the same spec again as a new generation',
    usage: 'usage: forge restart NAME [--no-wait] [--timeout 5m] [--json]',
    about: 'Replaces every instance with a fresh one of the same spec (health-gated, like any release).\nUse it to retry a failed release after fixing its cause outside the spec. The restart is a generation\nof its own, so the next apply or deploy of the unchanged spec shows as an update and rolls out once more.',
    options: [...WAIT_OPTS, JSON_OPT],
    examples: ['forge restart web'],
  },
  run: {
    summary: 'run a one-off command in a fresh sandbox of a service\'s current release',
    usage: 'usage: forge run NAME [--detach] [--timeout 1h] [--json] -- CMD [ARG...]',
    about: 'Runs CMD once in a fresh sandbox (agents) with the service\'s current release (its newest release that\nran) and environment, secrets included; it is never routed. Its output streams here (build lines to stderr)\nand its exit code is forge\'s. Ctrl-C ends it. --detach returns once it started and keeps its output in\nthe log store (forge logs NAME --instance RUN).',
    options: [['--detach', 'return once it started; read its output with forge logs NAME --instance RUN'], ['--timeout D', 'kill it after this long (default 1h, at most 24h)'], JSON_OPT],
    examples: ['forge run web -- npm run db:seed', 'forge run web --detach -- node scripts/reindex.js'],
  },
  jobs: {
    summary: 'cron jobs: next and last runs, a job\'s runs, run one now',
    usage: 'usage: forge jobs [SERVICE] [--json] | runs SERVICE/JOB [--limit N] [--json] | trigger SERVICE/JOB [--json]',
    about: 'Lists the cron jobs of every service (or of one) with their next tick and last run. `runs` lists a job\'s\nruns, newest first, skipped ticks included. `trigger` starts a run now, outside the schedule; under\n`concurrency: forbid` it is refused while a run is going. A run\'s output is in `forge logs SERVICE`.',
    options: [['--limit N', 'runs to show (default 50)'], JSON_OPT],
    examples: ['forge jobs', 'forge jobs web', 'forge jobs runs web/nightly-report', 'forge jobs trigger web/nightly-report'],
  },
  scale: {
    summary: 'set how many instances a service runs',
    usage: 'usage: forge scale NAME REPLICAS [--no-wait] [--timeout 5m] [--json]',
    about: 'Sets replicas (0 keeps the service, its URL and config, but runs nothing) and waits until it runs.',
    options: [...WAIT_OPTS, JSON_OPT],
    examples: ['forge scale web 3', 'forge scale web 0 --no-wait'],
  },
  releases: {
    summary: 'a service\'s releases: generation, revision, good or bad, and why',
    usage: 'usage: forge releases NAME [--json]',
    about: 'Every release (a rolled-out generation), newest first; * marks the current one.\nRoll back to one with forge rollback NAME --to GENERATION.',
    options: [JSON_OPT],
    examples: ['forge releases web'],
  },
  status: {
    summary: 'the whole fleet at a glance',
    usage: 'usage: forge status [--json]',
    about: 'Services by status (and each one that is not running), agents online and offline, providers.',
    options: [JSON_OPT],
    examples: ['forge status'],
  },
  registry: {
    summary: 'credentials for private image registries (agents pull with them)',
    usage: 'usage: forge registry login HOST --username U [--password-stdin] | logout HOST | list [--json]',
    about: 'Stores a registry\'s user name and password (or token) per host, encrypted like secrets. The password is\nread from stdin (never from the command line, where every local user could read it with ps), or from\nFORGE_REGISTRY_PASSWORD. Agents get it only with an image task for that host.',
    options: [['--username U', 'registry user name'], ['--password-stdin', 'read the password from stdin (the default when FORGE_REGISTRY_PASSWORD is unset)'], JSON_OPT],
    examples: ['printf %s "$TOKEN" | forge registry login ghcr.io --username me --password-stdin', 'forge registry list', 'forge registry logout ghcr.io'],
  },
  agents: {
    summary: 'worker agents, and revoking one',
    usage: 'usage: forge agents [list] [--json] | revoke ID [--json]',
    about: 'Lists the agents (--json adds address, usage, instances and runtimes). Revoking an agent refuses its\ncredential at once; its tasks are placed elsewhere.',
    options: [JSON_OPT],
    examples: ['forge agents', 'forge agents revoke agt_…'],
  },
  delete: {
    summary: 'destroy a service',
    usage: 'usage: forge delete NAME [--yes] [--json]',
    about: 'Destroys the service\'s instances and its URL. Asks first on a terminal unless --yes.',
    options: [['-y, --yes', 'do not ask'], JSON_OPT],
    examples: ['forge delete web --yes'],
  },
  events: {
    summary: 'what happened to a service',
    usage: 'usage: forge events NAME [--limit N] [-f|--follow] [--json]',
    options: [['--limit N', 'at most N events'], ['-f, --follow', 'keep printing new events until Ctrl-C'], JSON_OPT],
    examples: ['forge events web --limit=20', 'forge events web -f'],
  },
  logs: {
    summary: 'a service\'s app or build output (-f follows)',
    usage: 'usage: forge logs NAME [-f|--follow] [--since 10m] [--tail N] [--instance ID] [--build]',
    options: [
      ['-f, --follow', 'keep printing new lines until Ctrl-C'],
      ['--since D', 'only lines newer than a duration (10m, 2h, 1d) or an ISO time'],
      ['--tail N', 'the last N lines (1 to 10000)'],
      ['--instance ID', 'one instance\'s output'],
      ['--build', 'the latest build\'s output instead of the app\'s'],
    ],
    examples: ['forge logs web -f', 'forge logs web --since 10m --tail 50', 'forge logs web --build'],
  },
  rollback: {
    summary: 'make an earlier release desired again',
    usage: 'usage: forge rollback NAME [--to GENERATION] [--no-wait] [--timeout 5m] [--json]',
    about: 'Makes an earlier release desired again (default: the last one that succeeded), as a new generation.\nSee the releases with forge releases NAME.',
    options: [['--to N', 'the generation to go back to'], ...WAIT_OPTS, JSON_OPT],
    examples: ['forge rollback web', 'forge rollback web --to=3'],
  },
  secrets: {
    summary: 'a service\'s env vars (values never shown)',
    usage: 'usage: forge secrets set NAME [KEY=VALUE|KEY=-]… [--from-file KEY=PATH]… [--from-env KEY=VAR]… | unset NAME KEY… | list NAME [--json]',
    about: 'Changing a secret redeploys the service with the new values. Prefer values that stay out of\nthe process table and shell history: KEY=- reads the value from stdin, --from-file KEY=PATH from a file,\n--from-env KEY=VAR from an environment variable.',
    options: [['KEY=-', 'read KEY\'s value from stdin (one trailing newline dropped)'], ['--from-file KEY=PATH', 'set KEY to the contents of PATH (repeatable; one trailing newline dropped)'],
      ['--from-env KEY=VAR', 'set KEY to the value of this shell\'s VAR (repeatable)'], JSON_OPT],
    examples: ['printf %s "$TOKEN" | forge secrets set web API_TOKEN=-', 'forge secrets set web --from-file TLS_KEY=./key.pem', 'forge secrets list web'],
  },
  login: {
    summary: 'save where and how to reach Forge',
    usage: 'usage: forge login [--url URL[,URL…]] [--api-key KEY]',
    about: 'Verifies the key and saves it as your profile (defaults: FORGE_URL, FORGE_API_KEY).',
    options: [['--url URL[,URL…]', 'the control plane (several replicas: comma-separated, tried in order)'], ['--api-key KEY', 'an API key (prefer FORGE_API_KEY: argv is visible to other users)']],
    examples: ['FORGE_API_KEY=… forge login --url https://forge.example.com'],
  },
  validate: {
    summary: 'check service specs',
    usage: 'usage: forge validate [--json] PATH…',
    about: 'Checks service spec files (folders are searched for *.yaml and *.yml).',
    options: [['--json', 'print the normalized specs (or the problems) as JSON']],
    examples: ['forge validate forge.yaml', 'forge validate services/ --json'],
  },
  keys: {
    summary: 'manage API keys and the encryption key (on the data dir)',
    usage: 'usage: forge keys create [--name N] [--json] | list [--json] | revoke ID|NAME | rotate-encryption',
    about: 'Runs on the control-plane host, directly on the data dir (FORGE_DATA_DIR).',
    options: [['--name N', 'name of the new key'], ['--json', 'print JSON']],
    examples: ['forge keys create --name ci', 'forge keys revoke ci'],
  },
  store: {
    summary: 'move the store from SQLite to PostgreSQL (on the data dir)',
    usage: 'usage: forge store migrate --to postgres://USER:PASSWORD@HOST:5432/DB',
    about: 'Copies every row of FORGE_DATA_DIR/forge.db into an empty PostgreSQL database (created schema included).\nStop forge server first; secrets are copied still encrypted.',
    options: [['--to URL', 'the PostgreSQL database to fill (must hold no rows)']],
    examples: ['forge store migrate --to postgres://forge:secret@db.internal:5432/forge'],
  },
  init: {
    summary: 'write a commented forge.yaml for this folder\'s stack',
    usage: 'usage: forge init [DIR] [--name N] [--force]',
    about: 'Detects Node (package.json), Python (requirements.txt, pyproject.toml), Go (go.mod), a Dockerfile or static files,\nand writes DIR/forge.yaml with comments on what to change. Never overwrites without --force.',
    options: [['--name N', 'service name (default: the folder\'s name)'], ['--force', 'replace an existing forge.yaml']],
    examples: ['forge init', 'forge init ./api --name=api'],
  },
  completion: {
    summary: 'shell completion for bash, zsh or fish',
    usage: 'usage: forge completion bash|zsh|fish',
    options: [],
    examples: ['source <(forge completion bash)', 'forge completion fish | source'],
  },
  context: {
    summary: 'named contexts (URL and API key) of the profile file',
    usage: 'usage: forge context [list] | current | use NAME | delete NAME [--json]',
    about: 'forge login --context NAME saves a context; forge context use NAME makes it the default;\n--context NAME (or FORGE_CONTEXT) picks one for a single command. FORGE_URL and FORGE_API_KEY beat any context.',
    options: [['--json', 'print the contexts as JSON (list)']],
    examples: ['FORGE_API_KEY=… forge login --context prod --url https://forge.example.com', 'forge context use prod', 'forge --context staging list'],
  },
  server: {
    summary: 'run the control plane',
    usage: 'usage: forge server [--addr HOST:PORT] [--data-dir DIR] [--no-local-agent] [--router managed|external|off]',
    options: [['--addr HOST:PORT', 'API address (FORGE_API_ADDR, default 127.0.0.1:8080)'], ['--data-dir DIR', 'data dir (FORGE_DATA_DIR)'],
      ['--no-local-agent', 'do not run an agent in this process'], ['--router MODE', 'managed, external or off']],
    examples: ['forge server', 'forge server --addr=0.0.0.0:8080 --data-dir=/var/lib/forge'],
  },
  dev: {
    summary: 'run everything locally and redeploy on save',
    usage: 'usage: forge dev [PATH] [--addr HOST:PORT] [--debounce MS] [--no-router]',
    options: [['--addr HOST:PORT', 'API address'], ['--debounce MS', 'coalesce saves within this window (default 150)'], ['--no-router', 'do not start Caddy']],
    examples: ['forge dev', 'forge dev services/ --debounce=300'],
  },
  agent: {
    summary: 'run a worker agent',
    usage: 'usage: forge agent --server URL[,URL…] [--token-file F] [--data-dir D] [--port-range 20000-32767] [--metrics-port 9108] [--name N] [--cgroup-root R] [--host H]',
    about: 'Registers with the control plane at URL, heartbeats, claims build/run/stop tasks and runs them in sandboxes.\nGiven several URLs (the replicas of one control plane), it moves to the next when one is unreachable or\nanswers 5xx, and stays on the one that works. Stops its instances on SIGINT/SIGTERM. The registration token comes from --token-file or FORGE_AGENT_TOKEN\n(--token T still works, but puts the token in every local user\'s ps).',
    options: [
      ['--server URL[,URL…]', 'control plane base URL, or its replicas\' URLs comma-separated (FORGE_URL)'],
      ['--token-file F', 'file holding the registration token (or set FORGE_AGENT_TOKEN)'],
      ['--token T', 'the token itself (visible in ps: avoid)'],
      ['--data-dir D', 'where releases, logs and the agent id live (default: $FORGE_DATA_DIR/agent or .forge/agent)'],
      ['--port-range A-B', 'ports handed to instances (default 20000-32767)'],
      ['--metrics-port P', 'Prometheus exporter port (default 9108; 0 = any free port; off = none)'],
      ['--name N', 'name shown on the control plane (default: host name)'],
      ['--cgroup-root R', 'parent cgroup of this agent\'s sandboxes (default forge-agent)'],
      ['--host H', 'address put into instance addresses (default 127.0.0.1)'],
    ],
    examples: ['forge agent --server http://10.0.0.1:8080 --token-file /etc/forge/agent-token', 'FORGE_AGENT_TOKEN=… forge agent --server=http://10.0.0.1:8080'],
  },
};

export const USAGE = 'usage: forge <command> [options]';

/** `forge -h`: the command list, descriptions in a second column. */
export function generalHelp(version: string): string {
  const names = Object.keys(HELP);
  const width = Math.max(...names.map((n) => n.length));
  const lines = names.map((name) => `  ${name.padEnd(width)}  ${HELP[name]!.summary}`);
  return `${USAGE}\n\nForge ${version}: declarative services on Fly.io machines or your own agents, behind Caddy.\n\ncommands:\n${lines.join('\n')}\n\n`
    + `${GLOBAL_HELP}\n\nRun \`forge help <command>\` or \`forge <command> -h\` for its options and examples; \`forge --version\` prints the version.\n`;
}

export function commandHelp(name: string): string {
  const help = HELP[name]!;
  const parts = [help.usage];
  if (help.about) parts.push(help.about);
  const options = [...(help.options ?? []), ['-h, --help', 'show this help'] as const];
  const width = Math.max(...options.map(([flag]) => flag.length));
  parts.push(`options:\n${options.map(([flag, what]) => `  ${flag.padEnd(width)}  ${what}`).join('\n')}`);
  if (help.examples && help.examples.length > 0) parts.push(`examples:\n${help.examples.map((e) => `  ${e}`).join('\n')}`);
  return `${parts.join('\n\n')}\n`;
}
