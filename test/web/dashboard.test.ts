// The dashboard in a real browser against a real API: sign in with an API key,
// deploy a service from the dialog, watch it reach running, open it, delete it.
// Debian's chromium (scripts/setup.sh installs it) is driven by playwright-core.
// A screenshot of each step lands in .test-output/web/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Page } from 'playwright-core';
import { generateApiKey } from '../../api/auth.ts';
import { ALL_PROVIDERS, apiHarness, eventually, type ApiHarness } from '../api/helpers.ts';

const CHROMIUM = process.env.FORGE_TEST_CHROMIUM ?? '/usr/bin/chromium';
const OUT = fileURLToPath(new URL('../../.test-output/web/', import.meta.url));
const skip = existsSync(CHROMIUM)
  ? undefined
  : `no chromium at ${CHROMIUM} (install Debian's chromium with scripts/setup.sh, or set FORGE_TEST_CHROMIUM)`;

// Bounds on every wait; reaching running goes through the reconcile loop, so it gets more room.
const STEP_TIMEOUT_MS = 15_000;
const RUNNING_TIMEOUT_MS = 30_000;

// Chromium logs each 4xx answer as a console error; the test provokes two (the rejected key, the refused rollback).
const EXPECTED_HTTP_ERROR = /^Failed to load resource: the server responded with a status of 4\d\d\b/;

let h: ApiHarness | undefined;
let base = '';

before(async () => {
  if (skip) return;
  rmSync(OUT, { recursive: true, force: true });
  // The stand-in provider (the world provider, named agent) runs images, so its config says so;
  // a real agent says images: false and the dialog does not offer it (test/web/deploy-providers.test.ts).
  h = await apiHarness({ withLoop: true, providersConfig: { ...ALL_PROVIDERS, agent: { configured: true, runs: { images: true, source: true } }, fly: { configured: true, runs: { images: true, source: false } } } });
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
});

after(async () => {
  await h?.close();
});

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? '';
const shot = (page: Page, name: string) => page.screenshot({ path: `${OUT}${name}.png` });

test('sign in, deploy from the dialog, see it running, open it, delete it', { skip }, async () => {
  const api = h!;
  // What `forge keys create` does on the control-plane host.
  const made = generateApiKey();
  api.store.apiKeys.create({ name: 'dashboard', hash: made.hash, prefix: made.prefix });

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    // Uncaught exceptions and console errors, CSP violations among them.
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`exception: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && !EXPECTED_HTTP_ERROR.test(message.text())) problems.push(`console: ${message.text()}`);
    });

    await page.goto(`${base}/`);
    await page.locator('#login-view').waitFor({ state: 'visible' });
    await page.fill('#login-key', 'ik_not-a-real-key');
    await page.click('#login-form button[type="submit"]');
    await page.waitForFunction(() => document.querySelector('#login-error')!.textContent !== '');
    assert.equal(await text(page, '#login-error'), 'That key was not accepted. Check it, or create one with `forge keys create`.');
    await shot(page, '01-login-rejected');

    await page.fill('#login-key', made.key);
    await page.click('#login-form button[type="submit"]');
    await page.locator('#list-view').waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => sessionStorage.getItem('forge.apiKey')), made.key);
    assert.equal(await text(page, '#services-empty'), 'No services yet. Deploy one, or run forge apply -f PATH.');
    await shot(page, '02-services-empty');

    await page.click('#open-deploy');
    await page.waitForFunction(() => document.querySelector<HTMLDialogElement>('#deploy-dialog')!.open);
    const provider = '#deploy-form select[name="provider"]';
    await page.waitForFunction((sel) => document.querySelector<HTMLSelectElement>(sel)!.options.length === 3, provider);
    assert.deepEqual(
      await page.$$eval(`${provider} option`, (options) => (options as HTMLOptionElement[]).map((o) => [o.value, o.disabled, o.selected])),
      [['agent', false, true], ['fly', false, false], ['cloud', true, false]],
      'the first configured provider that runs images is chosen; unconfigured providers cannot be chosen',
    );
    await page.fill('#deploy-form [name="name"]', 'hello');
    await page.fill('#deploy-form [name="image"]', 'nginx:1.27');
    await page.fill('#deploy-form [name="port"]', '8080');
    await page.selectOption('#deploy-form [name="cpu"]', 'shared-2x');
    await page.fill('#deploy-form [name="memory"]', '512');
    await page.fill('#deploy-form [name="region"]', 'ams');
    await page.selectOption(provider, 'agent'); // the test's stand-in provider is named agent and runs images
    await page.fill('#deploy-form [name="env"]', 'GREETING=hello world\nAPI_TOKEN=s3cret=value');
    await shot(page, '03-deploy-dialog');
    await page.click('#deploy-submit');
    await page.waitForFunction(() => !document.querySelector<HTMLDialogElement>('#deploy-dialog')!.open);

    await page.locator('tr[data-name="hello"] .status-running').waitFor({ state: 'attached', timeout: RUNNING_TIMEOUT_MS });
    assert.deepEqual(
      await page.$$eval('tr[data-name="hello"] td', (cells) => cells.slice(0, 6).map((td) => td.textContent)),
      ['hello', 'running', '—', 'agent', '1/1', '1'], // no URL: the stand-in provider routes nothing
    );
    assert.equal(await text(page, '#flash'), 'Deployed hello (generation 1).');
    await shot(page, '04-running');

    // What the dialog sent, as the API stored it: env values sealed, only the names in the spec.
    const row = api.store.services.get('hello')!;
    assert.deepEqual(
      { image: row.spec.image, port: row.spec.port, cpus: row.spec.resources.cpus, cpuKind: row.spec.resources.cpuKind, memory: row.spec.resources.memoryMb, region: row.spec.region, secrets: row.spec.secrets },
      { image: 'nginx:1.27', port: 8080, cpus: 2, cpuKind: 'shared', memory: 512, region: 'ams', secrets: ['API_TOKEN', 'GREETING'] },
    );

    await page.click('tr[data-name="hello"] a[href="#/services/hello"]');
    await page.locator('#service-view').waitFor({ state: 'visible' });
    await page.waitForFunction(() => document.querySelector('#svc-env li')?.textContent === 'API_TOKEN');
    assert.deepEqual(await page.$$eval('#svc-env li', (items) => items.map((li) => li.textContent)), ['API_TOKEN', 'GREETING']);
    await page.locator('#svc-events tbody td:not(.empty)').first().waitFor({ state: 'attached' });
    // The logs panel follows the app's own output (the fake provider ships none); events stay in their table.
    await page.waitForFunction(() => document.querySelector('#svc-logs-state')!.textContent === '(following)');
    assert.doesNotMatch(await text(page, '#svc-logs'), /PhaseRunning/);
    const pageText = await page.evaluate(() => document.body.innerText);
    assert.ok(!pageText.includes('s3cret') && !pageText.includes('hello world'), 'no env value is ever on the page');
    assert.equal(await page.locator('#service-view [data-action="start"]').isDisabled(), true, 'start is off while running');

    // Rollback with a single release: the API's error is shown, whichever it is (no earlier release, or no route yet).
    await page.click('#service-view [data-action="rollback"]');
    await page.waitForFunction(() => document.querySelector('#svc-error')!.textContent !== '');
    assert.match(await text(page, '#svc-error'), /\[(E_CONFLICT|E_NOT_FOUND)\]$/);
    await shot(page, '05-service');

    // A second release (a new image), then back to the first one, chosen in the releases list.
    await page.goto(`${base}/#/`);
    await page.click('#open-deploy');
    await page.waitForFunction((sel) => document.querySelector<HTMLSelectElement>(sel)!.options.length === 3, provider);
    await page.fill('#deploy-form [name="name"]', 'hello');
    await page.fill('#deploy-form [name="image"]', 'nginx:1.28');
    await page.selectOption(provider, 'agent');
    await page.click('#deploy-submit');
    await page.waitForFunction(() => !document.querySelector<HTMLDialogElement>('#deploy-dialog')!.open);
    await page.goto(`${base}/#/services/hello`);
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('#svc-releases tbody tr[data-generation]');
      return rows.length === 2 && rows[0]!.querySelector('.status-running') !== null && rows[1]!.querySelector('.status-running') !== null;
    }, undefined, { timeout: RUNNING_TIMEOUT_MS });
    assert.equal(await page.locator('#svc-releases tr[data-generation="2"] button').count(), 0, 'the current release has no rollback button');
    await page.click('#svc-releases tr[data-generation="1"] button[data-rollback-to="1"]');
    await page.waitForFunction(() => document.querySelector('#flash')!.textContent!.startsWith('Rolling'));
    assert.equal(await text(page, '#flash'), 'Rolling hello back to release 1 as generation 3.');
    assert.equal(api.store.services.get('hello')!.spec.image, 'nginx:1.27', 'the chosen release is desired again');
    await page.waitForFunction(() => document.querySelector('#svc-releases tr[data-generation="3"]')?.textContent?.includes('current') === true);
    await shot(page, '05b-releases-rolled-back');

    // The agents page: what GET /api/v1/agents says about each worker.
    const agent = api.store.agents.register({
      name: 'worker-1', tokenHash: 'token-hash', addresses: ['10.0.0.7'], labels: {},
      capacity: { cpus: 4, memoryBytes: 8 * 2 ** 30 },
      // One python found under two binaries: listed once.
      runtimes: [{ name: 'node', version: '20.11.1', path: '/usr/bin/node' }, { name: 'python', version: '3.11.7', path: '/usr/bin/python3' }, { name: 'python', version: '3.11.7', path: '/usr/bin/python3.11' }],
    });
    api.store.agents.heartbeat(agent.id, { usage: { cpus: 0.5, memoryBytes: 2 ** 30 }, instances: [{ id: 'i1', service: 'web', state: 'running' }] }, Date.now());
    await page.click('#nav a[href="#/agents"]');
    await page.locator(`#agents tr[data-id="${agent.id}"]`).waitFor({ state: 'attached' });
    assert.deepEqual(
      await page.$$eval(`#agents tr[data-id="${agent.id}"] td`, (cells) => cells.map((td) => td.textContent)),
      [agent.id, 'worker-1', '10.0.0.7', 'online', '4 CPU, 8192 MB', '0.50 CPU, 1024 MB', '1/1 running (web)', 'node 20.11.1, python 3.11.7'],
    );
    await shot(page, '05c-agents');
    await page.goto(`${base}/#/services/hello`);
    await page.locator('#service-view').waitFor({ state: 'visible' });

    await page.click('#service-view [data-action="delete"]');
    await page.waitForFunction(() => document.querySelector<HTMLDialogElement>('#confirm-dialog')!.open);
    assert.equal(await text(page, '#confirm-text'), 'Delete hello? Its instances are destroyed and its routes removed.');
    await shot(page, '06-confirm-delete');
    await page.click('#confirm-ok');
    await page.locator('#list-view').waitFor({ state: 'visible' });
    await page.waitForFunction(() => !document.querySelector('tr[data-name="hello"]') && !document.querySelector<HTMLElement>('#services-empty')!.hidden);
    assert.equal(await text(page, '#flash'), 'Deleting hello: its instances are being destroyed.');
    await shot(page, '07-deleted');

    await eventually(() => (api.store.services.get('hello') === null ? true : undefined), 400, 25);
    assert.deepEqual(api.provider!.world.all(), [], 'the instance was destroyed');
    assert.deepEqual(problems, [], 'no script errors, console errors or CSP violations');
  } finally {
    await browser.close(); // also when a step failed: playwright ends the chromium it started
  }
});
