import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_TABLE, ForgeError, isSpecCaused, type ErrorCode } from '../../errors/index.ts';
import { statusForCode } from '../../api/errors.ts';

test('a ForgeError takes its status, terminality and cause from its code', () => {
  for (const code of Object.keys(ERROR_TABLE) as ErrorCode[]) {
    const error = new ForgeError(code, 'x');
    assert.deepEqual([error.httpStatus, error.terminal, error.specCaused], [ERROR_TABLE[code].http, ERROR_TABLE[code].terminal, ERROR_TABLE[code].specCaused], code);
    assert.equal(statusForCode(code), ERROR_TABLE[code].http, `the API answers ${code} from the table`);
  }
});

test('terminal can be overridden per error; the code still says whether the spec caused it', () => {
  const build = new ForgeError('E_BUILD_FAILED', 'npm ci exited 1', { terminal: true });
  assert.deepEqual([build.terminal, build.specCaused], [true, true]);
  assert.equal(new ForgeError('E_SPEC_INVALID', 'x', { terminal: false }).terminal, false);
});

test('the spec-caused codes: a region change, an invalid spec, a failing build or health check, an image that does not exist', () => {
  const caused = (Object.keys(ERROR_TABLE) as ErrorCode[]).filter((c) => isSpecCaused(c)).sort();
  assert.deepEqual(caused, ['E_BUILD_FAILED', 'E_HEALTH_FAILED', 'E_IMAGE_NOT_FOUND', 'E_REGION_IMMUTABLE', 'E_SPEC_INVALID']);
  assert.equal(isSpecCaused(undefined), false);
  assert.equal(isSpecCaused('toString'), false, 'only the table\'s own codes');
  assert.equal(ERROR_TABLE.E_REGION_IMMUTABLE.terminal, true);
  assert.equal(ERROR_TABLE.E_SPEC_INVALID.terminal, true);
});
