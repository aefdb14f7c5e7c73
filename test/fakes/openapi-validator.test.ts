import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createContractValidator, toJsonSchema } from './openapi-validator.ts';

const v = createContractValidator();
const none = new URLSearchParams();

describe('toJsonSchema', () => {
  it('turns nullable into a type union, drops examples and vendor keys, and makes component refs absolute', () => {
    assert.deepEqual(
      toJsonSchema({ type: 'integer', nullable: true, example: 3, 'x-go-name': 'N', properties: { example: { $ref: '#/components/schemas/X' } } }),
      { type: ['integer', 'null'], properties: { example: { $ref: 'contract#/components/schemas/X' } } },
    );
  });
});

describe('contract validator', () => {
  it('matches paths to templates, literal segments first', () => {
    assert.equal(v.match('GET', '/v1/apps/web/secrets')?.template, '/v1/apps/{app_name}/secrets');
    assert.equal(v.match('GET', '/v1/apps/web/machines/abc/wait')?.template, '/v1/apps/{app_name}/machines/{machine_id}/wait');
    assert.equal(v.match('PUT', '/v1/apps/web'), undefined);
  });

  it('accepts a valid request and reports each problem of a bad one', () => {
    assert.deepEqual(v.validateRequest('POST', '/v1/apps', none, { name: 'web', org_slug: 'o', idempotency_key: 'k' }), []);
    assert.deepEqual(v.validateRequest('POST', '/v1/apps', new URLSearchParams('x=1'), { name: 3 }), [
      'POST /v1/apps: query x is not in the contract',
      'POST /v1/apps request body/name must be string',
    ]);
    assert.deepEqual(v.validateRequest('POST', '/v1/apps', none, undefined), ['POST /v1/apps: request body is required']);
    assert.deepEqual(v.validateRequest('GET', '/v1/nope', none, undefined), ['GET /v1/nope: no such operation in the contract']);
  });

  it('checks typed query params, including templated metadata filters', () => {
    const path = '/v1/apps/web/machines';
    assert.deepEqual(v.validateRequest('GET', path, new URLSearchParams('metadata.forge_key=web&limit=5&include_deleted=true'), undefined), []);
    assert.deepEqual(v.validateRequest('GET', path, new URLSearchParams('limit=many&include_deleted=yes'), undefined), [
      'GET /v1/apps/{app_name}/machines: query limit=many is not an integer',
      'GET /v1/apps/{app_name}/machines: query include_deleted=yes is not a boolean',
    ]);
    assert.deepEqual(v.validateRequest('GET', '/v1/apps/web/machines/m/wait', new URLSearchParams('state=running'), undefined), [
      'GET /v1/apps/{app_name}/machines/{machine_id}/wait: query state=running: running is not one of started, stopped, suspended, destroyed, failed, settled',
    ]);
  });

  it('validates responses for the status returned, undocumented errors against ErrorResponse', () => {
    const path = '/v1/apps/web/machines/m1';
    assert.deepEqual(v.validateResponse('GET', path, 200, { id: 'm1', state: 'started', config: { services: [{ autostop: 'off' }] } }), []);
    assert.deepEqual(v.validateResponse('GET', path, 200, { id: 'm1', config: { services: [{ autostop: true }] } }), [
      'GET /v1/apps/{app_name}/machines/{machine_id} 200 response/config/services/0/autostop must be string',
      'GET /v1/apps/{app_name}/machines/{machine_id} 200 response/config/services/0/autostop must be equal to one of the allowed values',
    ]);
    assert.deepEqual(v.validateResponse('DELETE', path, 412, { error: 'not stopped' }), []);
    assert.deepEqual(v.validateResponse('DELETE', path, 200, undefined), []);
    assert.deepEqual(v.validateResponse('DELETE', path, 200, { ok: true }), ['DELETE /v1/apps/{app_name}/machines/{machine_id} 200: the contract declares no response body']);
    assert.deepEqual(v.validateResponse('DELETE', path, 204, undefined), ['DELETE /v1/apps/{app_name}/machines/{machine_id}: status 204 is not in the contract']);
  });
});
