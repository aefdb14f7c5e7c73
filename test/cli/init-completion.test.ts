// forge init writes a spec forge validate accepts, for each stack it detects;
// forge completion's bash script loads in bash and completes commands and flags.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../cli/index.ts';
import { offlineDeps } from './helpers.ts';

const STACKS: [string, Record<string, string>, RegExp][] = [
  ['node-app', { 'package.json': '{"name":"x","scripts":{"start":"node index.js"}}', 'package-lock.json': '{}' }, /build:\n {2}commands:\n {4}- "npm ci"\n# Started .*\nrun:\n {2}command: "npm start"\n/],
  ['py-app', { 'requirements.txt': 'flask\n', 'main.py': '' }, /run:\n {2}command: "PYTHONPATH=\.deps python3 main\.py"\n/],
  ['go-app', { 'go.mod': 'module x\n' }, /run:\n {2}command: "\.\/app"\n/],
  ['docker-app', { Dockerfile: 'FROM nginx\n' }, /provider: fly\n/],
  ['site', { 'index.html': '<p>hi</p>' }, /run:\n {2}command: "python3 -m http.server \$PORT"\n/],
  ['Empty_Dir', {}, /^# forge\.yaml for empty-dir: no known stack/],
];

test('forge init: a commented forge.yaml per stack, valid as written; never overwrites without --force', async () => {
  const root = mkdtempSync(join(tmpdir(), 'forge-init-'));
  try {
    for (const [dir, files, expected] of STACKS) {
      mkdirSync(join(root, dir));
      for (const [name, text] of Object.entries(files)) writeFileSync(join(root, dir, name), text);
      const result = await runCli(['init', dir], offlineDeps(root));
      assert.equal(result.exitCode, 0, `${dir}: ${result.stderr}`);
      const written = readFileSync(join(root, dir, 'forge.yaml'), 'utf8');
      assert.match(written, expected, dir);
      assert.match(written, /^# /, 'commented');
      const valid = await runCli(['validate', join(dir, 'forge.yaml')], offlineDeps(root));
      assert.deepEqual(valid, { exitCode: 0, stdout: 'ok  1 service\n', stderr: '' }, `${dir}: ${valid.stderr}\n${written}`);
    }
    const again = await runCli(['init', 'site'], offlineDeps(root));
    assert.equal(again.exitCode, 1);
    assert.match(again.stderr, /forge\.yaml exists; nothing written \(--force replaces it\)\n$/);
    assert.equal((await runCli(['init', 'site', '--force', '--name', 'www'], offlineDeps(root))).exitCode, 0);
    assert.match(readFileSync(join(root, 'site', 'forge.yaml'), 'utf8'), /\nname: www\n/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('forge completion bash loads in bash and completes commands and each command\'s flags', async () => {
  const root = mkdtempSync(join(tmpdir(), 'forge-completion-'));
  try {
    const script = await runCli(['completion', 'bash'], offlineDeps(root));
    assert.equal(script.exitCode, 0);
    const file = join(root, 'forge.bash');
    writeFileSync(file, script.stdout);
    const complete = (words: string[]) => execFileSync('bash', ['--noprofile', '--norc', '-c',
      `source "$1" || exit 9; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _forge; printf '%s\\n' "\${COMPREPLY[@]}"; complete -p forge`, 'bash', file],
    { encoding: 'utf8', cwd: root }).trim().split('\n');
    const commands = complete(['forge', 'de']);
    assert.deepEqual(commands, ['deploy', 'delete', 'dev', 'complete -F _forge forge']);
    const flags = complete(['forge', 'deploy', '--ti']);
    assert.deepEqual(flags.slice(0, -1), ['--timeout']);
    const help = complete(['forge', 'help', 'rol']);
    assert.deepEqual(help.slice(0, -1), ['rollback']);
    for (const shell of ['zsh', 'fish']) {
      const other = await runCli(['completion', shell], offlineDeps(root));
      assert.equal(other.exitCode, 0, shell);
      assert.match(other.stdout, shell === 'zsh' ? /^#compdef forge\n/ : /complete -c forge -n __fish_use_subcommand -a deploy /);
    }
    assert.equal((await runCli(['completion', 'tcsh'], offlineDeps(root))).exitCode, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
