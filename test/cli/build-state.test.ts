// bin/forge runs the compiled dist/ only when it is at least as new as every
// source file; otherwise it falls back to the TypeScript sources and says why.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { staleReason } from '../../bin/build-state.mjs';
import { forgeVersion } from '../../cli/version.ts';

test('staleReason: no build, a source newer than the build, a fresh build', () => {
  const root = mkdtempSync(join(tmpdir(), 'forge-build-state-'));
  try {
    mkdirSync(join(root, 'cli', 'dev'), { recursive: true });
    writeFileSync(join(root, 'cli', 'dev', 'x.ts'), '');
    assert.equal(staleReason(root), 'there is no compiled build in dist/');
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', '.build-stamp'), '');
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'dist', '.build-stamp'), past, past);
    assert.equal(staleReason(root), 'cli/dev/x.ts is newer than the build in dist/');
    const older = new Date(Date.now() - 120_000);
    utimesSync(join(root, 'cli', 'dev', 'x.ts'), older, older);
    assert.equal(staleReason(root), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('bin/forge --version runs as a process from the sources (FORGE_CLI_FROM=ts)', async () => {
  const bin = fileURLToPath(new URL('../../bin/forge', import.meta.url));
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [bin, '--version'], { env: { PATH: process.env.PATH ?? '', FORGE_CLI_FROM: 'ts' }, timeout: 60_000 }, (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
  });
  assert.deepEqual(out, { code: 0, stdout: `forge ${forgeVersion()}\n`, stderr: '' });
});

// The compiled build finds the files the code reads beside itself (the service schema among
// them): dist/schemas once lacked them and a compiled `forge server` could not start.
const DIST_STAMP = fileURLToPath(new URL('../../dist/.build-stamp', import.meta.url));
test('bin/forge validate runs from the compiled build (FORGE_CLI_FROM=dist) and finds the service schema', { skip: existsSync(DIST_STAMP) ? false : 'no compiled build in dist/ (scripts/build.sh makes it)' }, async () => {
  const bin = fileURLToPath(new URL('../../bin/forge', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'forge-dist-validate-'));
  try {
    writeFileSync(join(dir, 'forge.yaml'), 'name: web\nimage: nginx:1.27\nport: 80\n');
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [bin, 'validate', join(dir, 'forge.yaml')], { env: { PATH: process.env.PATH ?? '', FORGE_CLI_FROM: 'dist' }, timeout: 60_000 }, (_e, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
    });
    assert.deepEqual(out, { code: 0, stdout: 'ok  1 service\n', stderr: '' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
