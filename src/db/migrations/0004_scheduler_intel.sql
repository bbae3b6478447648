-- Scheduled jobs' runs, threat-intel feeds and the items they brought.

CREATE TABLE job_runs (
    id           TEXT PRIMARY KEY,
    job_id       TEXT NOT NULL,                     -- 'mitre_sync', 'intel_scan'
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    outcome      TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'failed')),
    message      TEXT NOT NULL DEFAULT '',
    triggered_by TEXT NOT NULL                      -- a username or 'scheduler'
) STRICT;

CREATE INDEX job_runs_by_job ON job_runs (job_id, started_at);

CREATE TABLE intel_feeds (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL UNIQUE,           -- http(s) URL or a file path
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    last_fetched_at TEXT,
    last_status     TEXT CHECK (last_status IN ('ok', 'error')),
    last_error      TEXT
) STRICT;

CREATE TABLE intel_items (
    id            TEXT PRIMARY KEY,
    feed_id       TEXT NOT NULL REFERENCES intel_feeds (id) ON DELETE CASCADE,
    guid          TEXT NOT NULL,                    -- the entry's id, or its link
    title         TEXT NOT NULL,
    link          TEXT,
    published     TEXT,
    summary       TEXT NOT NULL DEFAULT '',
    technique_ids TEXT NOT NULL DEFAULT '[]',       -- every ATT&CK id the item names, known or not
    fetched_at    TEXT NOT NULL,
    UNIQUE (feed_id, guid)
) STRICT;

CREATE INDEX intel_items_by_fetched ON intel_items (fetched_at);

CREATE TABLE intel_item_techniques (
    item_id      TEXT NOT NULL REFERENCES intel_items (id) ON DELETE CASCADE,
    technique_id TEXT NOT NULL REFERENCES techniques (id),
    PRIMARY KEY (item_id, technique_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX intel_item_techniques_by_technique ON intel_item_techniques (technique_id, item_id);

-- Small facts about this installation, e.g. that the feeds were seeded once.
CREATE TABLE app_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
