-- Coverage history: snapshots of the coverage counts, overall and by tactic.
-- Timestamps in the stored format of `crate::time::now()` (fixed-width RFC 3339 UTC), so they sort as text.

CREATE TABLE coverage_snapshots (
    id TEXT PRIMARY KEY,
    taken_at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('scheduled', 'status_change', 'manual')),
    total INTEGER NOT NULL,
    validated INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    not_covered INTEGER NOT NULL,
    in_progress INTEGER NOT NULL,
    not_evaluated INTEGER NOT NULL,
    coverage_percentage REAL NOT NULL
) STRICT;

CREATE INDEX coverage_snapshots_taken_at ON coverage_snapshots (taken_at);

CREATE TABLE coverage_snapshot_tactics (
    snapshot_id TEXT NOT NULL REFERENCES coverage_snapshots (id) ON DELETE CASCADE,
    tactic TEXT NOT NULL,
    position INTEGER NOT NULL,
    total INTEGER NOT NULL,
    validated INTEGER NOT NULL,
    partial INTEGER NOT NULL,
    not_covered INTEGER NOT NULL,
    in_progress INTEGER NOT NULL,
    not_evaluated INTEGER NOT NULL,
    coverage_percentage REAL NOT NULL,
    PRIMARY KEY (snapshot_id, tactic)
) STRICT, WITHOUT ROWID;
