//! Catalogue sync: read a bundle (configured source, a file, an upload or the embedded one), parse
//! it off the async threads, and apply it in one transaction: new techniques inserted, changed ones
//! updated (and flagged for review when they have tests), revoked or deprecated ones marked, none
//! deleted. Every run, failed ones included, is recorded and audited.

use std::collections::{HashMap, HashSet};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::attack::source::{self, FetchError};
use crate::attack::stix::{self, Bundle, Technique};
use crate::db::Db;
use crate::db::catalogue::{self as sql, SyncRunRow, TacticRow, TechniqueRow};
use crate::error::AppError;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::service::coverage::CoverageStatus;
use crate::time;

/// Where this sync's bundle comes from.
pub enum BundleOrigin {
    /// `AEGIS_MITRE_SOURCE`: a URL or a file path.
    Configured(String),
    /// A file named on the command line.
    File(String),
    /// Bytes uploaded through the API.
    Upload(Vec<u8>),
    /// A bundle compiled into the binary.
    Embedded { name: String, bytes: Vec<u8> },
}

impl BundleOrigin {
    fn label(&self) -> String {
        match self {
            BundleOrigin::Configured(source) | BundleOrigin::File(source) => source.clone(),
            BundleOrigin::Upload(_) => "upload".into(),
            BundleOrigin::Embedded { name, .. } => format!("embedded:{name}"),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Active techniques added.
    pub new: u64,
    /// Techniques whose ATT&CK content changed.
    pub updated: u64,
    /// Techniques that became revoked or deprecated (or arrived so).
    pub deprecated: u64,
    pub unchanged: u64,
    /// Techniques flagged for review because their definition changed while they have tests.
    pub flagged_for_review: u64,
    pub attack_version: Option<String>,
    pub source: String,
}

impl SyncReport {
    /// `5 new, 10 updated, 1 deprecated, 675 unchanged, 2 flagged for review`.
    pub fn summary(&self) -> String {
        format!(
            "{} new, {} updated, {} deprecated, {} unchanged, {} flagged for review",
            self.new, self.updated, self.deprecated, self.unchanged, self.flagged_for_review
        )
    }
}

pub async fn sync(db: &Db, actor: Actor, origin: BundleOrigin) -> Result<SyncReport, AppError> {
    let started_at = time::now();
    let label = origin.label();
    let outcome = fetch_and_apply(db, &actor, origin, &label, &started_at).await;
    if let Err(err) = &outcome {
        record_failure(db, &actor, &label, &started_at, err).await;
    }
    outcome
}

async fn fetch_and_apply(
    db: &Db,
    actor: &Actor,
    origin: BundleOrigin,
    label: &str,
    started_at: &str,
) -> Result<SyncReport, AppError> {
    let bytes = match origin {
        BundleOrigin::Configured(source) | BundleOrigin::File(source) => {
            if source.is_empty() {
                return Err(AppError::validation(
                    "no ATT&CK source is configured: set AEGIS_MITRE_SOURCE or upload a bundle",
                ));
            }
            source::fetch(&source).await.map_err(|err| match err {
                FetchError::Unreachable(message) => AppError::UpstreamUnavailable(message),
                FetchError::TooLarge => AppError::InvalidBundle(err.to_string()),
            })?
        }
        BundleOrigin::Upload(bytes) | BundleOrigin::Embedded { bytes, .. } => bytes,
    };
    let bundle = tokio::task::spawn_blocking(move || stix::parse(&bytes))
        .await?
        .map_err(|err| AppError::InvalidBundle(format!("not a usable ATT&CK bundle: {err}")))?;

    let actor = actor.clone();
    let label = label.to_owned();
    let started_at = started_at.to_owned();
    db.write(move |tx| {
        let mut report = apply(tx, &bundle)?;
        report.source = label.clone();
        let finished_at = time::now();
        sql::insert_sync_run(
            tx,
            &SyncRunRow {
                id: uuid::Uuid::new_v4().to_string(),
                started_at,
                finished_at,
                source: label,
                triggered_by: actor_name(&actor),
                outcome: "ok".into(),
                new_count: report.new as i64,
                updated_count: report.updated as i64,
                deprecated_count: report.deprecated as i64,
                attack_version: report.attack_version.clone(),
                message: report.summary(),
            },
        )?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::SyncMitre,
                entity_type: entity::SYSTEM,
                entity_id: None,
                details: json!({
                    "outcome": "ok",
                    "source": report.source,
                    "new": report.new,
                    "updated": report.updated,
                    "deprecated": report.deprecated,
                    "flagged_for_review": report.flagged_for_review,
                    "attack_version": report.attack_version,
                }),
            },
        )?;
        Ok(report)
    })
    .await
}

async fn record_failure(db: &Db, actor: &Actor, label: &str, started_at: &str, err: &AppError) {
    let (actor, label, started_at) = (actor.clone(), label.to_owned(), started_at.to_owned());
    // Internal causes stay in the log; the recorded message is what a client would have seen.
    let message = match err {
        AppError::Internal(_) => "internal error".to_owned(),
        other => other.to_string(),
    };
    let result = db
        .write(move |tx| {
            sql::insert_sync_run(
                tx,
                &SyncRunRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    started_at,
                    finished_at: time::now(),
                    source: label.clone(),
                    triggered_by: actor_name(&actor),
                    outcome: "failed".into(),
                    new_count: 0,
                    updated_count: 0,
                    deprecated_count: 0,
                    attack_version: None,
                    message: message.clone(),
                },
            )?;
            audit::record(
                tx,
                &actor,
                AuditEvent {
                    action: AuditAction::SyncMitre,
                    entity_type: entity::SYSTEM,
                    entity_id: None,
                    details: json!({ "outcome": "failed", "source": label, "error": message }),
                },
            )
        })
        .await;
    if let Err(record_err) = result {
        tracing::error!(error = %record_err, "could not record a failed ATT&CK sync");
    }
}

fn actor_name(actor: &Actor) -> String {
    match actor {
        Actor::User { username, .. } => username.clone(),
        Actor::System(name) => (*name).to_owned(),
    }
}

/// The fingerprint of a technique's ATT&CK content: equal fingerprints mean nothing to update.
pub fn content_hash(technique: &Technique) -> String {
    let mut hasher = Sha256::new();
    let mut field = |value: &str| {
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value.as_bytes());
    };
    field(&technique.mitre_id);
    field(&technique.stix_id);
    field(&technique.name);
    field(&technique.description);
    field(&technique.tactics.join("\u{1f}"));
    field(&technique.platforms.join("\u{1f}"));
    field(if technique.is_subtechnique { "sub" } else { "technique" });
    field(technique.parent_mitre_id.as_deref().unwrap_or(""));
    field(technique.version.as_deref().unwrap_or(""));
    field(technique.modified.as_deref().unwrap_or(""));
    field(technique.url.as_deref().unwrap_or(""));
    field(if technique.revoked { "revoked" } else { "" });
    field(if technique.deprecated { "deprecated" } else { "" });
    hex::encode(hasher.finalize())
}

/// Enterprise, ICS and Mobile ATT&CK share tactic shortnames (`execution`) under different ids
/// (TA0002, TA0104): a bundle from another domain would overwrite the catalogue's tactics.
fn refuse_another_domain(tx: &rusqlite::Connection, bundle: &Bundle) -> Result<(), AppError> {
    let existing: HashMap<String, String> =
        sql::tactics(tx)?.into_iter().map(|tactic| (tactic.shortname, tactic.mitre_id)).collect();
    for tactic in &bundle.tactics {
        if let Some(known_id) = existing.get(&tactic.shortname)
            && *known_id != tactic.mitre_id
        {
            return Err(AppError::InvalidBundle(format!(
                "the bundle's tactic '{}' is {} but the catalogue's is {known_id}: the bundle belongs to another \
                 ATT&CK domain (Enterprise, ICS and Mobile are separate catalogues)",
                tactic.shortname, tactic.mitre_id
            )));
        }
    }
    Ok(())
}

/// Applies a parsed bundle inside the caller's transaction.
pub fn apply(tx: &rusqlite::Connection, bundle: &Bundle) -> Result<SyncReport, AppError> {
    refuse_another_domain(tx, bundle)?;
    for (position, tactic) in bundle.tactics.iter().enumerate() {
        sql::upsert_tactic(
            tx,
            &TacticRow {
                shortname: tactic.shortname.clone(),
                mitre_id: tactic.mitre_id.clone(),
                name: tactic.name.clone(),
                position: position as i64,
            },
        )?;
    }
    let known_tactics: HashSet<String> = sql::tactics(tx)?.into_iter().map(|tactic| tactic.shortname).collect();
    let mut existing: HashMap<String, TechniqueRow> =
        sql::all_techniques(tx)?.into_iter().map(|technique| (technique.mitre_id.clone(), technique)).collect();
    let now = time::now();
    let release = bundle.attack_version.as_deref().map_or_else(|| "ATT&CK".to_owned(), |v| format!("ATT&CK v{v}"));
    let mut report = SyncReport { attack_version: bundle.attack_version.clone(), ..SyncReport::default() };

    for technique in &bundle.techniques {
        let hash = content_hash(technique);
        let tactics: Vec<String> =
            technique.tactics.iter().filter(|tactic| known_tactics.contains(*tactic)).cloned().collect();
        let inactive = technique.revoked || technique.deprecated;
        match existing.remove(&technique.mitre_id) {
            None => {
                let row = TechniqueRow {
                    id: uuid::Uuid::new_v4().to_string(),
                    mitre_id: technique.mitre_id.clone(),
                    stix_id: Some(technique.stix_id.clone()),
                    name: technique.name.clone(),
                    description: technique.description.clone(),
                    platforms: technique.platforms.clone(),
                    is_subtechnique: technique.is_subtechnique,
                    parent_mitre_id: technique.parent_mitre_id.clone(),
                    url: technique.url.clone(),
                    stix_version: technique.version.clone(),
                    stix_modified: technique.modified.clone(),
                    revoked: technique.revoked,
                    deprecated: technique.deprecated,
                    upstream_hash: Some(hash),
                    status_global: CoverageStatus::NotEvaluated,
                    test_count: 0,
                    review_required: false,
                    reviewed_by: None,
                    reviewed_by_name: None,
                    reviewed_at: None,
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    tactics: tactics.clone(),
                };
                sql::insert_technique(tx, &row)?;
                sql::set_technique_tactics(tx, &row.id, &tactics)?;
                if inactive {
                    report.deprecated += 1;
                } else {
                    report.new += 1;
                }
            }
            Some(row) if row.upstream_hash.as_deref() == Some(hash.as_str()) => report.unchanged += 1,
            Some(mut row) => {
                let was_inactive = row.revoked || row.deprecated;
                let reason = if inactive && !was_inactive {
                    report.deprecated += 1;
                    format!(
                        "{release} marks {} as {}",
                        row.mitre_id,
                        if technique.revoked { "revoked" } else { "deprecated" }
                    )
                } else {
                    report.updated += 1;
                    format!(
                        "{release} changed the definition of {} (version {} → {})",
                        row.mitre_id,
                        row.stix_version.as_deref().unwrap_or("none"),
                        technique.version.as_deref().unwrap_or("none")
                    )
                };
                row.stix_id = Some(technique.stix_id.clone());
                row.name = technique.name.clone();
                row.description = technique.description.clone();
                row.platforms = technique.platforms.clone();
                row.is_subtechnique = technique.is_subtechnique;
                row.parent_mitre_id = technique.parent_mitre_id.clone();
                row.url = technique.url.clone();
                row.stix_version = technique.version.clone();
                row.stix_modified = technique.modified.clone();
                row.revoked = technique.revoked;
                row.deprecated = technique.deprecated;
                row.upstream_hash = Some(hash);
                row.updated_at = now.clone();
                sql::update_technique(tx, &row)?;
                if row.tactics != tactics {
                    sql::set_technique_tactics(tx, &row.id, &tactics)?;
                }
                if row.test_count > 0 {
                    sql::flag_for_review(tx, &row.id, "sync", &reason, None, &now)?;
                    report.flagged_for_review += 1;
                }
            }
        }
    }
    Ok(report)
}
