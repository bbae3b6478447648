//! SQL for the append-only `audit_logs` table.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: String,
    pub user_id: Option<String>,
    pub username: String,
    pub action: String,
    pub entity_type: String,
    pub entity_id: Option<String>,
    pub timestamp: String,
    /// A JSON object, as text.
    pub details: String,
}

pub fn insert(conn: &Connection, row: &AuditRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO audit_logs (id, user_id, username, action, entity_type, entity_id, timestamp, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        row.id,
        row.user_id,
        row.username,
        row.action,
        row.entity_type,
        row.entity_id,
        row.timestamp,
        row.details
    ])?;
    Ok(())
}

/// Every filter is optional; times are in the stored format (see `crate::time`), both bounds inclusive.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user_id: Option<String>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

const COLUMNS: &str = "id, user_id, username, action, entity_type, entity_id, timestamp, details";

/// One page, newest first — in the order the rows were written (`seq`) — and the number of rows
/// matching the filter.
///
/// Built to stay fast at millions of rows (see migration 0007): the total comes from counts a trigger
/// keeps where it can, and a page of the unfiltered log (or of a date range) is a seek to a computed seq
/// rather than a walk past `offset` rows. Every read happens in one snapshot, so the total and the page
/// agree even while rows are being written.
pub fn list(conn: &Connection, filter: &AuditFilter) -> Result<(Vec<AuditRow>, i64), AppError> {
    if !conn.is_autocommit() {
        return list_in_snapshot(conn, filter);
    }
    let snapshot = conn.unchecked_transaction()?;
    let page = list_in_snapshot(&snapshot, filter)?;
    snapshot.commit()?;
    Ok(page)
}

fn list_in_snapshot(conn: &Connection, filter: &AuditFilter) -> Result<(Vec<AuditRow>, i64), AppError> {
    let log = LogStats::read(conn)?;
    let window = Window::of(conn, &log, filter.since.as_deref(), filter.until.as_deref())?;
    let columns: Vec<(&'static str, &String)> =
        [("user_id", &filter.user_id), ("action", &filter.action), ("entity_type", &filter.entity_type)]
            .into_iter()
            .filter_map(|(column, value)| value.as_ref().map(|value| (column, value)))
            .collect();
    let query = SeqQuery { columns: &columns, window: &window, since: &filter.since, until: &filter.until };

    let total = match (&window, columns.as_slice()) {
        (Window::Nothing, _) => 0,
        (Window::Everything, []) => log.rows,
        (Window::Everything, [(column, value)]) => count_of(conn, column, value)?,
        (Window::Seqs { lo, hi }, []) if log.dense() => hi - lo + 1,
        _ => query.count(conn)?,
    };
    if filter.offset >= total || filter.limit <= 0 {
        return Ok((Vec::new(), total));
    }

    // Every seq between the first and the last row exists: the row `offset` places below the top of
    // the window is simply the seq `offset` lower.
    let seek = match (&window, columns.is_empty() && log.dense()) {
        (Window::Everything, true) => log.min_seq.zip(log.max_seq),
        (Window::Seqs { lo, hi }, true) => Some((*lo, *hi)),
        _ => None,
    };
    let rows = match seek {
        Some((lo, hi)) => conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit_logs WHERE seq BETWEEN ?1 AND ?2 ORDER BY seq DESC LIMIT ?3"
            ))?
            .query_map(params![lo, hi - filter.offset, filter.limit], from_row)?
            .collect::<rusqlite::Result<_>>()?,
        None => query.page(conn, total, filter.offset, filter.limit)?,
    };
    Ok((rows, total))
}

/// What the tally trigger of migration 0007 keeps about the whole log, and its seq bounds.
struct LogStats {
    rows: i64,
    min_seq: Option<i64>,
    max_seq: Option<i64>,
    ordered_from: Option<i64>,
    ceiling: Option<String>,
}

impl LogStats {
    fn read(conn: &Connection) -> Result<LogStats, AppError> {
        let stats = conn
            .prepare_cached(
                "SELECT row_count, (SELECT MIN(seq) FROM audit_logs), (SELECT MAX(seq) FROM audit_logs),
                        ordered_from, ceiling
                 FROM audit_log_stats WHERE id = 1",
            )?
            .query_row([], |row| {
                Ok(LogStats {
                    rows: row.get(0)?,
                    min_seq: row.get(1)?,
                    max_seq: row.get(2)?,
                    ordered_from: row.get(3)?,
                    ceiling: row.get(4)?,
                })
            })?;
        Ok(stats)
    }

    /// No seq is missing between the first and the last row. SQLite gives a new row the highest seq
    /// plus one and rows are never deleted, so this holds unless someone wrote a seq by hand; then
    /// paging falls back to walking the rows.
    fn dense(&self) -> bool {
        match (self.min_seq, self.max_seq) {
            (Some(min), Some(max)) => max.checked_sub(min).and_then(|span| span.checked_add(1)) == Some(self.rows),
            _ => self.rows == 0,
        }
    }
}

/// The rows a date range leaves, as a seq range when that is exact.
enum Window {
    /// No bounds, or bounds every row meets.
    Everything,
    /// Exactly the rows with `lo <= seq <= hi`.
    Seqs { lo: i64, hi: i64 },
    /// No row.
    Nothing,
    /// Only the timestamps themselves say which rows match.
    Timestamps,
}

impl Window {
    fn of(conn: &Connection, log: &LogStats, since: Option<&str>, until: Option<&str>) -> Result<Window, AppError> {
        if since.is_none() && until.is_none() {
            return Ok(Window::Everything);
        }
        let (Some(min), Some(max)) = (log.min_seq, log.max_seq) else {
            return Ok(Window::Nothing);
        };
        // Where timestamps never decrease along seq, the rows of a date range are one run of seqs,
        // from the first row at or after `since` to the last at or before `until`. That holds from
        // `ordered_from` on; rows before it count only when `since` excludes them all.
        let exact = match (&log.ceiling, since) {
            (None, _) => true,
            (Some(ceiling), Some(since)) => since > ceiling.as_str(),
            (Some(_), None) => false,
        };
        debug_assert!(exact || log.ordered_from.is_some());
        if !exact {
            return Ok(Window::Timestamps);
        }
        let lo = match since {
            Some(since) => conn
                .prepare_cached("SELECT seq FROM audit_logs WHERE timestamp >= ?1 ORDER BY timestamp, seq LIMIT 1")?
                .query_row([since], |row| row.get(0))
                .optional()?,
            None => Some(min),
        };
        let hi = match until {
            Some(until) => conn
                .prepare_cached(
                    "SELECT seq FROM audit_logs WHERE timestamp <= ?1 ORDER BY timestamp DESC, seq DESC LIMIT 1",
                )?
                .query_row([until], |row| row.get(0))
                .optional()?,
            None => Some(max),
        };
        Ok(match lo.zip(hi) {
            Some((lo, hi)) if lo <= min && hi >= max => Window::Everything,
            Some((lo, hi)) if lo <= hi => Window::Seqs { lo, hi },
            _ => Window::Nothing,
        })
    }
}

/// Rows with `column = value`, as the tally trigger counted them.
fn count_of(conn: &Connection, column: &str, value: &str) -> Result<i64, AppError> {
    let count = conn
        .prepare_cached("SELECT row_count FROM audit_log_counts WHERE kind = ?1 AND value = ?2")?
        .query_row([column, value], |row| row.get(0))
        .optional()?;
    Ok(count.unwrap_or(0))
}

/// The seqs of the matching rows, as SQL: one `SELECT seq` per filter column, each reading its own
/// index in seq order, intersected by merging (SQLite walks both in step; no row is read).
struct SeqQuery<'a> {
    columns: &'a [(&'static str, &'a String)],
    window: &'a Window,
    since: &'a Option<String>,
    until: &'a Option<String>,
}

impl SeqQuery<'_> {
    fn sql(&self) -> (String, Vec<Value>) {
        let mut values = Vec::new();
        let mut selects = Vec::new();
        let arms: Vec<Option<&(&str, &String)>> =
            if self.columns.is_empty() { vec![None] } else { self.columns.iter().map(Some).collect() };
        for (index, arm) in arms.into_iter().enumerate() {
            let mut conditions = Vec::new();
            if let Some((column, value)) = arm {
                conditions.push(format!("{column} = ?"));
                values.push(Value::Text((*value).clone()));
            }
            match self.window {
                Window::Seqs { lo, hi } => {
                    conditions.push("seq BETWEEN ? AND ?".to_owned());
                    values.extend([Value::Integer(*lo), Value::Integer(*hi)]);
                }
                // Checked once: each is a look at the row itself.
                Window::Timestamps if index == 0 => {
                    for (condition, bound) in [("timestamp >= ?", self.since), ("timestamp <= ?", self.until)] {
                        if let Some(bound) = bound {
                            conditions.push(condition.to_owned());
                            values.push(Value::Text(bound.clone()));
                        }
                    }
                }
                _ => {}
            }
            let where_sql =
                if conditions.is_empty() { String::new() } else { format!(" WHERE {}", conditions.join(" AND ")) };
            selects.push(format!("SELECT seq FROM audit_logs{where_sql}"));
        }
        (selects.join(" INTERSECT "), values)
    }

    fn count(&self, conn: &Connection) -> Result<i64, AppError> {
        let (seqs, values) = self.sql();
        let count = conn
            .prepare_cached(&format!("SELECT COUNT(*) FROM ({seqs})"))?
            .query_row(params_from_iter(values), |row| row.get(0))?;
        Ok(count)
    }

    /// The page at `offset` of `total` matching rows, newest first. Past the middle, the walk starts from
    /// the oldest row instead, so no page passes more than half the matches.
    fn page(&self, conn: &Connection, total: i64, offset: i64, limit: i64) -> Result<Vec<AuditRow>, AppError> {
        let (seqs, mut values) = self.sql();
        let from_oldest = (total - offset - limit).max(0);
        let (direction, take, skip) = if from_oldest < offset {
            ("ASC", limit.min(total - offset), from_oldest)
        } else {
            ("DESC", limit, offset)
        };
        values.extend([Value::Integer(take), Value::Integer(skip)]);
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_logs
             WHERE seq IN ({seqs} ORDER BY 1 {direction} LIMIT ? OFFSET ?)
             ORDER BY seq DESC"
        ))?;
        let rows = stmt.query_map(params_from_iter(values), from_row)?.collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<AuditRow> {
    Ok(AuditRow {
        id: row.get(0)?,
        user_id: row.get(1)?,
        username: row.get(2)?,
        action: row.get(3)?,
        entity_type: row.get(4)?,
        entity_id: row.get(5)?,
        timestamp: row.get(6)?,
        details: row.get(7)?,
    })
}

/// Distinct values of an indexed column, by hopping from one value to the next through the index
/// rather than scanning every row (the log grows without bound).
fn distinct(conn: &Connection, column: &'static str) -> Result<Vec<String>, AppError> {
    let sql = format!(
        "WITH RECURSIVE hop(value) AS (
             SELECT MIN({column}) FROM audit_logs
             UNION ALL
             SELECT (SELECT MIN({column}) FROM audit_logs WHERE {column} > hop.value) FROM hop
             WHERE hop.value IS NOT NULL
         )
         SELECT value FROM hop WHERE value IS NOT NULL"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let values = stmt.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    Ok(values)
}

pub fn distinct_actions(conn: &Connection) -> Result<Vec<String>, AppError> {
    distinct(conn, "action")
}

pub fn distinct_entity_types(conn: &Connection) -> Result<Vec<String>, AppError> {
    distinct(conn, "entity_type")
}
