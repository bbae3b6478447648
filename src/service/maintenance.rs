//! Looking after a data dir: `aegis verify` (is everything there and intact?) and `aegis backup`
//! (a consistent copy, taken while the server may be writing).
//!
//! Neither goes through [`crate::db::Db`] or [`crate::evidence::store::BlobStore`]: `Db::open`
//! migrates and `BlobStore::open` empties `evidence/tmp/`, and verify must change nothing. The
//! database is opened read-only. (SQLite needs a WAL database's `-wal` and `-shm` files to read it:
//! a read-only open of a database nothing else has open creates them empty and leaves them, which
//! the next `aegis serve` takes over as if it had made them itself.)
//!
//! Both run while the server may be running. Verify reads the rows in one read transaction and then
//! looks at the files; what looks wrong is looked at again against the database as it is by then,
//! so a blob deleted, or stored and recorded, by the server during the check is not reported.
//! Backup snapshots the database with `VACUUM INTO` (one read transaction), then copies exactly
//! the blobs that snapshot references; a blob deleted by the server after the snapshot makes it
//! start over with a fresh snapshot (see [`backup`] for how the last attempt makes sure of it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use sha2::{Digest, Sha256};

use crate::config::Config;

const CHUNK: usize = 64 * 1024;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How many snapshots a backup takes before it gives up on blobs deleted under it.
pub const BACKUP_ATTEMPTS: u32 = 3;
/// Pauses before looking again at blobs no row referred to: an upload moves its blob into place
/// just before its transaction commits.
const ORPHAN_RECHECKS: [Duration; 2] = [Duration::ZERO, Duration::from_millis(300)];

/// What verify and backup look at in a data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataPaths {
    pub database: PathBuf,
    pub evidence: PathBuf,
    pub secret_key: PathBuf,
}

impl DataPaths {
    /// The layout of a data dir: `aegis.db`, `evidence/`, `secret.key`.
    pub fn of(data_dir: &Path) -> DataPaths {
        DataPaths {
            database: data_dir.join("aegis.db"),
            evidence: data_dir.join("evidence"),
            secret_key: data_dir.join("secret.key"),
        }
    }

    pub fn from_config(config: &Config) -> DataPaths {
        DataPaths {
            database: config.database_path(),
            evidence: config.evidence_dir(),
            secret_key: config.secret_key_path(),
        }
    }

    fn blob(&self, sha256: &str) -> PathBuf {
        self.evidence.join(&sha256[..2]).join(sha256)
    }

    fn tmp(&self) -> PathBuf {
        self.evidence.join("tmp")
    }
}

/// One thing wrong with a data dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A line of `PRAGMA integrity_check` other than `ok`, or a database that cannot be read.
    Database(String),
    ForeignKey {
        table: String,
        rowid: Option<i64>,
        parent: String,
    },
    /// An evidence row whose `sha256` is not 64 lowercase hex digits.
    BadHash {
        evidence_id: String,
        sha256: String,
    },
    MissingBlob {
        sha256: String,
        path: PathBuf,
        evidence_ids: Vec<String>,
    },
    SizeMismatch {
        sha256: String,
        path: PathBuf,
        expected: Vec<i64>,
        actual: u64,
    },
    ContentMismatch {
        sha256: String,
        path: PathBuf,
        actual: String,
    },
    Unreadable {
        path: PathBuf,
        error: String,
    },
    /// A blob no evidence row refers to.
    Orphan {
        path: PathBuf,
    },
    /// A file in `evidence/tmp/`: an interrupted upload, or one in progress.
    TempLeftover {
        path: PathBuf,
    },
    /// Something in `evidence/` that is neither a blob where a blob belongs nor `tmp/`.
    Unexpected {
        path: PathBuf,
    },
}

impl Problem {
    /// A short name of the kind of problem.
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Database(_) => "database",
            Problem::ForeignKey { .. } => "foreign key violation",
            Problem::BadHash { .. } => "bad sha256",
            Problem::MissingBlob { .. } => "missing blob",
            Problem::SizeMismatch { .. } => "size mismatch",
            Problem::ContentMismatch { .. } => "content mismatch",
            Problem::Unreadable { .. } => "unreadable blob",
            Problem::Orphan { .. } => "orphan blob",
            Problem::TempLeftover { .. } => "leftover temp file",
            Problem::Unexpected { .. } => "unexpected file",
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind())?;
        match self {
            Problem::Database(message) => write!(f, "{message}"),
            Problem::ForeignKey { table, rowid, parent } => {
                let rowid = rowid.map_or_else(|| "a row".to_owned(), |rowid| format!("row {rowid}"));
                write!(f, "{rowid} of {table} refers to a missing {parent} row")
            }
            Problem::BadHash { evidence_id, sha256 } => {
                write!(f, "evidence {evidence_id} names the blob {sha256:?}, which is not a sha256")
            }
            Problem::MissingBlob { sha256, path, evidence_ids } => write!(
                f,
                "{sha256} does not exist at {} (referenced by evidence {})",
                path.display(),
                evidence_ids.join(", ")
            ),
            Problem::SizeMismatch { sha256, path, expected, actual } => {
                let expected: Vec<String> = expected.iter().map(i64::to_string).collect();
                write!(
                    f,
                    "{sha256} at {} is {actual} bytes; its evidence rows say {}",
                    path.display(),
                    expected.join(" or ")
                )
            }
            Problem::ContentMismatch { sha256, path, actual } => {
                write!(f, "{sha256} at {} hashes to {actual}: its content changed", path.display())
            }
            Problem::Unreadable { path, error } => write!(f, "{}: {error}", path.display()),
            Problem::Orphan { path } => write!(
                f,
                "{}: no evidence row refers to it (harmless: a crash between storing a blob and recording \
                 it, or between deleting its last row and removing it, leaves one; reported so it can be removed)",
                path.display()
            ),
            Problem::TempLeftover { path } => write!(
                f,
                "{}: an interrupted upload, or one in progress (`aegis serve` removes these when it starts)",
                path.display()
            ),
            Problem::Unexpected { path } => {
                write!(f, "{}: not a blob (evidence/<ab>/<sha256>) and not under evidence/tmp/", path.display())
            }
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub paths: DataPaths,
    /// The highest applied migration, when the database has the table.
    pub schema_version: Option<i64>,
    pub evidence_rows: usize,
    /// Distinct blobs hashed (each once, however many rows refer to it).
    pub blobs_checked: usize,
    pub bytes_hashed: u64,
    /// Rows or blobs a running server changed during the check, looked at again and found fine.
    pub changed_during_check: usize,
    pub problems: Vec<Problem>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.problems.iter().filter(|problem| problem.kind() == kind).count()
    }

    pub fn orphans(&self) -> usize {
        self.count("orphan blob")
    }

    pub fn temp_leftovers(&self) -> usize {
        self.count("leftover temp file")
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let database_problems = self.count("database") + self.count("foreign key violation");
        writeln!(
            f,
            "database {}: schema version {}, {}",
            self.paths.database.display(),
            self.schema_version.map_or_else(|| "unknown".to_owned(), |version| version.to_string()),
            if database_problems == 0 {
                "integrity_check ok, foreign_key_check ok".to_owned()
            } else {
                format!("{database_problems} problem(s)")
            }
        )?;
        writeln!(
            f,
            "evidence {}: {} rows, {} blobs checked ({} hashed), {} orphan blob(s), {} leftover temp file(s)",
            self.paths.evidence.display(),
            self.evidence_rows,
            self.blobs_checked,
            human_bytes(self.bytes_hashed),
            self.orphans(),
            self.temp_leftovers()
        )?;
        if self.changed_during_check > 0 {
            writeln!(
                f,
                "({} blob(s) changed by the running server during the check were looked at again and are fine)",
                self.changed_during_check
            )?;
        }
        for problem in &self.problems {
            writeln!(f, "problem: {problem}")?;
        }
        if self.is_clean() {
            write!(f, "verify: ok, no problems")
        } else {
            write!(f, "verify: {} problem(s)", self.problems.len())
        }
    }
}

/// 1536 → "1.5 KiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn is_sha256(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn open_read_only(database: &Path) -> anyhow::Result<Connection> {
    if !database.is_file() {
        bail!("no database at {}", database.display());
    }
    let conn = Connection::open_with_flags(
        database,
        // No SQLITE_OPEN_URI: `VACUUM INTO` then takes its argument as a plain file name.
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening database {} read-only", database.display()))?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// The evidence rows by blob: sha256 → [(evidence id, size_bytes)].
type RowsByBlob = BTreeMap<String, Vec<(String, i64)>>;

fn rows_of_blob(conn: &Connection, sha256: &str) -> rusqlite::Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached("SELECT id, size_bytes FROM evidence WHERE sha256 = ?1 ORDER BY id")?;
    stmt.query_map([sha256], |row| Ok((row.get(0)?, row.get(1)?)))?.collect()
}

enum BlobCheck {
    Fine { bytes: u64 },
    Missing,
    Wrong(Problem),
}

/// Checks one blob against the rows that refer to it: there, the right size, the right hash.
fn check_blob(path: &Path, sha256: &str, rows: &[(String, i64)]) -> BlobCheck {
    let unreadable =
        |err: io::Error| BlobCheck::Wrong(Problem::Unreadable { path: path.into(), error: err.to_string() });
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return BlobCheck::Missing,
        Err(err) => return unreadable(err),
    };
    if !metadata.is_file() {
        return BlobCheck::Wrong(Problem::Unreadable { path: path.into(), error: "not a regular file".into() });
    }
    let expected: BTreeSet<i64> = rows.iter().map(|(_, size)| *size).collect();
    if expected.iter().any(|size| u64::try_from(*size).ok() != Some(metadata.len())) {
        return BlobCheck::Wrong(Problem::SizeMismatch {
            sha256: sha256.into(),
            path: path.into(),
            expected: expected.into_iter().collect(),
            actual: metadata.len(),
        });
    }
    match hash_file(path) {
        Ok((actual, bytes)) if actual == sha256 => BlobCheck::Fine { bytes },
        Ok((actual, _)) => {
            BlobCheck::Wrong(Problem::ContentMismatch { sha256: sha256.into(), path: path.into(), actual })
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => BlobCheck::Missing,
        Err(err) => unreadable(err),
    }
}

/// Streams a file through SHA-256 in 64 KiB chunks: (lowercase hex, bytes read).
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let (mut hasher, mut buffer, mut total) = (Sha256::new(), vec![0u8; CHUNK], 0u64);
    loop {
        let read = match file.read(&mut buffer) {
            Ok(0) => return Ok((hex::encode(hasher.finalize()), total)),
            Ok(read) => read,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buffer[..read]);
        total += read as u64;
    }
}

/// What lies in `evidence/`, sorted by what it is.
#[derive(Default)]
struct StoredFiles {
    /// sha256 → path, for every file shaped like a blob.
    blobs: BTreeMap<String, PathBuf>,
    temp: Vec<PathBuf>,
    unexpected: Vec<PathBuf>,
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(fs::DirEntry::file_name);
    Ok(entries)
}

fn list_evidence(paths: &DataPaths) -> anyhow::Result<StoredFiles> {
    let mut stored = StoredFiles::default();
    let root = &paths.evidence;
    let entries = match sorted_entries(root) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(stored),
        Err(err) => return Err(err).with_context(|| format!("listing {}", root.display())),
    };
    for entry in entries {
        let (path, name, file_type) = (entry.path(), entry.file_name(), entry.file_type()?);
        let name = name.to_string_lossy();
        if path == paths.tmp() && file_type.is_dir() {
            let temp = sorted_entries(&path).with_context(|| format!("listing {}", path.display()))?;
            stored.temp.extend(temp.iter().map(fs::DirEntry::path));
            continue;
        }
        let is_prefix = name.len() == 2 && name.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !(is_prefix && file_type.is_dir()) {
            stored.unexpected.push(path);
            continue;
        }
        for blob in sorted_entries(&path).with_context(|| format!("listing {}", path.display()))? {
            let (blob_path, blob_name) = (blob.path(), blob.file_name().to_string_lossy().into_owned());
            // Gone since the listing: removed by the running server.
            let Ok(blob_type) = blob.file_type() else { continue };
            if blob_type.is_file() && is_sha256(&blob_name) && blob_name.starts_with(&*name) {
                stored.blobs.insert(blob_name, blob_path);
            } else {
                stored.unexpected.push(blob_path);
            }
        }
    }
    Ok(stored)
}

/// Checks the database (`integrity_check`, `foreign_key_check`) and the evidence store: every
/// row's blob there with the right size and sha256, no blob without a row, nothing left in
/// `evidence/tmp/`, nothing else in `evidence/`. Blocking. `Err` only when the database cannot be
/// opened or the store cannot be listed; everything else wrong is a [`Problem`] in the report.
pub fn verify(paths: &DataPaths) -> anyhow::Result<VerifyReport> {
    let conn = open_read_only(&paths.database)?;
    let mut report = VerifyReport {
        paths: paths.clone(),
        schema_version: None,
        evidence_rows: 0,
        blobs_checked: 0,
        bytes_hashed: 0,
        changed_during_check: 0,
        problems: Vec::new(),
    };

    // One read transaction: the checks and the rows all see the same state of the database.
    let rows = {
        let tx = conn.unchecked_transaction()?;
        check_database(&tx, &mut report);
        let rows = evidence_rows(&tx);
        drop(tx);
        match rows {
            Ok(rows) => rows,
            Err(err) => {
                report.problems.push(Problem::Database(format!("cannot read the evidence rows: {err}")));
                return Ok(report);
            }
        }
    };
    report.evidence_rows = rows.values().map(Vec::len).sum();

    let mut missing = Vec::new();
    for (sha256, rows) in &rows {
        if !is_sha256(sha256) {
            report.problems.extend(
                rows.iter().map(|(id, _)| Problem::BadHash { evidence_id: id.clone(), sha256: sha256.clone() }),
            );
            continue;
        }
        match check_blob(&paths.blob(sha256), sha256, rows) {
            BlobCheck::Fine { bytes } => {
                report.blobs_checked += 1;
                report.bytes_hashed += bytes;
            }
            BlobCheck::Missing => missing.push(sha256.clone()),
            BlobCheck::Wrong(problem) => report.problems.push(problem),
        }
    }

    let stored = list_evidence(paths)?;
    let orphans: Vec<(String, PathBuf)> =
        stored.blobs.into_iter().filter(|(sha256, _)| !rows.contains_key(sha256)).collect();
    recheck_missing(&conn, paths, missing, &mut report)?;
    recheck_orphans(&conn, orphans, &mut report)?;
    report.problems.extend(stored.temp.into_iter().map(|path| Problem::TempLeftover { path }));
    report.problems.extend(stored.unexpected.into_iter().map(|path| Problem::Unexpected { path }));
    Ok(report)
}

fn check_database(conn: &Connection, report: &mut VerifyReport) {
    report.schema_version = conn
        .query_row("SELECT MAX(version) FROM schema_migrations", [], |row| row.get::<_, Option<i64>>(0))
        .optional()
        .ok()
        .flatten()
        .flatten();
    let integrity: rusqlite::Result<Vec<String>> =
        conn.prepare("PRAGMA integrity_check").and_then(|mut stmt| stmt.query_map([], |row| row.get(0))?.collect());
    match integrity {
        Ok(lines) if lines == ["ok"] => {}
        Ok(lines) => {
            report.problems.extend(lines.into_iter().map(|line| Problem::Database(format!("integrity_check: {line}"))))
        }
        Err(err) => report.problems.push(Problem::Database(format!("integrity_check failed: {err}"))),
    }
    let foreign_keys: rusqlite::Result<Vec<Problem>> = conn.prepare("PRAGMA foreign_key_check").and_then(|mut stmt| {
        stmt.query_map([], |row| {
            Ok(Problem::ForeignKey { table: row.get(0)?, rowid: row.get(1)?, parent: row.get(2)? })
        })?
        .collect()
    });
    match foreign_keys {
        Ok(violations) => report.problems.extend(violations),
        Err(err) => report.problems.push(Problem::Database(format!("foreign_key_check failed: {err}"))),
    }
}

fn evidence_rows(conn: &Connection) -> rusqlite::Result<RowsByBlob> {
    let mut rows = RowsByBlob::new();
    let mut stmt = conn.prepare("SELECT sha256, id, size_bytes FROM evidence ORDER BY sha256, id")?;
    let mut cursor = stmt.query([])?;
    while let Some(row) = cursor.next()? {
        rows.entry(row.get(0)?).or_default().push((row.get(1)?, row.get(2)?));
    }
    Ok(rows)
}

/// Blobs missing for the snapshot's rows: fine when the rows are gone now (a delete committed
/// during the check), else checked again against the rows as they are now.
fn recheck_missing(
    conn: &Connection,
    paths: &DataPaths,
    missing: Vec<String>,
    report: &mut VerifyReport,
) -> anyhow::Result<()> {
    for sha256 in missing {
        let rows = rows_of_blob(conn, &sha256)?;
        if rows.is_empty() {
            report.changed_during_check += 1;
            continue;
        }
        let path = paths.blob(&sha256);
        match check_blob(&path, &sha256, &rows) {
            BlobCheck::Fine { bytes } => {
                report.changed_during_check += 1;
                report.blobs_checked += 1;
                report.bytes_hashed += bytes;
            }
            BlobCheck::Missing => report.problems.push(Problem::MissingBlob {
                sha256,
                path,
                evidence_ids: rows.into_iter().map(|(id, _)| id).collect(),
            }),
            BlobCheck::Wrong(problem) => report.problems.push(problem),
        }
    }
    Ok(())
}

/// Blobs no row of the snapshot referred to: fine when a row refers to them now (an upload
/// committed during the check; then they are checked) or they are gone (removed by a delete).
fn recheck_orphans(
    conn: &Connection,
    mut candidates: Vec<(String, PathBuf)>,
    report: &mut VerifyReport,
) -> anyhow::Result<()> {
    for pause in ORPHAN_RECHECKS {
        if candidates.is_empty() {
            return Ok(());
        }
        std::thread::sleep(pause);
        let mut still = Vec::new();
        for (sha256, path) in candidates {
            let rows = rows_of_blob(conn, &sha256)?;
            if rows.is_empty() && path.exists() {
                still.push((sha256, path));
                continue;
            }
            report.changed_during_check += 1;
            if !rows.is_empty() {
                match check_blob(&path, &sha256, &rows) {
                    BlobCheck::Fine { bytes } => {
                        report.blobs_checked += 1;
                        report.bytes_hashed += bytes;
                    }
                    // Stored and then deleted again during the check.
                    BlobCheck::Missing => {}
                    BlobCheck::Wrong(problem) => report.problems.push(problem),
                }
            }
        }
        candidates = still;
    }
    report.problems.extend(candidates.into_iter().map(|(_, path)| Problem::Orphan { path }));
    Ok(())
}

// ----- backup -----------------------------------------------------------------------------------

/// What `backup` wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub destination: PathBuf,
    /// Snapshots taken: more than one when blobs were deleted under an earlier one.
    pub attempts: u32,
    /// Whether the last snapshot held off the server's writes while its blobs were linked.
    pub held_writes: bool,
    pub tests: i64,
    pub evidence_rows: i64,
    pub database_bytes: u64,
    pub blobs: usize,
    pub blob_bytes: u64,
    /// Blobs hard-linked (same filesystem; blobs are never changed in place) rather than copied.
    pub linked: usize,
    pub copied: usize,
    pub secret_key_copied: bool,
    /// The check of the backup itself, which is clean when `backup` returns `Ok`.
    pub verify: VerifyReport,
}

impl fmt::Display for BackupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "database: snapshot with {} tests and {} evidence rows ({}){}",
            self.tests,
            self.evidence_rows,
            human_bytes(self.database_bytes),
            if self.attempts > 1 {
                format!(
                    ", taken {} times: blobs were deleted under the earlier snapshots{}",
                    self.attempts,
                    if self.held_writes { " (the last held off writes while it linked them)" } else { "" }
                )
            } else {
                String::new()
            }
        )?;
        writeln!(
            f,
            "evidence: {} blobs, {} ({} hard-linked, {} copied)",
            self.blobs,
            human_bytes(self.blob_bytes),
            self.linked,
            self.copied
        )?;
        writeln!(
            f,
            "secret.key: {}",
            if self.secret_key_copied {
                "copied (tokens and download links keep working after a restore)"
            } else {
                "none in the data dir (AEGIS_JWT_SECRET is in use)"
            }
        )?;
        write!(f, "verified: {} blobs match their sha256, no problems", self.verify.blobs_checked)
    }
}

/// The snapshot and blobs of one attempt.
struct Copied {
    tests: i64,
    evidence_rows: i64,
    blobs: usize,
    blob_bytes: u64,
    linked: usize,
    copied: usize,
}

enum Attempt {
    Done(Copied),
    /// Blobs the snapshot references that were gone by the time they were copied.
    BlobsGone {
        gone: Vec<String>,
        linked: usize,
        copied: usize,
    },
}

/// Copies the data dir of `source` to `destination` (missing or an empty directory), consistently
/// while the server may write: the database by `VACUUM INTO`, then exactly the blobs that snapshot
/// references (hard links where possible, else fsynced copies), then `secret.key` if present; then
/// verifies the copy. `evidence/tmp/` is not copied. Blocking.
///
/// A blob the snapshot references may be deleted by the server before it is linked: then the
/// backup starts over with a fresh snapshot, up to [`BACKUP_ATTEMPTS`] snapshots. When the earlier
/// attempts could hard-link (same filesystem), the last one holds the database's write lock from
/// its snapshot until its blobs are linked, a few milliseconds during which the server's writes
/// wait (a blob is only ever removed inside a write transaction), so a steady stream of deletions
/// cannot starve the backup. Blobs to copy may take long, so an attempt that must copy never holds
/// the lock; when its blobs keep being deleted the backup fails.
///
/// On failure nothing is left behind, except a backup that was written but did not verify, kept
/// for inspection.
pub fn backup(source: &DataPaths, destination: &Path) -> anyhow::Result<BackupReport> {
    backup_with(source, destination, &mut |_| {})
}

/// [`backup`] with a hook run after each snapshot (tests use it to delete blobs under it).
fn backup_with(
    source: &DataPaths,
    destination: &Path,
    after_snapshot: &mut dyn FnMut(u32),
) -> anyhow::Result<BackupReport> {
    if !source.database.is_file() {
        bail!("no database at {}", source.database.display());
    }
    let created = prepare_destination(source, destination)?;
    let target = DataPaths::of(destination);
    let outcome = (|| {
        let (mut last_gone, mut links_work) = (Vec::new(), false);
        for attempt in 1..=BACKUP_ATTEMPTS {
            let hold_writes = attempt == BACKUP_ATTEMPTS && links_work;
            match copy_once(source, &target, attempt, hold_writes, after_snapshot)? {
                Attempt::Done(copied) => return Ok((attempt, hold_writes, copied)),
                Attempt::BlobsGone { gone, linked, copied } => {
                    tracing::info!(attempt, blobs = gone.len(), "blobs were deleted under the snapshot; again");
                    remove_backup(&target)?;
                    links_work = linked > 0 && copied == 0;
                    last_gone = gone;
                }
            }
        }
        Err(blobs_gone_error(source, &last_gone))
    })();
    let (attempts, held_writes, copied) = match outcome {
        Ok(done) => done,
        Err(err) => {
            let _ = remove_backup(&target);
            if created {
                let _ = fs::remove_dir(destination);
            }
            return Err(err);
        }
    };

    let secret_key_copied = copy_secret_key(source, &target)?;
    sync_dir(destination)?;
    let verify = verify(&target).context("verifying the backup")?;
    if !verify.is_clean() {
        bail!(
            "the backup in {} did not verify clean (left there for inspection; do not rely on it):\n{verify}",
            destination.display()
        );
    }
    Ok(BackupReport {
        destination: destination.to_path_buf(),
        attempts,
        held_writes,
        tests: copied.tests,
        evidence_rows: copied.evidence_rows,
        database_bytes: fs::metadata(&target.database)?.len(),
        blobs: copied.blobs,
        blob_bytes: copied.blob_bytes,
        linked: copied.linked,
        copied: copied.copied,
        secret_key_copied,
        verify,
    })
}

/// Checks `destination` is missing or an empty directory outside the data dir and creates it (0700:
/// it will hold the evidence and the signing key). Returns whether it was created.
fn prepare_destination(source: &DataPaths, destination: &Path) -> anyhow::Result<bool> {
    let created = match fs::symlink_metadata(destination) {
        Ok(metadata) if metadata.is_dir() => {
            let mut entries =
                fs::read_dir(destination).with_context(|| format!("reading {}", destination.display()))?;
            if entries.next().is_some() {
                bail!("{} is not empty: back up into a new or empty directory", destination.display());
            }
            false
        }
        Ok(_) => bail!("{} exists and is not a directory", destination.display()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(destination).with_context(|| format!("creating {}", destination.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(destination, fs::Permissions::from_mode(0o700))?;
            }
            true
        }
        Err(err) => return Err(err).with_context(|| format!("looking at {}", destination.display())),
    };
    let data_dir = source.database.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let (Ok(data_dir), Ok(inside)) = (data_dir.canonicalize(), destination.canonicalize())
        && inside.starts_with(&data_dir)
    {
        if created {
            let _ = fs::remove_dir(destination);
        }
        bail!("{} is inside the data dir {}: back up somewhere else", destination.display(), data_dir.display());
    }
    Ok(created)
}

/// One attempt: the snapshot, then its blobs. With `hold_writes`, the database's write lock is
/// held from before the snapshot until the blobs are in place.
fn copy_once(
    source: &DataPaths,
    target: &DataPaths,
    attempt: u32,
    hold_writes: bool,
    after_snapshot: &mut dyn FnMut(u32),
) -> anyhow::Result<Attempt> {
    let snapshot = target
        .database
        .to_str()
        .with_context(|| format!("the backup path {} is not valid UTF-8", target.database.display()))?;
    let writes_held = if hold_writes { Some(WriteLock::take(&source.database)?) } else { None };
    {
        let conn = open_read_only(&source.database)?;
        conn.execute("VACUUM INTO ?1", [snapshot]).context("taking the database snapshot (VACUUM INTO)")?;
    }
    // It holds the password hashes: as private as the backup's secret.key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&target.database, fs::Permissions::from_mode(0o600))?;
    }
    // Straight on to the blobs: the sooner they are linked, the fewer a delete can take away first.
    after_snapshot(attempt);

    let conn = open_read_only(&target.database)?;
    let count = |sql: &str| conn.query_row(sql, [], |row| row.get::<_, i64>(0));
    let (tests, evidence_rows) = (count("SELECT COUNT(*) FROM tests")?, count("SELECT COUNT(*) FROM evidence")?);
    let blobs: Vec<String> = conn
        .prepare("SELECT DISTINCT sha256 FROM evidence ORDER BY sha256")?
        .query_map([], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    drop(conn);

    fs::create_dir_all(&target.evidence)?;
    let mut dirs = BTreeSet::new();
    let mut copied = Copied { tests, evidence_rows, blobs: blobs.len(), blob_bytes: 0, linked: 0, copied: 0 };
    let mut gone = Vec::new();
    for sha256 in blobs {
        if !is_sha256(&sha256) {
            bail!("the database names the blob {sha256:?}, which is not a sha256: run `aegis verify`");
        }
        let (from, to) = (source.blob(&sha256), target.blob(&sha256));
        let dir = to.parent().expect("blob paths have a parent").to_path_buf();
        if dirs.insert(dir.clone()) {
            fs::create_dir_all(&dir)?;
        }
        match place_blob(&from, &to) {
            Ok(Placed::Linked) => copied.linked += 1,
            Ok(Placed::Copied) => copied.copied += 1,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                gone.push(sha256);
                continue;
            }
            Err(err) => return Err(err).with_context(|| format!("copying {} to {}", from.display(), to.display())),
        }
        copied.blob_bytes += fs::metadata(&to)?.len();
    }
    drop(writes_held);
    if !gone.is_empty() {
        return Ok(Attempt::BlobsGone { gone, linked: copied.linked, copied: copied.copied });
    }
    // VACUUM INTO does not fsync what it wrote.
    fs::File::open(&target.database)?.sync_all()?;
    for dir in &dirs {
        sync_dir(dir)?;
    }
    sync_dir(&target.evidence)?;
    Ok(Attempt::Done(copied))
}

/// The database's write lock (`BEGIN IMMEDIATE` on a connection of its own), released on drop.
/// Readers go on; the server's writers wait, up to their busy timeout.
struct WriteLock(Connection);

impl WriteLock {
    fn take(database: &Path) -> anyhow::Result<WriteLock> {
        let conn =
            Connection::open_with_flags(database, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .with_context(|| format!("opening database {}", database.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("BEGIN IMMEDIATE").context("holding off writes for the last snapshot")?;
        Ok(WriteLock(conn))
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        let _ = self.0.execute_batch("ROLLBACK");
    }
}

enum Placed {
    Linked,
    Copied,
}

/// A hard link when the filesystem allows one (blobs are content-addressed and never changed in
/// place), else a copy made durable. `NotFound` when the source blob is gone.
fn place_blob(from: &Path, to: &Path) -> io::Result<Placed> {
    match fs::hard_link(from, to) {
        Ok(()) => Ok(Placed::Linked),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Err(err),
        Err(_) => {
            copy_durably(from, to)?;
            Ok(Placed::Copied)
        }
    }
}

fn copy_durably(from: &Path, to: &Path) -> io::Result<()> {
    let mut input = fs::File::open(from)?;
    let outcome = (|| {
        let mut output = fs::OpenOptions::new().write(true).create_new(true).open(to)?;
        io::copy(&mut input, &mut output)?;
        output.sync_all()
    })();
    if outcome.is_err() {
        let _ = fs::remove_file(to);
    }
    outcome
}

fn copy_secret_key(source: &DataPaths, target: &DataPaths) -> anyhow::Result<bool> {
    let key = match fs::read(&source.secret_key) {
        Ok(key) => key,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err).with_context(|| format!("reading {}", source.secret_key.display())),
    };
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file =
        options.open(&target.secret_key).with_context(|| format!("creating {}", target.secret_key.display()))?;
    io::Write::write_all(&mut file, &key)?;
    file.sync_all()?;
    Ok(true)
}

/// Removes what a backup attempt wrote into the destination (and only that).
fn remove_backup(target: &DataPaths) -> io::Result<()> {
    for file in [&target.database, &target.secret_key, &journal_of(&target.database)] {
        match fs::remove_file(file) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(err),
            _ => {}
        }
    }
    match fs::remove_dir_all(&target.evidence) {
        Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
        _ => Ok(()),
    }
}

fn journal_of(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

fn blobs_gone_error(source: &DataPaths, gone: &[String]) -> anyhow::Error {
    let still_referenced: Vec<&String> = match open_read_only(&source.database) {
        Ok(conn) => {
            gone.iter().filter(|sha256| rows_of_blob(&conn, sha256).is_ok_and(|rows| !rows.is_empty())).collect()
        }
        Err(_) => Vec::new(),
    };
    let list = |shas: &[&String]| shas.iter().map(|sha| sha.as_str()).collect::<Vec<_>>().join(", ");
    if still_referenced.is_empty() {
        anyhow::anyhow!(
            "evidence kept being deleted while the backup ran ({BACKUP_ATTEMPTS} snapshots, each missing blobs \
             by the time they were copied: {}); try again when the server is quieter",
            list(&gone.iter().collect::<Vec<_>>())
        )
    } else {
        anyhow::anyhow!(
            "the data dir is missing evidence blobs its database still references: {}; run `aegis verify`",
            list(&still_referenced)
        )
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A migrated data dir with one test and evidence rows for `contents` (blobs stored), and a secret.key.
    fn data_dir(contents: &[&[u8]]) -> (tempfile::TempDir, DataPaths, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let paths = DataPaths::of(dir.path());
        drop(crate::db::Db::open(&paths.database).unwrap());
        let conn = Connection::open(&paths.database).unwrap();
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             INSERT INTO techniques (id, mitre_id, name, created_at, updated_at)
                 VALUES ('tech', 'T1059', 'Command', '2024-01-01T00:00:00Z', '2024-01-01T00:00:00Z');
             INSERT INTO tests (id, technique_id, name, platform, created_by, created_by_name, created_at, updated_at)
                 VALUES ('test', 'tech', 'a test', 'windows', 'u', 'user', '2024-01-01T00:00:00Z',
                         '2024-01-01T00:00:00Z');",
        )
        .unwrap();
        let mut shas = Vec::new();
        for (i, content) in contents.iter().enumerate() {
            let sha256 = hex::encode(Sha256::digest(content));
            let blob = paths.blob(&sha256);
            fs::create_dir_all(blob.parent().unwrap()).unwrap();
            fs::write(&blob, content).unwrap();
            conn.execute(
                "INSERT INTO evidence (id, test_id, file_name, sha256, size_bytes, uploaded_by, uploaded_by_name,
                                       uploaded_at)
                 VALUES (?1, 'test', 'f', ?2, ?3, 'u', 'user', '2024-01-01T00:00:00Z')",
                rusqlite::params![format!("ev{i}"), sha256, content.len() as i64],
            )
            .unwrap();
            shas.push(sha256);
        }
        fs::create_dir_all(paths.tmp()).unwrap();
        fs::write(&paths.secret_key, "ab".repeat(32)).unwrap();
        (dir, paths, shas)
    }

    #[test]
    fn a_clean_data_dir_verifies_and_each_blob_is_hashed_once() {
        let (_dir, paths, _) = data_dir(&[b"one", b"two", b"one"]);
        let report = verify(&paths).unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.evidence_rows, report.blobs_checked, report.bytes_hashed), (3, 2, 6));
        assert!(report.to_string().ends_with("verify: ok, no problems"), "{report}");
    }

    #[test]
    fn problems_are_each_found() {
        let (_dir, paths, shas) = data_dir(&[b"one", b"two", b"three", b"four"]);
        fs::remove_file(paths.blob(&shas[0])).unwrap();
        fs::write(paths.blob(&shas[1]), b"TWO").unwrap();
        fs::write(paths.blob(&shas[2]), b"3").unwrap();
        let orphan = hex::encode(Sha256::digest(b"orphan"));
        fs::create_dir_all(paths.blob(&orphan).parent().unwrap()).unwrap();
        fs::write(paths.blob(&orphan), b"orphan").unwrap();
        fs::write(paths.tmp().join("leftover"), b"x").unwrap();
        fs::write(paths.evidence.join("stray.txt"), b"x").unwrap();
        let report = verify(&paths).unwrap();
        let kinds: Vec<&str> = report.problems.iter().map(Problem::kind).collect();
        for kind in [
            "missing blob",
            "content mismatch",
            "size mismatch",
            "orphan blob",
            "leftover temp file",
            "unexpected file",
        ] {
            assert_eq!(kinds.iter().filter(|k| **k == kind).count(), 1, "{kind} in {report}");
        }
        assert_eq!(report.problems.len(), 6, "{report}");
        assert_eq!(report.blobs_checked, 1);
    }

    #[test]
    fn a_backup_is_a_verified_copy_without_temp_files() {
        let (_dir, paths, shas) = data_dir(&[b"one", b"two"]);
        fs::write(paths.tmp().join("in-progress"), b"x").unwrap();
        let out = tempfile::tempdir().unwrap();
        let destination = out.path().join("backup");
        let report = backup(&paths, &destination).unwrap();
        assert_eq!((report.attempts, report.evidence_rows, report.blobs, report.tests), (1, 2, 2, 1));
        assert!(report.secret_key_copied);
        let copy = DataPaths::of(&destination);
        assert_eq!(fs::read(&copy.secret_key).unwrap(), fs::read(&paths.secret_key).unwrap());
        assert_eq!(fs::read(copy.blob(&shas[1])).unwrap(), b"two");
        assert!(!copy.tmp().exists());
        assert!(verify(&copy).unwrap().is_clean());
        // Not again into the same, now non-empty, directory.
        let err = backup(&paths, &destination).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        // Not into the data dir.
        let err = backup(&paths, &paths.database.parent().unwrap().join("inside")).unwrap_err().to_string();
        assert!(err.contains("inside the data dir"), "{err}");
        assert!(!paths.database.parent().unwrap().join("inside").exists());
    }

    #[test]
    fn a_blob_deleted_after_the_snapshot_makes_the_backup_start_over() {
        let (_dir, paths, shas) = data_dir(&[b"one", b"two"]);
        let out = tempfile::tempdir().unwrap();
        let mut snapshots = 0;
        // What a concurrent delete does after the first snapshot: the row, then the blob.
        let report = backup_with(&paths, out.path(), &mut |attempt| {
            snapshots += 1;
            if attempt == 1 {
                let conn = Connection::open(&paths.database).unwrap();
                conn.execute("DELETE FROM evidence WHERE sha256 = ?1", [&shas[0]]).unwrap();
                fs::remove_file(paths.blob(&shas[0])).unwrap();
            }
        })
        .unwrap();
        assert_eq!((snapshots, report.attempts, report.evidence_rows, report.blobs), (2, 2, 1, 1));
        assert!(verify(&DataPaths::of(out.path())).unwrap().is_clean());
    }

    #[test]
    fn the_last_snapshot_holds_off_deletions_until_its_blobs_are_linked() {
        let (_dir, paths, shas) = data_dir(&[b"one", b"two", b"three", b"four"]);
        let out = tempfile::tempdir().unwrap();
        let mut refused = false;
        // A delete after every snapshot: the row, then (in its own write transaction) the blob.
        let report = backup_with(&paths, out.path(), &mut |attempt| {
            let sha = &shas[attempt as usize - 1];
            let conn = Connection::open(&paths.database).unwrap();
            conn.busy_timeout(Duration::ZERO).unwrap();
            match conn.execute("DELETE FROM evidence WHERE sha256 = ?1", [sha]) {
                Ok(_) => fs::remove_file(paths.blob(sha)).unwrap(),
                Err(err) => {
                    assert_eq!(attempt, BACKUP_ATTEMPTS, "only the last snapshot holds off writes: {err}");
                    assert!(err.to_string().contains("locked"), "{err}");
                    refused = true;
                }
            }
        })
        .unwrap();
        assert!(refused && report.held_writes);
        assert_eq!((report.attempts, report.evidence_rows, report.blobs), (BACKUP_ATTEMPTS, 2, 2));
        assert!(verify(&DataPaths::of(out.path())).unwrap().is_clean());
        // The lock is gone with the backup.
        Connection::open(&paths.database)
            .unwrap()
            .execute("DELETE FROM evidence WHERE sha256 = ?1", [&shas[2]])
            .unwrap();
    }

    #[test]
    fn a_blob_missing_from_the_data_dir_fails_the_backup_and_leaves_nothing() {
        let (_dir, paths, shas) = data_dir(&[b"one", b"two"]);
        fs::remove_file(paths.blob(&shas[0])).unwrap();
        let out = tempfile::tempdir().unwrap();
        let destination = out.path().join("backup");
        let mut snapshots = 0;
        let err = backup_with(&paths, &destination, &mut |_| snapshots += 1).unwrap_err().to_string();
        assert_eq!(snapshots, BACKUP_ATTEMPTS);
        assert!(err.contains("missing evidence blobs") && err.contains(&shas[0]), "{err}");
        assert!(!destination.exists(), "nothing left behind");
    }
}
