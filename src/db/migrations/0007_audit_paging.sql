-- Audit log paging at volume (a million rows and more): newest first by insertion order (seq), totals
-- kept by a trigger instead of counted, and what it takes to turn a date range into a seq range.

-- Filter indexes on the bare column: each ends in the implicit rowid (seq), so `WHERE action = ?
-- ORDER BY seq DESC` reads the index in order, a seq range narrows it, and counting it is index-only.
-- `audit_logs_by_time` stays: it finds the first and last row of a date range.
DROP INDEX audit_logs_by_user;
DROP INDEX audit_logs_by_action;
DROP INDEX audit_logs_by_entity_type;
CREATE INDEX audit_logs_by_user        ON audit_logs (user_id);
CREATE INDEX audit_logs_by_action      ON audit_logs (action);
CREATE INDEX audit_logs_by_entity_type ON audit_logs (entity_type);

-- One row about the whole log, kept by `audit_logs_tally`.
CREATE TABLE audit_log_stats (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    row_count    INTEGER NOT NULL,
    -- Timestamps never decrease along seq from this seq on; NULL: along the whole log. Rows are
    -- written with the clock of the moment, so only a clock stepping back moves it.
    ordered_from INTEGER,
    -- No row before `ordered_from` has a later timestamp than this; NULL when there is no such row.
    ceiling      TEXT
) STRICT;

-- Rows per value of each filter column (user_id: non-NULL only), kept by `audit_logs_tally`.
CREATE TABLE audit_log_counts (
    kind      TEXT NOT NULL CHECK (kind IN ('user_id', 'action', 'entity_type')),
    value     TEXT NOT NULL,
    row_count INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) STRICT, WITHOUT ROWID;

INSERT INTO audit_log_stats (id, row_count, ordered_from)
SELECT 1,
       (SELECT COUNT(*) FROM audit_logs),
       (SELECT MAX(seq) FROM (SELECT seq, timestamp < LAG(timestamp) OVER (ORDER BY seq) AS back FROM audit_logs)
        WHERE back);
UPDATE audit_log_stats SET ceiling = (SELECT MAX(timestamp) FROM audit_logs WHERE seq < audit_log_stats.ordered_from);

INSERT INTO audit_log_counts (kind, value, row_count)
SELECT 'user_id', user_id, COUNT(*) FROM audit_logs WHERE user_id IS NOT NULL GROUP BY user_id;
INSERT INTO audit_log_counts (kind, value, row_count)
SELECT 'action', action, COUNT(*) FROM audit_logs GROUP BY action;
INSERT INTO audit_log_counts (kind, value, row_count)
SELECT 'entity_type', entity_type, COUNT(*) FROM audit_logs GROUP BY entity_type;

-- Rows are only ever inserted (the triggers of 0001 refuse UPDATE and DELETE), so counting inserts
-- keeps every count exact.
CREATE TRIGGER audit_logs_tally AFTER INSERT ON audit_logs
BEGIN
    UPDATE audit_log_stats SET
        row_count = row_count + 1,
        ordered_from = CASE
            -- Written below the newest seq (only a hand-made seq does that): order is known from the next row on.
            WHEN NEW.seq < (SELECT MAX(seq) FROM audit_logs) THEN (SELECT MAX(seq) FROM audit_logs) + 1
            -- Older than the row before it: the clock stepped back; a new ordered run starts here.
            WHEN NEW.timestamp < (SELECT timestamp FROM audit_logs WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1)
                THEN NEW.seq
            ELSE ordered_from
        END,
        ceiling = CASE
            -- The ordered run ends at the newest row, so it holds the run's latest timestamp.
            WHEN NEW.seq < (SELECT MAX(seq) FROM audit_logs) THEN max(
                coalesce(ceiling, ''),
                (SELECT timestamp FROM audit_logs ORDER BY seq DESC LIMIT 1),
                NEW.timestamp
            )
            WHEN NEW.timestamp < (SELECT timestamp FROM audit_logs WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1)
                THEN max(
                    coalesce(ceiling, ''),
                    (SELECT timestamp FROM audit_logs WHERE seq < NEW.seq ORDER BY seq DESC LIMIT 1)
                )
            ELSE ceiling
        END
    WHERE id = 1;
    INSERT INTO audit_log_counts (kind, value, row_count)
    SELECT 'user_id', NEW.user_id, 1 WHERE NEW.user_id IS NOT NULL
    ON CONFLICT (kind, value) DO UPDATE SET row_count = row_count + 1;
    INSERT INTO audit_log_counts (kind, value, row_count) VALUES ('action', NEW.action, 1)
    ON CONFLICT (kind, value) DO UPDATE SET row_count = row_count + 1;
    INSERT INTO audit_log_counts (kind, value, row_count) VALUES ('entity_type', NEW.entity_type, 1)
    ON CONFLICT (kind, value) DO UPDATE SET row_count = row_count + 1;
END;
