// The dashboard in a real browser against a real API: sign in with an API key,
// deploy a service from the dialog, watch it reach running, open it, delete it.
// A screenshot of each step lands in .test-output/web/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generateApiKey } from '../../api/auth.ts';
import { apiHarness, eventually, type ApiHarness } from '../api/helpers.ts';
import { chromiumMissing, launchChromium, type Browser, type Page } from './cdp.ts';

const OUT = fileURLToPath(new URL('../../.test-output/web/', import.meta.url));
const skip = chromiumMissing();

let h: ApiHarness | undefined;
let browser: Browser | undefined;
let base = '';

before(async () => {
  if (skip) return;
  rmSync(OUT, { recursive: true, force: true });
  h = await apiHarness({ withLoop: true });
  base = await h.app.listen({ host: '127.0.0.1', port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close(); // kills chromium's process group by its pid, also when a step failed
  await h?.close();
});

const visible = (selector: string) => `(() => { const el = document.querySelector(${JSON.stringify(selector)}); return el && !el.hidden && el.offsetParent !== null; })()`;
const text = (page: Page, selector: string) => page.evaluate<string>(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? ''`);

test('sign in, deploy from the dialog, see it running, open it, delete it', { skip }, async () => {
  const page = browser!.page;
  const api = h!;
  // What `forge keys create` does on the control-plane host.
  const made = generateApiKey();
  api.store.apiKeys.create({ name: 'dashboard', hash: made.hash, prefix: made.prefix });

  await page.goto(`${base}/`);
  await page.waitFor(visible('#login-view'), 'the sign-in form');
  await page.fill('#login-key', 'ik_not-a-real-key');
  await page.click('#login-form button[type="submit"]');
  await page.waitFor(`document.querySelector('#login-error').textContent !== ''`, 'the rejection message');
  assert.equal(await text(page, '#login-error'), 'That key was not accepted. Check it, or create one with `forge keys create`.');
  await page.screenshot(`${OUT}01-login-rejected.png`);

  await page.fill('#login-key', made.key);
  await page.click('#login-form button[type="submit"]');
  await page.waitFor(visible('#list-view'), 'the services list');
  assert.equal(await page.evaluate('sessionStorage.getItem("forge.apiKey")'), made.key);
  assert.equal(await text(page, '#services-empty'), 'No services yet. Deploy one, or run forge apply -f PATH.');
  await page.screenshot(`${OUT}02-services-empty.png`);

  await page.click('#open-deploy');
  await page.waitFor(`document.querySelector('#deploy-dialog').open`, 'the deploy dialog');
  await page.waitFor(`document.querySelector('#deploy-form select[name="provider"]').options.length === 3`, 'the provider choices');
  assert.deepEqual(
    await page.evaluate(`[...document.querySelector('#deploy-form select[name="provider"]').options].map((o) => [o.value, o.disabled, o.selected])`),
    [['agent', false, false], ['fly', false, true], ['cloud', true, false]],
    'images default to fly when it is configured; unconfigured providers cannot be chosen',
  );
  await page.fill('#deploy-form [name="name"]', 'hello');
  await page.fill('#deploy-form [name="image"]', 'nginx:1.27');
  await page.fill('#deploy-form [name="port"]', '8080');
  await page.select('#deploy-form [name="cpu"]', 'shared-2x');
  await page.fill('#deploy-form [name="memory"]', '512');
  await page.fill('#deploy-form [name="region"]', 'ams');
  await page.select('#deploy-form [name="provider"]', 'agent'); // the test's stand-in provider is named agent and runs images
  await page.fill('#deploy-form [name="env"]', 'GREETING=hello world\nAPI_TOKEN=s3cret=value');
  await page.screenshot(`${OUT}03-deploy-dialog.png`);
  await page.click('#deploy-submit');
  await page.waitFor(`!document.querySelector('#deploy-dialog').open`, 'the dialog to close');

  await page.waitFor(`document.querySelector('tr[data-name="hello"] .status-running')`, 'hello to be running in the list', { tries: 300 });
  assert.deepEqual(
    await page.evaluate(`[...document.querySelectorAll('tr[data-name="hello"] td')].slice(0, 6).map((td) => td.textContent)`),
    ['hello', 'running', '—', 'agent', '1/1', '1'], // no URL: the stand-in provider routes nothing
  );
  assert.equal(await text(page, '#flash'), 'Deployed hello (generation 1).');
  await page.screenshot(`${OUT}04-running.png`);

  // What the dialog sent, as the API stored it: env values sealed, only the names in the spec.
  const row = api.store.services.get('hello')!;
  assert.deepEqual(
    { image: row.spec.image, port: row.spec.port, cpus: row.spec.resources.cpus, cpuKind: row.spec.resources.cpuKind, memory: row.spec.resources.memoryMb, region: row.spec.region, secrets: row.spec.secrets },
    { image: 'nginx:1.27', port: 8080, cpus: 2, cpuKind: 'shared', memory: 512, region: 'ams', secrets: ['API_TOKEN', 'GREETING'] },
  );

  await page.click('tr[data-name="hello"] a[href="#/services/hello"]');
  await page.waitFor(visible('#service-view'), 'the service page');
  await page.waitFor(`document.querySelector('#svc-env li')?.textContent === 'API_TOKEN'`, 'the env keys');
  assert.deepEqual(await page.evaluate(`[...document.querySelectorAll('#svc-env li')].map((li) => li.textContent)`), ['API_TOKEN', 'GREETING']);
  await page.waitFor(`document.querySelector('#svc-events tbody td:not(.empty)')`, 'events');
  // Without a log source wired in, the API streams the service's events as its log lines.
  await page.waitFor(`document.querySelector('#svc-logs').textContent.includes('Normal PhaseRunning: running generation 1')`, 'streamed log lines');
  assert.equal(await text(page, '#svc-logs-state'), '(following)');
  const pageText = await page.evaluate<string>('document.body.innerText');
  assert.ok(!pageText.includes('s3cret') && !pageText.includes('hello world'), 'no env value is ever on the page');
  assert.equal(await page.evaluate(`document.querySelector('#service-view [data-action="start"]').disabled`), true, 'start is off while running');

  // Rollback with a single release: the API's error is shown, whichever it is (no earlier release, or no route yet).
  await page.click('#service-view [data-action="rollback"]');
  await page.waitFor(`document.querySelector('#svc-error').textContent !== ''`, 'the rollback answer');
  assert.match(await text(page, '#svc-error'), /\[(E_CONFLICT|E_NOT_FOUND)\]$/);
  await page.screenshot(`${OUT}05-service.png`);

  await page.click('#service-view [data-action="delete"]');
  await page.waitFor(`document.querySelector('#confirm-dialog').open`, 'the delete confirmation');
  assert.equal(await text(page, '#confirm-text'), 'Delete hello? Its instances are destroyed and its routes removed.');
  await page.screenshot(`${OUT}06-confirm-delete.png`);
  await page.click('#confirm-ok');
  await page.waitFor(visible('#list-view'), 'the list after deleting');
  await page.waitFor(`!document.querySelector('tr[data-name="hello"]') && !document.querySelector('#services-empty').hidden`, 'hello to be gone');
  assert.equal(await text(page, '#flash'), 'Deleting hello: its instances are being destroyed.');
  await page.screenshot(`${OUT}07-deleted.png`);

  await eventually(() => (api.store.services.get('hello') === null ? true : undefined), 400, 25);
  assert.deepEqual(api.provider!.world.all(), [], 'the instance was destroyed');
  // The browser logs each 4xx answer (the rejected key, the refused rollback); nothing else may appear.
  assert.deepEqual(page.problems.filter((p) => !p.text.startsWith('network: ')), [], 'no script errors, console errors or CSP violations');
});
