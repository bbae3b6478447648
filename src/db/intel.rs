//! SQL for threat-intel feeds, items and their links to techniques, and the install's meta facts.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::page::{self, PageQuery};

use crate::error::AppError;

#[derive(Debug, Clone)]
pub struct FeedRow {
    pub id: String,
    pub name: String,
    pub url: String,
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub last_fetched_at: Option<String>,
    pub last_status: Option<String>,
    pub last_error: Option<String>,
}

const FEED_COLUMNS: &str = "id, name, url, enabled, created_at, updated_at, last_fetched_at, last_status, last_error";

fn feed_from_row(row: &Row<'_>) -> rusqlite::Result<FeedRow> {
    Ok(FeedRow {
        id: row.get(0)?,
        name: row.get(1)?,
        url: row.get(2)?,
        enabled: row.get(3)?,
        created_at: row.get(4)?,
        updated_at: row.get(5)?,
        last_fetched_at: row.get(6)?,
        last_status: row.get(7)?,
        last_error: row.get(8)?,
    })
}

pub fn feeds(conn: &Connection) -> Result<Vec<FeedRow>, AppError> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM intel_feeds ORDER BY name, id"))?;
    let rows = stmt.query_map([], feed_from_row)?.collect::<rusqlite::Result<_>>()?;
    Ok(rows)
}

pub fn find_feed(conn: &Connection, id: &str) -> Result<Option<FeedRow>, AppError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {FEED_COLUMNS} FROM intel_feeds WHERE id = ?1"))?
        .query_row([id], feed_from_row)
        .optional()?)
}

fn conflict_on_url(result: rusqlite::Result<usize>, url: &str) -> Result<(), AppError> {
    match result {
        Err(rusqlite::Error::SqliteFailure(err, _)) if err.code == rusqlite::ErrorCode::ConstraintViolation => {
            Err(AppError::conflict(format!("a feed with the address {url} exists already")))
        }
        other => other.map(drop).map_err(AppError::from),
    }
}

pub fn insert_feed(conn: &Connection, feed: &FeedRow) -> Result<(), AppError> {
    let result = conn
        .prepare_cached(&format!(
            "INSERT INTO intel_feeds ({FEED_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))?
        .execute(params![
            feed.id,
            feed.name,
            feed.url,
            feed.enabled,
            feed.created_at,
            feed.updated_at,
            feed.last_fetched_at,
            feed.last_status,
            feed.last_error
        ]);
    conflict_on_url(result, &feed.url)
}

pub fn update_feed(conn: &Connection, feed: &FeedRow) -> Result<(), AppError> {
    let result = conn
        .prepare_cached(
            "UPDATE intel_feeds SET name = ?2, url = ?3, enabled = ?4, updated_at = ?5, last_fetched_at = ?6,
                 last_status = ?7, last_error = ?8
             WHERE id = ?1",
        )?
        .execute(params![
            feed.id,
            feed.name,
            feed.url,
            feed.enabled,
            feed.updated_at,
            feed.last_fetched_at,
            feed.last_status,
            feed.last_error
        ]);
    conflict_on_url(result, &feed.url)
}

pub fn delete_feed(conn: &Connection, id: &str) -> Result<(), AppError> {
    conn.prepare_cached("DELETE FROM intel_feeds WHERE id = ?1")?.execute([id])?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct ItemRow {
    pub id: String,
    pub feed_id: String,
    pub feed_name: String,
    pub guid: String,
    pub title: String,
    pub link: Option<String>,
    pub published: Option<String>,
    pub summary: String,
    pub technique_ids: Vec<String>,
    pub fetched_at: String,
}

const ITEM_COLUMNS: &str = "i.id, i.feed_id, f.name, i.guid, i.title, i.link, i.published, i.summary, i.technique_ids,
     i.fetched_at";

fn item_from_row(row: &Row<'_>) -> rusqlite::Result<ItemRow> {
    let ids: String = row.get(8)?;
    Ok(ItemRow {
        id: row.get(0)?,
        feed_id: row.get(1)?,
        feed_name: row.get(2)?,
        guid: row.get(3)?,
        title: row.get(4)?,
        link: row.get(5)?,
        published: row.get(6)?,
        summary: row.get(7)?,
        technique_ids: serde_json::from_str(&ids).unwrap_or_default(),
        fetched_at: row.get(9)?,
    })
}

/// Inserts an item unless the feed already has one with its guid; returns whether it was new.
pub fn insert_item_if_new(conn: &Connection, item: &ItemRow) -> Result<bool, AppError> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO intel_items (id, feed_id, guid, title, link, published, summary, technique_ids, fetched_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (feed_id, guid) DO NOTHING",
        )?
        .execute(params![
            item.id,
            item.feed_id,
            item.guid,
            item.title,
            item.link,
            item.published,
            item.summary,
            serde_json::to_string(&item.technique_ids).expect("strings serialize"),
            item.fetched_at
        ])?;
    Ok(inserted == 1)
}

pub fn link_item(conn: &Connection, item_id: &str, technique_id: &str) -> Result<(), AppError> {
    conn.prepare_cached("INSERT OR IGNORE INTO intel_item_techniques (item_id, technique_id) VALUES (?1, ?2)")?
        .execute([item_id, technique_id])?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    pub technique_id: Option<String>,
    pub feed_id: Option<String>,
    pub since: Option<String>,
    pub offset: i64,
    pub limit: i64,
}

/// One page of items, newest first, and how many match.
pub fn items(conn: &Connection, filter: &ItemFilter) -> Result<(Vec<ItemRow>, i64), AppError> {
    let select = format!("SELECT {ITEM_COLUMNS} FROM intel_items i JOIN intel_feeds f ON f.id = i.feed_id");
    let query = PageQuery {
        count_from: "FROM intel_items i",
        select: &select,
        order_by: "COALESCE(i.published, i.fetched_at) DESC, i.id",
        conditions: vec![
            (
                "i.id IN (SELECT item_id FROM intel_item_techniques WHERE technique_id = ?)",
                filter.technique_id.as_ref(),
            ),
            ("i.feed_id = ?", filter.feed_id.as_ref()),
            ("COALESCE(i.published, i.fetched_at) >= ?", filter.since.as_ref()),
        ],
        limit: filter.limit,
        offset: filter.offset,
    };
    page::fetch(conn, query, item_from_row)
}

pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>, AppError> {
    Ok(conn
        .prepare_cached("SELECT value FROM app_meta WHERE key = ?1")?
        .query_row([key], |row| row.get(0))
        .optional()?)
}

pub fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<(), AppError> {
    conn.prepare_cached(
        "INSERT INTO app_meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
    )?
    .execute([key, value])?;
    Ok(())
}
