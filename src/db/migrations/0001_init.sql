-- Users and the audit log: the ground every later table builds on.

CREATE TABLE users (
    id            TEXT PRIMARY KEY,                 -- UUID v4
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    email         TEXT,
    password_hash TEXT NOT NULL,                    -- Argon2id PHC string
    role          TEXT NOT NULL CHECK (role IN ('admin', 'red_lead', 'red_tech', 'blue_lead', 'blue_tech', 'viewer')),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    -- Bumped by a password change, role change or deactivation: tokens carrying an older value die.
    token_version INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
) STRICT;

CREATE TABLE audit_logs (
    seq         INTEGER PRIMARY KEY,                -- insertion order; breaks timestamp ties
    id          TEXT NOT NULL UNIQUE,               -- UUID v4
    user_id     TEXT,                               -- NULL for the system or an unknown login name
    username    TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT,
    timestamp   TEXT NOT NULL,                      -- fixed-width RFC 3339 UTC: sorts as text
    details     TEXT NOT NULL DEFAULT '{}'          -- JSON object
) STRICT;

-- Each index ends in the implicit rowid (seq), so "newest first" needs no sort step.
CREATE INDEX audit_logs_by_time        ON audit_logs (timestamp);
CREATE INDEX audit_logs_by_user        ON audit_logs (user_id, timestamp);
CREATE INDEX audit_logs_by_action      ON audit_logs (action, timestamp);
CREATE INDEX audit_logs_by_entity_type ON audit_logs (entity_type, timestamp);

-- The audit log is append-only, whatever code runs against the file.
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit log rows cannot be changed');
END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit log rows cannot be deleted');
END;
