// One parser for every command: a table runs each command with -h, with
// --flag=value and with an unknown flag, and checks output and exit codes.
// Nothing here reaches a server (FORGE_URL is a closed port): every case ends in
// the parser, in help, or in a check that runs before any request.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closest, parseArgs } from '../../cli/args.ts';
import { commandNames, runCli } from '../../cli/index.ts';
import { HELP } from '../../cli/help.ts';
import { forgeVersion } from '../../cli/version.ts';
import { offlineDeps } from './helpers.ts';

const home = mkdtempSync(join(tmpdir(), 'forge-cli-parser-'));
test.after(() => rmSync(home, { recursive: true, force: true }));
const run = (argv: string[]) => runCli(argv, offlineDeps(home, { env: { FORGE_DATA_DIR: join(home, 'data') } }));

/** Per command: where an unknown flag goes (after any subcommand / NAME), a typo and its suggestion, and a --flag=value case. */
const TABLE: Record<string, { before: string[]; typo: [string, string]; equals: [argv: string[], exit: number, output: RegExp] }> = {
  apply: { before: [], typo: ['--dry-rn', '--dry-run'], equals: [['apply', '--file=nope.yaml'], 2, /^forge apply: no such file or directory: nope\.yaml\n/] },
  diff: { before: [], typo: ['--prnue', '--prune'], equals: [['diff', '--file=nope.yaml'], 2, /^forge diff: no such file or directory: nope\.yaml\n/] },
  deploy: { before: ['--name', 'web'], typo: ['--imag', '--image'], equals: [['deploy', '--name=web', '--port=eighty'], 2, /^forge deploy: --port must be a whole number ≥ 1, got "eighty"\n/] },
  update: { before: ['web'], typo: ['--replica', '--replicas'], equals: [['update', 'web', '--replicas=-1'], 2, /^forge update: --replicas must be a whole number ≥ 0, got "-1"\n/] },
  list: { before: [], typo: ['--jsn', '--json'], equals: [['list', '--json=yes'], 2, /^forge list: --json takes no value\n/] },
  get: { before: ['web'], typo: ['--josn', '--json'], equals: [['get', 'web', '--json=yes'], 2, /^forge get: --json takes no value\n/] },
  start: { before: ['web'], typo: ['--jsno', '--json'], equals: [['start', 'web', '--json=1'], 2, /^forge start: --json takes no value\n/] },
  stop: { before: ['web'], typo: ['--jso', '--json'], equals: [['stop', 'web', '--json=1'], 2, /^forge stop: --json takes no value\n/] },
  restart: { before: ['web'], typo: ['--no-wiat', '--no-wait'], equals: [['restart', 'web', '--timeout=soon'], 2, /^forge restart: --timeout must be a duration such as 90s or 5m, got "soon"\n/] },
  run: { before: ['web'], typo: ['--detahc', '--detach'], equals: [['run', 'web', '--timeout=soon', '--', 'true'], 2, /^forge run: --timeout must be a duration such as 90s, 10m or 2h, got "soon"\n/] },
  jobs: { before: ['runs', 'web/nightly'], typo: ['--limt', '--limit'], equals: [['jobs', 'runs', 'web/x', '--limit=zero'], 2, /^forge jobs runs: --limit must be a whole number ≥ 1, got "zero"\n/] },
  scale: { before: ['web', '2'], typo: ['--no-wai', '--no-wait'], equals: [['scale', 'web', '2', '--timeout=soon'], 2, /^forge scale: --timeout must be a duration such as 90s or 5m, got "soon"\n/] },
  releases: { before: ['web'], typo: ['--jsn', '--json'], equals: [['releases', 'web', '--json=1'], 2, /^forge releases: --json takes no value\n/] },
  status: { before: [], typo: ['--jsn', '--json'], equals: [['status', '--json=1'], 2, /^forge status: --json takes no value\n/] },
  agents: { before: [], typo: ['--jsno', '--json'], equals: [['agents', '--json=1'], 2, /^forge agents: --json takes no value\n/] },
  delete: { before: ['web'], typo: ['--yse', '--yes'], equals: [['delete', 'web', '--yes=no'], 2, /^forge delete: --yes takes no value\n/] },
  events: { before: ['web'], typo: ['--limt', '--limit'], equals: [['events', 'web', '--limit=all'], 2, /^forge events: --limit must be a whole number ≥ 1, got "all"\n/] },
  logs: { before: ['web'], typo: ['--folow', '--follow'], equals: [['logs', 'web', '--follow=yes'], 2, /^forge logs: --follow takes no value\n/] },
  rollback: { before: ['web'], typo: ['--too', '--to'], equals: [['rollback', 'web', '--to=0'], 2, /^forge rollback: --to must be a whole number ≥ 1, got "0"\n/] },
  secrets: { before: ['set', 'web'], typo: ['--from-fil', '--from-file'], equals: [['secrets', 'set', 'web', '--from-file=A=missing.txt'], 2, /^forge secrets set: --from-file: cannot read missing\.txt \(ENOENT\)\n/] },
  login: { before: [], typo: ['--api-ky', '--api-key'], equals: [['login', '--url=localhost:8080', '--api-key=k'], 2, /^forge login: --url must be an http\(s\) URL or a comma-separated list of them, got "localhost:8080"\n/] },
  validate: { before: [], typo: ['--jon', '--json'], equals: [['validate', '--json=yes', 'x'], 2, /^forge validate: --json takes no value\n/] },
  registry: { before: ['list'], typo: ['--usernme', '--username'], equals: [['registry', 'list', '--json=yes'], 2, /^forge registry: --json takes no value\n/] },
  store: { before: ['migrate'], typo: ['--too', '--to'], equals: [['store', 'migrate', '--to=mysql://h/db'], 2, /^forge store migrate: --to must be a postgres:\/\/ or postgresql:\/\/ URL\n/] },
  keys: { before: ['create'], typo: ['--nmae', '--name'], equals: [['keys', 'create', '--name=ci'], 0, /^created API key ci \(/] },
  init: { before: [], typo: ['--forse', '--force'], equals: [['init', '--name=Not_A_Label'], 2, /^forge init: --name must be a DNS label \(a-z, 0-9 and -\), got "Not_A_Label"\n/] },
  completion: { before: [], typo: ['--hepl', '--help'], equals: [['completion', '--help=bash'], 2, /^forge completion: --help takes no value\n/] },
  context: { before: ['list'], typo: ['--jsn', '--json'], equals: [['context', 'use', 'nowhere', '--context=x'], 1, /^forge context: no context "nowhere" \(contexts: none; create one with forge login --context NAME\)\n/] },
  server: { before: [], typo: ['--adr', '--addr'], equals: [['server', '--router=sideways'], 2, /^forge server: --router must be managed, external or off \(got `sideways`\)\n/] },
  dev: { before: [], typo: ['--debounse', '--debounce'], equals: [['dev', '--debounce=soon'], 2, /^forge dev: --debounce takes milliseconds \(got `soon`\)\n/] },
  agent: { before: [], typo: ['--token-fil', '--token-file'], equals: [['agent', '--server=ftp://x', '--token-file=t'], 2, /^forge agent: --server must be an http\(s\) URL or a comma-separated list of them, got `ftp:\/\/x`\n/] },
};

test('the table covers every command', () => {
  assert.deepEqual(Object.keys(TABLE).sort(), commandNames().sort());
});

for (const name of commandNames()) {
  const row = TABLE[name]!;
  test(`forge ${name} -h, --help and forge help ${name}: its own usage, options and examples, exit 0`, async () => {
    const short = await run([name, ...row.before, '-h']);
    assert.equal(short.exitCode, 0);
    assert.equal(short.stderr, '');
    assert.ok(short.stdout.startsWith(`usage: forge ${name}`), short.stdout);
    assert.match(short.stdout, /\nexamples:\n {2}(\S+ )*(<\()?forge /);
    assert.match(short.stdout, /\n {2}-h, --help +show this help\n/);
    assert.deepEqual(await run([name, '--help']), short);
    assert.deepEqual(await run(['help', name]), short);
  });

  test(`forge ${name} with an unknown flag: exit 2, the flag named, "did you mean"`, async () => {
    const unknown = await run([name, ...row.before, '--bogus-flag']);
    assert.equal(unknown.exitCode, 2);
    assert.equal(unknown.stdout, '');
    assert.ok(unknown.stderr.startsWith(`forge ${name}: unknown flag \`--bogus-flag\`\nusage: forge ${name}`), unknown.stderr);
    const [typo, meant] = row.typo;
    const suggested = await run([name, ...row.before, typo]);
    assert.equal(suggested.exitCode, 2);
    assert.ok(suggested.stderr.startsWith(`forge ${name}: unknown flag \`${typo}\` (did you mean ${meant}?)\n`), suggested.stderr);
  });

  test(`forge ${name} --flag=value is read like --flag value`, async () => {
    const [argv, exit, output] = row.equals;
    const result = await run(argv);
    assert.equal(result.exitCode, exit, result.stderr);
    assert.match(exit === 0 ? result.stdout : result.stderr, output);
  });
}

test('bare forge, forge help and forge -h print the command list, exit 0; forge --version prints the version', async () => {
  const bare = await run([]);
  assert.equal(bare.exitCode, 0);
  for (const name of commandNames()) assert.match(bare.stdout, new RegExp(`^  ${name} +\\S`, 'm'), name);
  assert.deepEqual(await run(['help']), bare);
  assert.deepEqual(await run(['-h']), bare);
  assert.deepEqual(await run(['--version']), { exitCode: 0, stdout: `forge ${forgeVersion()}\n`, stderr: '' });
  assert.match(forgeVersion(), /^\d+\.\d+\.\d+/);
});

test('an unknown command or help topic suggests the nearest command', async () => {
  const typo = await run(['delpoy']);
  assert.equal(typo.exitCode, 2);
  assert.match(typo.stderr, /^forge: unknown command `delpoy` \(did you mean deploy\?\)\n/);
  const topic = await run(['help', 'rollbak']);
  assert.equal(topic.exitCode, 2);
  assert.match(topic.stderr, /^forge: unknown command `rollbak` \(did you mean rollback\?\)\n/);
});

test('the parser: both spellings, shorts, groups, -- and values that start with "-"', () => {
  const spec = { booleans: ['--json', '--yes'], values: ['--name', '--replicas'], repeated: ['--file'], aliases: { '-f': '--file', '-y': '--yes' } };
  const expected = { booleans: new Set(['--json', '--yes']), values: new Map([['--name', 'web'], ['--replicas', '-1']]), repeated: new Map([['--file', ['a.yaml', 'b.yaml']]]), positional: ['x', '--not-a-flag'] };
  assert.deepEqual(parseArgs('t', ['--name', 'web', '--replicas', '-1', '-f', 'a.yaml', '--file=b.yaml', '--json', '-y', 'x', '--', '--not-a-flag'], spec), expected);
  assert.deepEqual(parseArgs('t', ['--name=web', '--replicas=-1', '-fa.yaml', '--file', 'b.yaml', '--json', '--yes', 'x', '--', '--not-a-flag'], spec), expected);
  assert.equal(parseArgs('t', ['-jy'], spec), 't: unknown flag `-j`'.replace('t:', 'forge t:'));
  assert.equal(parseArgs('t', ['--name'], spec), 'forge t: --name needs a value');
  assert.equal(parseArgs('t', ['--name=a', '--name=b'], spec), 'forge t: --name was given twice');
  assert.equal(closest('--nam', ['--name', '--json']), '--name');
  assert.equal(closest('--zzzzzz', ['--name', '--json']), undefined);
});
