//! Synthetic volume for the benchmarks: users of every role, red-team tests spread (with a skew)
//! over the active techniques and their states, evidence rows with real blob files, and a year of
//! audit log. Filled straight through prepared statements, one transaction per table, from a
//! deterministic RNG (ids are random UUIDs, as the app makes them; timestamps end at the time of
//! the fill). The techniques' maintained `status_global` and `test_count` are then recomputed with
//! the app's own roll-up, and `ANALYZE` gives the query planner real statistics.
//!
//! Included by path from `benches/inprocess.rs` and `benches/tools/prepare.rs`: no criterion here.

// Each includer uses its own part of this module.
#![allow(dead_code)]

use std::collections::HashSet;
use std::path::Path;

use aegis::auth::Role;
use aegis::db::tests as test_sql;
use aegis::db::users::{self as user_sql, UserRow};
use aegis::service::coverage;
use anyhow::{Context, ensure};
use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{Connection, TransactionBehavior, params};
use serde_json::json;
use sha2::{Digest, Sha256};

/// How many rows to add.
pub struct Volume {
    pub tests: usize,
    pub evidence: usize,
    pub audit: usize,
}

impl Volume {
    /// The volume the performance issue names: 100k tests, 10k evidence files, 1M audit rows.
    pub const ISSUE: Volume = Volume { tests: 100_000, evidence: 10_000, audit: 1_000_000 };
}

/// What [`fill`] added.
pub struct Filled {
    /// `(username, role)` of every user added; all share the password behind `password_hash`.
    pub users: Vec<(String, String)>,
    pub tests: usize,
    pub evidence: usize,
    pub audit: usize,
}

/// Users added per role, named `<role>_<n>` from 1.
const USERS_PER_ROLE: [(Role, usize); 6] = [
    (Role::Admin, 2),
    (Role::RedLead, 3),
    (Role::RedTech, 10),
    (Role::BlueLead, 3),
    (Role::BlueTech, 6),
    (Role::Viewer, 4),
];

/// The share of active techniques that have tests.
const TESTED_SHARE: f64 = 0.6;
/// Tests per tested technique follow a Zipf law of this exponent (the busiest has ~15% of them).
const ZIPF_EXPONENT: f64 = 1.0;
/// The fixed seed: every fill of the same catalogue and volume has the same shape.
const SEED: u64 = 0xAE61_5BE7_C0DE_2026;

const TOOLS: [&str; 8] =
    ["Atomic Red Team", "Caldera", "Cobalt Strike", "Metasploit", "Sliver", "PowerShell", "Impacket", "manual"];
const VERBS: [&str; 5] = ["Execute", "Emulate", "Simulate", "Replay", "Reproduce"];
const VALIDATION_COMMENTS: [&str; 5] = [
    "EDR alert fired within two minutes; SOC ticket opened.",
    "SIEM correlation rule matched; analyst confirmed the detection.",
    "Only the parent process was logged; the command line was missing.",
    "No alert: the telemetry reached the SIEM but no rule matched.",
    "Detected by the network sensor, not by the endpoint agent.",
];
const REJECTION_COMMENTS: [&str; 4] = [
    "The procedure is not reproducible as written: add the exact command.",
    "Wrong platform: this was run on a Linux host.",
    "Duplicate of an existing test; merge the two.",
    "The evidence does not show the technique being executed.",
];
/// `(file name stem, extension, content type)` of evidence files.
const EVIDENCE_KINDS: [(&str, &str, &str); 6] = [
    ("edr-alert", "json", "application/json"),
    ("sysmon-export", "evtx", "application/octet-stream"),
    ("screenshot", "png", "image/png"),
    ("operator-notes", "txt", "text/plain"),
    ("capture", "pcap", "application/vnd.tcpdump.pcap"),
    ("siem-query", "csv", "text/csv"),
];

/// SplitMix64: small, fast and good enough to shape synthetic data.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index drawn with the given integer weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut draw = self.below(total as usize) as u32;
        for (index, weight) in weights.iter().enumerate() {
            if draw < *weight {
                return index;
            }
            draw -= weight;
        }
        weights.len() - 1
    }

    /// Uniform duration in `[0, max)`, in microseconds.
    fn within(&mut self, max: TimeDelta) -> TimeDelta {
        let micros = max.num_microseconds().unwrap_or(0).max(1) as usize;
        TimeDelta::microseconds(self.below(micros) as i64)
    }
}

struct User {
    id: String,
    username: String,
    role: Role,
}

struct Technique {
    id: String,
    mitre_id: String,
    name: String,
    platforms: Vec<String>,
}

/// How a tested technique fares: decides the results of its validated tests.
#[derive(Clone, Copy)]
enum Profile {
    /// Validated tests all detected.
    Detected,
    /// Validated tests of every result.
    Mixed,
    /// Validated tests all not detected.
    Blind,
    /// Drafts and rejected tests only.
    Drafting,
}

/// What the evidence and audit rows need to know about a test.
struct Test {
    id: String,
    technique: usize,
    name: String,
    platform: String,
    creator: usize,
    validator: Option<usize>,
    result: Option<&'static str>,
    created_at: DateTime<Utc>,
    /// When it stopped taking evidence: validated, or the end of the filled year.
    open_until: DateTime<Utc>,
}

/// Fills a migrated database that already holds the ATT&CK catalogue.
///
/// `evidence_dir` is the blob store's root (`<data dir>/evidence`): each evidence row's content is
/// written to `<evidence_dir>/<sha256[0..2]>/<sha256>`. Every user added gets `password_hash` (an
/// Argon2 PHC string). Leaves `foreign_keys` on for `conn`; its `cache_size` is restored.
pub fn fill(
    conn: &mut Connection,
    evidence_dir: &Path,
    volume: &Volume,
    password_hash: &str,
) -> anyhow::Result<Filled> {
    let techniques = active_techniques(conn)?;
    ensure!(!techniques.is_empty(), "the database holds no active technique: import the ATT&CK catalogue first");
    conn.pragma_update(None, "foreign_keys", true)?;
    let cache_size: i64 = conn.pragma_query_value(None, "cache_size", |row| row.get(0))?;
    // 256 MiB of page cache while filling: the random UUID keys touch the whole of their indexes.
    conn.pragma_update(None, "cache_size", -262_144)?;

    let mut rng = Rng(SEED);
    let end = Utc::now() - TimeDelta::minutes(1);
    let start = end - TimeDelta::days(365);

    let users = insert_users(conn, password_hash, start - TimeDelta::days(30))?;
    let tests = insert_tests(conn, &mut rng, &techniques, &users, volume.tests, start, end)?;
    recompute_rollups(conn)?;
    let evidence = insert_evidence(conn, &mut rng, evidence_dir, &users, &tests, volume.evidence)?;
    insert_audit(conn, &mut rng, &techniques, &users, &tests, &evidence, volume.audit, start, end)?;

    conn.execute_batch("ANALYZE")?;
    conn.pragma_update(None, "cache_size", cache_size)?;
    Ok(Filled {
        users: users.iter().map(|user| (user.username.clone(), user.role.as_str().to_owned())).collect(),
        tests: tests.len(),
        evidence: evidence.len(),
        audit: volume.audit,
    })
}

fn active_techniques(conn: &Connection) -> anyhow::Result<Vec<Technique>> {
    let mut stmt = conn.prepare(
        "SELECT id, mitre_id, name, platforms FROM techniques WHERE revoked = 0 AND deprecated = 0 ORDER BY mitre_id",
    )?;
    let rows = stmt.query_map([], |row| {
        let platforms: String = row.get(3)?;
        Ok(Technique {
            id: row.get(0)?,
            mitre_id: row.get(1)?,
            name: row.get(2)?,
            platforms: serde_json::from_str(&platforms).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn insert_users(conn: &mut Connection, password_hash: &str, created: DateTime<Utc>) -> anyhow::Result<Vec<User>> {
    let created_at = aegis::time::format(created);
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut users = Vec::new();
    for (role, count) in USERS_PER_ROLE {
        for n in 1..=count {
            let user = User { id: uuid::Uuid::new_v4().to_string(), username: format!("{role}_{n}"), role };
            user_sql::insert(
                &tx,
                &UserRow {
                    id: user.id.clone(),
                    username: user.username.clone(),
                    email: Some(format!("{}@bench.aegis.test", user.username)),
                    password_hash: password_hash.to_owned(),
                    role,
                    is_active: true,
                    token_version: 0,
                    created_at: created_at.clone(),
                    updated_at: created_at.clone(),
                },
            )
            .with_context(|| format!("adding user {}", user.username))?;
            users.push(user);
        }
    }
    tx.commit()?;
    Ok(users)
}

/// Indexes into `users` of the users holding any of `roles`.
fn with_roles(users: &[User], roles: &[Role]) -> Vec<usize> {
    (0..users.len()).filter(|&index| roles.contains(&users[index].role)).collect()
}

fn insert_tests(
    conn: &mut Connection,
    rng: &mut Rng,
    techniques: &[Technique],
    users: &[User],
    count: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<Vec<Test>> {
    // Which techniques have tests, how many (Zipf by rank) and how they fare.
    let mut order: Vec<usize> = (0..techniques.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    order.truncate(((techniques.len() as f64 * TESTED_SHARE).ceil() as usize).max(1));
    let mut cumulative = Vec::with_capacity(order.len());
    let mut sum = 0.0;
    for rank in 0..order.len() {
        sum += 1.0 / ((rank + 1) as f64).powf(ZIPF_EXPONENT);
        cumulative.push(sum);
    }
    let profiles: Vec<Profile> = order
        .iter()
        .map(|_| {
            [Profile::Detected, Profile::Mixed, Profile::Blind, Profile::Drafting][rng.weighted(&[45, 25, 10, 20])]
        })
        .collect();

    let red_tech = with_roles(users, &[Role::RedTech]);
    let red_lead = with_roles(users, &[Role::RedLead]);
    let admins = with_roles(users, &[Role::Admin]);
    let blue_lead = with_roles(users, &[Role::BlueLead]);
    let mut per_technique = vec![0usize; techniques.len()];
    let span = (end - TimeDelta::days(1)) - start;
    let step = span / i32::try_from(count.max(1))?;

    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut tests = Vec::with_capacity(count);
    {
        let mut insert = tx.prepare(
            "INSERT INTO tests (id, technique_id, name, description, platform, procedure_text, tool_used, state,
                 result, validation_comments, validated_by, validated_by_name, validated_at, rejection_comments,
                 rejected_by, rejected_by_name, rejected_at, created_by, created_by_name, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)",
        )?;
        for i in 0..count {
            let draw = rng.unit() * sum;
            let slot = cumulative.partition_point(|&c| c <= draw).min(order.len() - 1);
            let technique_index = order[slot];
            let technique = &techniques[technique_index];
            per_technique[technique_index] += 1;
            let creator = match rng.weighted(&[80, 15, 5]) {
                0 => *rng.pick(&red_tech),
                1 => *rng.pick(&red_lead),
                _ => *rng.pick(&admins),
            };
            let platform = if technique.platforms.is_empty() {
                "windows".to_owned()
            } else {
                rng.pick(&technique.platforms).to_lowercase()
            };
            let tool = *rng.pick(&TOOLS);
            let name =
                format!("{} {} with {tool} #{}", rng.pick(&VERBS), technique.name, per_technique[technique_index]);
            let description = format!(
                "Exercises {} ({}) on a {platform} host of the test range, as the threat reports describe it, \
                 to check that the SOC sees it.",
                technique.name, technique.mitre_id
            );
            let procedure = format!(
                "1. Log on to the {platform} range host as the scenario user.\n\
                 2. Run the {tool} procedure for {mitre} (variant {variant}).\n\
                 3. Wait ten minutes for the telemetry to reach the SIEM.\n\
                 4. Record the alert id, or its absence, and attach the exports.\n\
                 5. Clean up: revert the host snapshot.",
                mitre = technique.mitre_id,
                variant = rng.below(50) + 1
            );
            let created = start + step * i32::try_from(i)? + rng.within(step);
            let decided = (created + TimeDelta::hours(1) + rng.within(TimeDelta::days(21))).min(end);
            let (mut state, mut result) = ("draft", None);
            match profiles[slot] {
                Profile::Drafting => {
                    if rng.chance(0.15) {
                        state = "rejected";
                    }
                }
                profile => match rng.weighted(&[65, 22, 13]) {
                    0 => {
                        state = "validated";
                        result = Some(match profile {
                            Profile::Detected => "detected",
                            Profile::Blind => "not_detected",
                            _ => ["detected", "partially_detected", "not_detected"][rng.weighted(&[50, 30, 20])],
                        });
                    }
                    1 => {}
                    _ => state = "rejected",
                },
            }
            let judge = (state != "draft").then(|| {
                if rng.chance(0.75) {
                    *rng.pick(&blue_lead)
                } else if rng.chance(0.8) {
                    *rng.pick(&red_lead)
                } else {
                    *rng.pick(&admins)
                }
            });
            let judged_at = judge.map(|_| aegis::time::format(decided));
            let judge_id = judge.map(|j| users[j].id.as_str());
            let judge_name = judge.map(|j| users[j].username.as_str());
            let validated = state == "validated";
            let rejected = state == "rejected";
            let comment = if validated {
                rng.chance(0.6).then(|| *rng.pick(&VALIDATION_COMMENTS))
            } else if rejected {
                rng.chance(0.9).then(|| *rng.pick(&REJECTION_COMMENTS))
            } else {
                None
            };
            let updated = match judge {
                Some(_) => decided,
                None if rng.chance(0.3) => (created + rng.within(TimeDelta::days(7))).min(end),
                None => created,
            };
            let id = uuid::Uuid::new_v4().to_string();
            insert.execute(params![
                id,
                technique.id,
                name,
                description,
                platform,
                procedure,
                tool,
                state,
                result,
                if validated { comment } else { None },
                if validated { judge_id } else { None },
                if validated { judge_name } else { None },
                if validated { judged_at.as_deref() } else { None },
                if rejected { comment } else { None },
                if rejected { judge_id } else { None },
                if rejected { judge_name } else { None },
                if rejected { judged_at.as_deref() } else { None },
                users[creator].id,
                users[creator].username,
                aegis::time::format(created),
                aegis::time::format(updated),
            ])?;
            tests.push(Test {
                id,
                technique: technique_index,
                name,
                platform,
                creator,
                validator: judge,
                result,
                created_at: created,
                open_until: if validated { decided } else { end },
            });
        }
    }
    tx.commit()?;
    Ok(tests)
}

/// Every technique's `status_global` and `test_count`, from its tests, as the app keeps them.
fn recompute_rollups(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let ids: Vec<String> =
        tx.prepare("SELECT id FROM techniques")?.query_map([], |row| row.get(0))?.collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        let tally = test_sql::tally(&tx, id)?;
        let status = coverage::roll_up(tally);
        test_sql::set_technique_rollup(&tx, id, status.as_str(), tally.total as i64)?;
    }
    tx.commit()?;
    Ok(())
}

/// What the audit rows need to know about an evidence row.
struct Evidence {
    id: String,
    test: usize,
    file_name: String,
    sha256: String,
    size: usize,
}

fn insert_evidence(
    conn: &mut Connection,
    rng: &mut Rng,
    evidence_dir: &Path,
    users: &[User],
    tests: &[Test],
    count: usize,
) -> anyhow::Result<Vec<Evidence>> {
    if tests.is_empty() {
        return Ok(Vec::new());
    }
    let blue = with_roles(users, &[Role::BlueTech, Role::BlueLead]);
    let mut made_dirs = HashSet::new();
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut rows = Vec::with_capacity(count);
    {
        let mut insert = tx.prepare(
            "INSERT INTO evidence (id, test_id, file_name, sha256, size_bytes, content_type, uploaded_by,
                 uploaded_by_name, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for i in 0..count {
            let test_index = rng.below(tests.len());
            let test = &tests[test_index];
            // The creator (any red role may add to its own test) or the blue team.
            let uploader = if rng.chance(0.6) { test.creator } else { *rng.pick(&blue) };
            let (stem, extension, content_type) = *rng.pick(&EVIDENCE_KINDS);
            let file_name = format!("{stem}-{}.{extension}", i + 1);
            let id = uuid::Uuid::new_v4().to_string();
            let mut content = format!(
                "aegis benchmark evidence {i}\nevidence: {id}\ntest: {}\nplatform: {}\nfile: {file_name}\n",
                test.id, test.platform
            )
            .into_bytes();
            let size = 256 + rng.below(3840);
            while content.len() < size {
                content.extend_from_slice(
                    format!("{:016x} telemetry line {}\n", rng.next_u64(), content.len()).as_bytes(),
                );
            }
            content.truncate(size);
            let sha256 = hex::encode(Sha256::digest(&content));
            let dir = evidence_dir.join(&sha256[..2]);
            if made_dirs.insert(sha256[..2].to_owned()) {
                std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let path = dir.join(&sha256);
            std::fs::write(&path, &content).with_context(|| format!("writing {}", path.display()))?;
            let uploaded = test.created_at + rng.within(test.open_until - test.created_at);
            insert.execute(params![
                id,
                test.id,
                file_name,
                sha256,
                size as i64,
                content_type,
                users[uploader].id,
                users[uploader].username,
                aegis::time::format(uploaded),
            ])?;
            rows.push(Evidence { id, test: test_index, file_name, sha256, size });
        }
    }
    tx.commit()?;
    Ok(rows)
}

/// The actions the app writes, with their share of the log (per mille, roughly).
const ACTIONS: [(&str, u32); 18] = [
    ("login", 330),
    ("login_failed", 25),
    ("create_test", 150),
    ("update_test", 230),
    ("validate_test", 90),
    ("reject_test", 25),
    ("delete_test", 5),
    ("upload_evidence", 60),
    ("delete_evidence", 5),
    ("create_technique", 1),
    ("update_technique", 15),
    ("review_technique", 20),
    ("create_user", 1),
    ("update_user", 3),
    ("sync_mitre", 3),
    ("intel_scan", 30),
    ("update_intel_feeds", 1),
    ("import_atomics", 1),
];

const ATTACK_SOURCE: &str =
    "https://raw.githubusercontent.com/mitre-attack/attack-stix-data/master/enterprise-attack/enterprise-attack.json";
const FEED_URL: &str = "https://www.cisa.gov/cybersecurity-advisories/all.xml";

#[allow(clippy::too_many_arguments)]
fn insert_audit(
    conn: &mut Connection,
    rng: &mut Rng,
    techniques: &[Technique],
    users: &[User],
    tests: &[Test],
    evidence: &[Evidence],
    count: usize,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> anyhow::Result<()> {
    let weights: Vec<u32> = ACTIONS
        .iter()
        .map(|(action, weight)| match *action {
            _ if tests.is_empty() && action.contains("test") => 0,
            _ if evidence.is_empty() && action.contains("evidence") => 0,
            _ => *weight,
        })
        .collect();
    let admins = with_roles(users, &[Role::Admin]);
    let reviewers = with_roles(users, &[Role::Admin, Role::RedLead, Role::BlueLead]);
    let span = end - start;
    let step = span / i32::try_from(count.max(1))?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO audit_logs (id, user_id, username, action, entity_type, entity_id, timestamp, details)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for i in 0..count {
            let action = ACTIONS[rng.weighted(&weights)].0;
            // (acting user, or None for the system with its name), entity type, entity id, details
            let mut actor: Option<usize> = None;
            let mut system = "scheduler";
            let (entity_type, entity_id, details): (&str, Option<String>, serde_json::Value) = match action {
                "login" => {
                    let user = rng.below(users.len());
                    actor = Some(user);
                    ("user", Some(users[user].id.clone()), json!({}))
                }
                "login_failed" => {
                    if rng.chance(0.7) {
                        let user = rng.below(users.len());
                        actor = Some(user);
                        ("user", Some(users[user].id.clone()), json!({ "reason": "wrong_password" }))
                    } else {
                        system = ["admin", "root", "administrator", "test", "guest"][rng.below(5)];
                        ("user", None, json!({ "reason": "unknown_user" }))
                    }
                }
                "create_test" | "update_test" | "validate_test" | "reject_test" | "delete_test" => {
                    let test = &tests[rng.below(tests.len())];
                    let mut details = match action {
                        "create_test" => json!({ "platform": test.platform }),
                        "update_test" => {
                            let changed = ["procedure_text", "description", "name", "tool_used"][rng.below(4)];
                            json!({ "changed": [changed], "reopened": rng.chance(0.1) })
                        }
                        "validate_test" => json!({ "result": test.result.unwrap_or("detected") }),
                        "reject_test" => json!({}),
                        _ => json!({ "evidence_removed": rng.below(3) }),
                    };
                    details["technique"] = json!(techniques[test.technique].mitre_id);
                    details["name"] = json!(test.name);
                    actor = Some(match action {
                        "validate_test" | "reject_test" => test.validator.unwrap_or_else(|| *rng.pick(&reviewers)),
                        _ => test.creator,
                    });
                    let id = if action == "delete_test" { uuid::Uuid::new_v4().to_string() } else { test.id.clone() };
                    ("test", Some(id), details)
                }
                "upload_evidence" | "delete_evidence" => {
                    let row = &evidence[rng.below(evidence.len())];
                    actor = Some(tests[row.test].creator);
                    let mut details =
                        json!({ "test_id": tests[row.test].id, "file_name": row.file_name, "sha256": row.sha256 });
                    if action == "upload_evidence" {
                        details["size_bytes"] = json!(row.size);
                    }
                    ("evidence", Some(row.id.clone()), details)
                }
                "create_technique" | "update_technique" | "review_technique" => {
                    let technique = &techniques[rng.below(techniques.len())];
                    actor = Some(if action == "review_technique" { *rng.pick(&reviewers) } else { *rng.pick(&admins) });
                    let details = match action {
                        "create_technique" => {
                            json!({ "mitre_id": technique.mitre_id, "name": technique.name, "tactics": ["execution"] })
                        }
                        "update_technique" => json!({
                            "mitre_id": technique.mitre_id,
                            "changes": { "description": "changed" },
                        }),
                        _ => json!({
                            "mitre_id": technique.mitre_id,
                            "was_flagged": rng.chance(0.5),
                            "flags_cleared": rng.below(3),
                        }),
                    };
                    ("technique", Some(technique.id.clone()), details)
                }
                "create_user" | "update_user" => {
                    let user = &users[rng.below(users.len())];
                    actor = Some(*rng.pick(&admins));
                    let details = if action == "create_user" {
                        json!({ "username": user.username, "role": user.role.as_str(), "email": null })
                    } else {
                        json!({ "username": user.username, "changes": { "password_changed": true } })
                    };
                    ("user", Some(user.id.clone()), details)
                }
                "sync_mitre" => (
                    "system",
                    None,
                    json!({
                        "outcome": "ok",
                        "source": ATTACK_SOURCE,
                        "new": 0,
                        "updated": rng.below(5),
                        "deprecated": 0,
                        "flagged_for_review": rng.below(3),
                        "attack_version": "18.1",
                    }),
                ),
                "intel_scan" => (
                    "system",
                    None,
                    json!({
                        "new_items": rng.below(20),
                        "flagged_techniques": rng.below(4),
                        "feeds_ok": 3,
                        "feeds_failed": 0,
                    }),
                ),
                "update_intel_feeds" => {
                    actor = Some(*rng.pick(&admins));
                    (
                        "intel_feed",
                        Some(uuid::Uuid::new_v4().to_string()),
                        json!({ "change": "updated", "name": "CISA advisories", "url": FEED_URL, "enabled": true }),
                    )
                }
                _ => {
                    actor = Some(*rng.pick(&admins));
                    (
                        "system",
                        None,
                        json!({
                            "new": 0,
                            "updated": rng.below(10),
                            "unchanged": 1700,
                            "files": 330,
                            "techniques": 330,
                            "errors": 0,
                        }),
                    )
                }
            };
            let (user_id, username) = match actor {
                Some(user) => (Some(users[user].id.as_str()), users[user].username.as_str()),
                None => (None, system),
            };
            let at = start + step * i32::try_from(i)? + rng.within(step);
            insert.execute(params![
                uuid::Uuid::new_v4().to_string(),
                user_id,
                username,
                action,
                entity_type,
                entity_id,
                aegis::time::format(at),
                details.to_string(),
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}
