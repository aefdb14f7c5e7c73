// FORGE_LOG_LEVEL (issue 17.5): request logs at warn in production and info in
// development by default; request lines carry method, path and status, never a
// key, a query string or a body.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { logLevel } from '../../api/log-level.ts';
import { apiHarness } from './helpers.ts';

test('defaults by mode, an explicit level, and a clear error for a typo', () => {
  assert.equal(logLevel({}, 'production'), 'warn');
  assert.equal(logLevel({}, 'development'), 'info');
  assert.equal(logLevel({ FORGE_LOG_LEVEL: 'DEBUG' }, 'production'), 'debug');
  assert.equal(logLevel({ FORGE_LOG_LEVEL: ' ' }, 'production'), 'warn');
  assert.throws(() => logLevel({ FORGE_LOG_LEVEL: 'verbose' }, 'development'), {
    code: 'E_USAGE', message: 'FORGE_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"',
  });
});

for (const [mode, lines] of [['production', 0], ['development', 2]] as const) {
  test(`${mode}: ${lines} request log lines per request, none holding a key, query or body`, async () => {
    const logs: string[] = [];
    const h = await apiHarness({ logger: { level: logLevel({}, mode), stream: { write: (line: string) => void logs.push(line) } } });
    try {
      const reply = await h.app.inject({
        method: 'POST', url: '/api/compute/services?token=query-canary', headers: h.auth(),
        payload: { name: 'web', image: 'nginx:1', envVars: { SECRET: 'body-canary' } },
      });
      assert.equal(reply.statusCode, 201, reply.body);
      const requestLines = logs.filter((l) => /"(req|res)":/.test(l));
      assert.equal(requestLines.length, lines, logs.join(''));
      const text = logs.join('');
      for (const canary of ['query-canary', 'body-canary', h.key]) assert.ok(!text.includes(canary), `${canary} in the log`);
      if (lines > 0) assert.match(text, /"req":\{"method":"POST","path":"\/api\/compute\/services","id":"\w+"\}/);
    } finally {
      await h.close();
    }
  });
}
