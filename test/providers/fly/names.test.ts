import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FLY_APP_NAME_MAX, flyAppName, flyAppUrl, flyImageRef } from '../../../providers/fly/names.ts';

describe('flyAppName', () => {
  const table: [string, string, string][] = [
    ['web', 'p1', 'web-p1'],
    ['API_Server', 'Proj', 'api-server-proj'],
    ['a--b', 'x', 'a-b-x'],
    ['x'.repeat(40), 'y'.repeat(30), `${'x'.repeat(40)}-${'y'.repeat(13)}-8eff381d`],
  ];
  for (const [name, project, expected] of table) {
    it(`${name} + ${project} → ${expected}`, () => assert.equal(flyAppName(name, project), expected));
  }

  it('always yields a DNS label within the limit, deterministically, and distinct for distinct long inputs', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9-]{0,80}$/), fc.stringMatching(/^[a-z0-9]{1,40}$/), (name, project) => {
        const app = flyAppName(name, project);
        assert.ok(app.length <= FLY_APP_NAME_MAX);
        assert.match(app, /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
        assert.equal(flyAppName(name, project), app);
      }),
    );
    const long = 'a'.repeat(70);
    assert.notEqual(flyAppName(`${long}1`, 'p'), flyAppName(`${long}2`, 'p'));
  });

  it('derives the URL and the image reference from the app name', () => {
    assert.equal(flyAppUrl('web-p1'), 'https://web-p1.fly.dev');
    assert.equal(flyImageRef('web-p1', 'deploy-42'), 'registry.fly.io/web-p1:deploy-42');
  });
});
