// The example alert for a cron job that has not succeeded within its expected window, run
// through `promtool test rules` against series shaped like Forge's job metrics.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ALERT_RULES_FILE } from '../api/alerts-path.ts';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0 ? false : 'promtool is not installed (scripts/setup.sh installs it)';

test('ForgeJobNotSucceeding fires for an hourly job 2 h 10 min + 5 min after its last success, not before, and never for a job that never succeeded', { skip: hasPromtool }, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'forge-alert-'));
  try {
    const file = path.join(dir, 'jobs.test.yml');
    // Minute samples from t=0: the hourly job last succeeded at t=60 s (epoch 60); the new one never did.
    writeFileSync(file, `rule_files: ["${ALERT_RULES_FILE}"]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'forge_job_last_success_timestamp_seconds{instance="cp",job="web/hourly"}'
        values: '60+0x240'
      - series: 'forge_job_interval_seconds{instance="cp",job="web/hourly"}'
        values: '3600+0x240'
      - series: 'forge_job_last_success_timestamp_seconds{instance="cp",job="web/new"}'
        values: '0+0x240'
      - series: 'forge_job_interval_seconds{instance="cp",job="web/new"}'
        values: '60+0x240'
    alert_rule_test:
      - eval_time: 2h10m
        alertname: ForgeJobNotSucceeding
        exp_alerts: []
      - eval_time: 2h20m
        alertname: ForgeJobNotSucceeding
        exp_alerts:
          - exp_labels: { severity: warning, instance: cp, job: web/hourly }
            exp_annotations:
              summary: Cron job web/hourly has not succeeded within its expected window
              description: "web/hourly on cp last succeeded 2h 19m 0s ago, more than twice its schedule's interval. \`forge jobs runs web/hourly\` shows its runs and why they failed or were skipped."
`);
    const out = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
    assert.equal(out.status, 0, `${out.stdout}\n${out.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
