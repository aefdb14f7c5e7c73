// The dashboard's static route: the page and its modules without auth, strict
// headers, only files that exist in web/, and the API behind it still locked.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DASHBOARD_CSP, loadWebFiles } from '../../api/routes/dashboard.ts';
import { apiHarness, type ApiHarness } from '../api/helpers.ts';

describe('dashboard route', () => {
  let h: ApiHarness;
  before(async () => { h = await apiHarness(); });
  after(() => h.close());
  const get = (url: string) => h.app.inject({ method: 'GET', url });

  test('/ is the page, with a CSP that allows only same-origin scripts, styles and calls', async () => {
    const res = await get('/');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(
      [res.headers['content-type'], res.headers['content-security-policy'], res.headers['x-content-type-options'], res.headers['cache-control']],
      ['text/html; charset=utf-8', DASHBOARD_CSP, 'nosniff', 'no-cache'],
    );
    assert.match(res.body, /<script type="module" src="\/web\/app\.js"><\/script>/);
  });

  test('every module the page loads is served with its type', async () => {
    const types: Record<string, string> = {};
    for (const file of ['app.js', 'api.js', 'dom.js', 'sse.js', 'deploy-form.js', 'deploy-dialog.js', 'style.css']) {
      const res = await get(`/web/${file}`);
      types[file] = `${res.statusCode} ${res.headers['content-type']}`;
    }
    assert.deepEqual(types, {
      'app.js': '200 text/javascript; charset=utf-8', 'api.js': '200 text/javascript; charset=utf-8',
      'dom.js': '200 text/javascript; charset=utf-8', 'sse.js': '200 text/javascript; charset=utf-8',
      'deploy-form.js': '200 text/javascript; charset=utf-8', 'deploy-dialog.js': '200 text/javascript; charset=utf-8',
      'style.css': '200 text/css; charset=utf-8',
    });
  });

  test('nothing outside web/ and nothing unknown: 404 with the API error shape', async () => {
    for (const url of ['/web/nope.js', '/web/..%2Fpackage.json', '/web/%2E%2E%2Fapi%2Fauth.ts', '/web/']) {
      const res = await get(url);
      assert.equal(res.statusCode, 404, url);
      assert.equal(res.json().error, 'E_NOT_FOUND', url);
    }
  });

  test('the API itself still needs a key', async () => {
    const res = await get('/api/compute/services');
    assert.equal(res.statusCode, 401);
  });

  test('loadWebFiles keeps regular files with a known type, skipping dot files and folders', () => {
    const dir = mkdtempSync(join(tmpdir(), 'forge-web-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<p>x</p>');
      writeFileSync(join(dir, 'notes.md'), '# no');
      writeFileSync(join(dir, '.hidden.js'), '');
      mkdirSync(join(dir, 'sub.js'));
      const files = loadWebFiles(dir);
      assert.deepEqual([...files.keys()], ['index.html']);
      assert.equal(files.get('index.html')!.body.toString(), '<p>x</p>');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
