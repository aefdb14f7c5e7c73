// Numbered schema migrations. Entry i is version i+1. Never edit an entry that has shipped:
// append a new one. Each runs once, in order, inside the start-up transaction (see db.ts).
//
// Deletion policy: a service's status and secrets belong to the live row and go with it
// (ON DELETE CASCADE on services.name). Events, releases, tasks, deployments and the audit log
// are history: they are keyed by service name with no foreign key, so they outlive the row.
// Events also carry the row's id (migration 4): listed by name, only the live row's show.

export const MIGRATIONS: readonly string[] = [
  // 1: desired services and what hangs off them.
  `
  CREATE TABLE services (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    spec        TEXT NOT NULL,
    hash        TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    source      TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('running', 'stopped')),
    deleting    INTEGER NOT NULL DEFAULT 0 CHECK (deleting IN (0, 1)),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  );
  CREATE INDEX services_by_source ON services (source);
  -- Covering index for summaries(): the resync pass reads these columns for every service
  -- straight from the index, in name order, never touching the pages that hold spec JSON.
  CREATE INDEX services_summary ON services (name, hash, generation, state, deleting);

  CREATE TABLE status (
    name                TEXT PRIMARY KEY REFERENCES services (name) ON DELETE CASCADE,
    phase               TEXT NOT NULL,
    observed_generation INTEGER NOT NULL,
    conditions          TEXT NOT NULL,
    url                 TEXT,
    last_error          TEXT,
    lifecycle           TEXT,
    updated_at          TEXT NOT NULL
  );
  CREATE INDEX status_summary ON status (name, phase, observed_generation);

  CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    name    TEXT NOT NULL,
    time    TEXT NOT NULL,
    type    TEXT NOT NULL CHECK (type IN ('Normal', 'Warning')),
    reason  TEXT NOT NULL,
    message TEXT NOT NULL
  );
  CREATE INDEX events_by_name ON events (name, id);

  CREATE TABLE releases (
    name       TEXT NOT NULL,
    generation INTEGER NOT NULL,
    hash       TEXT NOT NULL,
    spec       TEXT NOT NULL,
    revision   TEXT,
    created_at TEXT NOT NULL,
    outcome    TEXT NOT NULL DEFAULT 'pending' CHECK (outcome IN ('pending', 'succeeded', 'failed')),
    reason     TEXT,
    PRIMARY KEY (name, generation)
  );
  CREATE INDEX releases_by_hash ON releases (name, hash);

  CREATE TABLE secrets (
    name       TEXT NOT NULL REFERENCES services (name) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (name, key)
  );
  `,

  // 2: worker agents and the tasks they claim.
  `
  CREATE TABLE agents (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    addresses    TEXT NOT NULL,
    labels       TEXT NOT NULL,
    cpus         REAL NOT NULL,
    memory_bytes INTEGER NOT NULL,
    usage        TEXT,
    instances    TEXT NOT NULL DEFAULT '[]',
    online       INTEGER NOT NULL DEFAULT 0 CHECK (online IN (0, 1)),
    last_seen_ms INTEGER,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
  );

  CREATE TABLE tasks (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('build', 'run', 'stop')),
    service_name     TEXT NOT NULL,
    generation       INTEGER NOT NULL,
    replica          INTEGER NOT NULL,
    agent_id         TEXT,
    dedupe_key       TEXT,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled')),
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    result           TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
  );
  CREATE INDEX tasks_claimable ON tasks (agent_id, state, seq);
  CREATE INDEX tasks_by_lease ON tasks (state, lease_expires_at);
  CREATE INDEX tasks_by_service ON tasks (service_name, seq);
  CREATE INDEX tasks_active_dedupe ON tasks (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'claimed', 'running');

  CREATE TABLE task_logs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    time    TEXT NOT NULL,
    line    TEXT NOT NULL
  );
  CREATE INDEX task_logs_by_task ON task_logs (task_id, seq);
  `,

  // 3: audit trail, webhook deployments, API keys.
  `
  CREATE TABLE audit (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    details TEXT
  );

  CREATE TABLE deployments (
    id          TEXT PRIMARY KEY,
    delivery_id TEXT NOT NULL UNIQUE,
    repo        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    sha         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'building', 'deploying', 'running', 'failed')),
    message     TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
  );
  CREATE INDEX deployments_by_time ON deployments (created_at);

  CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
  );
  `,

  // 4: events belong to one incarnation of a service, not to its name: a service created
  // again under a deleted one's name must not show the old one's history. Existing events
  // go to the live row of their name; those of names with no row match no service.
  `
  ALTER TABLE events ADD COLUMN service_id TEXT;
  UPDATE events SET service_id = (SELECT id FROM services WHERE services.name = events.name);
  `,

  // 5: which webhook deployment of a branch last had its specs applied (a webhook never moves it back).
  `
  ALTER TABLE deployments ADD COLUMN applied_at TEXT;
  CREATE INDEX deployments_applied_by_branch ON deployments (repo, branch, applied_at) WHERE applied_at IS NOT NULL;
  `,

  // 6: revoked agents stay as tombstones, so their id can never be registered again.
  `
  ALTER TABLE agents ADD COLUMN revoked_at TEXT;
  `,

  // 7: the language runtimes each agent found at start (scheduling by a spec's `runtime`).
  `
  ALTER TABLE agents ADD COLUMN runtimes TEXT NOT NULL DEFAULT '[]';
  `,

  // 8: app and build output shipped by agents (store/logs.ts). One "source" is one instance's
  // app output or one build's output; each keeps a bounded window, pruned on write.
  `
  CREATE TABLE log_lines (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    service  TEXT NOT NULL,
    instance TEXT NOT NULL,
    build    TEXT,
    source   TEXT NOT NULL,
    stream   TEXT NOT NULL CHECK (stream IN ('stdout', 'stderr')),
    time_ms  INTEGER NOT NULL,
    line     TEXT NOT NULL
  );
  CREATE INDEX log_lines_by_service ON log_lines (service, seq);
  CREATE INDEX log_lines_by_source ON log_lines (source, seq);
  `,

  // 9 (release commands): one row per release command run, keyed by the service incarnation and the
  // release's generation. The row is written as 'started' BEFORE the command is started, so
  // a row still 'started' after a crash means "may have run" and is never run again on its own.
  `
  CREATE TABLE release_commands (
    service_id  TEXT NOT NULL,
    service     TEXT NOT NULL,
    generation  INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('started', 'succeeded', 'failed', 'unknown')),
    run_ref     TEXT,
    exit_code   INTEGER,
    last_lines  TEXT NOT NULL DEFAULT '[]',
    reason      TEXT,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    PRIMARY KEY (service_id, generation)
  );
  `,

  // 10 (cron jobs, store/jobs.ts): per job the newest tick already handled (its cursor, written
  // before any run of that tick starts), and one row per run or skipped tick. UNIQUE (service,
  // job, scheduled_ms) is what makes a tick impossible to start twice.
  `
  CREATE TABLE job_cursors (
    service    TEXT NOT NULL,
    job        TEXT NOT NULL,
    cursor_ms  INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (service, job)
  );
  CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    service      TEXT NOT NULL,
    job          TEXT NOT NULL,
    scheduled_ms INTEGER NOT NULL,
    trigger      TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    state        TEXT NOT NULL CHECK (state IN ('pending', 'running', 'succeeded', 'failed', 'skipped', 'lost', 'cancelled')),
    reason       TEXT,
    task_id      TEXT,
    started_ms   INTEGER,
    ended_ms     INTEGER,
    exit_code    INTEGER,
    log_instance TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (service, job, scheduled_ms)
  );
  CREATE INDEX job_runs_by_job ON job_runs (service, job, scheduled_ms);
  CREATE INDEX job_runs_active ON job_runs (state) WHERE state IN ('pending', 'running');

  -- A 'job' task kind (one cron run on an agent). SQLite cannot change a CHECK in place, so
  -- tasks is rebuilt. task_logs goes first and comes back after (keeping its rows): dropping
  -- tasks while task_logs still references it would cascade-delete every log line.
  CREATE TABLE tasks_v10 (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL CHECK (kind IN ('build', 'run', 'stop', 'job')),
    service_name     TEXT NOT NULL,
    generation       INTEGER NOT NULL,
    replica          INTEGER NOT NULL,
    agent_id         TEXT,
    dedupe_key       TEXT,
    payload          TEXT NOT NULL,
    state            TEXT NOT NULL
                     CHECK (state IN ('queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled')),
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    attempts         INTEGER NOT NULL DEFAULT 0,
    result           TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
  );
  INSERT INTO tasks_v10 SELECT seq, id, kind, service_name, generation, replica, agent_id, dedupe_key, payload, state,
    lease_owner, lease_expires_at, attempts, result, created_at, updated_at FROM tasks;
  CREATE TABLE task_logs_v10_copy AS SELECT seq, task_id, time, line FROM task_logs;
  DROP TABLE task_logs;
  DROP TABLE tasks;
  ALTER TABLE tasks_v10 RENAME TO tasks;
  CREATE INDEX tasks_claimable ON tasks (agent_id, state, seq);
  CREATE INDEX tasks_by_lease ON tasks (state, lease_expires_at);
  CREATE INDEX tasks_by_service ON tasks (service_name, seq);
  CREATE INDEX tasks_active_dedupe ON tasks (dedupe_key)
    WHERE dedupe_key IS NOT NULL AND state IN ('queued', 'claimed', 'running');
  CREATE TABLE task_logs (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    time    TEXT NOT NULL,
    line    TEXT NOT NULL
  );
  INSERT INTO task_logs (seq, task_id, time, line) SELECT seq, task_id, time, line FROM task_logs_v10_copy ORDER BY seq;
  DROP TABLE task_logs_v10_copy;
  CREATE INDEX task_logs_by_task ON task_logs (task_id, seq);
  `,
  // 11: credentials for image registries, per registry host (store/registries.ts): the password
  // only as the API cipher's ciphertext, like secrets; handed to an agent with an image task.
  `
  CREATE TABLE registry_credentials (
    host       TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    ciphertext BLOB NOT NULL,
    key_id     TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
];
