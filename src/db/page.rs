//! One page of a filtered list and the count of all matches: the shape every list endpoint shares.

use rusqlite::{Connection, Row, ToSql, params_from_iter};

use crate::error::AppError;

/// A query for one page: where the rows come from, which optional conditions apply, and the order.
pub struct PageQuery<'a> {
    /// `FROM …` for counting (no joins needed just to count).
    pub count_from: &'a str,
    /// `SELECT … FROM …` for the rows.
    pub select: &'a str,
    pub order_by: &'a str,
    /// `(condition with one ?, value)`; conditions whose value is `None` are left out.
    pub conditions: Vec<(&'static str, Option<&'a String>)>,
    pub limit: i64,
    pub offset: i64,
}

/// The page's rows and how many rows match in all.
pub fn fetch<T>(
    conn: &Connection,
    query: PageQuery<'_>,
    map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<(Vec<T>, i64), AppError> {
    let mut clauses = Vec::new();
    let mut values: Vec<&dyn ToSql> = Vec::new();
    for (clause, value) in query.conditions {
        if let Some(value) = value {
            clauses.push(clause);
            values.push(value);
        }
    }
    let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let total: i64 = conn
        .prepare_cached(&format!("SELECT COUNT(*) {} {where_sql}", query.count_from))?
        .query_row(params_from_iter(values.iter()), |row| row.get(0))?;
    values.push(&query.limit);
    values.push(&query.offset);
    let mut stmt =
        conn.prepare_cached(&format!("{} {where_sql} ORDER BY {} LIMIT ? OFFSET ?", query.select, query.order_by))?;
    let rows = stmt.query_map(params_from_iter(values.iter()), map)?.collect::<rusqlite::Result<_>>()?;
    Ok((rows, total))
}
