import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli, type CliResult } from '../../cli/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function withSpecs(files: Record<string, string>, body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'forge-cli-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function cli(argv: string[], cwd = REPO_ROOT): Promise<CliResult> {
  return runCli(argv, { cwd, env: {} });
}

test('validate prints the count of valid services and exits 0', async () => {
  assert.deepEqual(await cli(['validate', 'examples']), { exitCode: 0, stdout: 'ok  6 services\n', stderr: '' });
  assert.deepEqual(await cli(['validate', 'examples/node-hello/forge.yaml']), { exitCode: 0, stdout: 'ok  1 service\n', stderr: '' });
});

test('validate prints every problem, one per line, and exits 1', async () => {
  await withSpecs({
    'forge.yaml': 'name: web\nimage: nginx\nport: "80"\nhelth:\n  path: /\nmemory: 10x\n',
  }, async (dir) => {
    assert.deepEqual(await cli(['validate', 'forge.yaml'], dir), {
      exitCode: 1,
      stdout: '',
      stderr: [
        'forge.yaml:3:7 port: should be an integer',
        'forge.yaml:4:1 helth: unknown key `helth`; did you mean `health`?',
        'forge.yaml:6:9 memory: `10x` is not a memory size (use 512, 256M, 1Gi)',
        '',
      ].join('\n'),
    });
  });
});

test('validate --json prints the normalized specs, or the error body', async () => {
  await withSpecs({ 'a.yaml': 'name: a\nimage: x\nhealth: false\n' }, async (dir) => {
    const ok = await cli(['validate', '--json', '.'], dir);
    assert.equal(ok.exitCode, 0);
    const [entry, ...rest] = JSON.parse(ok.stdout) as { file: string; hash: string; spec: { name: string; health: { type: string } } }[];
    assert.equal(rest.length, 0);
    assert.equal(entry?.file, 'a.yaml');
    assert.match(entry?.hash ?? '', /^[0-9a-f]{64}$/);
    assert.equal(entry?.spec.name, 'a');
    assert.equal(entry?.spec.health.type, 'tcp');

    await writeFile(join(dir, 'b.yaml'), 'name: b\n');
    const bad = await cli(['validate', '.', '--json'], dir);
    assert.equal(bad.exitCode, 1);
    assert.deepEqual(JSON.parse(bad.stdout), {
      error: 'E_SPEC_INVALID',
      message: 'b.yaml:1:1: a service needs `image` (image mode) or `run.command` (source mode)',
      details: [{ file: 'b.yaml', line: 1, col: 1, path: '', message: 'a service needs `image` (image mode) or `run.command` (source mode)' }],
    });
  });
});

test('usage mistakes exit 2 with a usage line', async () => {
  const usage = 'usage: forge validate [--json] PATH…\n';
  const cases: [string[], string][] = [
    [['validate'], `forge validate: no PATH given\n${usage}`],
    [['validate', '--yaml', 'examples'], `forge validate: unknown flag \`--yaml\`\n${usage}`],
    [['validate', 'examples', 'nowhere'], `forge validate: no such file or directory: nowhere\n${usage}`],
  ];
  for (const [argv, stderr] of cases) assert.deepEqual(await cli(argv), { exitCode: 2, stdout: '', stderr }, argv.join(' '));
  // The command list grows; what matters is the mistake, the usage and that validate is offered.
  const typo = await cli(['valdate', 'examples']);
  assert.equal(typo.exitCode, 2);
  assert.match(typo.stderr, /^forge: unknown command `valdate` \(did you mean validate\?\)\nusage: forge <command> \[options\] \(commands: [a-z, ]*\bvalidate\b[a-z, ]*\)\n$/);
});

test('help goes to stdout and exits 0', async () => {
  const help = await cli(['--help']);
  assert.equal(help.exitCode, 0);
  assert.match(help.stdout, /^usage: forge <command> \[options\]\n/);
  const validateHelp = await cli(['validate', '--help']);
  assert.equal(validateHelp.exitCode, 0);
  assert.match(validateHelp.stdout, /^usage: forge validate \[--json\] PATH…\n/);
});

test('bin/forge validate examples runs as a process and exits 0', async () => {
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    const child = execFile(join(REPO_ROOT, 'bin', 'forge'), ['validate', 'examples'], { cwd: REPO_ROOT, timeout: 60_000 }, (_error, out) => {
      resolve({ code: child.exitCode, stdout: out });
    });
  });
  assert.equal(code, 0);
  assert.equal(stdout, 'ok  6 services\n');
});
