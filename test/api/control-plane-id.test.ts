import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONTROL_PLANE_ID_FILE, controlPlaneId } from '../../api/control-plane-id.ts';

test('the control-plane id is made once in the data dir and never changes; a damaged file is an error, not a new id', () => {
  const dir = mkdtempSync(join(tmpdir(), 'forge-cpid-'));
  try {
    const data = join(dir, 'data');
    const first = controlPlaneId(data);
    assert.match(first, /^cp_[0-9a-f]{16}$/);
    assert.equal(controlPlaneId(data), first);
    assert.equal(readFileSync(join(data, CONTROL_PLANE_ID_FILE), 'utf8'), `${first}\n`);
    assert.equal(statSync(join(data, CONTROL_PLANE_ID_FILE)).mode & 0o777, 0o600);
    writeFileSync(join(data, CONTROL_PLANE_ID_FILE), 'garbage\n');
    assert.throws(() => controlPlaneId(data), (e: unknown) => (e as { code?: string }).code === 'E_USAGE');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
