//! SQL for red-team `tests` and their `evidence` rows.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::page::{self, PageQuery};

use crate::error::AppError;
use crate::service::coverage::TestTally;

#[derive(Debug, Clone)]
pub struct TestRow {
    pub id: String,
    pub technique_id: String,
    pub name: String,
    pub description: String,
    pub platform: String,
    pub procedure_text: String,
    pub tool_used: String,
    pub state: String,
    pub result: Option<String>,
    pub validation_comments: Option<String>,
    pub validated_by: Option<String>,
    pub validated_by_name: Option<String>,
    pub validated_at: Option<String>,
    pub rejection_comments: Option<String>,
    pub rejected_by: Option<String>,
    pub rejected_by_name: Option<String>,
    pub rejected_at: Option<String>,
    pub created_by: String,
    pub created_by_name: String,
    pub created_at: String,
    pub updated_at: String,
    /// Joined from the technique, for display.
    pub technique_mitre_id: String,
    pub technique_name: String,
    pub evidence_count: i64,
}

const TEST_COLUMNS: &str = "t.id, t.technique_id, t.name, t.description, t.platform, t.procedure_text, t.tool_used,
     t.state, t.result, t.validation_comments, t.validated_by, t.validated_by_name, t.validated_at,
     t.rejection_comments, t.rejected_by, t.rejected_by_name, t.rejected_at, t.created_by, t.created_by_name,
     t.created_at, t.updated_at, q.mitre_id, q.name,
     (SELECT COUNT(*) FROM evidence e WHERE e.test_id = t.id)";

const TEST_FROM: &str = "FROM tests t JOIN techniques q ON q.id = t.technique_id";

fn test_from_row(row: &Row<'_>) -> rusqlite::Result<TestRow> {
    Ok(TestRow {
        id: row.get(0)?,
        technique_id: row.get(1)?,
        name: row.get(2)?,
        description: row.get(3)?,
        platform: row.get(4)?,
        procedure_text: row.get(5)?,
        tool_used: row.get(6)?,
        state: row.get(7)?,
        result: row.get(8)?,
        validation_comments: row.get(9)?,
        validated_by: row.get(10)?,
        validated_by_name: row.get(11)?,
        validated_at: row.get(12)?,
        rejection_comments: row.get(13)?,
        rejected_by: row.get(14)?,
        rejected_by_name: row.get(15)?,
        rejected_at: row.get(16)?,
        created_by: row.get(17)?,
        created_by_name: row.get(18)?,
        created_at: row.get(19)?,
        updated_at: row.get(20)?,
        technique_mitre_id: row.get(21)?,
        technique_name: row.get(22)?,
        evidence_count: row.get(23)?,
    })
}

pub fn insert(conn: &Connection, test: &TestRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO tests (id, technique_id, name, description, platform, procedure_text, tool_used, state,
             created_by, created_by_name, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        test.id,
        test.technique_id,
        test.name,
        test.description,
        test.platform,
        test.procedure_text,
        test.tool_used,
        test.state,
        test.created_by,
        test.created_by_name,
        test.created_at,
        test.updated_at
    ])?;
    Ok(())
}

/// Writes every mutable column of an existing test.
pub fn update(conn: &Connection, test: &TestRow) -> Result<(), AppError> {
    conn.prepare_cached(
        "UPDATE tests SET name = ?2, description = ?3, platform = ?4, procedure_text = ?5, tool_used = ?6,
             state = ?7, result = ?8, validation_comments = ?9, validated_by = ?10, validated_by_name = ?11,
             validated_at = ?12, rejection_comments = ?13, rejected_by = ?14, rejected_by_name = ?15,
             rejected_at = ?16, updated_at = ?17
         WHERE id = ?1",
    )?
    .execute(params![
        test.id,
        test.name,
        test.description,
        test.platform,
        test.procedure_text,
        test.tool_used,
        test.state,
        test.result,
        test.validation_comments,
        test.validated_by,
        test.validated_by_name,
        test.validated_at,
        test.rejection_comments,
        test.rejected_by,
        test.rejected_by_name,
        test.rejected_at,
        test.updated_at
    ])?;
    Ok(())
}

pub fn delete(conn: &Connection, id: &str) -> Result<(), AppError> {
    conn.prepare_cached("DELETE FROM tests WHERE id = ?1")?.execute([id])?;
    Ok(())
}

pub fn find(conn: &Connection, id: &str) -> Result<Option<TestRow>, AppError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {TEST_COLUMNS} {TEST_FROM} WHERE t.id = ?1"))?
        .query_row([id], test_from_row)
        .optional()?)
}

/// A technique's tests, newest first.
pub fn for_technique(conn: &Connection, technique_id: &str) -> Result<Vec<TestRow>, AppError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TEST_COLUMNS} {TEST_FROM} WHERE t.technique_id = ?1 ORDER BY t.created_at DESC, t.id"
    ))?;
    let rows = stmt.query_map([technique_id], test_from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

#[derive(Debug, Clone, Default)]
pub struct TestFilter {
    pub technique_id: Option<String>,
    pub state: Option<String>,
    pub result: Option<String>,
    pub platform: Option<String>,
    pub created_by: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of tests, newest first, and how many match.
pub fn list(conn: &Connection, filter: &TestFilter) -> Result<(Vec<TestRow>, i64), AppError> {
    let select = format!("SELECT {TEST_COLUMNS} {TEST_FROM}");
    let query = PageQuery {
        count_from: "FROM tests t",
        select: &select,
        order_by: "t.created_at DESC, t.id",
        conditions: vec![
            ("t.technique_id = ?", filter.technique_id.as_ref()),
            ("t.state = ?", filter.state.as_ref()),
            ("t.result = ?", filter.result.as_ref()),
            ("t.platform = ?", filter.platform.as_ref()),
            ("t.created_by = ?", filter.created_by.as_ref()),
        ],
        limit: filter.limit,
        offset: filter.offset,
    };
    page::fetch(conn, query, test_from_row)
}

/// A technique's tests counted for the status roll-up: one row of the counts the triggers of
/// migration 0009 keep, however many tests the technique has.
pub fn tally(conn: &Connection, technique_id: &str) -> Result<TestTally, AppError> {
    let counted = conn
        .prepare_cached(
            "SELECT total, detected, partially_detected, not_detected FROM technique_test_tally WHERE technique_id = ?1",
        )?
        .query_row([technique_id], |row| {
            Ok(TestTally {
                total: row.get::<_, i64>(0)? as u64,
                detected: row.get::<_, i64>(1)? as u64,
                partially_detected: row.get::<_, i64>(2)? as u64,
                not_detected: row.get::<_, i64>(3)? as u64,
            })
        })
        .optional()?;
    Ok(counted.unwrap_or_default())
}

#[derive(Debug, Clone)]
pub struct EvidenceRow {
    pub id: String,
    pub test_id: String,
    pub file_name: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub content_type: Option<String>,
    pub uploaded_by: String,
    pub uploaded_by_name: String,
    pub uploaded_at: String,
}

const EVIDENCE_COLUMNS: &str =
    "id, test_id, file_name, sha256, size_bytes, content_type, uploaded_by, uploaded_by_name, uploaded_at";

fn evidence_from_row(row: &Row<'_>) -> rusqlite::Result<EvidenceRow> {
    Ok(EvidenceRow {
        id: row.get(0)?,
        test_id: row.get(1)?,
        file_name: row.get(2)?,
        sha256: row.get(3)?,
        size_bytes: row.get(4)?,
        content_type: row.get(5)?,
        uploaded_by: row.get(6)?,
        uploaded_by_name: row.get(7)?,
        uploaded_at: row.get(8)?,
    })
}

pub fn insert_evidence(conn: &Connection, evidence: &EvidenceRow) -> Result<(), AppError> {
    conn.prepare_cached(&format!(
        "INSERT INTO evidence ({EVIDENCE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?
    .execute(params![
        evidence.id,
        evidence.test_id,
        evidence.file_name,
        evidence.sha256,
        evidence.size_bytes,
        evidence.content_type,
        evidence.uploaded_by,
        evidence.uploaded_by_name,
        evidence.uploaded_at
    ])?;
    Ok(())
}

pub fn find_evidence(conn: &Connection, id: &str) -> Result<Option<EvidenceRow>, AppError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE id = ?1"))?
        .query_row([id], evidence_from_row)
        .optional()?)
}

pub fn evidence_of_test(conn: &Connection, test_id: &str) -> Result<Vec<EvidenceRow>, AppError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {EVIDENCE_COLUMNS} FROM evidence WHERE test_id = ?1 ORDER BY uploaded_at, id"
    ))?;
    let rows = stmt.query_map([test_id], evidence_from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn delete_evidence(conn: &Connection, id: &str) -> Result<(), AppError> {
    conn.prepare_cached("DELETE FROM evidence WHERE id = ?1")?.execute([id])?;
    Ok(())
}

pub fn blob_is_referenced(conn: &Connection, sha256: &str) -> Result<bool, AppError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM evidence WHERE sha256 = ?1 LIMIT 1")?
        .query_row([sha256], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Keeps the technique's maintained status and test count in step with its tests.
pub fn set_technique_rollup(
    conn: &Connection,
    technique_id: &str,
    status: &str,
    test_count: i64,
) -> Result<(), AppError> {
    conn.prepare_cached("UPDATE techniques SET status_global = ?2, test_count = ?3 WHERE id = ?1")?
        .execute(params![technique_id, status, test_count])?;
    Ok(())
}
