// Usage mistakes of every API command: exact messages, exit 2, and no request
// made (FORGE_URL points at a closed port, so a request would be exit 1).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../cli/index.ts';
import { APPLY_USAGE, DIFF_USAGE } from '../../cli/apply.ts';
import { DEPLOY_USAGE, UPDATE_USAGE } from '../../cli/deploy.ts';
import { LOGIN_USAGE } from '../../cli/login.ts';
import { LOGS_USAGE } from '../../cli/logs.ts';
import { SECRETS_USAGE } from '../../cli/secrets.ts';
import { DELETE_USAGE, EVENTS_USAGE, GET_USAGE, LIST_USAGE, ROLLBACK_USAGE } from '../../cli/services.ts';
import { offlineDeps } from './helpers.ts';

const home = mkdtempSync(join(tmpdir(), 'forge-cli-flags-'));
mkdirSync(join(home, 'src'));
writeFileSync(join(home, 'env.txt'), 'A=1\n');
writeFileSync(join(home, 'bad.yaml'), 'name: web\nimage: nginx\nport: eighty\n');
test.after(() => rmSync(home, { recursive: true, force: true }));

const cases: [argv: string[], reason: string, usage: string][] = [
  [['deploy', '--image', 'x'], 'forge deploy: --name is required', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '{"A":"1"}', '--env-set', 'B=2'], 'forge deploy: --env replaces every variable; it cannot be combined with --env-set or --env-unset', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '{"A":"1"}', '--env-unset', 'B'], 'forge deploy: --env replaces every variable; it cannot be combined with --env-set or --env-unset', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '{"A":"1"}', '--env-file', 'env.txt'], 'forge deploy: --env and --env-file cannot be used together (each replaces every variable)', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env-file', 'env.txt', '--env-set', 'B=2'], 'forge deploy: --env-file replaces every variable; it cannot be combined with --env-set or --env-unset', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '[1]'], `forge deploy: --env must be a JSON object of string values, such as '{"KEY":"value"}'`, DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '{"A":1}'], `forge deploy: --env must be a JSON object of string values, such as '{"KEY":"value"}'`, DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env', '{"a":"1"}'], 'forge deploy: --env: "a" is not a valid variable name (A-Z, 0-9 and _, not starting with a digit)', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env-file', 'missing.env'], 'forge deploy: --env-file: cannot read missing.env', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env-set', 'A=1', '--env-set', 'secret-without-key'], 'forge deploy: --env-set needs KEY=VALUE (the 2nd --env-set has no KEY=)', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env-set', 'A=1', '--env-unset', 'A'], 'forge deploy: A is both set and unset', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--env-unset', 'A=leaked'], 'forge deploy: --env-unset: a variable name cannot contain "=" (give names only)', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--port', 'eighty'], 'forge deploy: --port must be a whole number ≥ 1, got "eighty"', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--replicas', '-1'], 'forge deploy: --replicas must be a whole number ≥ 0, got "-1"', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--provider', 'aws'], 'forge deploy: --provider must be one of agent, fly, cloud, got "aws"', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--timeout', 'soon'], 'forge deploy: --timeout must be a duration such as 90s or 5m, got "soon"', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--name', 'api'], 'forge deploy: --name was given twice', DEPLOY_USAGE],
  [['deploy', '--name'], 'forge deploy: --name needs a value', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--colour'], 'forge deploy: unknown flag `--colour`', DEPLOY_USAGE],
  [['deploy', '--name', 'web', '--json=yes'], 'forge deploy: --json takes no value', DEPLOY_USAGE],
  [['deploy', 'src', 'other', '--name', 'web'], 'forge deploy: unexpected argument `other` (give at most one DIR)', DEPLOY_USAGE],
  [['deploy', 'nowhere', '--name', 'web'], 'forge deploy: no such directory: nowhere', DEPLOY_USAGE],
  [['update'], 'forge update: give exactly one service NAME', UPDATE_USAGE],
  [['update', 'web'], 'forge update: nothing to change (give a flag such as --image or --env-set)', UPDATE_USAGE],
  [['update', 'web', '--env', '{}', '--env-set', 'A=1'], 'forge update: --env replaces every variable; it cannot be combined with --env-set or --env-unset', UPDATE_USAGE],
  [['update', 'web', '--env', '{}', '--env-file', 'env.txt'], 'forge update: --env and --env-file cannot be used together (each replaces every variable)', UPDATE_USAGE],
  [['update', 'web', '--name', 'x'], 'forge update: unknown flag `--name`', UPDATE_USAGE],
  [['apply'], 'forge apply: no spec given (use -f PATH)', APPLY_USAGE],
  [['apply', 'specs'], 'forge apply: unexpected argument `specs` (spec paths go after -f)', APPLY_USAGE],
  [['apply', '-f', 'nope.yaml'], 'forge apply: no such file or directory: nope.yaml', APPLY_USAGE],
  [['apply', '-f', 'bad.yaml', '--timeout', '5 minutes'], 'forge apply: --timeout must be a duration such as 90s or 5m, got "5 minutes"', APPLY_USAGE],
  [['apply', '-f'], 'forge apply: -f needs a value', APPLY_USAGE],
  [['diff'], 'forge diff: no spec given (use -f PATH)', DIFF_USAGE],
  [['diff', '-f', 'bad.yaml', '--no-wait'], 'forge diff: unknown flag `--no-wait`', DIFF_USAGE],
  [['list', 'web'], 'forge list: unexpected argument `web`', LIST_USAGE],
  [['get'], 'forge get: give exactly one service NAME', GET_USAGE],
  [['get', 'a', 'b'], 'forge get: give exactly one service NAME', GET_USAGE],
  [['delete', 'web'], 'forge delete: refusing to delete web without confirmation: pass --yes (no terminal to ask on)', DELETE_USAGE],
  [['events', 'web', '--limit', 'all'], 'forge events: --limit must be a whole number ≥ 1, got "all"', EVENTS_USAGE],
  [['logs'], 'forge logs: give exactly one service NAME', LOGS_USAGE],
  [['logs', 'web', '--tail'], 'forge logs: --tail needs a value', LOGS_USAGE],
  [['logs', 'web', '--tail', '0'], 'forge logs: --tail takes a number of lines from 1 to 10000', LOGS_USAGE],
  [['logs', 'web', '--lines'], 'forge logs: unknown flag `--lines`', LOGS_USAGE],
  [['rollback', 'web', '--to', '0'], 'forge rollback: --to must be a whole number ≥ 1, got "0"', ROLLBACK_USAGE],
  [['secrets'], 'forge secrets: no subcommand given', SECRETS_USAGE],
  [['secrets', 'show', 'web'], 'forge secrets: unknown subcommand `show`', SECRETS_USAGE],
  [['secrets', 'set'], 'forge secrets set: no service NAME given', SECRETS_USAGE],
  [['secrets', 'set', 'web'], 'forge secrets set: give at least one KEY=VALUE', SECRETS_USAGE],
  [['secrets', 'unset', 'web'], 'forge secrets unset: give at least one KEY', SECRETS_USAGE],
  [['secrets', 'set', 'web', 'A=1', 'hunter2'], 'forge secrets set: argument 2 is not KEY=VALUE', SECRETS_USAGE],
  [['secrets', 'set', 'web', 'lower=1'], 'forge secrets set: "lower" is not a valid variable name (A-Z, 0-9 and _, not starting with a digit)', SECRETS_USAGE],
  [['secrets', 'unset', 'web', 'A=hunter2'], 'forge secrets unset: a variable name cannot contain "=" (give names only)', SECRETS_USAGE],
  [['secrets', 'list', 'web', 'A'], 'forge secrets list: unexpected argument `A`', SECRETS_USAGE],
  [['login'], 'forge login: give --api-key KEY (or set FORGE_API_KEY); create one on the control plane with forge keys create', LOGIN_USAGE],
  [['login', '--url', 'localhost:8080', '--api-key', 'ik_x'], 'forge login: --url must be an http(s) URL or a comma-separated list of them, got "localhost:8080"', LOGIN_USAGE],
  [['login', '--url', 'http://a:8080,b:8080', '--api-key', 'ik_x'], 'forge login: --url must be an http(s) URL or a comma-separated list of them, got "b:8080"', LOGIN_USAGE],
];

for (const [argv, reason, usage] of cases) {
  test(`forge ${argv.join(' ')} → exit 2: ${reason}`, async () => {
    const result = await runCli(argv, offlineDeps(home, { env: { FORGE_API_KEY: undefined } }));
    assert.deepEqual(result, { exitCode: 2, stdout: '', stderr: `${reason}\n${usage}\n` });
    assert.ok(!result.stderr.includes('hunter2') && !result.stderr.includes('leaked'), 'a value was echoed');
  });
}

test('an unknown command is a usage error; no command prints the help (exit 0)', async () => {
  assert.equal((await runCli(['frobnicate'], offlineDeps(home))).exitCode, 2);
  assert.match((await runCli(['frobnicate'], offlineDeps(home))).stderr, /^forge: unknown command `frobnicate`\n/);
  const bare = await runCli([], offlineDeps(home));
  assert.deepEqual([bare.exitCode, bare.stderr], [0, '']);
  assert.match(bare.stdout, /^usage: forge <command> \[options\]\n/);
});

test('every command answers --help with its usage line, exit 0', async () => {
  for (const [command, usage] of [['apply', APPLY_USAGE], ['diff', DIFF_USAGE], ['deploy', DEPLOY_USAGE], ['update', UPDATE_USAGE], ['list', LIST_USAGE],
    ['get', GET_USAGE], ['delete', DELETE_USAGE], ['events', EVENTS_USAGE], ['logs', LOGS_USAGE], ['rollback', ROLLBACK_USAGE], ['secrets', SECRETS_USAGE], ['login', LOGIN_USAGE]] as const) {
    const result = await runCli([command, '--help'], offlineDeps(home));
    assert.equal(result.exitCode, 0, command);
    assert.ok(result.stdout.startsWith(`${usage}\n`), command);
  }
  const help = await runCli(['help'], offlineDeps(home));
  for (const command of ['apply', 'diff', 'deploy', 'update', 'list', 'get', 'start', 'stop', 'delete', 'events', 'logs', 'rollback', 'secrets', 'login', 'validate', 'keys', 'server']) {
    assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'), command);
  }
});

test('delete on a terminal asks; "no" leaves the service alone (exit 1, no request)', async () => {
  const asked: string[] = [];
  const result = await runCli(['delete', 'web'], offlineDeps(home, { isTTY: true, confirm: async (q) => { asked.push(q); return false; } }));
  assert.deepEqual(result, { exitCode: 1, stdout: '', stderr: 'forge delete: not deleted (web is unchanged)\n' });
  assert.deepEqual(asked, ['Delete service web and destroy its instances?']);
});

test('spec errors stop apply (exit 1) and diff (exit 2) before any request, positioned', async () => {
  const apply = await runCli(['apply', '-f', 'bad.yaml'], offlineDeps(home));
  assert.equal(apply.exitCode, 1);
  assert.match(apply.stderr, /^bad\.yaml:3:7 port: /);
  const diff = await runCli(['diff', '-f', 'bad.yaml'], offlineDeps(home));
  assert.deepEqual([diff.exitCode, diff.stderr], [2, apply.stderr]);
});
