//! SQL for the `users` table.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::auth::Role;
use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    pub token_version: i64,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, username, email, password_hash, role, is_active, token_version, created_at, updated_at";

fn from_row(row: &Row<'_>) -> rusqlite::Result<UserRow> {
    let role: String = row.get(4)?;
    Ok(UserRow {
        id: row.get(0)?,
        username: row.get(1)?,
        email: row.get(2)?,
        password_hash: row.get(3)?,
        role: role.parse().map_err(|err: String| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, err.into())
        })?,
        is_active: row.get(5)?,
        token_version: row.get(6)?,
        created_at: row.get(7)?,
        updated_at: row.get(8)?,
    })
}

/// Inserts a user; a taken username (case-insensitive) is a `Conflict`.
pub fn insert(conn: &Connection, user: &UserRow) -> Result<(), AppError> {
    let result = conn.execute(
        &format!("INSERT INTO users ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            user.id,
            user.username,
            user.email,
            user.password_hash,
            user.role.as_str(),
            user.is_active,
            user.token_version,
            user.created_at,
            user.updated_at
        ],
    );
    match result {
        Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(AppError::conflict(format!("username '{}' is already taken", user.username)))
        }
        other => other.map(drop).map_err(AppError::from),
    }
}

/// Writes every mutable column of an existing user.
pub fn update(conn: &Connection, user: &UserRow) -> Result<(), AppError> {
    conn.execute(
        "UPDATE users SET email = ?2, password_hash = ?3, role = ?4, is_active = ?5,
                          token_version = ?6, updated_at = ?7
         WHERE id = ?1",
        params![
            user.id,
            user.email,
            user.password_hash,
            user.role.as_str(),
            user.is_active,
            user.token_version,
            user.updated_at
        ],
    )?;
    Ok(())
}

pub fn find_by_id(conn: &Connection, id: &str) -> Result<Option<UserRow>, AppError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE id = ?1"))?
        .query_row([id], from_row)
        .optional()?)
}

/// The user, and the catalogue's version read in the same statement (so in one snapshot and one
/// lock of the database file): every authenticated request needs the user, and the catalogue views
/// (`crate::api::prepared`) need the version, so a request for them reads the database once.
pub fn find_by_id_with_catalogue_version(conn: &Connection, id: &str) -> Result<Option<(UserRow, i64)>, AppError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, (SELECT version FROM catalogue_version WHERE id = 1) FROM users WHERE id = ?1"
        ))?
        .query_row([id], |row| Ok((from_row(row)?, row.get::<_, i64>(9)?)))
        .optional()?)
}

pub fn find_by_username(conn: &Connection, username: &str) -> Result<Option<UserRow>, AppError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM users WHERE username = ?1"))?
        .query_row([username], from_row)
        .optional()?)
}

pub fn list(conn: &Connection) -> Result<Vec<UserRow>, AppError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    let rows = stmt.query_map([], from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn count(conn: &Connection) -> Result<i64, AppError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM users", [], |row| row.get(0))?)
}

pub fn count_active_admins(conn: &Connection) -> Result<i64, AppError> {
    Ok(conn.query_row("SELECT COUNT(*) FROM users WHERE role = 'admin' AND is_active = 1", [], |row| row.get(0))?)
}
