// A failed deploy names its cause everywhere a user looks: an app that exits with
// "DATABASE_URL is not set" is applied with `forge apply` against a real control plane
// whose embedded agent builds and runs it in its sandbox; the line shows in apply's
// output, in `forge logs` (and `forge logs --build` shows the build's output), and in
// the dashboard (conditions and the live logs panel), driven in Debian's chromium.
// Screenshot: .test-output/web/failed-deploy-logs.png.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { generateApiKey } from '../../api/auth.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { chromiumSkipReason, startPlaneAndBrowser } from './plane-browser.ts';
import { runCli } from '../../cli/index.ts';

const OUT = fileURLToPath(new URL('../../.test-output/web/', import.meta.url));
const skip = chromiumSkipReason();
const NAME = 'needs-db';
const SECRET = `canary-${randomBytes(6).toString('hex')}`;

const SPEC = `name: ${NAME}
provider: agent
build:
  commands:
    - echo "building ${NAME}"
run:
  command: echo "starting ${NAME}"; echo "DATABASE_URL is not set" >&2; exit 1
port: 8080
memory: 256M
env:
  API_TOKEN: ${SECRET}
health:
  path: /health
`;

const TICKER = `name: ticker
provider: agent
run:
  command: node server.js
port: 8080
memory: 256M
health:
  path: /health
`;
const TICKER_JS = `require('node:http').createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT));
setInterval(() => console.log('tick at ' + Date.now()), 200);
`;

test("a failed deploy shows the app's last line in forge apply, forge get, forge logs and the dashboard; forge logs -f follows a live app", { skip, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-failed-logs-'));
  const appDir = path.join(dir, 'app');
  mkdirSync(appDir);
  writeFileSync(path.join(appDir, 'forge.yaml'), SPEC);
  const { plane, browser, cgroupRoot, dataDir } = await startPlaneAndBrowser(dir, 'logs', 23_000);
  try {
    const made = generateApiKey();
    plane.store.apiKeys.create({ name: 'e2e', hash: made.hash, prefix: made.prefix });
    const home = path.join(dir, 'home');
    mkdirSync(home);
    const cli = (argv: string[]) => runCli(argv, { cwd: appDir, pollMs: 100, env: { HOME: home, FORGE_URL: plane.url, FORGE_API_KEY: made.key } });

    const applied = await cli(['apply', '-f', '.', '--timeout', '120s']);
    assert.equal(applied.exitCode, 1, `${applied.stdout}\n${applied.stderr}`);
    const said = `${applied.stdout}${applied.stderr}`;
    assert.match(said, /DATABASE_URL is not set/);
    assert.match(said, /forge logs needs-db --instance inst_\w+/);

    const logs = await cli(['logs', NAME]);
    assert.equal(logs.exitCode, 0, logs.stderr);
    assert.match(logs.stdout, /^\S+ inst_\w+ stdout starting needs-db$/m);
    assert.match(logs.stdout, /^\S+ inst_\w+ stderr DATABASE_URL is not set$/m);
    const build = await cli(['logs', NAME, '--build']);
    assert.match(build.stdout, /^\S+ build_\w+ stdout building needs-db$/m);
    const got = await cli(['get', NAME]);
    assert.match(got.stdout, /DATABASE_URL is not set/);

    // A healthy app that keeps printing: `forge logs -f` shows a line printed after it started.
    const tickDir = path.join(dir, 'ticker');
    mkdirSync(tickDir);
    writeFileSync(path.join(tickDir, 'forge.yaml'), TICKER);
    writeFileSync(path.join(tickDir, 'server.js'), TICKER_JS);
    const tick = await runCli(['apply', '-f', '.', '--timeout', '120s'], { cwd: tickDir, pollMs: 100, env: { HOME: home, FORGE_URL: plane.url, FORGE_API_KEY: made.key } });
    assert.equal(tick.exitCode, 0, `${tick.stdout}\n${tick.stderr}`);
    const startedAt = Date.now();
    const follow = new AbortController();
    const seen: string[] = [];
    const stop = setTimeout(() => follow.abort(), 30_000);
    await runCli(['logs', 'ticker', '-f', '--tail', '1'], {
      cwd: tickDir, signal: follow.signal,
      env: { HOME: home, FORGE_URL: plane.url, FORGE_API_KEY: made.key },
      print: (text) => {
        seen.push(text);
        const printedAt = Number(/tick at (\d+)/.exec(text)?.[1]);
        if (printedAt > startedAt) follow.abort();
      },
    });
    clearTimeout(stop);
    assert.ok(seen.some((line) => Number(/tick at (\d+)/.exec(line)?.[1]) > startedAt), `no line printed after the follow began: ${seen.join('')}`);

    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.setDefaultTimeout(20_000);
    await page.goto(`${plane.url}/`);
    await page.fill('#login-key', made.key);
    await page.click('#login-form button[type="submit"]');
    await page.locator('#list-view').waitFor({ state: 'visible' });
    await page.goto(`${plane.url}/#/services/${NAME}`);
    await page.locator('#service-view').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#svc-logs')!.textContent!.includes('DATABASE_URL is not set'));
    await page.waitForFunction(() => document.querySelector('#svc-conditions')!.textContent!.includes('DATABASE_URL is not set'));
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: `${OUT}failed-deploy-logs.png`, fullPage: true });
    // The panel's selector switches to the latest build's output.
    await page.selectOption('#svc-logs-source', 'build');
    await page.waitForFunction(() => document.querySelector('#svc-logs')!.textContent!.includes('building needs-db'));
    assert.doesNotMatch(await page.locator('#svc-logs').textContent() ?? '', /DATABASE_URL/);
    await page.screenshot({ path: `${OUT}failed-deploy-build-logs.png`, fullPage: true });

    // The env value (the app never prints it) is in nothing Forge printed or showed: names only.
    const pageText = await page.evaluate(() => document.body.innerText);
    for (const text of [said, logs.stdout, build.stdout, pageText]) assert.ok(!text.includes(SECRET), 'an env value leaked');
  } finally {
    await browser.close();
    await plane.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
