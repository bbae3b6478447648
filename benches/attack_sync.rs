//! ATT&CK sync benchmark: first import and no-change re-sync of the real Enterprise bundle, wall
//! time and peak memory, next to bare serde_json parses of the same file.
//!
//! Run: `cargo bench --bench attack_sync` (needs ../shared/data/attack/enterprise-attack.json.gz, or
//! set AEGIS_BENCH_BUNDLE). Each measurement runs in a fresh child process so its peak RSS is its own;
//! the table shows medians of RUNS runs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aegis::db::Db;
use aegis::service::audit::Actor;
use aegis::service::sync::{self, BundleOrigin};

const RUNS: usize = 5;
const PHASES: [(&str, &str); 5] = [
    ("bare-ignored", "read + gunzip + serde_json::from_slice::<IgnoredAny> (the floor)"),
    ("bare-value", "read + gunzip + serde_json::from_slice::<Value> (a bare parse)"),
    ("parse", "read + gunzip + Aegis STIX parse"),
    ("import", "first import into an empty database (read, parse, one transaction)"),
    ("resync", "no-change re-sync of the same bundle"),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(index) = args.iter().position(|arg| arg == "--phase") {
        let phase = &args[index + 1];
        let bundle = PathBuf::from(&args[index + 2]);
        run_phase(phase, &bundle);
        return;
    }
    let bundle = std::env::var_os("AEGIS_BENCH_BUNDLE").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/attack/enterprise-attack.json.gz")
    });
    if !bundle.exists() {
        println!("skipping: {} not found (the real ATT&CK data lives beside the checkout)", bundle.display());
        return;
    }
    let exe = std::env::current_exe().unwrap();
    println!("bundle: {} ({} bytes)", bundle.display(), std::fs::metadata(&bundle).unwrap().len());
    println!("| phase | what | median wall (ms) | median peak RSS (MiB) |");
    println!("|---|---|---:|---:|");
    let mut medians = Vec::new();
    for (phase, what) in PHASES {
        let mut walls = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..RUNS {
            let output = Command::new(&exe).args(["--phase", phase]).arg(&bundle).output().unwrap();
            assert!(output.status.success(), "{phase}: {}", String::from_utf8_lossy(&output.stderr));
            let text = String::from_utf8(output.stdout).unwrap();
            let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().unwrap());
            walls.push(fields.next().unwrap());
            peaks.push(fields.next().unwrap());
        }
        let (wall, peak) = (median(&mut walls), median(&mut peaks));
        medians.push((phase, wall, peak));
        println!("| {phase} | {what} | {wall:.0} | {:.1} |", peak / 1024.0);
    }
    let of =
        |name: &str| medians.iter().find(|(phase, _, _)| *phase == name).map(|(_, wall, peak)| (*wall, *peak)).unwrap();
    let (bare_wall, bare_peak) = of("bare-value");
    for phase in ["parse", "import", "resync"] {
        let (wall, peak) = of(phase);
        println!("{phase}: {:.2}x the bare parse's time, {:.2}x its peak memory", wall / bare_wall, peak / bare_peak);
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Peak resident set size of this process in KiB (VmHWM).
fn peak_rss_kib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0), so a phase after set-up measures only itself.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn run_phase(phase: &str, bundle: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = bundle.to_string_lossy().into_owned();
    let db = || Db::open(&dir.path().join("aegis.db")).unwrap();
    let sync_once =
        |db: &Db| runtime.block_on(sync::sync(db, Actor::System("bench"), BundleOrigin::File(source.clone()))).unwrap();
    let (start, report) = match phase {
        "bare-ignored" | "bare-value" => {
            reset_peak_rss();
            let start = Instant::now();
            let compressed = std::fs::read(bundle).unwrap();
            let json = aegis::attack::stix::decompress(&compressed).unwrap();
            if phase == "bare-ignored" {
                serde_json::from_slice::<serde::de::IgnoredAny>(&json).unwrap();
            } else {
                std::hint::black_box(serde_json::from_slice::<serde_json::Value>(&json).unwrap());
            }
            (start, None)
        }
        "parse" => {
            reset_peak_rss();
            let start = Instant::now();
            let compressed = std::fs::read(bundle).unwrap();
            std::hint::black_box(aegis::attack::stix::parse(&compressed).unwrap());
            (start, None)
        }
        "import" => {
            let db = db();
            reset_peak_rss();
            let start = Instant::now();
            (start, Some(sync_once(&db)))
        }
        "resync" => {
            let db = db();
            sync_once(&db);
            reset_peak_rss();
            let start = Instant::now();
            (start, Some(sync_once(&db)))
        }
        other => panic!("unknown phase {other}"),
    };
    let wall = start.elapsed().as_secs_f64() * 1000.0;
    if let Some(report) = report {
        eprintln!("{phase}: {report:?}");
    }
    println!("{wall} {}", peak_rss_kib());
}
