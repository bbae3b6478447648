//! Criterion benchmarks of the in-process pieces, on the real ATT&CK Enterprise bundle and a database
//! filled to the issue's volume (100k tests, 10k evidence files, 1M audit rows):
//! - `stix`: gunzip, parse, and the no-change re-sync diff;
//! - `coverage`: the pure roll-up, and the per-test-change tally and roll-up write of a technique;
//! - `metrics`: the status counts behind the summary and by-tactic metrics, bare and as services;
//! - `tokens`: verifying a bearer token and an evidence download token;
//! - `pages`: the reads behind the technique detail, the test detail and audit-log pages (and the
//!   technique detail written as JSON), to set the HTTP figures of those endpoints against.
//!
//! Run: `cargo bench --bench inprocess` (needs ../shared/data/attack/enterprise-attack.json.gz, or set
//! AEGIS_BENCH_BUNDLE). Building the database takes a little while; it is checked before measuring.

#[path = "support/volume.rs"]
mod volume;

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aegis::api::techniques::TechniqueDetailOut;
use aegis::attack::stix;
use aegis::auth::tokens::TokenKeys;
use aegis::db::Db;
use aegis::db::audit::{self, AuditFilter};
use aegis::db::{catalogue, tests as test_sql};
use aegis::evidence::token::DownloadTokens;
use aegis::service::catalogue as service_catalogue;
use aegis::service::coverage::{self, TestTally};
use aegis::service::tests as service_tests;
use aegis::service::{metrics, sync};
use criterion::Criterion;
use rusqlite::Connection;
use sha2::{Digest, Sha256};
use volume::Volume;

/// The roll-up benchmark's technique: the one whose test count is nearest this.
const TYPICAL_TESTS: i64 = 150;

fn main() {
    let bundle_path = std::env::var_os("AEGIS_BENCH_BUNDLE").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/attack/enterprise-attack.json.gz")
    });
    if !bundle_path.exists() {
        println!("skipping: {} not found (the real ATT&CK data lives beside the checkout)", bundle_path.display());
        return;
    }
    let compressed = std::fs::read(&bundle_path).unwrap();
    let json = stix::decompress(&compressed).unwrap().into_owned();
    let bundle = stix::parse(&json).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("aegis.db");
    let evidence_dir = dir.path().join("evidence");
    let db = Db::open(&db_path).unwrap();
    let report = db.write_blocking(|tx| sync::apply(tx, &bundle)).unwrap();
    println!("catalogue: ATT&CK {:?}, {}", bundle.attack_version, report.summary());
    let password_hash = aegis::auth::password::hash_blocking("bench-password").unwrap();
    let mut conn = Connection::open(&db_path).unwrap();
    let started = Instant::now();
    let filled = volume::fill(&mut conn, &evidence_dir, &Volume::ISSUE, &password_hash).unwrap();
    let fill_time = started.elapsed();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    println!(
        "volume: {} users, {} tests, {} evidence, {} audit rows filled in {:.1} s; \
         database {:.1} MiB, evidence {:.1} MiB",
        filled.users.len(),
        filled.tests,
        filled.evidence,
        filled.audit,
        fill_time.as_secs_f64(),
        file_size(&db_path) as f64 / 1048576.0,
        dir_size(&evidence_dir) as f64 / 1048576.0,
    );
    // The services run on a pool opened on the filled database, as a server started on it would.
    drop(db);
    let db = Db::open(&db_path).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    check_volume(&conn, &db, &runtime, &evidence_dir, &filled);

    let mut criterion = Criterion::default().warm_up_time(Duration::from_secs(1)).configure_from_args();
    bench_stix(&mut criterion, &compressed, &json, &bundle, &mut conn);
    bench_coverage(&mut criterion, &mut conn);
    // The bare queries on a connection that has only read, like the pool's readers: on the one
    // that just wrote, the by-tactic query measured up to twice as slow, depending on its cache.
    let reader = Connection::open(&db_path).unwrap();
    bench_metrics(&mut criterion, &reader, &db, &runtime);
    bench_tokens(&mut criterion);
    bench_pages(&mut criterion, &reader, &db, &runtime);
    criterion.final_summary();
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

fn dir_size(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| {
                    let path = entry.path();
                    if path.is_dir() { dir_size(&path) } else { file_size(&path) }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// The filled database is what `fill` promised: row counts, consistent roll-ups, real blobs.
fn check_volume(
    conn: &Connection,
    db: &Db,
    runtime: &tokio::runtime::Runtime,
    evidence_dir: &Path,
    filled: &volume::Filled,
) {
    let issue = Volume::ISSUE;
    assert_eq!((filled.tests, filled.evidence, filled.audit), (issue.tests, issue.evidence, issue.audit));
    assert_eq!(count(conn, "SELECT COUNT(*) FROM users") as usize, filled.users.len());
    assert_eq!(count(conn, "SELECT COUNT(*) FROM tests") as usize, issue.tests);
    assert_eq!(count(conn, "SELECT COUNT(*) FROM evidence") as usize, issue.evidence);
    assert_eq!(count(conn, "SELECT COUNT(*) FROM audit_logs") as usize, issue.audit);
    assert_eq!(count(conn, "SELECT COALESCE(SUM(test_count), 0) FROM techniques") as usize, issue.tests);
    assert_eq!(count(conn, "SELECT COUNT(*) FROM pragma_foreign_key_check"), 0, "dangling references");
    assert!(count(conn, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'audit_logs'") > 0, "ANALYZE ran");
    let unsorted = count(
        conn,
        "SELECT COUNT(*) FROM audit_logs a JOIN audit_logs b ON b.seq = a.seq + 1 WHERE b.timestamp <= a.timestamp",
    );
    assert_eq!(unsorted, 0, "audit timestamps increase with seq");

    // The maintained statuses match a fresh roll-up of every technique.
    let mut stmt = conn.prepare("SELECT id, status_global, test_count FROM techniques").unwrap();
    let rows: Vec<(String, String, i64)> =
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?))).unwrap().map(Result::unwrap).collect();
    for (id, status, tests) in &rows {
        let tally = test_sql::tally(conn, id).unwrap();
        assert_eq!((coverage::roll_up(tally).as_str(), tally.total as i64), (status.as_str(), *tests), "{id}");
    }
    let summary = runtime.block_on(metrics::summary(db)).unwrap();
    let active = count(conn, "SELECT COUNT(*) FROM techniques WHERE revoked = 0 AND deprecated = 0") as u64;
    assert_eq!(summary.total, active);
    let tested = count(conn, "SELECT COUNT(*) FROM techniques WHERE test_count > 0");
    let busiest = count(conn, "SELECT MAX(test_count) FROM techniques");
    println!(
        "coverage: {tested} of {active} active techniques tested (busiest: {busiest} tests); {} validated, {} partial, \
         {} not covered, {} in progress, {} not evaluated: {}%",
        summary.validated,
        summary.partial,
        summary.not_covered,
        summary.in_progress,
        summary.not_evaluated,
        summary.coverage_percentage
    );

    // Every evidence row has its blob, whose content hashes to the recorded sha256 and size.
    let mut stmt = conn.prepare("SELECT sha256, size_bytes FROM evidence").unwrap();
    let blobs: Vec<(String, i64)> =
        stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?))).unwrap().map(Result::unwrap).collect();
    for (sha256, size) in &blobs {
        let content = std::fs::read(evidence_dir.join(&sha256[..2]).join(sha256)).unwrap();
        assert_eq!(content.len() as i64, *size);
        assert_eq!(&hex::encode(Sha256::digest(&content)), sha256);
    }
    let distinct = count(conn, "SELECT COUNT(DISTINCT sha256) FROM evidence") as usize;
    assert_eq!(distinct, issue.evidence, "evidence contents are distinct");
}

fn bench_stix(c: &mut Criterion, compressed: &[u8], json: &[u8], bundle: &stix::Bundle, conn: &mut Connection) {
    let mut group = c.benchmark_group("stix");
    group.sample_size(10).measurement_time(Duration::from_secs(8));
    group.bench_function("decompress", |b| b.iter(|| stix::decompress(black_box(compressed)).unwrap()));
    group.bench_function("parse", |b| b.iter(|| stix::parse(black_box(json)).unwrap()));

    // The no-change re-sync: every technique compared by content hash; rolled back each time.
    let tx = conn.transaction().unwrap();
    let report = sync::apply(&tx, bundle).unwrap();
    tx.rollback().unwrap();
    assert_eq!((report.new, report.updated, report.deprecated), (0, 0, 0), "{}", report.summary());
    group.bench_function("diff", |b| {
        b.iter(|| {
            let tx = conn.transaction().unwrap();
            let report = sync::apply(&tx, black_box(bundle)).unwrap();
            tx.rollback().unwrap();
            report
        })
    });
    group.finish();
}

fn bench_coverage(c: &mut Criterion, conn: &mut Connection) {
    let mut group = c.benchmark_group("coverage");
    group.measurement_time(Duration::from_secs(3));
    let tallies = [
        TestTally { total: 0, detected: 0, partially_detected: 0, not_detected: 0 },
        TestTally { total: 12, detected: 0, partially_detected: 0, not_detected: 0 },
        TestTally { total: 150, detected: 90, partially_detected: 0, not_detected: 0 },
        TestTally { total: 150, detected: 60, partially_detected: 25, not_detected: 15 },
    ];
    group.bench_function("roll_up", |b| {
        b.iter(|| {
            for tally in black_box(&tallies) {
                black_box(coverage::roll_up(*tally));
            }
        })
    });

    let (technique_id, tests): (String, i64) = conn
        .query_row(
            "SELECT id, test_count FROM techniques ORDER BY abs(test_count - ?1), mitre_id LIMIT 1",
            [TYPICAL_TESTS],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    println!("coverage: the per-change benchmarks use a technique with {tests} tests");
    group.bench_function("tally", |b| b.iter(|| test_sql::tally(conn, black_box(&technique_id)).unwrap()));
    // The busiest technique's tally: counted on the index it took 1.6 ms at 15k tests; kept by the
    // triggers of migration 0009 it costs the same at any size (POST /tests in the HTTP benchmark piles
    // every new test on one technique).
    let (busiest, busiest_tests): (String, i64) = conn
        .query_row("SELECT id, test_count FROM techniques ORDER BY test_count DESC LIMIT 1", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    println!("coverage: tally_busiest counts a technique with {busiest_tests} tests");
    group.bench_function("tally_busiest", |b| b.iter(|| test_sql::tally(conn, black_box(&busiest)).unwrap()));
    // What a test change adds to its transaction: tally, roll-up, write (rolled back each time).
    group.bench_function("recompute", |b| {
        b.iter(|| {
            let tx = conn.transaction().unwrap();
            let tally = test_sql::tally(&tx, black_box(&technique_id)).unwrap();
            let status = coverage::roll_up(tally);
            test_sql::set_technique_rollup(&tx, &technique_id, status.as_str(), tally.total as i64).unwrap();
            tx.rollback().unwrap();
        })
    });
    group.finish();
}

fn bench_metrics(c: &mut Criterion, conn: &Connection, db: &Db, runtime: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("metrics");
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("status_counts", |b| b.iter(|| catalogue::status_counts(conn).unwrap()));
    group.bench_function("status_counts_by_tactic", |b| b.iter(|| catalogue::status_counts_by_tactic(conn).unwrap()));
    // The services: a pooled connection on the blocking pool, as a request gets it.
    group.bench_function("summary", |b| b.iter(|| runtime.block_on(metrics::summary(db)).unwrap()));
    group.bench_function("by_tactic", |b| b.iter(|| runtime.block_on(metrics::by_tactic(db)).unwrap()));
    group.finish();
}

fn bench_tokens(c: &mut Criterion) {
    let secret = b"aegis-bench-secret-0123456789abcdef";
    let mut group = c.benchmark_group("tokens");
    group.measurement_time(Duration::from_secs(3));
    let keys = TokenKeys::new(secret, Duration::from_secs(3600)).unwrap();
    let bearer = keys.issue(&uuid::Uuid::new_v4().to_string(), 0).unwrap().token;
    group.bench_function("bearer_verify", |b| b.iter(|| keys.verify(black_box(&bearer)).unwrap()));
    let downloads = DownloadTokens::new(secret, Duration::from_secs(300));
    let evidence_id = uuid::Uuid::new_v4().to_string();
    let link = downloads.issue(&evidence_id);
    group.bench_function("download_verify", |b| {
        b.iter(|| assert!(downloads.verify(black_box(&evidence_id), black_box(&link))))
    });
    group.finish();
}

/// What one request of the endpoints furthest below their ceiling does besides HTTP and
/// authentication, on the filled database: the reads alone, and the technique detail with its
/// conversion and JSON writing. BENCHMARKS.md divides the HTTP throughput by these.
fn bench_pages(c: &mut Criterion, conn: &Connection, db: &Db, runtime: &tokio::runtime::Runtime) {
    let mut group = c.benchmark_group("pages");
    group.measurement_time(Duration::from_secs(4));
    // The technique and test the HTTP benchmark asks for (benches/http/harness.py picks them the same way).
    let counts: Vec<(String, i64)> = conn
        .prepare("SELECT mitre_id, test_count FROM techniques WHERE test_count > 0 ORDER BY test_count")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let (mitre_id, tests) = counts[counts.len() / 2].clone();
    println!("pages: technique {mitre_id} ({tests} tests)");
    group.bench_function("technique_detail_read", |b| {
        b.iter(|| runtime.block_on(service_catalogue::get(db, black_box(&mitre_id))).unwrap())
    });
    group.bench_function("technique_detail_read_and_json", |b| {
        b.iter(|| {
            let detail = runtime.block_on(service_catalogue::get(db, black_box(&mitre_id))).unwrap();
            serde_json::to_vec(&TechniqueDetailOut::from(detail)).unwrap()
        })
    });
    let test_id: String =
        conn.query_row("SELECT test_id FROM evidence ORDER BY test_id LIMIT 1", [], |row| row.get(0)).unwrap();
    group.bench_function("test_detail_read", |b| {
        b.iter(|| runtime.block_on(service_tests::get(db, black_box(&test_id))).unwrap())
    });
    // An action of about a tenth of the log, its middle, and the deepest pages, as the HTTP benchmark.
    let rows: i64 = conn.query_row("SELECT MAX(seq) FROM audit_logs", [], |row| row.get(0)).unwrap();
    let (action, action_rows): (String, i64) = conn
        .query_row(
            "SELECT action, COUNT(*) AS n FROM audit_logs GROUP BY action ORDER BY abs(n - ?1 / 10.0) LIMIT 1",
            [rows],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    let page = |action: Option<&str>, offset: i64| AuditFilter {
        action: action.map(str::to_owned),
        offset,
        limit: 50,
        ..Default::default()
    };
    let pages = [
        ("audit_first_page", page(None, 0)),
        ("audit_filtered", page(Some(&action), 0)),
        ("audit_filtered_deep", page(Some(&action), action_rows / 2)),
        ("audit_deep", page(None, rows - 1000)),
    ];
    for (name, filter) in pages {
        group.bench_function(name, |b| b.iter(|| audit::list(conn, black_box(&filter)).unwrap()));
    }
    group.finish();
}
