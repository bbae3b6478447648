//! The technique catalogue as the team uses it: listing with filters, the detail view, techniques
//! created or edited by hand, and marking a technique reviewed.

use std::collections::HashSet;

use serde_json::json;

use crate::auth::CurrentUser;
use crate::db::catalogue::{self as sql, ReviewFlagRow, TacticRow, TechniqueRow};
use crate::db::{self, Db};
use crate::error::AppError;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::service::coverage::CoverageStatus;
use crate::time;

pub const MAX_NAME_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 100_000;
pub const MAX_PLATFORMS: usize = 32;

/// `T1234` or `T1234.001`, upper case.
pub fn is_technique_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    match bytes.len() {
        5 => bytes[0] == b'T' && digits(1..5),
        9 => bytes[0] == b'T' && digits(1..5) && bytes[5] == b'.' && digits(6..9),
        _ => false,
    }
}

/// Accepts `t1059.001` as well as `T1059.001`.
pub fn normalize_technique_id(value: &str) -> Result<String, AppError> {
    let id = value.trim().to_ascii_uppercase();
    if is_technique_id(&id) {
        Ok(id)
    } else {
        Err(AppError::validation(format!("'{value}' is not an ATT&CK technique id like T1234 or T1234.001")))
    }
}

#[derive(Debug, Clone, Default)]
pub struct TechniqueFilter {
    /// A tactic's shortname (`execution`), ATT&CK id (`TA0002`) or name (`Execution`), any case.
    pub tactic: Option<String>,
    pub status: Option<CoverageStatus>,
    pub review_required: Option<bool>,
    /// Matched case-insensitively.
    pub platform: Option<String>,
    /// A case-insensitive substring of the ATT&CK id or the name.
    pub q: Option<String>,
    /// Also list revoked and deprecated techniques.
    pub include_deprecated: bool,
}

impl TechniqueFilter {
    /// No filter at all: the active techniques.
    pub fn is_empty(&self) -> bool {
        let TechniqueFilter { tactic, status, review_required, platform, q, include_deprecated } = self;
        tactic.is_none()
            && status.is_none()
            && review_required.is_none()
            && platform.is_none()
            && q.is_none()
            && !include_deprecated
    }
}

/// Resolves what a user typed for a tactic to its shortname.
pub fn resolve_tactic(tactics: &[TacticRow], value: &str) -> Result<String, AppError> {
    let wanted = value.trim();
    tactics
        .iter()
        .find(|tactic| {
            tactic.shortname.eq_ignore_ascii_case(wanted)
                || tactic.mitre_id.eq_ignore_ascii_case(wanted)
                || tactic.name.eq_ignore_ascii_case(wanted)
        })
        .map(|tactic| tactic.shortname.clone())
        .ok_or_else(|| {
            let known: Vec<&str> = tactics.iter().map(|tactic| tactic.shortname.as_str()).collect();
            AppError::validation(format!("unknown tactic '{value}'; known tactics: {}", known.join(", ")))
        })
}

/// Every technique (descriptions left out) with the tactics, as one read saw them: what listing
/// filters, and what the API keeps rendered while the catalogue version stays the same.
pub struct TechniqueCatalogue {
    /// The `catalogue_version` read before the rows: the rows are at least this new.
    pub version: i64,
    pub tactics: Vec<TacticRow>,
    /// Ordered by ATT&CK id.
    pub techniques: Vec<TechniqueRow>,
}

impl TechniqueCatalogue {
    /// Indexes into `techniques` of those matching `filter`, in order.
    pub fn select(&self, filter: &TechniqueFilter) -> Result<Vec<usize>, AppError> {
        let tactic = match &filter.tactic {
            Some(value) => Some(resolve_tactic(&self.tactics, value)?),
            None => None,
        };
        let platform = filter.platform.as_deref().map(|p| p.trim().to_lowercase());
        let q = filter.q.as_deref().map(|q| q.trim().to_lowercase()).filter(|q| !q.is_empty());
        Ok(self
            .techniques
            .iter()
            .enumerate()
            .filter(|(_, t)| filter.include_deprecated || !(t.revoked || t.deprecated))
            .filter(|(_, t)| tactic.as_ref().is_none_or(|tactic| t.tactics.contains(tactic)))
            .filter(|(_, t)| filter.status.is_none_or(|status| t.status_global == status))
            .filter(|(_, t)| filter.review_required.is_none_or(|flag| t.review_required == flag))
            .filter(|(_, t)| platform.as_ref().is_none_or(|p| t.platforms.contains(p)))
            .filter(|(_, t)| {
                q.as_ref().is_none_or(|q| t.mitre_id.to_lowercase().contains(q) || t.name.to_lowercase().contains(q))
            })
            .map(|(index, _)| index)
            .collect())
    }
}

/// Reads the whole catalogue for listing.
pub async fn load(db: &Db) -> Result<TechniqueCatalogue, AppError> {
    db.read(|conn| {
        let version = sql::catalogue_version(conn)?;
        Ok(TechniqueCatalogue { version, tactics: sql::tactics(conn)?, techniques: sql::all_techniques(conn)? })
    })
    .await
}

/// Techniques matching `filter`, ordered by ATT&CK id, descriptions left out.
pub async fn list(db: &Db, filter: TechniqueFilter) -> Result<Vec<TechniqueRow>, AppError> {
    let catalogue = load(db).await?;
    // `select` gives indexes in ascending order: keep the rows at them, in one pass.
    let mut selected = catalogue.select(&filter)?.into_iter().peekable();
    Ok(catalogue
        .techniques
        .into_iter()
        .enumerate()
        .filter_map(|(index, technique)| selected.next_if_eq(&index).map(|_| technique))
        .collect())
}

/// A technique with what the detail view shows beside it.
pub struct TechniqueDetail {
    pub technique: TechniqueRow,
    pub review_flags: Vec<ReviewFlagRow>,
    pub subtechniques: Vec<(String, String, CoverageStatus)>,
    /// Newest first.
    pub tests: Vec<crate::db::tests::TestRow>,
    /// The newest threat-intel items that name the technique.
    pub intel_items: Vec<crate::db::intel::ItemRow>,
}

pub async fn get(db: &Db, mitre_id: &str) -> Result<TechniqueDetail, AppError> {
    let mitre_id = normalize_technique_id(mitre_id).map_err(|_| not_found(mitre_id))?;
    db.read(move |conn| load_detail(conn, &mitre_id)).await
}

fn load_detail(conn: &rusqlite::Connection, mitre_id: &str) -> Result<TechniqueDetail, AppError> {
    let technique = sql::find_technique(conn, mitre_id)?.ok_or_else(|| not_found(mitre_id))?;
    let review_flags = sql::open_review_flags(conn, &technique.id)?;
    let subtechniques =
        if technique.is_subtechnique { Vec::new() } else { sql::subtechniques(conn, &technique.mitre_id)? };
    let tests = crate::db::tests::for_technique(conn, &technique.id)?;
    let linked =
        crate::db::intel::ItemFilter { technique_id: Some(technique.id.clone()), limit: 20, ..Default::default() };
    let (intel_items, _) = crate::db::intel::items(conn, &linked)?;
    Ok(TechniqueDetail { technique, review_flags, subtechniques, tests, intel_items })
}

fn not_found(mitre_id: &str) -> AppError {
    AppError::not_found(format!("no technique {mitre_id}"))
}

pub struct NewTechnique {
    pub mitre_id: String,
    pub name: String,
    pub description: Option<String>,
    /// One or more tactics (shortname, TA id or name).
    pub tactics: Vec<String>,
    pub platforms: Vec<String>,
}

/// Changes to a technique; `None` leaves a field as it is.
#[derive(Default)]
pub struct TechniqueChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub tactics: Option<Vec<String>>,
    pub platforms: Option<Vec<String>>,
    /// An explicit status that stands until the technique's tests next change.
    pub status_global: Option<CoverageStatus>,
}

fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(AppError::validation(format!("name must be 1 to {MAX_NAME_CHARS} characters")));
    }
    Ok(name.to_owned())
}

fn check_description(description: String) -> Result<String, AppError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(AppError::validation(format!("description must be at most {MAX_DESCRIPTION_CHARS} characters")));
    }
    Ok(description)
}

/// Lowercased, trimmed, deduplicated; ATT&CK's platform names are matched case-insensitively.
pub fn normalize_platforms(platforms: &[String]) -> Result<Vec<String>, AppError> {
    if platforms.len() > MAX_PLATFORMS {
        return Err(AppError::validation(format!("at most {MAX_PLATFORMS} platforms")));
    }
    let mut seen = HashSet::new();
    let mut normalized = Vec::new();
    for platform in platforms {
        let platform = platform.trim().to_lowercase();
        if platform.is_empty() || platform.chars().count() > 64 || platform.chars().any(char::is_control) {
            return Err(AppError::validation("platform names must be 1 to 64 printable characters"));
        }
        if seen.insert(platform.clone()) {
            normalized.push(platform);
        }
    }
    Ok(normalized)
}

/// Resolves tactic names to shortnames, in matrix order, refusing unknown ones and an empty list.
fn resolve_tactics(conn: &rusqlite::Connection, requested: &[String]) -> Result<Vec<String>, AppError> {
    if requested.is_empty() {
        return Err(AppError::validation("a technique needs at least one tactic"));
    }
    let tactics = sql::tactics(conn)?;
    let mut resolved = Vec::new();
    for value in requested {
        let shortname = resolve_tactic(&tactics, value)?;
        if !resolved.contains(&shortname) {
            resolved.push(shortname);
        }
    }
    resolved.sort_by_key(|shortname| tactics.iter().position(|tactic| &tactic.shortname == shortname));
    Ok(resolved)
}

pub async fn create(db: &Db, user: &CurrentUser, new: NewTechnique) -> Result<TechniqueDetail, AppError> {
    let mitre_id = normalize_technique_id(&new.mitre_id)?;
    let name = check_name(&new.name)?;
    let description = check_description(new.description.unwrap_or_default())?;
    let platforms = normalize_platforms(&new.platforms)?;
    let actor = Actor::from(user);
    db.write(move |tx| {
        let tactics = resolve_tactics(tx, &new.tactics)?;
        let parent_mitre_id = mitre_id.split_once('.').map(|(parent, _)| parent.to_owned());
        if let Some(parent) = &parent_mitre_id
            && sql::find_technique(tx, parent)?.is_none()
        {
            return Err(AppError::validation(format!("parent technique {parent} does not exist")));
        }
        let now = time::now();
        let technique = TechniqueRow {
            id: uuid::Uuid::new_v4().to_string(),
            mitre_id: mitre_id.clone(),
            stix_id: None,
            name,
            description,
            platforms,
            is_subtechnique: parent_mitre_id.is_some(),
            parent_mitre_id,
            url: None,
            stix_version: None,
            stix_modified: None,
            revoked: false,
            deprecated: false,
            upstream_hash: None,
            status_global: CoverageStatus::NotEvaluated,
            test_count: 0,
            review_required: false,
            reviewed_by: None,
            reviewed_by_name: None,
            reviewed_at: None,
            created_at: now.clone(),
            updated_at: now,
            tactics: tactics.clone(),
        };
        sql::insert_technique(tx, &technique)?;
        sql::set_technique_tactics(tx, &technique.id, &tactics)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::CreateTechnique,
                entity_type: entity::TECHNIQUE,
                entity_id: Some(&technique.id),
                details: json!({ "mitre_id": technique.mitre_id, "name": technique.name, "tactics": tactics }),
            },
        )?;
        load_detail(tx, &mitre_id)
    })
    .await
}

pub async fn update(
    db: &Db,
    user: &CurrentUser,
    mitre_id: &str,
    changes: TechniqueChanges,
) -> Result<TechniqueDetail, AppError> {
    let mitre_id = normalize_technique_id(mitre_id).map_err(|_| not_found(mitre_id))?;
    let name = changes.name.as_deref().map(check_name).transpose()?;
    let description = changes.description.map(check_description).transpose()?;
    let platforms = changes.platforms.as_deref().map(normalize_platforms).transpose()?;
    let actor = Actor::from(user);
    db.write(move |tx| {
        let mut technique = sql::find_technique(tx, &mitre_id)?.ok_or_else(|| not_found(&mitre_id))?;
        let tactics = changes.tactics.as_deref().map(|tactics| resolve_tactics(tx, tactics)).transpose()?;
        let mut changed = serde_json::Map::new();
        if let Some(name) = name.filter(|name| *name != technique.name) {
            changed.insert("name".into(), json!({ "from": technique.name, "to": name }));
            technique.name = name;
        }
        if let Some(description) = description.filter(|d| *d != technique.description) {
            changed.insert("description".into(), json!("changed"));
            technique.description = description;
        }
        if let Some(platforms) = platforms.filter(|p| *p != technique.platforms) {
            changed.insert("platforms".into(), json!({ "from": technique.platforms, "to": platforms }));
            technique.platforms = platforms;
        }
        if let Some(status) = changes.status_global.filter(|s| *s != technique.status_global) {
            changed.insert(
                "status_global".into(),
                json!({ "from": technique.status_global.as_str(), "to": status.as_str() }),
            );
            technique.status_global = status;
        }
        if let Some(tactics) = tactics.filter(|t| *t != technique.tactics) {
            changed.insert("tactics".into(), json!({ "from": technique.tactics, "to": tactics }));
            sql::set_technique_tactics(tx, &technique.id, &tactics)?;
            technique.tactics = tactics;
        }
        if !changed.is_empty() {
            technique.updated_at = time::now();
            sql::update_technique(tx, &technique)?;
            audit::record(
                tx,
                &actor,
                AuditEvent {
                    action: AuditAction::UpdateTechnique,
                    entity_type: entity::TECHNIQUE,
                    entity_id: Some(&technique.id),
                    details: json!({ "mitre_id": technique.mitre_id, "changes": changed }),
                },
            )?;
        }
        load_detail(tx, &mitre_id)
    })
    .await
}

/// Marks a technique reviewed: clears its open flags and records who and when.
pub async fn mark_reviewed(db: &Db, user: &CurrentUser, mitre_id: &str) -> Result<TechniqueDetail, AppError> {
    let mitre_id = normalize_technique_id(mitre_id).map_err(|_| not_found(mitre_id))?;
    let actor = Actor::from(user);
    let (user_id, username) = (user.id.clone(), user.username.clone());
    db.write(move |tx| {
        let mut technique = sql::find_technique(tx, &mitre_id)?.ok_or_else(|| not_found(&mitre_id))?;
        let now = time::now();
        let cleared = sql::clear_review_flags(tx, &technique.id, &user_id, &now)?;
        let was_flagged = technique.review_required;
        technique.review_required = false;
        technique.reviewed_by = Some(user_id);
        technique.reviewed_by_name = Some(username);
        technique.reviewed_at = Some(now.clone());
        technique.updated_at = now;
        sql::update_technique(tx, &technique)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::ReviewTechnique,
                entity_type: entity::TECHNIQUE,
                entity_id: Some(&technique.id),
                details: json!({ "mitre_id": technique.mitre_id, "was_flagged": was_flagged, "flags_cleared": cleared }),
            },
        )?;
        load_detail(tx, &mitre_id)
    })
    .await
}

pub async fn tactics(db: &Db) -> Result<Vec<TacticRow>, AppError> {
    db.read(sql::tactics).await
}

/// Whether the catalogue holds any technique (first start seeds an empty one).
pub async fn is_empty(db: &Db) -> Result<bool, AppError> {
    Ok(db.read(db::catalogue::technique_count).await? == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_ids() {
        for good in ["T1059", "T1059.001", "T0800"] {
            assert!(is_technique_id(good), "{good}");
        }
        for bad in ["T105", "T10590", "T1059.1", "T1059.0001", "t1059", "AT1059", "T1059.", "TA0001", "", "T12345"] {
            assert!(!is_technique_id(bad), "{bad}");
        }
        assert_eq!(normalize_technique_id(" t1059.001 ").unwrap(), "T1059.001");
    }

    #[test]
    fn platforms_are_normalized() {
        let input = vec!["Windows".to_owned(), " windows ".into(), "Network Devices".into()];
        assert_eq!(normalize_platforms(&input).unwrap(), ["windows", "network devices"]);
        assert!(normalize_platforms(&["".to_owned()]).is_err());
    }
}
