// Pure pieces of the runner: health streaks and reasons, the child env, the port pool's bookkeeping.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { HealthSpec } from '../../specs/types.ts';
import { buildEnv, FALLBACK_PATH } from '../../agent/runner/env.ts';
import {
  INITIAL_HEALTH,
  nextHealthState,
  startupRetryDelayMs,
  timesWord,
  unhealthyReason,
  type ProbeResult,
} from '../../agent/runner/health-policy.ts';
import { createPortPool, DEFAULT_PORT_RANGE, ephemeralOverlapWarning, parseEphemeralRange } from '../../agent/runner/ports.ts';

const HTTP: HealthSpec = { type: 'http', path: '/health', intervalMs: 10_000, timeoutMs: 3_000, retries: 3 };
const fail = (failure: string): ProbeResult => ({ ok: false, failure });

describe('health streaks', () => {
  test('three failures in a row flip to unhealthy; a success resets', () => {
    let s = INITIAL_HEALTH;
    s = nextHealthState(s, fail('returned 503'), 3);
    assert.deepEqual(s, { status: 'healthy', failures: ['returned 503'] });
    s = nextHealthState(s, fail('returned 503'), 3);
    assert.equal(s.status, 'healthy');
    s = nextHealthState(s, fail('returned 503'), 3);
    assert.deepEqual(s, { status: 'unhealthy', failures: ['returned 503', 'returned 503', 'returned 503'] });
    s = nextHealthState(s, fail('returned 500'), 3);
    assert.deepEqual(s, { status: 'unhealthy', failures: ['returned 503', 'returned 503', 'returned 500'] });
    s = nextHealthState(s, { ok: true }, 3);
    assert.deepEqual(s, { status: 'healthy', failures: [] });
  });

  test('property: unhealthy exactly when the last `retries` probes all failed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(fc.boolean(), { maxLength: 30 }), (retries, oks) => {
        let s = INITIAL_HEALTH;
        for (const ok of oks) s = nextHealthState(s, ok ? { ok: true } : fail('x'), retries);
        const lastOk = oks.lastIndexOf(true);
        const streak = oks.length - 1 - lastOk;
        assert.equal(s.status, streak >= retries ? 'unhealthy' : 'healthy');
        assert.equal(s.failures.length, Math.min(streak, retries));
      }),
    );
  });

  test('reasons', () => {
    assert.equal(unhealthyReason(HTTP, ['returned 503', 'returned 503', 'returned 503']), 'health check /health returned 503 three times');
    assert.equal(
      unhealthyReason(HTTP, ['returned 503', 'timed out after 3000 ms']),
      'health check /health failed twice in a row (last: timed out after 3000 ms)',
    );
    assert.equal(unhealthyReason({ ...HTTP, type: 'tcp' }, ['refused connections']), 'tcp health check refused connections once');
    assert.deepEqual([1, 2, 3, 4].map(timesWord), ['once', 'twice', 'three times', '4 times']);
  });

  test('start-up retries wait the interval, capped at a second', () => {
    assert.equal(startupRetryDelayMs(HTTP), 1_000);
    assert.equal(startupRetryDelayMs({ ...HTTP, intervalMs: 200 }), 200);
  });
});

describe('buildEnv', () => {
  test('inherits nothing but PATH; secrets beat env; PORT beats both', () => {
    assert.deepEqual(
      buildEnv({
        hostPath: '/usr/bin',
        home: '/srv/app',
        env: { GREETING: 'hi', TOKEN: 'plain', PORT: '1' },
        secrets: { TOKEN: 's3cret' },
        port: 20001,
      }),
      { PATH: '/usr/bin', HOME: '/srv/app', LANG: 'C.UTF-8', GREETING: 'hi', TOKEN: 's3cret', PORT: '20001' },
    );
  });
  test('no host PATH: a standard one', () => {
    assert.equal(buildEnv({ hostPath: undefined, home: '/', env: {} }).PATH, FALLBACK_PATH);
  });
});

describe('port pool bookkeeping', () => {
  test('round-robin over free ports, skipping busy and taken ones, until exhausted', async () => {
    const busy = new Set([20_001]);
    const pool = createPortPool({ from: 20_000, to: 20_003, isFree: async (p) => !busy.has(p) });
    assert.equal(await pool.allocate(), 20_000);
    assert.equal(await pool.allocate(), 20_002);
    pool.release(20_000);
    // The cursor moves on: a just-released port is not reused at once.
    assert.equal(await pool.allocate(), 20_003);
    assert.equal(await pool.allocate(), 20_000);
    await assert.rejects(pool.allocate(), { code: 'E_UNSCHEDULABLE', message: 'no free port in 20000-20003 on 127.0.0.1' });
    assert.deepEqual(pool.inUse(), [20_000, 20_002, 20_003]);
  });

  test('concurrent allocations never hand out the same port', async () => {
    const pool = createPortPool({ from: 30_000, to: 30_009, isFree: () => new Promise((r) => setTimeout(() => r(true), 5)) });
    const ports = await Promise.all(Array.from({ length: 10 }, () => pool.allocate()));
    assert.equal(new Set(ports).size, 10);
  });

  test('reserve marks a port taken; out-of-range or taken ports are refused', async () => {
    const pool = createPortPool({ from: 20_000, to: 20_001, isFree: async () => true });
    assert.equal(pool.reserve(20_000), true);
    assert.equal(pool.reserve(20_000), false);
    assert.equal(pool.reserve(19_999), false);
    assert.equal(await pool.allocate(), 20_001);
  });

  test('an inverted range is a usage error', () => {
    assert.throws(() => createPortPool({ from: 5, to: 4 }), { code: 'E_USAGE' });
  });
});

describe('port range and the kernel\'s ephemeral ports', () => {
  test('parseEphemeralRange reads /proc/sys/net/ipv4/ip_local_port_range', () => {
    assert.deepEqual(parseEphemeralRange('32768\t60999\n'), { from: 32_768, to: 60_999 });
    assert.equal(parseEphemeralRange('garbage'), null);
  });

  test('the default range is clear of Linux\'s default ephemeral ports; an overlap is named', () => {
    const linux = { from: 32_768, to: 60_999 };
    assert.equal(ephemeralOverlapWarning(DEFAULT_PORT_RANGE, linux), null);
    const table: Array<[{ from: number; to: number }, string | null]> = [
      [{ from: 20_000, to: 32_767 }, null],
      [{ from: 61_000, to: 61_999 }, null],
      [{ from: 20_000, to: 39_999 }, '32768-39999'],
      [{ from: 60_000, to: 61_000 }, '60000-60999'],
      [{ from: 40_000, to: 40_099 }, '40000-40099'],
    ];
    for (const [range, shared] of table) {
      const warning = ephemeralOverlapWarning(range, linux);
      if (shared === null) assert.equal(warning, null, `${range.from}-${range.to}`);
      else assert.match(warning ?? '', new RegExp(`shares ${shared} with the kernel's ephemeral ports`), `${range.from}-${range.to}`);
    }
    assert.equal(ephemeralOverlapWarning({ from: 20_000, to: 39_999 }, null), null, 'unknown ephemeral range: nothing to say');
  });
});
