//! The threat-intel scan and its feeds: fetch every enabled feed at once (one failing feed never
//! fails the others), keep new items once per feed, link them to the techniques they name, and
//! flag those techniques for review with the item as the reason.

use std::time::Duration;

use serde_json::json;

use crate::db::intel::{self as sql, FeedRow, ItemFilter, ItemRow};
use crate::db::{Db, catalogue};
use crate::error::AppError;
use crate::intel::feed::{self, FeedItem};
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::time;

const FEEDS_SEEDED: &str = "intel_feeds_seeded";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedResult {
    pub feed_id: String,
    pub name: String,
    pub ok: bool,
    pub new_items: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    pub new_items: u64,
    /// Techniques flagged for review by this scan's new items.
    pub flagged_techniques: u64,
    pub feeds: Vec<FeedResult>,
}

pub async fn scan(db: &Db, actor: Actor, timeout: Duration) -> Result<ScanReport, AppError> {
    let feeds: Vec<FeedRow> = db.read(sql::feeds).await?.into_iter().filter(|feed| feed.enabled).collect();
    let mut fetches = tokio::task::JoinSet::new();
    for feed in feeds {
        fetches.spawn(async move {
            let items = feed::fetch(&feed.url, timeout).await;
            (feed, items)
        });
    }
    let mut fetched = Vec::new();
    while let Some(result) = fetches.join_next().await {
        fetched.push(result?);
    }
    fetched.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    db.write(move |tx| record_scan(tx, &actor, fetched)).await
}

fn record_scan(
    tx: &rusqlite::Connection,
    actor: &Actor,
    fetched: Vec<(FeedRow, Result<Vec<FeedItem>, String>)>,
) -> Result<ScanReport, AppError> {
    let now = time::now();
    let mut report = ScanReport::default();
    for (mut feed, items) in fetched {
        let mut result =
            FeedResult { feed_id: feed.id.clone(), name: feed.name.clone(), ok: true, new_items: 0, error: None };
        match items {
            Ok(items) => {
                for item in items {
                    if let Some(flagged) = store_item(tx, &feed, item, &now)? {
                        result.new_items += 1;
                        report.flagged_techniques += flagged;
                    }
                }
                feed.last_status = Some("ok".into());
                feed.last_error = None;
            }
            Err(error) => {
                tracing::warn!(feed = feed.name, url = feed.url, error, "threat-intel feed failed");
                result.ok = false;
                result.error = Some(error.clone());
                feed.last_status = Some("error".into());
                feed.last_error = Some(error);
            }
        }
        feed.last_fetched_at = Some(now.clone());
        sql::update_feed(tx, &feed)?;
        report.new_items += result.new_items;
        report.feeds.push(result);
    }
    audit::record(
        tx,
        actor,
        AuditEvent {
            action: AuditAction::IntelScan,
            entity_type: entity::SYSTEM,
            entity_id: None,
            details: json!({
                "new_items": report.new_items,
                "flagged_techniques": report.flagged_techniques,
                "feeds_ok": report.feeds.iter().filter(|f| f.ok).count(),
                "feeds_failed": report.feeds.iter().filter(|f| !f.ok).count(),
            }),
        },
    )?;
    Ok(report)
}

/// Stores an item unless the feed has it already; returns how many techniques it flagged, or
/// `None` when it was not new.
fn store_item(tx: &rusqlite::Connection, feed: &FeedRow, item: FeedItem, now: &str) -> Result<Option<u64>, AppError> {
    let row = ItemRow {
        id: uuid::Uuid::new_v4().to_string(),
        feed_id: feed.id.clone(),
        feed_name: feed.name.clone(),
        guid: item.guid,
        title: item.title,
        link: item.link,
        published: item.published,
        summary: item.summary,
        technique_ids: item.technique_ids,
        fetched_at: now.to_owned(),
    };
    if !sql::insert_item_if_new(tx, &row)? {
        return Ok(None);
    }
    let mut flagged = 0;
    for mitre_id in &row.technique_ids {
        let Some(technique) = catalogue::find_technique(tx, mitre_id)? else { continue };
        sql::link_item(tx, &row.id, &technique.id)?;
        let reason = format!("Threat intel: \"{}\" ({}) mentions {mitre_id}", row.title, feed.name);
        catalogue::flag_for_review(tx, &technique.id, "intel", &reason, Some(&row.id), now)?;
        flagged += 1;
    }
    Ok(Some(flagged))
}

pub async fn items(db: &Db, filter: ItemFilter) -> Result<(Vec<ItemRow>, i64), AppError> {
    db.read(move |conn| sql::items(conn, &filter)).await
}

/// The feeds named by `AEGIS_INTEL_FEEDS`, stored once on the first start: later edits through the
/// API are the team's, and a restart must not bring back a feed they removed.
pub async fn seed_feeds_once(db: &Db, urls: Vec<String>) -> Result<(), AppError> {
    db.write(move |tx| {
        if sql::meta(tx, FEEDS_SEEDED)?.is_some() {
            return Ok(());
        }
        let now = time::now();
        for url in urls {
            let feed = new_feed_row(name_from_url(&url), url, true, &now);
            match sql::insert_feed(tx, &feed) {
                Err(AppError::Conflict(_)) => {}
                other => other?,
            }
        }
        sql::set_meta(tx, FEEDS_SEEDED, &now)
    })
    .await
}

fn name_from_url(url: &str) -> String {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let name = without_scheme.split(['/', '?']).next().unwrap_or(without_scheme);
    if name.is_empty() { url.chars().take(100).collect() } else { name.chars().take(100).collect() }
}

fn new_feed_row(name: String, url: String, enabled: bool, now: &str) -> FeedRow {
    FeedRow {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        url,
        enabled,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        last_fetched_at: None,
        last_status: None,
        last_error: None,
    }
}

fn check_feed(name: &str, url: &str) -> Result<(String, String), AppError> {
    let (name, url) = (name.trim(), url.trim());
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::validation("a feed name is 1 to 100 printable characters"));
    }
    if url.is_empty() || url.len() > 2_000 || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(AppError::validation("a feed address is an http(s) URL or a file path, without spaces"));
    }
    if url.contains("://") && !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(AppError::validation("only http:// and https:// feed URLs are fetched"));
    }
    Ok((name.to_owned(), url.to_owned()))
}

pub async fn feeds(db: &Db) -> Result<Vec<FeedRow>, AppError> {
    db.read(sql::feeds).await
}

pub async fn create_feed(db: &Db, actor: Actor, name: &str, url: &str, enabled: bool) -> Result<FeedRow, AppError> {
    let (name, url) = check_feed(name, url)?;
    db.write(move |tx| {
        let feed = new_feed_row(name, url, enabled, &time::now());
        sql::insert_feed(tx, &feed)?;
        record_feed_change(tx, &actor, "create", &feed)?;
        Ok(feed)
    })
    .await
}

pub struct FeedChanges {
    pub name: Option<String>,
    pub url: Option<String>,
    pub enabled: Option<bool>,
}

pub async fn update_feed(db: &Db, actor: Actor, id: &str, changes: FeedChanges) -> Result<FeedRow, AppError> {
    let id = id.to_owned();
    db.write(move |tx| {
        let mut feed = sql::find_feed(tx, &id)?.ok_or_else(|| AppError::not_found(format!("no feed {id}")))?;
        let (name, url) =
            check_feed(changes.name.as_deref().unwrap_or(&feed.name), changes.url.as_deref().unwrap_or(&feed.url))?;
        feed.name = name;
        feed.url = url;
        feed.enabled = changes.enabled.unwrap_or(feed.enabled);
        feed.updated_at = time::now();
        sql::update_feed(tx, &feed)?;
        record_feed_change(tx, &actor, "update", &feed)?;
        Ok(feed)
    })
    .await
}

pub async fn delete_feed(db: &Db, actor: Actor, id: &str) -> Result<(), AppError> {
    let id = id.to_owned();
    db.write(move |tx| {
        let feed = sql::find_feed(tx, &id)?.ok_or_else(|| AppError::not_found(format!("no feed {id}")))?;
        sql::delete_feed(tx, &id)?;
        record_feed_change(tx, &actor, "delete", &feed)
    })
    .await
}

/// Feed changes are configuration of the scan: audited as `update_intel_feeds`.
fn record_feed_change(tx: &rusqlite::Connection, actor: &Actor, change: &str, feed: &FeedRow) -> Result<(), AppError> {
    audit::record(
        tx,
        actor,
        AuditEvent {
            action: AuditAction::UpdateIntelFeeds,
            entity_type: entity::INTEL_FEED,
            entity_id: Some(&feed.id),
            details: json!({ "change": change, "name": feed.name, "url": feed.url, "enabled": feed.enabled }),
        },
    )
}
