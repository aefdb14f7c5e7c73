// Secret canary across a representative slice of the system: a value set through
// the API and the CLI (env upsert, secrets set, update --env-set) must reach the
// provider call and nowhere else. After the service runs, is updated, planned,
// listed, logged, rolled back and refused on bad input, every captured HTTP
// response, CLI output, request log line, /metrics, every file under the data dir
// and HOME, and every SQLite row (the ciphertext column excepted) is searched for
// it: 0 hits. test/api/secrets.test.ts covers the API routes one by one; this
// adds the CLI, apply/diff plans, rollback and a row-by-row database dump.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { ApplyContext } from '../../providers/types.ts';
import { eventually } from '../api/helpers.ts';
import { cliHarness } from '../cli/helpers.ts';

const CANARY = 'forge-canary-6b1f03d9';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** Every row of every table as text, leaving out the encrypted values themselves. */
function databaseRows(file: string): { text: string[]; secretRows: number } {
  const db = new Database(file, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[];
    const text: string[] = [];
    let secretRows = 0;
    for (const { name } of tables) {
      const columns = (db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name);
      const kept = columns.filter((c) => !(name === 'secrets' && c === 'ciphertext'));
      const rows = db.prepare(`SELECT ${kept.map((c) => `"${c}"`).join(', ')} FROM "${name}"`).all() as Record<string, unknown>[];
      if (name === 'secrets') secretRows = rows.length;
      for (const row of rows) text.push(`${name}: ${JSON.stringify(row, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))}`);
    }
    return { text, secretRows };
  } finally {
    db.close();
  }
}

test('a canary secret reaches the provider and appears in no output, log, metric, plan, file or database row', async () => {
  const h = await cliHarness({ withLoop: true });
  const { api } = h;
  const captured: { where: string; text: string }[] = [];
  const delivered: string[] = [];
  const provider = api.provider!;
  const realApply = provider.apply.bind(provider);
  // The positive control: the value must arrive where it belongs, or 0 hits proves nothing.
  provider.apply = async (action, ctx: ApplyContext) => {
    delivered.push(JSON.stringify(ctx.secrets ?? {}));
    return realApply(action, ctx);
  };
  const call = async (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) => {
    const res = await api.app.inject({ method, url, headers: api.auth(), ...(payload ? { payload } : {}) });
    captured.push({ where: `${method} ${url}`, text: `${JSON.stringify(res.headers)}\n${res.body}` });
    return res;
  };
  const cli = async (...argv: string[]) => {
    const res = await h.run(argv);
    captured.push({ where: `forge ${argv.join(' ')}`, text: `${res.stdout}\n${res.stderr}` });
    return res;
  };
  const running = (generation: number) => eventually(() => {
    const s = api.store.status.get('web');
    return s?.phase === 'running' && s.observedGeneration >= generation ? true : undefined;
  });
  try {
    assert.equal((await call('POST', '/api/compute/services', { name: 'web', image: 'nginx:1', envVars: { DB_PASSWORD: CANARY } })).statusCode, 201);
    await running(1);
    assert.equal((await cli('secrets', 'set', 'web', `API_TOKEN=${CANARY}`)).exitCode, 0);
    assert.equal((await cli('update', 'web', '--env-set', `OTHER_TOKEN=${CANARY}`)).exitCode, 0);
    await running(api.store.services.get('web')!.generation);

    // Bad input holding the value: refused, and the refusal does not repeat it.
    assert.equal((await call('PATCH', '/api/compute/services/web', { envVars: { 'bad name': CANARY } })).statusCode, 400);
    assert.notEqual((await cli('secrets', 'set', 'web', `bad name=${CANARY}`)).exitCode, 0);
    assert.notEqual((await cli('update', 'web', '--env-set', `lower=${CANARY}`)).exitCode, 0);

    // Reads, plans and history through both doors.
    for (const argv of [['list'], ['list', '--json'], ['get', 'web'], ['get', 'web', '--json'], ['events', 'web'], ['logs', 'web'], ['secrets', 'list', 'web'], ['secrets', 'list', 'web', '--json']]) {
      assert.equal((await cli(...argv)).exitCode, 0, argv.join(' '));
    }
    // A second service from a spec file that names its secrets; its value set by the CLI; then a changed file planned.
    const specFile = join(h.home, 'worker.yaml');
    const workerSpec = (image: string) => `name: worker\nimage: ${image}\nsecrets:\n  - DB_PASSWORD\nenv:\n  MODE: canary\n`;
    writeFileSync(specFile, workerSpec('busybox:1'));
    assert.equal((await cli('secrets', 'set', 'worker', `DB_PASSWORD=${CANARY}`)).exitCode, 1, 'no such service yet');
    assert.equal((await cli('apply', '-f', specFile)).exitCode, 0);
    assert.equal((await cli('secrets', 'set', 'worker', `DB_PASSWORD=${CANARY}`)).exitCode, 0);
    writeFileSync(specFile, workerSpec('busybox:2'));
    assert.equal((await cli('diff', '-f', specFile)).exitCode, 1, 'the diff shows a change');
    assert.equal((await cli('apply', '-f', specFile, '--dry-run')).exitCode, 0);
    const source = api.store.services.get('worker')!.source;
    const plan = await call('POST', '/api/v1/apply', { source, dryRun: true, specs: [{ name: 'worker', image: 'busybox:3', secrets: ['DB_PASSWORD'] }] });
    assert.equal(plan.statusCode, 200, plan.body);
    assert.equal((await cli('apply', '-f', specFile)).exitCode, 0);
    await cli('rollback', 'web');
    for (const url of ['/api/compute/services', '/api/compute/services/web', '/api/compute/services/web/events', '/api/compute/services/web/logs', '/api/v1/deployments', '/metrics']) {
      assert.equal((await call('GET', url)).statusCode, 200, url);
    }
    await running(api.store.services.get('web')!.generation);
    await api.loop!.idle();

    assert.ok(delivered.some((secrets) => secrets.includes(CANARY)), 'the provider received the value');
    captured.push(...api.logs.map((text) => ({ where: 'request log', text })));
    captured.push({ where: 'world', text: JSON.stringify(provider.world.all()) });
    const files = [...filesUnder(api.dir), ...filesUnder(h.home)];
    for (const file of files) captured.push({ where: file, text: readFileSync(file).toString('latin1') });
    const db = databaseRows(join(api.dir, 'forge.db'));
    assert.ok(db.secretRows >= 3, `secret rows: ${db.secretRows}`);
    captured.push(...db.text.map((text) => ({ where: 'sqlite row', text })));

    assert.ok(api.logs.length > 20 && files.some((f) => f.endsWith('forge.db')) && captured.length > 50, 'the run captured what it searched');
    assert.deepEqual(captured.filter((c) => c.text.includes(CANARY)).map((c) => c.where), []);
  } finally {
    await h.close();
  }
});
