//! Exports of the coverage for people and tools outside Aegis: an ATT&CK Navigator layer, a CSV
//! with one row per technique, and a self-contained printable HTML report. No HTTP types here.

use std::collections::HashMap;
use std::fmt::Write as _;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::db::Db;
use crate::db::catalogue::{self as sql, TechniqueRow};
use crate::error::AppError;
use crate::service::catalogue::{self, TechniqueFilter};
use crate::service::coverage::CoverageStatus;
use crate::service::metrics;
use crate::time;

/// The ATT&CK version a layer names when no successful sync recorded one.
pub const DEFAULT_ATTACK_VERSION: &str = "18";
pub const NAVIGATOR_VERSION: &str = "5.1.0";
pub const LAYER_VERSION: &str = "4.5";
pub const CSV_FILENAME: &str = "aegis-coverage.csv";
/// The policy the HTML report is served with: inline styles only, nothing fetched.
pub const REPORT_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

pub const CSV_HEADER: [&str; 13] = [
    "mitre_id",
    "name",
    "tactics",
    "platforms",
    "status",
    "tests",
    "detected",
    "partially_detected",
    "not_detected",
    "drafts",
    "rejected",
    "last_validated_at",
    "review_required",
];

/// Statuses in the order legends and summaries show them.
const STATUS_ORDER: [CoverageStatus; 5] = [
    CoverageStatus::Validated,
    CoverageStatus::Partial,
    CoverageStatus::InProgress,
    CoverageStatus::NotCovered,
    CoverageStatus::NotEvaluated,
];

/// The Navigator colour of a status (`""`: no colour).
pub fn status_color(status: CoverageStatus) -> &'static str {
    match status {
        CoverageStatus::Validated => "#31a354",
        CoverageStatus::Partial => "#fdae6b",
        CoverageStatus::NotCovered => "#e6550d",
        CoverageStatus::InProgress => "#fee391",
        CoverageStatus::NotEvaluated => "",
    }
}

/// The Navigator score of a status; not evaluated techniques have none.
pub fn status_score(status: CoverageStatus) -> Option<u8> {
    match status {
        CoverageStatus::Validated => Some(3),
        CoverageStatus::Partial => Some(2),
        CoverageStatus::InProgress => Some(1),
        CoverageStatus::NotCovered => Some(0),
        CoverageStatus::NotEvaluated => None,
    }
}

pub fn status_label(status: CoverageStatus) -> &'static str {
    match status {
        CoverageStatus::Validated => "Validated",
        CoverageStatus::Partial => "Partial",
        CoverageStatus::NotCovered => "Not covered",
        CoverageStatus::InProgress => "In progress",
        CoverageStatus::NotEvaluated => "Not evaluated",
    }
}

/// A technique's tests by state and, for validated ones, by result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestCounts {
    pub total: u64,
    pub detected: u64,
    pub partially_detected: u64,
    pub not_detected: u64,
    pub drafts: u64,
    pub rejected: u64,
    pub last_validated_at: Option<String>,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl TestCounts {
    /// `3 tests: 2 detected, 1 not detected; 1 draft`, or `No tests`.
    pub fn summary(&self) -> String {
        if self.total == 0 {
            return "No tests".to_owned();
        }
        let mut text = plural(self.total, "test", "tests");
        let results: Vec<String> = [
            (self.detected, "detected"),
            (self.partially_detected, "partially detected"),
            (self.not_detected, "not detected"),
        ]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, label)| format!("{n} {label}"))
        .collect();
        let mut parts = Vec::new();
        if !results.is_empty() {
            parts.push(results.join(", "));
        }
        if self.drafts > 0 {
            parts.push(plural(self.drafts, "draft", "drafts"));
        }
        if self.rejected > 0 {
            parts.push(format!("{} rejected", self.rejected));
        }
        if !parts.is_empty() {
            text.push_str(": ");
            text.push_str(&parts.join("; "));
        }
        text
    }
}

/// Every technique's tests counted, keyed by the technique's row id.
pub fn test_counts(conn: &Connection) -> Result<HashMap<String, TestCounts>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT technique_id, state, result, COUNT(*), MAX(validated_at) FROM tests
         GROUP BY technique_id, state, result",
    )?;
    let mut counts: HashMap<String, TestCounts> = HashMap::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let technique_id: String = row.get(0)?;
        let state: String = row.get(1)?;
        let result: Option<String> = row.get(2)?;
        let n = row.get::<_, i64>(3)? as u64;
        let validated_at: Option<String> = row.get(4)?;
        let entry = counts.entry(technique_id).or_default();
        entry.total += n;
        match (state.as_str(), result.as_deref()) {
            ("validated", Some("detected")) => entry.detected += n,
            ("validated", Some("partially_detected")) => entry.partially_detected += n,
            ("validated", Some("not_detected")) => entry.not_detected += n,
            ("draft", _) => entry.drafts += n,
            ("rejected", _) => entry.rejected += n,
            _ => {}
        }
        if validated_at.is_some() && validated_at > entry.last_validated_at {
            entry.last_validated_at = validated_at;
        }
    }
    Ok(counts)
}

/// The catalogue's ATT&CK version from the last successful sync, if it recorded one.
fn attack_version(conn: &Connection) -> Result<Option<String>, AppError> {
    Ok(sql::last_sync_run(conn, true)?.and_then(|run| run.attack_version).filter(|v| !v.trim().is_empty()))
}

/// An ATT&CK Navigator layer (format 4.5) of the techniques matching `filter`: one entry per
/// technique and tactic, coloured and scored by status.
pub async fn navigator_layer(db: &Db, filter: TechniqueFilter) -> Result<Value, AppError> {
    let described = describe_filter(&filter);
    let wanted = filter.tactic.clone();
    let techniques = catalogue::list(db, filter).await?;
    let (counts, version, only_tactic) = db
        .read(move |conn| {
            // With a tactic filter, only that tactic's entries: a technique's other tactics stay out.
            let only_tactic = match wanted {
                Some(value) => Some(catalogue::resolve_tactic(&sql::tactics(conn)?, &value)?),
                None => None,
            };
            Ok((test_counts(conn)?, attack_version(conn)?, only_tactic))
        })
        .await?;
    let none = TestCounts::default();
    let mut entries = Vec::new();
    for technique in &techniques {
        let tally = counts.get(&technique.id).unwrap_or(&none);
        for tactic in technique.tactics.iter().filter(|t| only_tactic.as_ref().is_none_or(|only| only == *t)) {
            let mut entry = json!({
                "techniqueID": technique.mitre_id,
                "tactic": tactic,
                "color": status_color(technique.status_global),
                "comment": tally.summary(),
                "enabled": true,
                "metadata": [
                    {"name": "status", "value": technique.status_global.as_str()},
                    {"name": "tests", "value": tally.total.to_string()},
                    {"name": "review_required", "value": technique.review_required.to_string()},
                ],
                "showSubtechniques": false,
            });
            if let Some(score) = status_score(technique.status_global) {
                entry["score"] = json!(score);
            }
            entries.push(entry);
        }
    }
    let legend: Vec<Value> = STATUS_ORDER
        .into_iter()
        .map(|status| json!({"label": status_label(status), "color": status_color(status)}))
        .collect();
    let mut description = format!("Detection coverage exported from Aegis: {} techniques", techniques.len());
    if !described.is_empty() {
        description.push_str(&format!(" ({described})"));
    }
    Ok(json!({
        "name": "Aegis coverage",
        "versions": {
            "attack": version.unwrap_or_else(|| DEFAULT_ATTACK_VERSION.to_owned()),
            "navigator": NAVIGATOR_VERSION,
            "layer": LAYER_VERSION,
        },
        "domain": "enterprise-attack",
        "description": description,
        "sorting": 0,
        "layout": {"layout": "side", "showID": true, "showName": true},
        "hideDisabled": false,
        "techniques": entries,
        "legendItems": legend,
        "gradient": {
            "colors": [
                status_color(CoverageStatus::NotCovered),
                status_color(CoverageStatus::Partial),
                status_color(CoverageStatus::Validated),
            ],
            "minValue": 0,
            "maxValue": 3,
        },
        "metadata": [{"name": "generated", "value": time::now()}],
    }))
}

fn describe_filter(filter: &TechniqueFilter) -> String {
    let mut parts = Vec::new();
    if let Some(tactic) = &filter.tactic {
        parts.push(format!("tactic {tactic}"));
    }
    if let Some(platform) = &filter.platform {
        parts.push(format!("platform {platform}"));
    }
    if let Some(status) = filter.status {
        parts.push(format!("status {}", status.as_str()));
    }
    parts.join(", ")
}

/// The coverage as CSV: [`CSV_HEADER`], then one row per active technique ordered by ATT&CK id.
pub async fn coverage_csv(db: &Db) -> Result<String, AppError> {
    let techniques = catalogue::list(db, TechniqueFilter::default()).await?;
    let counts = db.read(test_counts).await?;
    write_csv(&techniques, &counts).map_err(|err| AppError::Internal(err.context("writing CSV")))
}

fn write_csv(techniques: &[TechniqueRow], counts: &HashMap<String, TestCounts>) -> anyhow::Result<String> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    let none = TestCounts::default();
    for technique in techniques {
        let tally = counts.get(&technique.id).unwrap_or(&none);
        writer.write_record([
            technique.mitre_id.clone(),
            technique.name.clone(),
            technique.tactics.join("; "),
            technique.platforms.join("; "),
            technique.status_global.as_str().to_owned(),
            tally.total.to_string(),
            tally.detected.to_string(),
            tally.partially_detected.to_string(),
            tally.not_detected.to_string(),
            tally.drafts.to_string(),
            tally.rejected.to_string(),
            tally.last_validated_at.clone().unwrap_or_default(),
            technique.review_required.to_string(),
        ])?;
    }
    Ok(String::from_utf8(writer.into_inner()?)?)
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct ValidatedTest {
    mitre_id: String,
    technique_name: String,
    name: String,
    result: String,
    validator: Option<String>,
    validated_at: Option<String>,
}

struct ReviewItem {
    mitre_id: String,
    name: String,
    reasons: Vec<String>,
}

fn validated_tests(conn: &Connection) -> Result<Vec<ValidatedTest>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.mitre_id, q.name, t.name, t.result, t.validated_by_name, t.validated_at
         FROM tests t JOIN techniques q ON q.id = t.technique_id
         WHERE t.state = 'validated' AND q.revoked = 0 AND q.deprecated = 0
         ORDER BY q.mitre_id, t.validated_at",
    )?;
    let rows = stmt
        .query_map([], |row| {
            Ok(ValidatedTest {
                mitre_id: row.get(0)?,
                technique_name: row.get(1)?,
                name: row.get(2)?,
                result: row.get::<_, Option<String>>(3)?.unwrap_or_default(),
                validator: row.get(4)?,
                validated_at: row.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn review_items(conn: &Connection) -> Result<Vec<ReviewItem>, AppError> {
    let mut stmt = conn.prepare_cached(
        "SELECT q.mitre_id, q.name, r.reason FROM review_flags r JOIN techniques q ON q.id = r.technique_id
         WHERE r.cleared_at IS NULL AND q.revoked = 0 AND q.deprecated = 0
         ORDER BY q.mitre_id, r.flagged_at",
    )?;
    let mut items: Vec<ReviewItem> = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let mitre_id: String = row.get(0)?;
        let reason: String = row.get(2)?;
        match items.last_mut() {
            Some(item) if item.mitre_id == mitre_id => item.reasons.push(reason),
            _ => items.push(ReviewItem { mitre_id, name: row.get(1)?, reasons: vec![reason] }),
        }
    }
    Ok(items)
}

const REPORT_CSS: &str = "
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; color: #222; margin: 2rem; }
h1 { margin-bottom: 0.2rem; } .meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; }
.matrix td { min-width: 9rem; }
.t { display: block; margin: 2px 0; padding: 2px 4px; border-radius: 3px; font-size: 0.8rem; }
.s-validated { background: #31a354; color: #fff; } .s-partial { background: #fdae6b; }
.s-not_covered { background: #e6550d; color: #fff; } .s-in_progress { background: #fee391; }
.s-not_evaluated { background: #eee; }
.legend span { margin-right: 0.5rem; }
@media print {
  body { margin: 0; font-size: 10pt; }
  h2 { page-break-after: avoid; } table { page-break-inside: auto; } tr { page-break-inside: avoid; }
  .t, th { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
";

/// A self-contained HTML report of the coverage: no scripts, no external resources, print styles.
pub async fn coverage_report_html(db: &Db) -> Result<String, AppError> {
    let summary = metrics::summary(db).await?;
    let by_tactic = metrics::by_tactic(db).await?;
    let techniques = catalogue::list(db, TechniqueFilter::default()).await?;
    let (version, tests, reviews) =
        db.read(|conn| Ok((attack_version(conn)?, validated_tests(conn)?, review_items(conn)?))).await?;
    let e = escape_html;
    let mut html = String::new();
    let generated = time::now();
    let version = version.unwrap_or_else(|| DEFAULT_ATTACK_VERSION.to_owned());

    // Writing to a String cannot fail.
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>Aegis coverage report</title>\n<style>{REPORT_CSS}</style>\n</head>\n<body>\n\
         <h1>Aegis coverage report</h1>\n<p class=\"meta\">Generated {} &middot; ATT&amp;CK version {}</p>\n",
        e(&generated),
        e(&version)
    );

    html.push_str("<h2>Summary</h2>\n<table class=\"summary\">\n");
    let _ = writeln!(html, "<tr><th>Total techniques</th><td class=\"num\">{}</td></tr>", summary.total);
    for (status, count) in [
        (CoverageStatus::Validated, summary.validated),
        (CoverageStatus::Partial, summary.partial),
        (CoverageStatus::InProgress, summary.in_progress),
        (CoverageStatus::NotCovered, summary.not_covered),
        (CoverageStatus::NotEvaluated, summary.not_evaluated),
    ] {
        let _ = writeln!(
            html,
            "<tr><th><span class=\"t s-{}\">{}</span></th><td class=\"num\">{count}</td></tr>",
            status.as_str(),
            e(status_label(status))
        );
    }
    let _ = writeln!(
        html,
        "<tr><th>Coverage</th><td class=\"num\">{:.2}%</td></tr>\n</table>",
        summary.coverage_percentage
    );

    html.push_str(
        "<h2>By tactic</h2>\n<table class=\"by-tactic\">\n<tr><th>Tactic</th><th>Total</th><th>Validated</th>\
         <th>Partial</th><th>In progress</th><th>Not covered</th><th>Not evaluated</th><th>Coverage</th></tr>\n",
    );
    for tactic in &by_tactic {
        let c = &tactic.counts;
        let _ = writeln!(
            html,
            "<tr><td>{} ({})</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.2}%</td></tr>",
            e(&tactic.name),
            e(&tactic.mitre_id),
            c.total,
            c.validated,
            c.partial,
            c.in_progress,
            c.not_covered,
            c.not_evaluated,
            c.coverage_percentage
        );
    }
    html.push_str("</table>\n");

    html.push_str("<h2>Matrix</h2>\n<p class=\"legend\">");
    for status in STATUS_ORDER {
        let _ = write!(
            html,
            "<span class=\"t s-{}\" style=\"display:inline\">{}</span>",
            status.as_str(),
            e(status_label(status))
        );
    }
    html.push_str("</p>\n<table class=\"matrix\">\n<tr>");
    for tactic in &by_tactic {
        let _ = write!(html, "<th>{}</th>", e(&tactic.name));
    }
    html.push_str("</tr>\n<tr>");
    for tactic in &by_tactic {
        html.push_str("<td>");
        for technique in techniques.iter().filter(|t| t.tactics.contains(&tactic.shortname)) {
            let _ = write!(
                html,
                "<span class=\"t s-{}\" title=\"{}\">{} {}</span>",
                technique.status_global.as_str(),
                e(status_label(technique.status_global)),
                e(&technique.mitre_id),
                e(&technique.name)
            );
        }
        html.push_str("</td>");
    }
    html.push_str("</tr>\n</table>\n");

    html.push_str("<h2>Validated tests</h2>\n");
    if tests.is_empty() {
        html.push_str("<p>No validated tests yet.</p>\n");
    } else {
        html.push_str(
            "<table class=\"tests\">\n<tr><th>Technique</th><th>Test</th><th>Result</th><th>Validated by</th>\
             <th>Date</th></tr>\n",
        );
        for test in &tests {
            let _ = writeln!(
                html,
                "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e(&test.mitre_id),
                e(&test.technique_name),
                e(&test.name),
                e(&test.result.replace('_', " ")),
                e(test.validator.as_deref().unwrap_or("")),
                e(test.validated_at.as_deref().unwrap_or(""))
            );
        }
        html.push_str("</table>\n");
    }

    html.push_str("<h2>Open review items</h2>\n");
    if reviews.is_empty() {
        html.push_str("<p>Nothing awaits review.</p>\n");
    } else {
        html.push_str("<table class=\"reviews\">\n<tr><th>Technique</th><th>Reasons</th></tr>\n");
        for item in &reviews {
            let reasons: Vec<String> = item.reasons.iter().map(|r| e(r)).collect();
            let _ = writeln!(
                html,
                "<tr><td>{} {}</td><td>{}</td></tr>",
                e(&item.mitre_id),
                e(&item.name),
                reasons.join("<br>")
            );
        }
        html.push_str("</table>\n");
    }
    html.push_str("</body>\n</html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters() {
        assert_eq!(escape_html(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }

    #[test]
    fn summarises_tests() {
        let table = [
            (TestCounts::default(), "No tests"),
            (
                TestCounts { total: 4, detected: 2, not_detected: 1, drafts: 1, ..Default::default() },
                "4 tests: 2 detected, 1 not detected; 1 draft",
            ),
            (TestCounts { total: 1, rejected: 1, ..Default::default() }, "1 test: 1 rejected"),
            (TestCounts { total: 2, drafts: 2, ..Default::default() }, "2 tests: 2 drafts"),
        ];
        for (counts, expected) in table {
            assert_eq!(counts.summary(), expected);
        }
    }
}
