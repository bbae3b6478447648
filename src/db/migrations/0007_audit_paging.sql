-- Audit log paging at volume (a million rows and more): newest first in the order rows were written
-- (seq), totals from counts a trigger keeps instead of counting rows, and what it takes to turn a date
-- range into seq ranges. `crate::db::audit::list` reads all of it.

-- Filter indexes on the bare column: each ends in the implicit rowid (seq), so `WHERE action = ?
-- ORDER BY seq DESC` reads the index in order, a seq range narrows it, and counting it is index-only.
-- `audit_logs_by_time` stays: it finds where a date range starts and ends.
DROP INDEX audit_logs_by_user;
DROP INDEX audit_logs_by_action;
DROP INDEX audit_logs_by_entity_type;
CREATE INDEX audit_logs_by_user        ON audit_logs (user_id);
CREATE INDEX audit_logs_by_action      ON audit_logs (action);
CREATE INDEX audit_logs_by_entity_type ON audit_logs (entity_type);

-- The number of rows, in one row. With MIN(seq) and MAX(seq) it shows whether any seq is missing.
CREATE TABLE audit_log_stats (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    row_count INTEGER NOT NULL
) STRICT;

-- Rows per bucket of 16384 seqs (bucket = seq >> 14; `crate::db::audit` uses the same width): of the
-- whole log (kind 'all', value '') and of each value of each filter column (user_id: non-NULL only).
-- A total is a sum over buckets, and the n-th row of a value is found by summing up to its bucket and
-- walking at most half a bucket of the index.
CREATE TABLE audit_log_counts (
    kind      TEXT NOT NULL CHECK (kind IN ('all', 'user_id', 'action', 'entity_type')),
    value     TEXT NOT NULL,
    bucket    INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    PRIMARY KEY (kind, value, bucket)
) STRICT, WITHOUT ROWID;

-- Where runs of rows start inside which timestamps never decrease along seq (the first run starts at
-- the first row and is not listed): every row older than the row before it. Rows take the clock of
-- the moment they are written, so that is where the clock stepped back (or a seq was written by hand).
CREATE TABLE audit_log_runs (
    start_seq INTEGER PRIMARY KEY
) STRICT;

INSERT INTO audit_log_stats (id, row_count) SELECT 1, COUNT(*) FROM audit_logs;

INSERT INTO audit_log_counts (kind, value, bucket, row_count)
SELECT 'all', '', seq >> 14, COUNT(*) FROM audit_logs GROUP BY seq >> 14;
INSERT INTO audit_log_counts (kind, value, bucket, row_count)
SELECT 'user_id', user_id, seq >> 14, COUNT(*) FROM audit_logs WHERE user_id IS NOT NULL GROUP BY user_id, seq >> 14;
INSERT INTO audit_log_counts (kind, value, bucket, row_count)
SELECT 'action', action, seq >> 14, COUNT(*) FROM audit_logs GROUP BY action, seq >> 14;
INSERT INTO audit_log_counts (kind, value, bucket, row_count)
SELECT 'entity_type', entity_type, seq >> 14, COUNT(*) FROM audit_logs GROUP BY entity_type, seq >> 14;

INSERT INTO audit_log_runs (start_seq)
SELECT seq FROM (SELECT seq, timestamp < LAG(timestamp) OVER (ORDER BY seq) AS back FROM audit_logs) WHERE back;

-- Rows are only ever inserted (the triggers of 0001 refuse UPDATE and DELETE), so counting inserts
-- keeps every count exact.
CREATE TRIGGER audit_logs_tally AFTER INSERT ON audit_logs
BEGIN
    UPDATE audit_log_stats SET row_count = row_count + 1 WHERE id = 1;
    INSERT INTO audit_log_counts (kind, value, bucket, row_count)
    SELECT kind, value, NEW.seq >> 14, 1
    FROM (SELECT 'all' AS kind, '' AS value
          UNION ALL SELECT 'user_id', NEW.user_id
          UNION ALL SELECT 'action', NEW.action
          UNION ALL SELECT 'entity_type', NEW.entity_type)
    WHERE value IS NOT NULL
    ON CONFLICT (kind, value, bucket) DO UPDATE SET row_count = row_count + 1;
    -- A run starts wherever a row is older than the row before it: at this row, or (for a row given
    -- a seq below the newest by hand) at the row after it.
    INSERT OR IGNORE INTO audit_log_runs (start_seq)
    SELECT NEW.seq
    WHERE NEW.timestamp < (SELECT timestamp FROM audit_logs WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1);
    INSERT OR IGNORE INTO audit_log_runs (start_seq)
    SELECT seq FROM (SELECT seq, timestamp FROM audit_logs WHERE seq > NEW.seq ORDER BY seq LIMIT 1)
    WHERE timestamp < NEW.timestamp;
END;
