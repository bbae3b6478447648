-- The ATT&CK catalogue: tactics in matrix order, techniques with their coverage status,
-- review flags, and the record of every sync.

CREATE TABLE tactics (
    shortname TEXT PRIMARY KEY,                     -- kill-chain phase name, e.g. 'execution'
    mitre_id  TEXT NOT NULL,                        -- 'TA0002'
    name      TEXT NOT NULL,
    position  INTEGER NOT NULL                      -- column in the ATT&CK matrix
) STRICT;

CREATE TABLE techniques (
    id                TEXT PRIMARY KEY,             -- UUID v4
    mitre_id          TEXT NOT NULL UNIQUE,         -- 'T1059' or 'T1059.001'
    stix_id           TEXT,                         -- NULL for techniques created by hand
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    platforms         TEXT NOT NULL DEFAULT '[]',   -- JSON array of lowercase platform names
    is_subtechnique   INTEGER NOT NULL DEFAULT 0,
    parent_mitre_id   TEXT,
    url               TEXT,
    stix_version      TEXT,                         -- x_mitre_version
    stix_modified     TEXT,
    revoked           INTEGER NOT NULL DEFAULT 0,
    deprecated        INTEGER NOT NULL DEFAULT 0,
    -- sha256 of the content last taken from a bundle: a re-sync of the same content changes nothing,
    -- whatever an admin edited locally since.
    upstream_hash     TEXT,
    status_global     TEXT NOT NULL DEFAULT 'not_evaluated'
                      CHECK (status_global IN ('not_evaluated', 'in_progress', 'validated', 'partial', 'not_covered')),
    -- Tests of this technique, kept by every test change so sync and metrics never scan the tests.
    test_count        INTEGER NOT NULL DEFAULT 0,
    review_required   INTEGER NOT NULL DEFAULT 0,
    reviewed_by       TEXT,                         -- user id of the last review
    reviewed_by_name  TEXT,
    reviewed_at       TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
) STRICT;

CREATE INDEX techniques_by_status ON techniques (status_global);

-- A technique's tactics, in matrix order (position).
CREATE TABLE technique_tactics (
    technique_id TEXT NOT NULL REFERENCES techniques (id) ON DELETE CASCADE,
    tactic       TEXT NOT NULL REFERENCES tactics (shortname),
    position     INTEGER NOT NULL,
    PRIMARY KEY (technique_id, tactic)
) STRICT, WITHOUT ROWID;

CREATE INDEX technique_tactics_by_tactic ON technique_tactics (tactic, technique_id);

-- Why a technique needs another look: a changed ATT&CK definition, a threat-intel item, ...
-- Open while cleared_at is NULL; marking the technique reviewed clears them all.
CREATE TABLE review_flags (
    id           TEXT PRIMARY KEY,
    technique_id TEXT NOT NULL REFERENCES techniques (id) ON DELETE CASCADE,
    source       TEXT NOT NULL,                     -- 'sync', 'intel', ...
    reason       TEXT NOT NULL,
    reference    TEXT,                              -- e.g. the intel item id
    flagged_at   TEXT NOT NULL,
    cleared_at   TEXT,
    cleared_by   TEXT
) STRICT;

CREATE INDEX review_flags_open ON review_flags (technique_id, cleared_at);

-- Every catalogue sync, successful or not.
CREATE TABLE sync_runs (
    id             TEXT PRIMARY KEY,
    started_at     TEXT NOT NULL,
    finished_at    TEXT NOT NULL,
    source         TEXT NOT NULL,                   -- URL, file path, 'upload' or 'embedded'
    triggered_by   TEXT NOT NULL,                   -- username, 'scheduler', 'cli', 'system'
    outcome        TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    new_count      INTEGER NOT NULL DEFAULT 0,
    updated_count  INTEGER NOT NULL DEFAULT 0,
    deprecated_count INTEGER NOT NULL DEFAULT 0,
    attack_version TEXT,
    message        TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX sync_runs_by_time ON sync_runs (started_at);
