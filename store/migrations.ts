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

  // 9: credentials for image registries, per registry host (store/registries.ts): the password
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
