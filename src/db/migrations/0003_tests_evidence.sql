-- Red-team tests of techniques, their validation by leads, and evidence files.

CREATE TABLE tests (
    id                  TEXT PRIMARY KEY,
    technique_id        TEXT NOT NULL REFERENCES techniques (id),
    name                TEXT NOT NULL,
    description         TEXT NOT NULL DEFAULT '',
    platform            TEXT NOT NULL,                -- lowercase ATT&CK platform name
    procedure_text      TEXT NOT NULL DEFAULT '',
    tool_used           TEXT NOT NULL DEFAULT '',
    state               TEXT NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'validated', 'rejected')),
    result              TEXT CHECK (result IN ('detected', 'partially_detected', 'not_detected')),
    validation_comments TEXT,
    validated_by        TEXT,
    validated_by_name   TEXT,
    validated_at        TEXT,
    rejection_comments  TEXT,
    rejected_by         TEXT,
    rejected_by_name    TEXT,
    rejected_at         TEXT,
    created_by          TEXT NOT NULL,
    created_by_name     TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    CHECK ((state = 'validated') = (result IS NOT NULL))
) STRICT;

CREATE INDEX tests_by_technique ON tests (technique_id, state, result);
CREATE INDEX tests_by_state ON tests (state);
CREATE INDEX tests_by_creator ON tests (created_by);
CREATE INDEX tests_by_created ON tests (created_at);

CREATE TABLE evidence (
    id               TEXT PRIMARY KEY,
    test_id          TEXT NOT NULL REFERENCES tests (id) ON DELETE CASCADE,
    file_name        TEXT NOT NULL,                   -- the client's name: metadata only, never a path
    sha256           TEXT NOT NULL,                   -- the blob: evidence/<sha256[0..2]>/<sha256>
    size_bytes       INTEGER NOT NULL,
    content_type     TEXT,                            -- as the client declared it; downloads are octet-stream
    uploaded_by      TEXT NOT NULL,
    uploaded_by_name TEXT NOT NULL,
    uploaded_at      TEXT NOT NULL
) STRICT;

CREATE INDEX evidence_by_test ON evidence (test_id, uploaded_at);
CREATE INDEX evidence_by_blob ON evidence (sha256);
