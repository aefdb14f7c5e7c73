// forge apply / forge diff through runCli against a live API whose loop runs the
// world provider: plans field by field, waiting, prune, dry runs, ownership.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHarness, type CliHarness } from './helpers.ts';

const webSpec = (image: string, mode = 'a') => `name: web\nimage: ${image}\nport: 80\nenv:\n  MODE: ${mode}\n`;
const apiSpec = 'name: api\nimage: api:1\n';

describe('forge apply and forge diff against a live API', () => {
  let h: CliHarness;
  let specs: string;
  before(async () => {
    h = await cliHarness();
    specs = join(h.home, 'specs');
    mkdirSync(specs);
    writeFileSync(join(specs, 'web.yaml'), webSpec('nginx:1'));
    writeFileSync(join(specs, 'api.yaml'), apiSpec);
  });
  after(() => h.close());

  test('diff before anything exists: the creates, field by field; exit 1', async () => {
    const result = await h.run(['diff', '-f', 'specs']);
    assert.equal(result.exitCode, 1);
    const lines = result.stdout.split('\n');
    assert.deepEqual(lines.filter((l) => !l.startsWith('    ')), ['+ api (create)', '+ web (create)', '2 to create, 0 to update, 0 to delete, 0 unchanged', '']);
    for (const line of ['    image: nginx:1', '    port: 80', '    env.MODE: (hidden)', '    resources.memoryMb: 512', '    name: web']) {
      assert.ok(lines.includes(line), `missing ${line}`);
    }
    assert.equal(h.api.store.services.list().length, 0, 'a diff writes nothing');
  });

  test('apply creates both, prints the plan, waits until both run', async () => {
    const result = await h.run(['apply', '-f', 'specs']);
    assert.equal(result.exitCode, 0, result.stderr);
    const lines = result.stdout.trimEnd().split('\n').filter((l) => !l.startsWith('    '));
    assert.deepEqual(lines.slice(0, 3), ['+ api (create)', '+ web (create)', '2 create, 0 update, 0 delete, 0 unchanged']);
    assert.ok(lines.includes('api: running') && lines.includes('web: running'), result.stdout);
    assert.deepEqual(h.api.store.services.list().map((r) => [r.name, r.source]), [['api', `file:${specs}`], ['web', `file:${specs}`]]);
  });

  test('diff with nothing to change: exit 0', async () => {
    assert.deepEqual(await h.run(['diff', '-f', 'specs']), { exitCode: 0, stdout: 'no changes (2 unchanged)\n', stderr: '' });
  });

  test('diff of an update: each changed field, env values masked; exit 1', async () => {
    writeFileSync(join(specs, 'web.yaml'), webSpec('nginx:2', 'b'));
    assert.deepEqual(await h.run(['diff', '-f', 'specs']), {
      exitCode: 1, stderr: '',
      stdout: '~ web (update)\n    env.MODE: (hidden) → (hidden)\n    image: nginx:1 → nginx:2\n0 to create, 1 to update, 0 to delete, 1 unchanged\n',
    });
    const json = JSON.parse((await h.run(['diff', '-f', 'specs', '--json'])).stdout);
    assert.deepEqual([json.dryRun, json.changed], [true, ['web']]);
  });

  test('apply --dry-run writes nothing; apply --json --no-wait prints the plan as JSON', async () => {
    const dry = await h.run(['apply', '-f', 'specs', '--dry-run']);
    assert.deepEqual([dry.exitCode, dry.stdout.split('\n').at(-2)], [0, '0 to create, 1 to update, 0 to delete, 1 unchanged']);
    assert.equal(h.api.store.services.get('web')!.spec.image, 'nginx:1');
    const applied = await h.run(['apply', '-f', 'specs', '--json', '--no-wait']);
    const plan = JSON.parse(applied.stdout);
    assert.deepEqual([applied.exitCode, plan.dryRun, plan.changed, plan.entries.map((e: { op: string }) => e.op)], [0, false, ['web'], ['unchanged', 'update']]);
    assert.equal(h.api.store.services.get('web')!.spec.image, 'nginx:2');
  });

  test('apply --prune deletes what the source no longer holds and waits until it is gone', async () => {
    rmSync(join(specs, 'api.yaml'));
    const result = await h.run(['apply', '-f', 'specs', '--prune']);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.ok(result.stdout.startsWith('- api (delete)\n0 create, 0 update, 1 delete, 1 unchanged\n'), result.stdout);
    assert.ok(result.stdout.endsWith('api: deleted\n'), result.stdout);
    assert.equal(h.api.store.services.get('api'), null);
  });

  test('a service owned by another source is not taken over: exit 1 with the conflict', async () => {
    assert.equal((await h.run(['deploy', '--name', 'api', '--image', 'api:9', '--no-wait'])).exitCode, 0);
    writeFileSync(join(specs, 'api.yaml'), apiSpec);
    assert.deepEqual(await h.run(['apply', '-f', 'specs']), {
      exitCode: 1, stdout: '',
      stderr: 'forge apply: E_CONFLICT: these services belong to another source and were not changed: api (owned by api); delete them there first, or apply from that source\n',
    });
    const diff = await h.run(['diff', '-f', 'specs']);
    assert.equal(diff.exitCode, 2, 'diff errors are exit 2: 1 means differences');
    assert.match(diff.stderr, /^forge diff: E_CONFLICT: /);
  });

  test('--source names the owner; a provider that is not configured is named with its fix', async () => {
    writeFileSync(join(h.home, 'cloud.yaml'), 'name: remote\nprovider: cloud\nimage: x:1\n');
    assert.deepEqual(await h.run(['apply', '-f', 'cloud.yaml', '--source', 'ci:remote']), {
      exitCode: 1, stdout: '',
      stderr: 'forge apply: E_COMPUTE_NOT_CONFIGURED: provider cloud is not configured on this control plane: PROJECT_ID and CLOUD_API_HOST are not set; next step: set PROJECT_ID and CLOUD_API_HOST where `forge server` runs, then restart it\n',
    });
    writeFileSync(join(h.home, 'solo.yaml'), 'name: solo\nimage: solo:1\n');
    assert.equal((await h.run(['apply', '-f', 'solo.yaml', '--source', 'ci:solo', '--no-wait'])).exitCode, 0);
    assert.equal(h.api.store.services.get('solo')!.source, 'ci:solo');
  });
});
