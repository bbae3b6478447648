//! SQL for the append-only `audit_logs` table.

use rusqlite::{Connection, Row, params};

use crate::db::page::{self, PageQuery};

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

/// One page, newest first, and the number of rows matching the filter.
pub fn list(conn: &Connection, filter: &AuditFilter) -> Result<(Vec<AuditRow>, i64), AppError> {
    let query = PageQuery {
        count_from: "FROM audit_logs",
        select: "SELECT id, user_id, username, action, entity_type, entity_id, timestamp, details FROM audit_logs",
        order_by: "timestamp DESC, seq DESC",
        conditions: vec![
            ("user_id = ?", filter.user_id.as_ref()),
            ("action = ?", filter.action.as_ref()),
            ("entity_type = ?", filter.entity_type.as_ref()),
            ("timestamp >= ?", filter.since.as_ref()),
            ("timestamp <= ?", filter.until.as_ref()),
        ],
        limit: filter.limit,
        offset: filter.offset,
    };
    page::fetch(conn, query, from_row)
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
