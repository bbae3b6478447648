-- Atomic Red Team procedures: a library of atomic tests by ATT&CK technique, imported from the
-- project's YAML files. Not red-team tests: importing them changes no technique's status.

CREATE TABLE atomic_tests (
    guid               TEXT PRIMARY KEY,              -- the atomic's auto_generated_guid
    mitre_id           TEXT NOT NULL,
    technique_name     TEXT,
    name               TEXT NOT NULL,
    description        TEXT NOT NULL DEFAULT '',
    platforms          TEXT NOT NULL DEFAULT '[]',    -- JSON array, lowercase
    executor_name      TEXT,
    command            TEXT NOT NULL DEFAULT '',
    cleanup_command    TEXT,
    elevation_required INTEGER NOT NULL DEFAULT 0,
    input_arguments    TEXT NOT NULL DEFAULT '{}',    -- JSON object: name -> {description, type, default}
    source_file        TEXT,
    imported_at        TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;

CREATE INDEX atomic_tests_by_technique ON atomic_tests (mitre_id);
