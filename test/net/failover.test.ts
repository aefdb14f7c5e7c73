// The failover decision of the agent's protocol client and the CLI (net/failover.ts):
// which replica URL comes next given how an attempt ended, and whether the request
// is sent again. Tables only: the clients' I/O is tested in test/agent-protocol and test/cli.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failoverStep, neverSent, splitServerList, type AttemptOutcome } from '../../net/failover.ts';

test('failoverStep: sticky on a replica that answers, round-robin past one that does not, each URL once per request', () => {
  // [count, current, outcome, attempts, idempotent] → { next, retry }
  const cases: Array<[number, number, AttemptOutcome, number, boolean, { next: number; retry: boolean }]> = [
    // A reply below 500 (a 4xx too): stay, do not retry.
    [3, 1, 'answered', 1, true, { next: 1, retry: false }],
    [3, 1, 'answered', 1, false, { next: 1, retry: false }],
    // Never sent: any request moves on, idempotent or not.
    [3, 0, 'not-sent', 1, false, { next: 1, retry: true }],
    [3, 0, 'not-sent', 1, true, { next: 1, retry: true }],
    // Round-robin wraps at the end of the list.
    [3, 2, 'not-sent', 1, true, { next: 0, retry: true }],
    // A server may have seen it: only an idempotent request is repeated; the next request still goes elsewhere.
    [3, 0, 'no-reply', 1, true, { next: 1, retry: true }],
    [3, 0, 'no-reply', 1, false, { next: 1, retry: false }],
    [3, 0, 'server-error', 1, true, { next: 1, retry: true }],
    [3, 0, 'server-error', 1, false, { next: 1, retry: false }],
    // Every URL tried once: stop, so a control plane down everywhere fails fast.
    [3, 1, 'not-sent', 3, true, { next: 2, retry: false }],
    [2, 1, 'server-error', 2, true, { next: 0, retry: false }],
    // One URL: nothing to fail over to.
    [1, 0, 'not-sent', 1, true, { next: 0, retry: false }],
    [1, 0, 'server-error', 1, true, { next: 0, retry: false }],
  ];
  for (const [count, current, outcome, attempts, idempotent, expected] of cases) {
    assert.deepEqual(failoverStep(count, current, outcome, attempts, idempotent), expected, JSON.stringify({ count, current, outcome, attempts, idempotent }));
  }
});

test('splitServerList: comma-separated base URLs, trailing slashes, blanks and repeats dropped', () => {
  const cases: Array<[string, string[]]> = [
    ['http://a:8080', ['http://a:8080']],
    ['http://a:8080/', ['http://a:8080']],
    ['http://a:8080, http://b:8080/ ,http://c:8080', ['http://a:8080', 'http://b:8080', 'http://c:8080']],
    ['http://a,,http://b,', ['http://a', 'http://b']],
    ['http://a,http://a/', ['http://a']],
    [' , ', []],
  ];
  for (const [text, expected] of cases) assert.deepEqual(splitServerList(text), expected, text);
});

test('neverSent: only errors of a connection that was never made', () => {
  const cases: Array<[unknown, boolean]> = [
    [Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }), true],
    [new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), true],
    [new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_CONNECT_TIMEOUT' }) }), true],
    [Object.assign(new Error('dns'), { code: 'ENOTFOUND' }), true],
    [Object.assign(new Error('reset'), { code: 'ECONNRESET' }), false],
    [new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }), false],
    [new DOMException('timed out', 'TimeoutError'), false],
    [undefined, false],
  ];
  for (const [error, expected] of cases) assert.equal(neverSent(error), expected, String((error as Error | undefined)?.message));
});
