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

/// `audit_log_counts` counts rows per `seq >> BUCKET_BITS` (migration 0007 uses the same width).
const BUCKET_BITS: u32 = 14;

/// One page, newest first — in the order the rows were written (`seq`) — and the number of rows
/// matching the filter.
///
/// Built to stay fast at millions of rows and at any offset (see migration 0007). A date range becomes
/// seq ranges; in each, the unfiltered log (no seq missing) finds the page's first row by arithmetic,
/// and one filter column (or the whole log, if a seq is missing) by its per-bucket counts; only several
/// filter columns at once count and walk their intersected index ranges. Everything is read in one
/// snapshot, so the total and the page agree even while rows are being written.
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
    let columns: Vec<Column<'_>> =
        [("user_id", &filter.user_id), ("action", &filter.action), ("entity_type", &filter.entity_type)]
            .into_iter()
            .filter_map(|(name, value)| value.as_deref().map(|value| Column { name: Some(name), value }))
            .collect();
    let finder = match columns.as_slice() {
        [] if log.dense() => Finder::Dense,
        [] => Finder::Counted(Column { name: None, value: "" }),
        [column] => Finder::Counted(*column),
        _ => Finder::Merged(&columns),
    };
    let mut spans = Vec::new();
    for (lo, hi) in date_ranges(conn, &log, filter.since.as_deref(), filter.until.as_deref())? {
        spans.push(finder.span(conn, &log, lo, hi)?);
    }
    let total = spans.iter().map(|span| span.count).sum();

    let limit = filter.limit.max(0);
    let mut rows: Vec<AuditRow> = Vec::new();
    let mut skip = filter.offset.max(0);
    for span in &spans {
        let take = limit - rows.len() as i64;
        if take <= 0 {
            break;
        }
        if skip >= span.count {
            skip -= span.count;
            continue;
        }
        rows.extend(finder.fetch(conn, &log, span, skip, take)?);
        skip = 0;
    }
    Ok((rows, total))
}

/// The log as a whole: what the tally trigger of migration 0007 counted, and its first and last seq.
struct LogStats {
    rows: i64,
    min_seq: Option<i64>,
    max_seq: Option<i64>,
}

impl LogStats {
    fn read(conn: &Connection) -> Result<LogStats, AppError> {
        let stats = conn
            .prepare_cached(
                "SELECT row_count, (SELECT MIN(seq) FROM audit_logs), (SELECT MAX(seq) FROM audit_logs)
                 FROM audit_log_stats WHERE id = 1",
            )?
            .query_row([], |row| Ok(LogStats { rows: row.get(0)?, min_seq: row.get(1)?, max_seq: row.get(2)? }))?;
        Ok(stats)
    }

    /// No seq is missing between the first and the last row. SQLite gives a new row the highest seq
    /// plus one and rows are never deleted, so this holds unless someone wrote a seq by hand.
    fn dense(&self) -> bool {
        match (self.min_seq, self.max_seq) {
            (Some(min), Some(max)) => max.checked_sub(min).and_then(|span| span.checked_add(1)) == Some(self.rows),
            _ => self.rows == 0,
        }
    }
}

/// The rows between two times (both optional, both inclusive) as seq ranges `(lo, hi)`, newest first.
///
/// Within a run of `audit_log_runs` timestamps never decrease along seq, so the rows of a date range
/// in it are one stretch of seqs: from its first row at or after `since` to its last at or before
/// `until`. There is one run unless the clock stepped back while the log was written.
fn date_ranges(
    conn: &Connection,
    log: &LogStats,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Vec<(i64, i64)>, AppError> {
    let (Some(min), Some(max)) = (log.min_seq, log.max_seq) else {
        return Ok(Vec::new());
    };
    if since.is_none() && until.is_none() {
        return Ok(vec![(min, max)]);
    }
    let mut starts: Vec<i64> = conn
        .prepare_cached(
            "SELECT start_seq FROM audit_log_runs WHERE start_seq > ?1 AND start_seq <= ?2 ORDER BY start_seq DESC",
        )?
        .query_map([min, max], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    starts.push(min);
    let search = if starts.len() == 1 { Search::TimeIndex } else { Search::Bisect };
    let mut ranges = Vec::new();
    let mut end = max;
    for start in starts {
        if let Some(range) = run_range(conn, search, start, end, since, until)? {
            ranges.push(range);
        }
        end = start.saturating_sub(1);
    }
    Ok(ranges)
}

/// How a run is searched for where a date range starts and ends in it.
#[derive(Clone, Copy)]
enum Search {
    /// Two seeks of the time index; right when the run is the whole log. Runs can overlap in time
    /// (a clock set back by a year writes over a year of older rows), and then the index would walk
    /// every entry of the other runs in between.
    TimeIndex,
    /// A binary search along seq, as timestamps never decrease within the run: O(log n) lookups.
    Bisect,
}

/// The rows of the run `start..=end` between `since` and `until`, as a seq range.
fn run_range(
    conn: &Connection,
    search: Search,
    start: i64,
    end: i64,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<Option<(i64, i64)>, AppError> {
    let (Some((first, first_time)), Some((last, last_time))) =
        (row_near(conn, start, Near::AtOrAfter)?, row_near(conn, end, Near::AtOrBefore)?)
    else {
        return Ok(None);
    };
    if since.is_some_and(|since| since > last_time.as_str()) || until.is_some_and(|until| until < first_time.as_str()) {
        return Ok(None);
    }
    let lo = match since {
        Some(since) if since > first_time.as_str() => match search {
            Search::TimeIndex => conn
                .prepare_cached(
                    "SELECT seq FROM audit_logs INDEXED BY audit_logs_by_time
                     WHERE timestamp >= ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY timestamp, seq LIMIT 1",
                )?
                .query_row(params![since, first, last], |row| row.get(0))
                .optional()?,
            // The last row is at or after `since`, so the search ends on a row that is.
            Search::Bisect => bisect(conn, first, last, Near::AtOrAfter, |time| time >= since)?,
        },
        _ => Some(first),
    };
    let hi = match until {
        Some(until) if until < last_time.as_str() => match search {
            Search::TimeIndex => conn
                .prepare_cached(
                    "SELECT seq FROM audit_logs INDEXED BY audit_logs_by_time
                     WHERE timestamp <= ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY timestamp DESC, seq DESC LIMIT 1",
                )?
                .query_row(params![until, first, last], |row| row.get(0))
                .optional()?,
            Search::Bisect => bisect(conn, first, last, Near::AtOrBefore, |time| time <= until)?,
        },
        _ => Some(last),
    };
    Ok(lo.zip(hi).filter(|(lo, hi)| lo <= hi))
}

#[derive(Clone, Copy, PartialEq)]
enum Near {
    AtOrAfter,
    AtOrBefore,
}

/// The row at `seq` or, if there is none, the nearest one after or before it: its seq and timestamp.
fn row_near(conn: &Connection, seq: i64, near: Near) -> Result<Option<(i64, String)>, AppError> {
    let sql = match near {
        Near::AtOrAfter => "SELECT seq, timestamp FROM audit_logs WHERE seq >= ?1 ORDER BY seq LIMIT 1",
        Near::AtOrBefore => "SELECT seq, timestamp FROM audit_logs WHERE seq <= ?1 ORDER BY seq DESC LIMIT 1",
    };
    Ok(conn.prepare_cached(sql)?.query_row([seq], |row| Ok((row.get(0)?, row.get(1)?))).optional()?)
}

/// In `first..=last`, where timestamps never decrease along seq: the first row (`AtOrAfter`) whose
/// timestamp passes `test`, which must hold for the last row; or the last row (`AtOrBefore`) whose
/// timestamp passes, which must hold for the first.
fn bisect(
    conn: &Connection,
    first: i64,
    last: i64,
    near: Near,
    test: impl Fn(&str) -> bool,
) -> Result<Option<i64>, AppError> {
    let passes =
        |seq: i64| -> Result<bool, AppError> { Ok(row_near(conn, seq, near)?.is_some_and(|(_, time)| test(&time))) };
    let (mut lo, mut hi) = (first, last);
    while lo < hi {
        let half = ((i128::from(hi) - i128::from(lo)) / 2) as i64;
        if near == Near::AtOrAfter {
            let mid = lo + half;
            if passes(mid)? { hi = mid } else { lo = mid + 1 }
        } else {
            let mid = hi - half;
            if passes(mid)? { lo = mid } else { hi = mid - 1 }
        }
    }
    Ok(row_near(conn, lo, near)?.map(|(seq, _)| seq))
}

/// One filter column and its value; no column stands for the whole log.
#[derive(Clone, Copy)]
struct Column<'a> {
    name: Option<&'static str>,
    value: &'a str,
}

impl Column<'_> {
    /// `audit_logs … WHERE <condition>`, to go after `FROM`, with the condition's parameters. The
    /// column's own index is named: with `ANALYZE` statistics the planner may otherwise prefer the
    /// seq range on the table, and read every row in it.
    fn source(&self) -> (String, Vec<Value>) {
        match self.name {
            Some(name) => {
                let index = match name {
                    "user_id" => "audit_logs_by_user",
                    "action" => "audit_logs_by_action",
                    _ => "audit_logs_by_entity_type",
                };
                (format!("audit_logs INDEXED BY {index} WHERE {name} = ?"), vec![Value::Text(self.value.to_owned())])
            }
            None => ("audit_logs WHERE true".to_owned(), Vec::new()),
        }
    }

    /// Its `kind` in `audit_log_counts`.
    fn kind(&self) -> &'static str {
        self.name.unwrap_or("all")
    }
}

/// How the rows of one seq range are counted and a page of them found.
enum Finder<'a> {
    /// The unfiltered log with no seq missing: the row `n` places below `hi` is `hi - n`.
    Dense,
    /// One column (or the whole log): through the per-bucket counts.
    Counted(Column<'a>),
    /// Several columns: the intersection of their index ranges, counted and walked.
    Merged(&'a [Column<'a>]),
}

/// The matching rows of one seq range.
#[derive(Clone, Copy)]
struct Span {
    lo: i64,
    hi: i64,
    count: i64,
    /// For [`Finder::Counted`]: how many matching rows have `seq <= hi`.
    up_to_hi: i64,
}

impl Finder<'_> {
    fn span(&self, conn: &Connection, log: &LogStats, lo: i64, hi: i64) -> Result<Span, AppError> {
        Ok(match self {
            Finder::Dense => Span { lo, hi, count: hi - lo + 1, up_to_hi: 0 },
            Finder::Counted(column) => {
                let counts = Counts { column, log };
                let up_to_hi = counts.up_to(conn, hi)?;
                Span { lo, hi, count: up_to_hi - counts.up_to(conn, lo.saturating_sub(1))?, up_to_hi }
            }
            Finder::Merged(columns) => Span { lo, hi, count: merged_count(conn, columns, lo, hi)?, up_to_hi: 0 },
        })
    }

    /// Up to `take` rows of `span`, newest first, after skipping the newest `skip` (`skip < span.count`).
    fn fetch(
        &self,
        conn: &Connection,
        log: &LogStats,
        span: &Span,
        skip: i64,
        take: i64,
    ) -> Result<Vec<AuditRow>, AppError> {
        match self {
            Finder::Dense => rows_down_from(conn, Column { name: None, value: "" }, span.lo, span.hi - skip, take),
            Finder::Counted(column) => {
                // The first row wanted is the match with `up_to_hi - skip` matches up to it.
                match (Counts { column, log }).nth(conn, span.up_to_hi - skip)? {
                    Some(top) => rows_down_from(conn, *column, span.lo, top, take),
                    // Only counts out of step with the rows get here: walk from the newest, trusting no count.
                    None => {
                        let uncounted = Span { count: i64::MAX, ..*span };
                        merged_page(conn, std::slice::from_ref(column), &uncounted, skip, take)
                    }
                }
            }
            Finder::Merged(columns) => merged_page(conn, columns, span, skip, take),
        }
    }
}

/// Up to `limit` rows of `column` with `lo <= seq <= top`, newest first.
fn rows_down_from(
    conn: &Connection,
    column: Column<'_>,
    lo: i64,
    top: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, AppError> {
    let (source, mut values) = column.source();
    values.extend([Value::Integer(lo), Value::Integer(top), Value::Integer(limit)]);
    let rows = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM {source} AND seq BETWEEN ? AND ? ORDER BY seq DESC LIMIT ?"))?
        .query_map(params_from_iter(values), from_row)?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

/// Where the rows of one column are, from the per-bucket counts of `audit_log_counts` and walks of
/// the column's index (or the table, for the whole log) inside one bucket.
struct Counts<'a> {
    column: &'a Column<'a>,
    log: &'a LogStats,
}

impl Counts<'_> {
    /// How many matching rows have `seq <= seq`.
    fn up_to(&self, conn: &Connection, seq: i64) -> Result<i64, AppError> {
        if self.log.min_seq.is_none_or(|min| seq < min) {
            return Ok(0);
        }
        // From the newest row on, every bucket counts whole.
        let bucket = if self.log.max_seq.is_some_and(|max| seq >= max) { i64::MAX } else { seq >> BUCKET_BITS };
        let (before, in_bucket): (i64, i64) = conn
            .prepare_cached(
                "SELECT coalesce(SUM(row_count) FILTER (WHERE bucket < ?3), 0),
                        coalesce(SUM(row_count) FILTER (WHERE bucket = ?3), 0)
                 FROM audit_log_counts WHERE kind = ?1 AND value = ?2 AND bucket <= ?3",
            )?
            .query_row(params![self.column.kind(), self.column.value, bucket], |row| Ok((row.get(0)?, row.get(1)?)))?;
        if in_bucket == 0 {
            return Ok(before);
        }
        // Count the shorter part of the bucket: up to `seq`, or after it.
        let (start, end) = bucket_seqs(bucket);
        if seq - start < end - seq {
            Ok(before + self.count(conn, start, seq)?)
        } else {
            Ok(before + in_bucket - self.count(conn, seq + 1, end)?)
        }
    }

    fn count(&self, conn: &Connection, from: i64, to: i64) -> Result<i64, AppError> {
        let (source, mut values) = self.column.source();
        values.extend([Value::Integer(from), Value::Integer(to)]);
        let sql = format!("SELECT COUNT(*) FROM {source} AND seq BETWEEN ? AND ?");
        Ok(conn.prepare_cached(&sql)?.query_row(params_from_iter(values), |row| row.get(0))?)
    }

    /// The seq of the `n`-th matching row, counted from the oldest (1-based).
    fn nth(&self, conn: &Connection, n: i64) -> Result<Option<i64>, AppError> {
        let found: Option<(i64, i64, i64)> = conn
            .prepare_cached(
                "SELECT bucket, running - row_count, row_count FROM (
                     SELECT bucket, row_count, SUM(row_count) OVER (ORDER BY bucket) AS running
                     FROM audit_log_counts WHERE kind = ?1 AND value = ?2
                 )
                 WHERE running >= ?3 ORDER BY bucket LIMIT 1",
            )?
            .query_row(params![self.column.kind(), self.column.value, n], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()?;
        let Some((bucket, before, in_bucket)) = found else {
            return Ok(None);
        };
        // Walk into the bucket from the nearer end.
        let (start, end) = bucket_seqs(bucket);
        let from_start = n - before - 1;
        let from_end = in_bucket - from_start - 1;
        let (walk, from, skip) = if from_start <= from_end {
            ("seq >= ? ORDER BY seq", start, from_start)
        } else {
            ("seq <= ? ORDER BY seq DESC", end, from_end)
        };
        let (source, mut values) = self.column.source();
        values.extend([Value::Integer(from), Value::Integer(skip)]);
        let seq = conn
            .prepare_cached(&format!("SELECT seq FROM {source} AND {walk} LIMIT 1 OFFSET ?"))?
            .query_row(params_from_iter(values), |row| row.get(0))
            .optional()?;
        Ok(seq)
    }
}

/// The first and last seq of a bucket of `audit_log_counts`.
fn bucket_seqs(bucket: i64) -> (i64, i64) {
    let start = bucket << BUCKET_BITS;
    (start, start + ((1 << BUCKET_BITS) - 1))
}

/// The seqs of the rows matching every column in `lo..=hi`, as SQL: one `SELECT seq` per column,
/// each reading its own index in seq order, intersected by merging the sorted streams. No row is
/// read until the page is known.
fn merged_seqs(columns: &[Column<'_>], lo: i64, hi: i64) -> (String, Vec<Value>) {
    let mut values = Vec::new();
    let mut selects = Vec::new();
    for column in columns {
        let (source, column_values) = column.source();
        selects.push(format!("SELECT seq FROM {source} AND seq BETWEEN ? AND ?"));
        values.extend(column_values);
        values.extend([Value::Integer(lo), Value::Integer(hi)]);
    }
    (selects.join(" INTERSECT "), values)
}

fn merged_count(conn: &Connection, columns: &[Column<'_>], lo: i64, hi: i64) -> Result<i64, AppError> {
    let (seqs, values) = merged_seqs(columns, lo, hi);
    let count = conn
        .prepare_cached(&format!("SELECT COUNT(*) FROM ({seqs})"))?
        .query_row(params_from_iter(values), |row| row.get(0))?;
    Ok(count)
}

/// Like [`Finder::fetch`], walking the matches. Past the middle the walk starts from the oldest
/// instead, so no page passes more than half of them.
fn merged_page(
    conn: &Connection,
    columns: &[Column<'_>],
    span: &Span,
    skip: i64,
    take: i64,
) -> Result<Vec<AuditRow>, AppError> {
    let (seqs, mut values) = merged_seqs(columns, span.lo, span.hi);
    let from_oldest = (span.count - skip - take).max(0);
    let (direction, take, skip) =
        if from_oldest < skip { ("ASC", take.min(span.count - skip), from_oldest) } else { ("DESC", take, skip) };
    values.extend([Value::Integer(take), Value::Integer(skip)]);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM audit_logs
         WHERE seq IN ({seqs} ORDER BY 1 {direction} LIMIT ? OFFSET ?)
         ORDER BY seq DESC"
    ))?;
    let rows = stmt.query_map(params_from_iter(values), from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
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
