//! Evidence of a test: who may upload where, storing an upload once by content, recording it,
//! signed download links, and deletion that removes a blob once nothing refers to it.

use serde_json::json;
use tokio::io::AsyncRead;

use crate::auth::{CurrentUser, Permission};
use crate::db::Db;
use crate::db::tests::{self as sql, EvidenceRow, TestRow};
use crate::error::AppError;
use crate::evidence::store::{BlobStore, ReceiveError};
use crate::evidence::token::DownloadTokens;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::service::tests::TestState;
use crate::time;

/// Longest file name kept, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 200;

/// The client's file name as metadata: the last path component, no control characters, trimmed,
/// at most [`MAX_FILE_NAME_CHARS`]; `evidence` when nothing is left. Never used as a path.
pub fn clean_file_name(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let last = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = last.chars().filter(|c| !c.is_control() && !is_invisible_format(*c)).collect();
    let trimmed: String = cleaned.trim().chars().take(MAX_FILE_NAME_CHARS).collect();
    let trimmed = trimmed.trim();
    if trimmed.is_empty() || trimmed == "." || trimmed == ".." { "evidence".to_owned() } else { trimmed.to_owned() }
}

/// Bidirectional overrides and zero-width characters, which make `invoice\u{202E}gpj.exe` look like a `.jpg`.
fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

fn may_upload(user: &CurrentUser, test: &TestRow) -> Result<(), AppError> {
    let allowed = user.can(Permission::UploadEvidenceAnyTest)
        || (user.can(Permission::UploadEvidenceOwnTest) && test.created_by == user.id);
    if !allowed {
        return Err(AppError::Forbidden(format!("the {} role may not add evidence to this test", user.role)));
    }
    if test.state == TestState::Validated.as_str() {
        return Err(AppError::InvalidState("a validated test takes no more evidence".into()));
    }
    Ok(())
}

/// Checks, before any byte is read, that `user` may add evidence to the test.
pub async fn check_upload(db: &Db, user: &CurrentUser, test_id: &str) -> Result<(), AppError> {
    let (user, test_id) = (user.clone(), test_id.to_owned());
    db.read(move |conn| {
        let test = sql::find(conn, &test_id)?.ok_or_else(|| AppError::not_found(format!("no test {test_id}")))?;
        may_upload(&user, &test)
    })
    .await
}

pub struct Upload<R> {
    pub file_name: Option<String>,
    pub content_type: Option<String>,
    pub reader: R,
}

/// Streams the upload into the store (hashing, counting, refusing more than `max_bytes`), then
/// records it and moves the blob into place in one transaction.
pub async fn upload<R: AsyncRead + Unpin>(
    db: &Db,
    store: &BlobStore,
    user: &CurrentUser,
    test_id: &str,
    upload: Upload<R>,
    max_bytes: u64,
) -> Result<EvidenceRow, AppError> {
    let blob = store.receive(upload.reader, max_bytes).await.map_err(|err| match err {
        ReceiveError::TooLarge { limit } => {
            AppError::PayloadTooLarge(format!("evidence files are limited to {} MiB", limit / 1024 / 1024))
        }
        ReceiveError::Empty => AppError::validation("the evidence file is empty"),
        ReceiveError::Read(err) => AppError::validation(format!("the upload was interrupted: {err}")),
        ReceiveError::Write(err) => AppError::Internal(anyhow::Error::new(err).context("writing evidence")),
    })?;
    let content_type = upload
        .content_type
        .filter(|ct| ct.len() <= 255 && !ct.chars().any(char::is_control))
        .map(|ct| ct.trim().to_owned());
    let evidence = EvidenceRow {
        id: uuid::Uuid::new_v4().to_string(),
        test_id: test_id.to_owned(),
        file_name: clean_file_name(upload.file_name.as_deref()),
        sha256: blob.sha256.clone(),
        size_bytes: blob.size as i64,
        content_type,
        uploaded_by: user.id.clone(),
        uploaded_by_name: user.username.clone(),
        uploaded_at: time::now(),
    };
    let (user, store, actor) = (user.clone(), store.clone(), Actor::from(user));
    db.write(move |tx| {
        // Checked again under the write lock: the test may have been validated meanwhile.
        let test = sql::find(tx, &evidence.test_id)?
            .ok_or_else(|| AppError::not_found(format!("no test {}", evidence.test_id)))?;
        may_upload(&user, &test)?;
        sql::insert_evidence(tx, &evidence)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::UploadEvidence,
                entity_type: entity::EVIDENCE,
                entity_id: Some(&evidence.id),
                details: json!({
                    "test_id": evidence.test_id,
                    "file_name": evidence.file_name,
                    "sha256": evidence.sha256,
                    "size_bytes": evidence.size_bytes,
                }),
            },
        )?;
        store.commit(&blob).map_err(|err| AppError::Internal(anyhow::Error::new(err).context("storing evidence")))?;
        Ok(evidence)
    })
    .await
}

pub async fn get(db: &Db, id: &str) -> Result<EvidenceRow, AppError> {
    let id = id.to_owned();
    db.read(move |conn| sql::find_evidence(conn, &id)?.ok_or_else(|| AppError::not_found(format!("no evidence {id}"))))
        .await
}

/// The link a client follows to download this evidence, valid for the configured time.
pub fn download_url(public_url: &str, tokens: &DownloadTokens, evidence_id: &str) -> String {
    format!("{public_url}/api/v1/evidence/{evidence_id}/download?token={}", tokens.issue(evidence_id))
}

/// The evidence behind a download link: 403 for a wrong, tampered or expired token.
pub async fn authorize_download(
    db: &Db,
    tokens: &DownloadTokens,
    evidence_id: &str,
    token: &str,
) -> Result<EvidenceRow, AppError> {
    if !tokens.verify(evidence_id, token) {
        return Err(AppError::Forbidden("the download link is invalid or has expired".into()));
    }
    get(db, evidence_id).await
}

pub async fn delete(db: &Db, store: &BlobStore, user: &CurrentUser, id: &str) -> Result<(), AppError> {
    let (user, id, actor) = (user.clone(), id.to_owned(), Actor::from(user));
    delete_rows_and_blobs(db, store, move |tx| {
        let evidence = sql::find_evidence(tx, &id)?.ok_or_else(|| AppError::not_found(format!("no evidence {id}")))?;
        if !(user.role == crate::auth::Role::Admin || evidence.uploaded_by == user.id) {
            return Err(AppError::Forbidden("only the uploader or an admin may delete evidence".into()));
        }
        let test = sql::find(tx, &evidence.test_id)?.ok_or_else(|| AppError::not_found("the test is gone"))?;
        if test.state == TestState::Validated.as_str() {
            return Err(AppError::InvalidState("the evidence of a validated test is kept".into()));
        }
        sql::delete_evidence(tx, &id)?;
        audit::record(
            tx,
            &actor,
            AuditEvent {
                action: AuditAction::DeleteEvidence,
                entity_type: entity::EVIDENCE,
                entity_id: Some(&id),
                details: json!({ "test_id": evidence.test_id, "file_name": evidence.file_name, "sha256": evidence.sha256 }),
            },
        )?;
        Ok(vec![evidence.sha256])
    })
    .await
}

/// Runs a deleting transaction that returns the blobs its rows referenced, then removes those
/// nothing refers to any more, as one task that finishes even when the client goes away: a
/// committed delete never leaves its files behind.
pub async fn delete_rows_and_blobs<F>(db: &Db, store: &BlobStore, work: F) -> Result<(), AppError>
where
    F: FnOnce(&rusqlite::Transaction) -> Result<Vec<String>, AppError> + Send + 'static,
{
    let (db, store) = (db.clone(), store.clone());
    tokio::spawn(async move {
        let blobs = db.write(work).await?;
        remove_unreferenced_blobs(&db, &store, blobs).await
    })
    .await?
}

/// After the rows that referenced them are gone (committed), removes the blobs nothing refers to
/// any more. Done in a write transaction, so an upload of the same content, which moves its blob
/// into place inside its own write transaction, is either already counted or comes after. A crash
/// between the two leaves an orphan blob, never a row without its file.
async fn remove_unreferenced_blobs(db: &Db, store: &BlobStore, blobs: Vec<String>) -> Result<(), AppError> {
    if blobs.is_empty() {
        return Ok(());
    }
    let store = store.clone();
    db.write(move |tx| {
        for blob in blobs {
            if !sql::blob_is_referenced(tx, &blob)? {
                store
                    .remove(&blob)
                    .map_err(|err| AppError::Internal(anyhow::Error::new(err).context("removing a blob")))?;
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_metadata_only() {
        let table = [
            (Some("screenshot.png"), "screenshot.png"),
            (Some("../../etc/passwd"), "passwd"),
            (Some("C:\\Users\\x\\log.txt"), "log.txt"),
            (Some("a\"\r\nSet-Cookie: x"), "a\"Set-Cookie: x"),
            (Some("  spaced  "), "spaced"),
            (Some("CON"), "CON"),
            (Some("отчёт 📸.png"), "отчёт 📸.png"),
            (Some(".."), "evidence"),
            (Some("invoice\u{202E}gpj.exe"), "invoicegpj.exe"),
            (Some("a\u{200B}b\u{FEFF}.txt"), "ab.txt"),
            (Some("dir/"), "evidence"),
            (Some(""), "evidence"),
            (None, "evidence"),
        ];
        for (raw, expected) in table {
            assert_eq!(clean_file_name(raw), expected, "{raw:?}");
        }
        assert_eq!(clean_file_name(Some(&"é".repeat(300))).chars().count(), MAX_FILE_NAME_CHARS);
    }
}
