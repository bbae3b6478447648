//! Atomic Red Team procedures: importing the project's per-technique YAML files (a `.tar.gz`, a
//! `.zip` or one file), listing a technique's atomics, and prefilling a red-team test from one.
//! The atomics are a procedure library, not tests: importing them changes no technique's status.

use std::collections::{BTreeMap, HashSet};
use std::io::{Cursor, Read};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Deserialize;

use crate::auth::{CurrentUser, Permission, Role};
use crate::db::Db;
use crate::error::AppError;
use crate::service::audit::{self, Actor, AuditAction, AuditEvent, entity};
use crate::time;

/// The largest upload accepted.
pub const MAX_UPLOAD_BYTES: u64 = 64 * 1024 * 1024;
/// At most this many technique files in one archive.
pub const MAX_FILES: usize = 5_000;
/// At most this many archive entries of any kind (bounds the work on archives of empty entries).
pub const MAX_ENTRIES: usize = 100_000;
/// At most this many bytes decompressed, in all.
pub const MAX_DECOMPRESSED_BYTES: u64 = 200 * 1024 * 1024;
/// Parse errors are cut to this many characters in the report.
const MAX_ERROR_CHARS: usize = 300;
pub const TOOL_NAME: &str = "Atomic Red Team";

#[derive(Debug, Deserialize)]
struct TechniqueFile {
    attack_technique: String,
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    atomic_tests: Vec<AtomicYaml>,
}

#[derive(Debug, Deserialize)]
struct AtomicYaml {
    name: String,
    #[serde(default)]
    auto_generated_guid: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    supported_platforms: Vec<String>,
    #[serde(default)]
    input_arguments: Option<BTreeMap<String, InputArgumentYaml>>,
    #[serde(default)]
    executor: Option<ExecutorYaml>,
}

#[derive(Debug, Deserialize)]
struct InputArgumentYaml {
    #[serde(default)]
    description: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    default: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize)]
struct ExecutorYaml {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    command: Option<String>,
    #[serde(default)]
    steps: Option<String>,
    #[serde(default)]
    cleanup_command: Option<String>,
    #[serde(default)]
    elevation_required: Option<serde_yaml::Value>,
}

/// One atomic test as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct AtomicRow {
    pub guid: String,
    pub mitre_id: String,
    pub technique_name: Option<String>,
    pub name: String,
    pub description: String,
    pub platforms: Vec<String>,
    pub executor_name: Option<String>,
    pub command: String,
    pub cleanup_command: Option<String>,
    pub elevation_required: bool,
    /// `{name: {description, type, default}}`.
    pub input_arguments: serde_json::Value,
    pub source_file: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FileError {
    pub file: String,
    pub error: String,
}

#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// New atomics.
    pub imported: u64,
    /// Atomics already stored whose content changed.
    pub updated: u64,
    /// Atomics already stored as they are.
    pub unchanged: u64,
    /// Atomics without `auto_generated_guid`, not imported.
    pub skipped: u64,
    /// Distinct ATT&CK ids among the atomics read.
    pub techniques: u64,
    /// Technique files read.
    pub files: u64,
    pub errors: Vec<FileError>,
}

/// What a test created from an atomic starts with.
#[derive(Debug, Clone)]
pub struct Prefill {
    pub mitre_id: String,
    pub name: String,
    pub description: String,
    pub procedure_text: String,
    pub platform: Option<String>,
    pub tool_used: String,
}

/// Admins and red leads import.
fn require_importer(user: &CurrentUser) -> Result<(), AppError> {
    match user.role {
        Role::Admin | Role::RedLead => Ok(()),
        role => Err(AppError::Forbidden(format!("role '{role}' may not import Atomic Red Team tests"))),
    }
}

/// Whether a path's last component looks like `T1234.yaml` or `T1234.001.yml`.
pub fn is_technique_file(path: &str) -> bool {
    let base = path.rsplit(['/', '\\']).next().unwrap_or(path);
    let Some(stem) = base.strip_suffix(".yaml").or_else(|| base.strip_suffix(".yml")) else {
        return false;
    };
    let Some(digits) = stem.strip_prefix('T') else {
        return false;
    };
    let (main, sub) = match digits.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (digits, None),
    };
    let all_digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(main, 4) && sub.is_none_or(|sub| all_digits(sub, 3))
}

fn too_big() -> AppError {
    AppError::validation(format!(
        "the archive holds more than {} MiB decompressed; at most {} MiB are read",
        MAX_DECOMPRESSED_BYTES / 1024 / 1024,
        MAX_DECOMPRESSED_BYTES / 1024 / 1024
    ))
}

fn too_many() -> AppError {
    AppError::validation(format!("the archive holds more than {MAX_FILES} technique files"))
}

/// Counts what an archive costs as it is read.
struct Budget {
    bytes: u64,
    files: usize,
    entries: usize,
}

impl Budget {
    fn entry(&mut self) -> Result<(), AppError> {
        self.entries += 1;
        if self.entries > MAX_ENTRIES {
            return Err(AppError::validation(format!("the archive holds more than {MAX_ENTRIES} entries")));
        }
        Ok(())
    }

    fn declared(&mut self, size: u64) -> Result<(), AppError> {
        self.bytes = self.bytes.saturating_add(size);
        if self.bytes > MAX_DECOMPRESSED_BYTES { Err(too_big()) } else { Ok(()) }
    }

    fn file(&mut self) -> Result<(), AppError> {
        self.files += 1;
        if self.files > MAX_FILES { Err(too_many()) } else { Ok(()) }
    }

    /// Reads at most what the budget has left; more is refused.
    fn read(&mut self, reader: impl Read, declared: u64) -> Result<Vec<u8>, AppError> {
        let left = MAX_DECOMPRESSED_BYTES.saturating_sub(self.bytes.saturating_sub(declared));
        let mut bytes = Vec::new();
        reader
            .take(left + 1)
            .read_to_end(&mut bytes)
            .map_err(|err| AppError::validation(format!("reading the archive: {err}")))?;
        if bytes.len() as u64 > left {
            return Err(too_big());
        }
        // What was read replaces what was declared.
        self.bytes = self.bytes.saturating_sub(declared).saturating_add(bytes.len() as u64);
        Ok(bytes)
    }
}

/// The technique files of an upload: `(path, bytes)`.
fn extract(bytes: &[u8], file_name: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, AppError> {
    let mut budget = Budget { bytes: 0, files: 0, entries: 0 };
    let mut files = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let gz = flate2::read::GzDecoder::new(Cursor::new(bytes));
        let mut archive = tar::Archive::new(gz);
        let entries = archive.entries().map_err(|err| AppError::validation(format!("not a tar.gz archive: {err}")))?;
        for entry in entries {
            let entry = entry.map_err(|err| AppError::validation(format!("reading the tar.gz archive: {err}")))?;
            budget.entry()?;
            let size = entry.header().size().unwrap_or(0);
            budget.declared(size)?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            if !is_technique_file(&path) {
                continue;
            }
            budget.file()?;
            let content = budget.read(entry, size)?;
            files.push((path, content));
        }
    } else if bytes.starts_with(b"PK\x03\x04") {
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
            .map_err(|err| AppError::validation(format!("not a zip archive: {err}")))?;
        for index in 0..archive.len() {
            budget.entry()?;
            let entry = archive
                .by_index(index)
                .map_err(|err| AppError::validation(format!("reading the zip archive: {err}")))?;
            let size = entry.size();
            budget.declared(size)?;
            if !entry.is_file() {
                continue;
            }
            let path = entry.name().to_owned();
            if !is_technique_file(&path) {
                continue;
            }
            budget.file()?;
            let content = budget.read(entry, size)?;
            files.push((path, content));
        }
    } else {
        files.push((file_name.filter(|name| !name.is_empty()).unwrap_or("upload.yaml").to_owned(), bytes.to_vec()));
    }
    Ok(files)
}

fn shorten(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= MAX_ERROR_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_ERROR_CHARS).collect();
    short.push('…');
    short
}

fn yaml_truthy(value: &serde_yaml::Value) -> bool {
    match value {
        serde_yaml::Value::Bool(b) => *b,
        serde_yaml::Value::String(s) => s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes"),
        serde_yaml::Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

fn atomics_of(path: &str, file: TechniqueFile, skipped: &mut u64) -> Vec<AtomicRow> {
    let mitre_id = file.attack_technique.trim().to_uppercase();
    let mut rows = Vec::new();
    for atomic in file.atomic_tests {
        let Some(guid) = atomic.auto_generated_guid.map(|g| g.trim().to_lowercase()).filter(|g| !g.is_empty()) else {
            *skipped += 1;
            continue;
        };
        let executor = atomic.executor;
        let mut arguments = serde_json::Map::new();
        for (name, argument) in atomic.input_arguments.unwrap_or_default() {
            let default = argument
                .default
                .map(|value| serde_json::to_value(value).unwrap_or(serde_json::Value::Null))
                .unwrap_or(serde_json::Value::Null);
            arguments.insert(
                name,
                serde_json::json!({"description": argument.description, "type": argument.kind, "default": default}),
            );
        }
        rows.push(AtomicRow {
            guid,
            mitre_id: mitre_id.clone(),
            technique_name: file.display_name.clone(),
            name: atomic.name.trim().to_owned(),
            description: atomic.description.unwrap_or_default().trim().to_owned(),
            platforms: atomic.supported_platforms.iter().map(|p| p.trim().to_lowercase()).collect(),
            executor_name: executor.as_ref().and_then(|e| e.name.clone()),
            command: executor.as_ref().and_then(|e| e.command.clone().or_else(|| e.steps.clone())).unwrap_or_default(),
            cleanup_command: executor.as_ref().and_then(|e| e.cleanup_command.clone()),
            elevation_required: executor.as_ref().and_then(|e| e.elevation_required.as_ref()).is_some_and(yaml_truthy),
            input_arguments: serde_json::Value::Object(arguments),
            source_file: Some(path.to_owned()),
        });
    }
    rows
}

/// Reads the upload into atomics, the per-file errors, and the count of atomics without a guid.
fn parse_upload(bytes: &[u8], file_name: Option<&str>) -> Result<(Vec<AtomicRow>, ImportReport), AppError> {
    let files = extract(bytes, file_name)?;
    let mut report = ImportReport { files: files.len() as u64, ..ImportReport::default() };
    let mut rows = Vec::new();
    for (path, content) in files {
        match serde_yaml::from_slice::<TechniqueFile>(&content) {
            Ok(file) => rows.extend(atomics_of(&path, file, &mut report.skipped)),
            Err(err) => report.errors.push(FileError { file: path, error: shorten(&err.to_string()) }),
        }
    }
    report.techniques = rows.iter().map(|row| row.mitre_id.as_str()).collect::<HashSet<_>>().len() as u64;
    Ok((rows, report))
}

enum Upserted {
    New,
    Updated,
    Unchanged,
}

fn upsert(tx: &Connection, row: &AtomicRow, now: &str) -> Result<Upserted, AppError> {
    let existed = tx
        .prepare_cached("SELECT 1 FROM atomic_tests WHERE guid = ?1")?
        .query_row([&row.guid], |_| Ok(()))
        .optional()?
        .is_some();
    let changed = tx
        .prepare_cached(
            "INSERT INTO atomic_tests (guid, mitre_id, technique_name, name, description, platforms, executor_name,
                 command, cleanup_command, elevation_required, input_arguments, source_file, imported_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)
             ON CONFLICT (guid) DO UPDATE SET
                 mitre_id = excluded.mitre_id, technique_name = excluded.technique_name, name = excluded.name,
                 description = excluded.description, platforms = excluded.platforms,
                 executor_name = excluded.executor_name, command = excluded.command,
                 cleanup_command = excluded.cleanup_command, elevation_required = excluded.elevation_required,
                 input_arguments = excluded.input_arguments, source_file = excluded.source_file,
                 updated_at = excluded.updated_at
             WHERE mitre_id IS NOT excluded.mitre_id OR technique_name IS NOT excluded.technique_name
                OR name IS NOT excluded.name OR description IS NOT excluded.description
                OR platforms IS NOT excluded.platforms OR executor_name IS NOT excluded.executor_name
                OR command IS NOT excluded.command OR cleanup_command IS NOT excluded.cleanup_command
                OR elevation_required IS NOT excluded.elevation_required
                OR input_arguments IS NOT excluded.input_arguments OR source_file IS NOT excluded.source_file",
        )?
        .execute(params![
            row.guid,
            row.mitre_id,
            row.technique_name,
            row.name,
            row.description,
            serde_json::to_string(&row.platforms).unwrap_or_else(|_| "[]".into()),
            row.executor_name,
            row.command,
            row.cleanup_command,
            row.elevation_required,
            row.input_arguments.to_string(),
            row.source_file,
            now,
        ])?;
    Ok(match (existed, changed > 0) {
        (false, _) => Upserted::New,
        (true, true) => Upserted::Updated,
        (true, false) => Upserted::Unchanged,
    })
}

/// Imports an upload (`.tar.gz`, `.zip` or one technique YAML file), upserting by guid in one transaction.
pub async fn import(
    db: &Db,
    user: &CurrentUser,
    bytes: Vec<u8>,
    file_name: Option<String>,
) -> Result<ImportReport, AppError> {
    require_importer(user)?;
    let (rows, mut report) = tokio::task::spawn_blocking(move || parse_upload(&bytes, file_name.as_deref())).await??;
    if rows.is_empty() && report.files == 0 {
        return Err(AppError::validation("the upload holds no Atomic Red Team technique file (T1234.yaml)"));
    }
    let (actor, files, techniques, errors) = (Actor::from(user), report.files, report.techniques, report.errors.len());
    let counts = db
        .write(move |tx| {
            let now = time::now();
            let (mut new, mut updated, mut unchanged) = (0, 0, 0);
            for row in &rows {
                match upsert(tx, row, &now)? {
                    Upserted::New => new += 1,
                    Upserted::Updated => updated += 1,
                    Upserted::Unchanged => unchanged += 1,
                }
            }
            audit::record(
                tx,
                &actor,
                AuditEvent {
                    action: AuditAction::ImportAtomics,
                    entity_type: entity::SYSTEM,
                    entity_id: None,
                    details: serde_json::json!({
                        "new": new, "updated": updated, "unchanged": unchanged,
                        "files": files, "techniques": techniques, "errors": errors,
                    }),
                },
            )?;
            Ok((new, updated, unchanged))
        })
        .await?;
    (report.imported, report.updated, report.unchanged) = counts;
    Ok(report)
}

const COLUMNS: &str = "guid, mitre_id, technique_name, name, description, platforms, executor_name, command,
     cleanup_command, elevation_required, input_arguments, source_file";

fn row_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<AtomicRow> {
    let platforms: String = row.get(5)?;
    let arguments: String = row.get(10)?;
    Ok(AtomicRow {
        guid: row.get(0)?,
        mitre_id: row.get(1)?,
        technique_name: row.get(2)?,
        name: row.get(3)?,
        description: row.get(4)?,
        platforms: serde_json::from_str(&platforms).unwrap_or_default(),
        executor_name: row.get(6)?,
        command: row.get(7)?,
        cleanup_command: row.get(8)?,
        elevation_required: row.get(9)?,
        input_arguments: serde_json::from_str(&arguments).unwrap_or_else(|_| serde_json::json!({})),
        source_file: row.get(11)?,
    })
}

/// The atomics of one technique, by name. 404 when neither the catalogue nor the library knows the id.
pub async fn for_technique(db: &Db, user: &CurrentUser, mitre_id: &str) -> Result<Vec<AtomicRow>, AppError> {
    user.require(Permission::Read)?;
    let mitre_id = mitre_id.trim().to_uppercase();
    db.read(move |conn| {
        let rows: Vec<AtomicRow> = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM atomic_tests WHERE mitre_id = ?1 ORDER BY name, guid"))?
            .query_map([&mitre_id], row_of)?
            .collect::<rusqlite::Result<_>>()?;
        if rows.is_empty() && crate::db::catalogue::find_technique(conn, &mitre_id)?.is_none() {
            return Err(AppError::not_found(format!("no technique {mitre_id}")));
        }
        Ok(rows)
    })
    .await
}

pub async fn find(db: &Db, guid: &str) -> Result<Option<AtomicRow>, AppError> {
    let guid = guid.trim().to_lowercase();
    db.read(move |conn| {
        Ok(conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM atomic_tests WHERE guid = ?1"))?
            .query_row([&guid], row_of)
            .optional()?)
    })
    .await
}

fn argument_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `command` with each `#{arg}` replaced by the argument's default.
pub fn fill_arguments(command: &str, arguments: &serde_json::Value) -> String {
    let mut text = command.to_owned();
    if let Some(arguments) = arguments.as_object() {
        for (name, argument) in arguments {
            let default = argument_text(&argument["default"]);
            text = text.replace(&format!("#{{{name}}}"), &default);
        }
    }
    text
}

/// The procedure of an atomic: its command with defaults filled, then `Cleanup:` and the cleanup command.
pub fn procedure_text(atomic: &AtomicRow) -> String {
    let mut text = fill_arguments(atomic.command.trim_end(), &atomic.input_arguments);
    if let Some(cleanup) = atomic.cleanup_command.as_deref().map(str::trim_end).filter(|c| !c.trim().is_empty()) {
        text.push_str("\nCleanup:\n");
        text.push_str(&fill_arguments(cleanup, &atomic.input_arguments));
    }
    text
}

/// What a test created from the atomic `guid` starts with; 404 for an unknown guid.
pub async fn prefill(db: &Db, guid: &str) -> Result<Prefill, AppError> {
    let atomic = find(db, guid).await?.ok_or_else(|| AppError::not_found(format!("no atomic test {guid}")))?;
    Ok(Prefill {
        procedure_text: procedure_text(&atomic),
        platform: atomic.platforms.first().cloned(),
        mitre_id: atomic.mitre_id,
        name: atomic.name,
        description: atomic.description,
        tool_used: TOOL_NAME.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn technique_file_names() {
        for good in ["T1059.yaml", "atomics/T1059.001/T1059.001.yaml", "a/b/T1234.yml"] {
            assert!(is_technique_file(good), "{good}");
        }
        for bad in ["T1059.md", "atomics/Indexes/index.yaml", "T105.yaml", "T1059.01.yaml", "t1059.yaml", "x.yaml"] {
            assert!(!is_technique_file(bad), "{bad}");
        }
    }

    #[test]
    fn arguments_are_filled_with_defaults() {
        let arguments = serde_json::json!({"file": {"default": "C:\\a.txt"}, "n": {"default": 3}});
        assert_eq!(fill_arguments("type #{file} #{n} #{other}", &arguments), "type C:\\a.txt 3 #{other}");
    }
}
