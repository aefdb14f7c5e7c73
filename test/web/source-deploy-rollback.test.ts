// The dashboard's deploy and rollback flows end to end (issue 17.4), in Debian's
// chromium driven by playwright-core, against a real control plane whose embedded
// agent builds and runs the app in its sandbox:
//   1. deploy a source FOLDER from the dialog (packed into a tar in the page, uploaded
//      by digest, applied), see it running and its own output live in the logs panel;
//   2. deploy a new version as an ARCHIVE (.tgz made with tar(1));
//   3. roll back to the first release, chosen in the releases list: the first bundle
//      is desired and running again;
//   4. the agents page lists the embedded agent.
// Screenshots of each page land in .test-output/web/ (deploy, service with releases, agents).

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { generateApiKey } from '../../api/auth.ts';
import { sweepSandboxes } from '../../agent/sandbox/index.ts';
import { chromiumSkipReason, startPlaneAndBrowser } from './plane-browser.ts';

const OUT = fileURLToPath(new URL('../../.test-output/web/', import.meta.url));
const skip = chromiumSkipReason();
const NAME = 'shop';
const RUNNING_MS = 120_000;

const serverJs = (version: string) => `const http = require('node:http');
http.createServer((req, res) => res.end('${version}')).listen(Number(process.env.PORT), () => console.log('serving ${version} in ' + process.env.MODE));
setInterval(() => console.log('still ${version}'), 500);
`;

function appDir(root: string, version: string): string {
  const dir = path.join(root, `app-${version}`);
  mkdirSync(path.join(dir, 'node_modules', 'left-out'), { recursive: true });
  writeFileSync(path.join(dir, 'server.js'), serverJs(version));
  writeFileSync(path.join(dir, 'node_modules', 'left-out', 'index.js'), 'not shipped');
  return dir;
}

async function waitRunningGeneration(page: Page, generation: number): Promise<void> {
  await page.waitForFunction(({ name, generation: g }) => {
    const row = document.querySelector(`tr[data-name="${name}"]`);
    return row?.querySelector('.status-running') !== null && row?.querySelector('.status-running') !== undefined
      && row!.children[5]!.textContent === String(g);
  }, { name: NAME, generation }, { timeout: RUNNING_MS, polling: 250 });
}

test('deploy a source folder and an archive from the dashboard, then roll back to the first release from its releases list', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-web-source-'));
  const { plane, browser, cgroupRoot, dataDir } = await startPlaneAndBrowser(dir, 'websrc', 24_000);
  try {
    mkdirSync(OUT, { recursive: true });
    const made = generateApiKey();
    plane.store.apiKeys.create({ name: 'e2e', hash: made.hash, prefix: made.prefix });
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    page.setDefaultTimeout(20_000);
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));

    await page.goto(`${plane.url}/`);
    await page.fill('#login-key', made.key);
    await page.click('#login-form button[type="submit"]');
    await page.locator('#list-view').waitFor({ state: 'visible' });

    // 1. A folder, packed in the page.
    await page.click('#open-deploy');
    await page.check('#deploy-form input[name="mode"][value="source"]');
    const provider = '#deploy-form select[name="provider"]';
    await page.waitForFunction((sel) => document.querySelector<HTMLSelectElement>(sel)!.value === 'agent', provider);
    assert.deepEqual(
      await page.$$eval(`${provider} option`, (options) => (options as HTMLOptionElement[]).map((o) => [o.value, o.disabled])),
      [['agent', false], ['fly', true], ['cloud', true]],
      'only a configured provider that runs source can be chosen',
    );
    const runtimes = await page.$$eval('#deploy-form select[name="runtime"] option', (options) => (options as HTMLOptionElement[]).map((o) => o.value));
    assert.ok(runtimes.includes(`node${process.versions.node.split('.')[0]}`), `the embedded agent's node is offered: ${runtimes.join(', ')}`);
    assert.equal(await page.locator('#deploy-form input[name="image"]').isVisible(), false, 'no image field in source mode');
    await page.fill('#deploy-form [name="name"]', NAME);
    await page.setInputFiles('#deploy-form input[name="folder"]', appDir(dir, 'v1'));
    await page.selectOption('#deploy-form select[name="runtime"]', `node${process.versions.node.split('.')[0]}`);
    await page.fill('#deploy-form [name="run"]', 'node server.js');
    await page.fill('#deploy-form [name="build"]', 'echo "building from $(pwd)"');
    await page.fill('#deploy-form [name="port"]', '8080');
    await page.fill('#deploy-form [name="memory"]', '256');
    await page.fill('#deploy-form [name="plainEnv"]', 'MODE=production');
    await page.screenshot({ path: `${OUT}deploy-source.png`, fullPage: true });
    await page.click('#deploy-submit');
    await page.waitForFunction(() => !document.querySelector<HTMLDialogElement>('#deploy-dialog')!.open, undefined, { timeout: 60_000 });
    assert.equal(await page.locator('#flash').textContent(), `Deployed ${NAME} (create).`);
    const first = plane.store.services.get(NAME)!.spec.revision!;
    assert.match(first, /^sha256:[0-9a-f]{64}$/, 'the folder travelled as a bundle');
    const stored = path.join(dataDir, 'bundles', `${first.slice('sha256:'.length)}.tar.gz`);
    assert.ok(existsSync(stored), 'the control plane stored the bundle under its verified digest');
    assert.equal(execFileSync('tar', ['-tzf', stored], { encoding: 'utf8' }), 'server.js\n', 'the folder\'s own name and node_modules are not in the bundle');
    // An upload whose content is not its digest is refused by the control plane, from the page as from anywhere.
    const refused = await page.evaluate(async ({ key }) => {
      const gzip = await new Response(new Blob([new Uint8Array(2048)]).stream().pipeThrough(new CompressionStream('gzip'))).blob();
      const response = await fetch(`/api/v1/bundles/sha256:${'0'.repeat(64)}`, { method: 'PUT', headers: { 'x-api-key': key, 'content-type': 'application/gzip' }, body: gzip });
      return [response.status, ((await response.json()) as { error: string }).error];
    }, { key: made.key });
    assert.deepEqual(refused, [400, 'E_BAD_REQUEST']);
    await waitRunningGeneration(page, 1);

    // The logs panel follows the app's own output, live.
    await page.click(`tr[data-name="${NAME}"] a`);
    await page.locator('#service-view').waitFor({ state: 'visible' });
    await page.waitForFunction(() => /serving v1 in production/.test(document.querySelector('#svc-logs')!.textContent!), undefined, { timeout: 30_000 });
    const seen = (await page.locator('#svc-logs').textContent())!.split('\n').filter((l) => l.includes('still v1')).length;
    await page.waitForFunction((n) => document.querySelector('#svc-logs')!.textContent!.split('\n').filter((l) => l.includes('still v1')).length > n, seen, { timeout: 30_000 });

    // 2. A new version, as an archive made from inside its folder.
    const archive = path.join(dir, 'v2.tgz');
    execFileSync('tar', ['-czf', archive, '-C', appDir(dir, 'v2'), '--exclude', 'node_modules', '.']);
    await page.goto(`${plane.url}/#/`);
    await page.click('#open-deploy');
    await page.check('#deploy-form input[name="mode"][value="source"]');
    await page.waitForFunction((sel) => document.querySelector<HTMLSelectElement>(sel)!.value === 'agent', provider);
    await page.fill('#deploy-form [name="name"]', NAME);
    await page.setInputFiles('#deploy-form input[name="archive"]', archive);
    await page.fill('#deploy-form [name="run"]', 'node server.js');
    await page.fill('#deploy-form [name="port"]', '8080');
    await page.fill('#deploy-form [name="memory"]', '256');
    await page.fill('#deploy-form [name="plainEnv"]', 'MODE=production');
    await page.click('#deploy-submit');
    await page.waitForFunction(() => !document.querySelector<HTMLDialogElement>('#deploy-dialog')!.open, undefined, { timeout: 60_000 });
    const second = plane.store.services.get(NAME)!.spec.revision!;
    assert.match(second, /^sha256:/);
    assert.notEqual(second, first);
    await waitRunningGeneration(page, 2);

    // 3. Roll back to release 1, chosen in the list.
    await page.goto(`${plane.url}/#/services/${NAME}`);
    await page.locator('#svc-releases tr[data-generation="1"] button').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#svc-releases tr[data-generation="2"]').textContent().then((t) => t?.includes('current')), true);
    await page.click('#svc-releases tr[data-generation="1"] button[data-rollback-to="1"]');
    await page.waitForFunction(() => document.querySelector('#flash')!.textContent!.startsWith('Rolling'));
    assert.equal(await page.locator('#flash').textContent(), `Rolling ${NAME} back to release 1 as generation 3.`);
    assert.equal(plane.store.services.get(NAME)!.spec.revision, first, 'the first bundle is desired again');
    await page.waitForFunction(() => {
      const row = document.querySelector('#svc-releases tr[data-generation="3"]');
      return row !== null && row.textContent!.includes('current') && row.querySelector('.status-running') !== null;
    }, undefined, { timeout: RUNNING_MS, polling: 250 });
    // The live panel ends in the first version's output once the second one is drained.
    await page.waitForFunction(() => document.querySelector('#svc-logs')!.textContent!.split('\n').filter((l) => / still v\d$/.test(l)).at(-1)?.endsWith('still v1'), undefined, { timeout: 60_000 });
    await page.screenshot({ path: `${OUT}service-releases.png`, fullPage: true });
    const releases = await page.$$eval('#svc-releases tbody tr', (rows) => rows.map((r) => r.getAttribute('data-generation')));
    assert.deepEqual(releases, ['3', '2', '1'], 'newest first');

    // 4. The agents page.
    await page.click('#nav a[href="#/agents"]');
    await page.locator('#agents-view').waitFor({ state: 'visible' });
    await page.locator('#agents tbody tr[data-id] .status-running').waitFor({ state: 'attached' });
    const cells = await page.$$eval('#agents tbody tr[data-id] td', (tds) => tds.map((td) => td.textContent ?? ''));
    assert.equal(cells[3], 'online');
    assert.match(cells[4]!, /^\d+(\.\d+)? CPU, \d+ MB/);
    assert.match(cells[6]!, new RegExp(`^1/\\d+ running \\(.*${NAME}.*\\)$`));
    assert.match(cells[7]!, /node \d+\.\d+\.\d+/);
    await page.screenshot({ path: `${OUT}agents.png`, fullPage: true });
    assert.deepEqual(problems, [], 'no script errors');
  } finally {
    await browser.close();
    await plane.close();
    await sweepSandboxes(cgroupRoot).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
});
