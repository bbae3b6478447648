//! Property tests (proptest) for the parsers and the security-sensitive helpers: the STIX bundle parser,
//! technique-id extraction, bearer and download tokens, evidence file-name cleaning and Content-Disposition.
//!
//! Every block sets a bounded number of cases (the `config` argument; `PROPTEST_CASES` does not override
//! it) and no failure persistence (nothing is written beside the tests), so the whole file runs in a few
//! seconds in debug builds. A failure prints the shrunk input; rerun with it by hand.

// Only the bundle builders: the rest of `common` starts servers this file does not need.
#[path = "common/bundle.rs"]
mod bundle;

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use aegis::api::evidence::content_disposition;
use aegis::attack::stix::{self, Bundle, BundleError, Tactic, Technique};
use aegis::auth::tokens::{AUDIENCE, ISSUER, TokenKeys};
use aegis::evidence::token::DownloadTokens;
use aegis::intel::extract::technique_ids;
use aegis::service::evidence::{MAX_FILE_NAME_CHARS, clean_file_name};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

/// `cases` cases, no regression files written into the source tree.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// =========================================================================================================
// Shared generators
// =========================================================================================================

/// Characters that stress escaping and text handling: quotes, backslashes, newlines, NUL and other
/// controls, the BOM, bidi and zero-width characters, multi-byte letters and an emoji.
const NASTY: &[char] = &[
    '"', '\\', '\n', '\r', '\t', '\0', '\u{1}', '\u{1f}', '\u{7f}', '\u{85}', '/', '\'', '<', '&', ' ', '\u{a0}',
    '\u{2028}', '\u{200b}', '\u{202e}', '\u{2066}', '\u{feff}', 'é', 'Ж', '中', '😀', 'a', 'Z', '0', '.', '_',
];

/// Arbitrary Unicode text (any scalar value, biased towards [`NASTY`]), up to `max` characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(prop_oneof![2 => any::<char>(), 1 => prop::sample::select(NASTY)], 0..=max)
        .prop_map(|chars| chars.into_iter().collect())
}

fn is_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// `^T\d{4}(\.\d{3})?$`
fn is_technique_id(id: &str) -> bool {
    let b = id.as_bytes();
    match b.len() {
        5 => b[0] == b'T' && is_digits(&id[1..5]),
        9 => b[0] == b'T' && is_digits(&id[1..5]) && b[5] == b'.' && is_digits(&id[6..9]),
        _ => false,
    }
}

/// `^TA\d{4}$`
fn is_tactic_id(id: &str) -> bool {
    id.len() == 6 && id.starts_with("TA") && is_digits(&id[2..])
}

// =========================================================================================================
// 1. STIX parser
// =========================================================================================================

/// Invariants of every bundle the parser accepts, and of every refusal message.
fn check_outcome(result: Result<Bundle, BundleError>) -> Result<(), TestCaseError> {
    match result {
        Ok(b) => {
            prop_assert!(!b.techniques.is_empty());
            prop_assert!(b.techniques.iter().any(|t| !t.revoked && !t.deprecated), "no active technique");
            let mut ids = HashSet::new();
            for t in &b.techniques {
                prop_assert!(is_technique_id(&t.mitre_id), "bad id {:?}", t.mitre_id);
                prop_assert!(ids.insert(t.mitre_id.as_str()), "{} twice", t.mitre_id);
                prop_assert_eq!(
                    t.parent_mitre_id.as_deref(),
                    t.mitre_id.split_once('.').map(|(parent, _)| parent),
                    "parent of {}",
                    t.mitre_id
                );
                let mut platforms = HashSet::new();
                for p in &t.platforms {
                    prop_assert!(!p.is_empty() && p.trim() == p && p.to_lowercase() == *p, "platform {:?}", p);
                    prop_assert!(platforms.insert(p), "platform {:?} twice", p);
                }
                let mut tactics = HashSet::new();
                for tactic in &t.tactics {
                    prop_assert!(tactics.insert(tactic), "tactic {:?} twice", tactic);
                }
            }
            let (mut shortnames, mut stix_ids) = (HashSet::new(), HashSet::new());
            for t in &b.tactics {
                prop_assert!(is_tactic_id(&t.mitre_id), "bad tactic id {:?}", t.mitre_id);
                prop_assert!(shortnames.insert(&t.shortname), "shortname {:?} twice", t.shortname);
                prop_assert!(stix_ids.insert(&t.stix_id), "tactic {:?} twice", t.stix_id);
            }
        }
        Err(BundleError::Invalid(msg)) => {
            prop_assert!(!msg.is_empty());
            prop_assert!(msg.len() <= 300, "message of {} bytes: {}", msg.len(), msg);
        }
    }
    Ok(())
}

fn parse_checked(bytes: &[u8]) -> Result<(), TestCaseError> {
    check_outcome(stix::parse(bytes))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// JSON with every object's `"type"` first (as MITRE publishes) or last (the parser's slow path).
fn to_json(v: &Value, type_first: bool) -> Vec<u8> {
    fn write(v: &Value, type_first: bool, out: &mut String) {
        match v {
            Value::Object(map) => {
                let ty = map.get_key_value("type");
                let rest = map.iter().filter(|(k, _)| *k != "type");
                let entries: Vec<(&String, &Value)> =
                    if type_first { ty.into_iter().chain(rest).collect() } else { rest.chain(ty).collect() };
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(v, type_first, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, type_first, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, type_first, &mut out);
    out.into_bytes()
}

// ---- (a) never panics -----------------------------------------------------------------------------------

/// Pieces of JSON and of STIX, joined at random into JSON-ish text.
const JSON_TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    " ",
    "\n",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e999",
    "1.5",
    "\"x\"",
    "\"\\u0000\"",
    "\"\\ud800\"",
    "\"\\\"",
    "\"type\"",
    "\"bundle\"",
    "\"objects\"",
    "\"spec_version\"",
    "\"2.1\"",
    "\"id\"",
    "\"name\"",
    "\"description\"",
    "\"attack-pattern\"",
    "\"x-mitre-tactic\"",
    "\"x-mitre-matrix\"",
    "\"x-mitre-collection\"",
    "\"x_mitre_version\"",
    "\"tactic_refs\"",
    "\"x_mitre_shortname\"",
    "\"external_references\"",
    "\"source_name\"",
    "\"mitre-attack\"",
    "\"external_id\"",
    "\"T1059\"",
    "\"T1059.001\"",
    "\"TA0002\"",
    "\"kill_chain_phases\"",
    "\"kill_chain_name\"",
    "\"phase_name\"",
    "\"execution\"",
    "\"x_mitre_platforms\"",
    "\"Windows\"",
    "\"revoked\"",
    "\"x_mitre_deprecated\"",
    "\"x_mitre_is_subtechnique\"",
    "\"modified\"",
    "\"url\"",
    "\u{feff}",
    "\u{1f}\u{8b}",
];

/// The keys and string values the parser looks at, so generated JSON reaches its deeper paths.
const STIX_KEYS: &[&str] = &[
    "type",
    "spec_version",
    "objects",
    "id",
    "name",
    "description",
    "modified",
    "revoked",
    "x_mitre_deprecated",
    "x_mitre_is_subtechnique",
    "x_mitre_version",
    "x_mitre_platforms",
    "x_mitre_shortname",
    "kill_chain_phases",
    "kill_chain_name",
    "phase_name",
    "external_references",
    "source_name",
    "external_id",
    "url",
    "tactic_refs",
    "x_other",
];
const STIX_STRINGS: &[&str] = &[
    "bundle",
    "attack-pattern",
    "x-mitre-tactic",
    "x-mitre-matrix",
    "x-mitre-collection",
    "relationship",
    "mitre-attack",
    "mitre-ics-attack",
    "capec",
    "T1059",
    "T1059.001",
    "T1059.1",
    "TA0002",
    "execution",
    "x-mitre-tactic--1",
    "attack-pattern--1",
    "Windows",
    " windows ",
    "2.0",
    "2.1",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        prop::sample::select(STIX_STRINGS).prop_map(Value::from),
        text(12).prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(STIX_KEYS), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
        ]
    })
}

/// A STIX-looking object: a known type, then fields the parser reads, with values of any JSON type.
fn stix_object() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(STIX_STRINGS),
        prop::collection::vec((prop::sample::select(STIX_KEYS), json_value()), 0..8),
        any::<bool>(),
    )
        .prop_map(|(ty, fields, typed)| {
            let mut map = serde_json::Map::new();
            if typed {
                map.insert("type".to_owned(), json!(ty));
            }
            for (k, v) in fields {
                map.insert(k.to_owned(), v);
            }
            Value::Object(map)
        })
}

/// Every node of `v`, as a path of object keys / array indices.
fn node_paths(v: &Value, path: &mut Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(path.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                path.push(json!(k));
                node_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                path.push(json!(i));
                node_paths(child, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn node_mut<'v>(mut v: &'v mut Value, path: &[Value]) -> &'v mut Value {
    for step in path {
        v = match step {
            Value::String(k) => &mut v[k.as_str()],
            Value::Number(i) => &mut v[i.as_u64().unwrap() as usize],
            _ => unreachable!(),
        };
    }
    v
}

/// Byte-level damage to a valid bundle.
#[derive(Debug, Clone)]
enum Mutation {
    /// Bytes replaced at positions.
    Flip(Vec<(Index, u8)>),
    Truncate(Index),
    /// A slice (start, length) copied to another position.
    Duplicate(Index, usize, Index),
    /// A slice (start, length) removed.
    Delete(Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        prop::collection::vec((any::<Index>(), any::<u8>()), 1..8).prop_map(Mutation::Flip),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), 1usize..400, any::<Index>()).prop_map(|(s, n, at)| Mutation::Duplicate(s, n, at)),
        (any::<Index>(), 1usize..400).prop_map(|(s, n)| Mutation::Delete(s, n)),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if out.is_empty() {
        return out;
    }
    match m {
        Mutation::Flip(flips) => {
            for (at, b) in flips {
                let i = at.index(out.len());
                out[i] = *b;
            }
        }
        Mutation::Truncate(at) => out.truncate(at.index(out.len())),
        Mutation::Duplicate(start, len, at) => {
            let s = start.index(out.len());
            let e = (s + len).min(out.len());
            let slice = out[s..e].to_vec();
            let at = at.index(out.len() + 1);
            out.splice(at..at, slice);
        }
        Mutation::Delete(start, len) => {
            let s = start.index(out.len());
            let e = (s + len).min(out.len());
            out.drain(s..e);
        }
    }
    out
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn stix_arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        parse_checked(&bytes)?;
        // The same bytes behind the gzip magic, and gzip-compressed.
        let mut magic = vec![0x1f, 0x8b];
        magic.extend_from_slice(&bytes);
        parse_checked(&magic)?;
        parse_checked(&gzip(&bytes))?;
    }

    #[test]
    fn stix_json_ish_text_never_panics(tokens in prop::collection::vec(prop::sample::select(JSON_TOKENS), 0..80)) {
        let text = tokens.concat();
        parse_checked(text.as_bytes())?;
        parse_checked(format!("{{\"type\":\"bundle\",\"objects\":[{text}]}}").as_bytes())?;
    }

    #[test]
    fn stix_generated_json_never_panics(
        objects in prop::collection::vec(stix_object(), 0..6),
        top in json_value(),
        type_first in any::<bool>(),
    ) {
        let bundle = json!({"type": "bundle", "objects": objects});
        parse_checked(&to_json(&bundle, type_first))?;
        parse_checked(&to_json(&top, type_first))?;
    }

    #[test]
    fn stix_mutated_bundle_never_panics(m in mutation(), compress_first in any::<bool>()) {
        let valid = serde_json::to_vec(&bundle::mini()).unwrap();
        if compress_first {
            // Damage the compressed stream: gzip and deflate errors, not JSON ones.
            parse_checked(&apply(&gzip(&valid), &m))?;
        } else {
            let damaged = apply(&valid, &m);
            parse_checked(&damaged)?;
            parse_checked(&gzip(&damaged))?;
        }
    }

    #[test]
    fn stix_bundle_with_a_replaced_node_never_panics(
        at in any::<Index>(),
        replacement in json_value(),
        type_first in any::<bool>(),
    ) {
        let mut v = bundle::mini();
        let mut paths = Vec::new();
        node_paths(&v, &mut Vec::new(), &mut paths);
        let path = &paths[at.index(paths.len())];
        *node_mut(&mut v, path) = replacement;
        parse_checked(&to_json(&v, type_first))?;
    }
}

// ---- (b) generated bundles round-trip -------------------------------------------------------------------

const PLATFORMS: &[&str] =
    &["Windows", "Linux", "macOS", "Network Devices", "Containers", "IaaS", "Office Suite", "PRE"];

#[derive(Debug, Clone)]
struct GenTactic {
    shortname: String,
    mitre_id: String,
    name: String,
}

impl GenTactic {
    fn stix_id(&self) -> String {
        format!("x-mitre-tactic--{}", self.shortname)
    }
}

#[derive(Debug, Clone)]
struct GenTechnique {
    mitre_id: String,
    name: String,
    description: Option<String>,
    /// Indices into the bundle's tactics, in kill_chain_phases order (repeats allowed).
    phases: Vec<usize>,
    /// A kill_chain_phases entry from another kill chain, which is ignored.
    foreign_phase: bool,
    /// (index into PLATFORMS, upper/lower-case mask per character, padded with spaces).
    platforms: Vec<(usize, u32, bool)>,
    revoked: Option<bool>,
    deprecated: Option<bool>,
    version: Option<String>,
    modified: Option<String>,
    /// A non-ATT&CK external reference listed before the ATT&CK one.
    other_ref_first: bool,
}

impl GenTechnique {
    fn is_active(&self) -> bool {
        self.revoked != Some(true) && self.deprecated != Some(true)
    }

    fn stix_id(&self) -> String {
        format!("attack-pattern--{}", self.mitre_id.to_lowercase().replace('.', "-"))
    }

    fn url(&self) -> String {
        format!("https://attack.mitre.org/techniques/{}", self.mitre_id.replace('.', "/"))
    }

    fn raw_platforms(&self) -> Vec<String> {
        self.platforms
            .iter()
            .map(|&(i, mask, padded)| {
                let cased: String = PLATFORMS[i]
                    .chars()
                    .enumerate()
                    .map(
                        |(k, c)| {
                            if mask & (1 << (k % 32)) != 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() }
                        },
                    )
                    .collect();
                if padded { format!("  {cased}\t") } else { cased }
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
struct GenBundle {
    stix21: bool,
    /// x_mitre_version of an x-mitre-collection object.
    collection: Option<String>,
    /// In bundle order.
    tactics: Vec<GenTactic>,
    /// The first matrix's order: `matrix_order[..matrix_len]` (indices into `tactics`); the others follow
    /// in bundle order.
    matrix_order: Vec<usize>,
    matrix_len: usize,
    dangling_ref: bool,
    revoked_tactic: bool,
    second_matrix: bool,
    /// In bundle order, at least one active.
    techniques: Vec<GenTechnique>,
    /// attack-patterns without an ATT&CK id.
    without_id: usize,
    matrix_at: Index,
    noise_at: Index,
    collection_at: Index,
}

impl GenBundle {
    /// Indices into `tactics` in the order the parser must return them.
    fn tactic_order(&self) -> Vec<usize> {
        let matrix = &self.matrix_order[..self.matrix_len];
        let mut order = matrix.to_vec();
        order.extend((0..self.tactics.len()).filter(|i| !matrix.contains(i)));
        order
    }

    fn to_value(&self) -> Value {
        let mut objects: Vec<Value> = Vec::new();
        for t in &self.tactics {
            objects.push(bundle::tactic(&t.shortname, &t.mitre_id, &t.name));
            let last = objects.last_mut().unwrap();
            last["id"] = json!(t.stix_id());
        }
        if self.revoked_tactic {
            let mut t = bundle::tactic("revokedtactic", "TA9999", "Revoked");
            t["id"] = json!("x-mitre-tactic--revoked");
            t["revoked"] = json!(true);
            objects.push(t);
        }
        for t in &self.techniques {
            objects.push(self.technique_value(t));
        }
        for k in 0..self.without_id {
            objects.push(json!({
                "type": "attack-pattern", "id": format!("attack-pattern--noid-{k}"), "name": "No ATT&CK id",
                "external_references": [{"source_name": "capec", "external_id": "CAPEC-1"},
                                        {"source_name": "mitre-attack", "external_id": "T1059.1"}]
            }));
        }
        let mut refs: Vec<String> =
            self.matrix_order[..self.matrix_len].iter().map(|&i| self.tactics[i].stix_id()).collect();
        if self.dangling_ref {
            refs.insert(refs.len() / 2, "x-mitre-tactic--missing".to_owned());
        }
        if self.revoked_tactic {
            refs.insert(0, "x-mitre-tactic--revoked".to_owned());
        }
        let reversed: Vec<String> = self.tactics.iter().rev().map(GenTactic::stix_id).collect();
        let matrix =
            json!({"type": "x-mitre-matrix", "id": "x-mitre-matrix--1", "name": "Matrix", "tactic_refs": refs});
        let at = self.matrix_at.index(objects.len() + 1);
        objects.insert(at, matrix);
        // Objects the parser skips. Their fields are typed as STIX types them (when "type" comes last, the
        // parser reads the known fields before it knows the object is unused: a documented limit).
        let noise = [
            json!({"type": "identity", "id": "identity--1", "name": "The MITRE Corporation", "x_custom": 5}),
            json!({"type": "relationship", "id": "relationship--1", "relationship_type": "subtechnique-of",
                   "description": "with \"escapes\" \u{e9}\n", "revoked": false,
                   "source_ref": "attack-pattern--x", "target_ref": "attack-pattern--y"}),
            json!({"type": "malware", "name": "x", "x_nested": {"nested": [true, 1.5e10, null, {"type": "attack-pattern"}]}}),
        ];
        let at = self.noise_at.index(objects.len() + 1);
        objects.splice(at..at, noise);
        if self.second_matrix {
            // Only the first matrix orders the tactics.
            objects.push(json!({"type": "x-mitre-matrix", "id": "x-mitre-matrix--2", "tactic_refs": reversed}));
        }
        if let Some(version) = &self.collection {
            let at = self.collection_at.index(objects.len() + 1);
            objects.insert(
                at,
                json!({"type": "x-mitre-collection", "id": "x-mitre-collection--1", "x_mitre_version": version}),
            );
        }
        if self.stix21 {
            for o in &mut objects {
                o["spec_version"] = json!("2.1");
            }
            json!({"type": "bundle", "id": "bundle--gen", "objects": objects})
        } else {
            for o in &mut objects {
                o.as_object_mut().unwrap().remove("spec_version");
            }
            json!({"type": "bundle", "id": "bundle--gen", "spec_version": "2.0", "objects": objects})
        }
    }

    fn technique_value(&self, t: &GenTechnique) -> Value {
        let mut phases: Vec<Value> = t
            .phases
            .iter()
            .map(|&i| json!({"kill_chain_name": "mitre-attack", "phase_name": self.tactics[i].shortname}))
            .collect();
        if t.foreign_phase {
            phases.insert(
                phases.len() / 2,
                json!({"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "exploitation"}),
            );
        }
        let mut refs = vec![json!({"source_name": "mitre-attack", "external_id": t.mitre_id, "url": t.url()})];
        if t.other_ref_first {
            refs.insert(0, json!({"source_name": "capec", "external_id": "CAPEC-66", "url": "https://capec.example"}));
        }
        let mut v = json!({
            "type": "attack-pattern",
            "id": t.stix_id(),
            "name": t.name,
            "kill_chain_phases": phases,
            "x_mitre_platforms": t.raw_platforms(),
            "x_mitre_is_subtechnique": t.mitre_id.contains('.'),
            "external_references": refs,
        });
        let mut set = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                v[key] = value;
            }
        };
        set("description", t.description.clone().map(Value::from));
        set("revoked", t.revoked.map(Value::from));
        set("x_mitre_deprecated", t.deprecated.map(Value::from));
        set("x_mitre_version", t.version.clone().map(Value::from));
        set("modified", t.modified.clone().map(Value::from));
        v
    }

    fn expected(&self) -> Bundle {
        let order = self.tactic_order();
        let tactics: Vec<Tactic> = order
            .iter()
            .map(|&i| {
                let t = &self.tactics[i];
                Tactic {
                    stix_id: t.stix_id(),
                    mitre_id: t.mitre_id.clone(),
                    shortname: t.shortname.clone(),
                    name: t.name.clone(),
                }
            })
            .collect();
        let techniques = self
            .techniques
            .iter()
            .map(|t| {
                let mut phases: Vec<usize> = Vec::new();
                for &i in &t.phases {
                    if !phases.contains(&i) {
                        phases.push(i);
                    }
                }
                phases.sort_by_key(|i| order.iter().position(|o| o == i).unwrap());
                let mut platforms: Vec<String> = Vec::new();
                for p in t.raw_platforms() {
                    let p = p.trim().to_lowercase();
                    if !platforms.contains(&p) {
                        platforms.push(p);
                    }
                }
                Technique {
                    stix_id: t.stix_id(),
                    mitre_id: t.mitre_id.clone(),
                    name: t.name.clone(),
                    description: t.description.clone().unwrap_or_default(),
                    tactics: phases.iter().map(|&i| self.tactics[i].shortname.clone()).collect(),
                    platforms,
                    is_subtechnique: t.mitre_id.contains('.'),
                    parent_mitre_id: t.mitre_id.split_once('.').map(|(parent, _)| parent.to_owned()),
                    version: t.version.clone(),
                    modified: t.modified.clone(),
                    url: Some(t.url()),
                    revoked: t.revoked.unwrap_or(false),
                    deprecated: t.deprecated.unwrap_or(false),
                }
            })
            .collect();
        Bundle {
            spec_version: if self.stix21 { "2.1" } else { "2.0" }.to_owned(),
            attack_version: self.collection.clone(),
            tactics,
            techniques,
            skipped_without_id: self.without_id,
        }
    }
}

/// 1 to 6 tactics with unique shortnames and ATT&CK ids, in a random bundle order.
fn gen_tactics() -> impl Strategy<Value = Vec<GenTactic>> {
    (1usize..=6)
        .prop_flat_map(|n| {
            (
                prop::collection::btree_set("[a-z]{3,12}", n),
                prop::collection::btree_set(0u16..10000, n),
                prop::collection::vec(text(16), n),
            )
        })
        .prop_map(|(shortnames, ids, names)| {
            shortnames
                .into_iter()
                .zip(ids)
                .zip(names)
                .map(|((shortname, id), name)| GenTactic { shortname, mitre_id: format!("TA{id:04}"), name })
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

/// Unique technique ids: 1 to 5 techniques and up to 6 sub-techniques of them.
fn gen_technique_ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(0u16..10000, 1..=5)
        .prop_flat_map(|parents| {
            let parents: Vec<u16> = parents.into_iter().collect();
            let n = parents.len();
            (Just(parents), prop::collection::btree_set((0..n, 0u16..1000), 0..=6))
        })
        .prop_map(|(parents, subs)| {
            let mut ids: Vec<String> = parents.iter().map(|p| format!("T{p:04}")).collect();
            ids.extend(subs.iter().map(|&(i, s)| format!("T{:04}.{s:03}", parents[i])));
            ids
        })
}

fn gen_technique(n_tactics: usize) -> impl Strategy<Value = GenTechnique> {
    (
        (text(24), prop::option::of(text(48)), prop::option::of(text(8)), prop::option::of(text(8))),
        (prop::collection::vec(0..n_tactics, 0..=n_tactics + 1), any::<bool>()),
        prop::collection::vec((0..PLATFORMS.len(), any::<u32>(), any::<bool>()), 0..5),
        (prop::option::of(any::<bool>()), prop::option::of(any::<bool>()), any::<bool>()),
    )
        .prop_map(
            |(
                (name, description, version, modified),
                (phases, foreign_phase),
                platforms,
                (revoked, deprecated, other_ref_first),
            )| GenTechnique {
                mitre_id: String::new(),
                name,
                description,
                phases,
                foreign_phase,
                platforms,
                revoked,
                deprecated,
                version,
                modified,
                other_ref_first,
            },
        )
}

fn gen_techniques(n_tactics: usize) -> impl Strategy<Value = Vec<GenTechnique>> {
    gen_technique_ids()
        .prop_flat_map(move |ids| {
            let n = ids.len();
            prop::collection::vec(gen_technique(n_tactics), n).prop_map(move |bodies| {
                ids.iter()
                    .zip(bodies)
                    .map(|(id, body)| GenTechnique { mitre_id: id.clone(), ..body })
                    .collect::<Vec<_>>()
            })
        })
        .prop_shuffle()
        .prop_map(|mut techniques| {
            // The parser refuses a bundle without an active technique.
            if !techniques.iter().any(GenTechnique::is_active) {
                techniques[0].revoked = None;
                techniques[0].deprecated = Some(false);
            }
            techniques
        })
}

fn gen_bundle() -> impl Strategy<Value = GenBundle> {
    gen_tactics()
        .prop_flat_map(|tactics| {
            let n = tactics.len();
            (
                Just(tactics),
                Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                // Mostly every tactic is in the matrix; sometimes only some.
                prop_oneof![3 => Just(n), 1 => 0..=n],
                gen_techniques(n),
                (any::<bool>(), prop::option::of(text(6)), any::<bool>(), any::<bool>(), any::<bool>()),
                (0usize..3, any::<Index>(), any::<Index>(), any::<Index>()),
            )
        })
        .prop_map(
            |(
                tactics,
                matrix_order,
                matrix_len,
                techniques,
                (stix21, collection, dangling_ref, revoked_tactic, second_matrix),
                (without_id, matrix_at, noise_at, collection_at),
            )| GenBundle {
                stix21,
                collection,
                tactics,
                matrix_order,
                matrix_len,
                dangling_ref,
                revoked_tactic,
                second_matrix,
                techniques,
                without_id,
                matrix_at,
                noise_at,
                collection_at,
            },
        )
}

proptest! {
    #![proptest_config(config(192))]

    #[test]
    fn stix_generated_bundles_round_trip(g in gen_bundle()) {
        let value = g.to_value();
        let expected = g.expected();
        // serde_json's own serialization, then "type" first (the fast path) and "type" last.
        let plain = serde_json::to_vec(&value).unwrap();
        let type_first = to_json(&value, true);
        let type_last = to_json(&value, false);
        for bytes in [&plain, &type_first, &type_last] {
            let parsed = stix::parse(bytes);
            prop_assert!(parsed.is_ok(), "refused: {:?}", parsed.err());
            prop_assert_eq!(parsed.unwrap(), expected.clone());
        }
        // Pretty-printed, with a byte order mark.
        let mut pretty = b"\xEF\xBB\xBF".to_vec();
        pretty.extend(serde_json::to_vec_pretty(&value).unwrap());
        prop_assert_eq!(stix::parse(&pretty).unwrap(), expected.clone());
        // gzip, and gzip as two concatenated members.
        prop_assert_eq!(stix::parse(&gzip(&type_first)).unwrap(), expected.clone());
        let (a, b) = type_last.split_at(type_last.len() / 2);
        let mut members = gzip(a);
        members.extend(gzip(b));
        prop_assert_eq!(stix::parse(&members).unwrap(), expected);
    }

    /// Two active attack-patterns with the same id are refused, whatever else the bundle holds.
    #[test]
    fn stix_duplicate_active_ids_are_refused(g in gen_bundle(), which in any::<Index>(), name in text(12)) {
        let active: Vec<usize> = (0..g.techniques.len()).filter(|&i| g.techniques[i].is_active()).collect();
        let original = &g.techniques[active[which.index(active.len())]];
        let copy = GenTechnique { name, revoked: Some(false), deprecated: None, ..original.clone() };
        let mut value = g.to_value();
        let mut object = g.technique_value(&copy);
        object["id"] = json!("attack-pattern--copy");
        value["objects"].as_array_mut().unwrap().push(object);
        match stix::parse(&to_json(&value, true)) {
            Ok(_) => prop_assert!(false, "a duplicate active {} was accepted", copy.mitre_id),
            Err(BundleError::Invalid(msg)) => prop_assert!(msg.contains(&copy.mitre_id), "{}", msg),
        }
    }
}

// =========================================================================================================
// 2. Technique-id extraction
// =========================================================================================================

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// An independent formulation of the extraction rules, on maximal runs of word bytes (ASCII
/// alphanumerics and `_`): a run that is exactly `T\d{4}` is an id, unless a `.` and a run starting with a
/// digit follow it at once, in which case the id is `T\d{4}.\d{3}` when that run is exactly three digits
/// and there is no id otherwise.
fn oracle(text: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut runs: Vec<(usize, usize)> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_word(b[i]) {
            let start = i;
            while i < b.len() && is_word(b[i]) {
                i += 1;
            }
            runs.push((start, i));
        } else {
            i += 1;
        }
    }
    let mut found: Vec<String> = Vec::new();
    for (k, &(s, e)) in runs.iter().enumerate() {
        let run = &text[s..e];
        if !(run.len() == 5 && run.starts_with('T') && is_digits(&run[1..])) {
            continue;
        }
        let id = match runs.get(k + 1) {
            Some(&(s2, e2)) if s2 == e + 1 && b[e] == b'.' && b[s2].is_ascii_digit() => {
                if e2 - s2 == 3 && is_digits(&text[s2..e2]) {
                    &text[s..e2]
                } else {
                    continue;
                }
            }
            _ => run,
        };
        if !found.iter().any(|f| f == id) {
            found.push(id.to_owned());
        }
    }
    found
}

/// Text dense in id-like material: T, digits, dots, word and non-word characters.
fn id_ish_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => "T[0-9]{4}",
        2 => "T[0-9]{4}\\.[0-9]{1,4}",
        1 => "T[0-9]{3,6}",
        4 => prop::sample::select(vec![
            "T", ".", "_", " ", "a", "Z", "0", "12", "123", "\n", "é", "中", "😀", "-", "(", ")", ",", "t", "\u{0}",
        ])
        .prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

/// One character that is not a word character (ASCII alphanumeric or `_`) nor `.`: separators around an id.
fn separator() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![' ', '\t', '\n', '(', ')', ',', ';', ':', '-', '/', '"', '<', '>', '[', '|', '*']),
        // Unicode letters and digits are not word characters for the extraction.
        prop::sample::select(vec!['é', 'Ж', '中', 'ß', '٣', '０', '😀', '\u{a0}', '\u{200b}', '—']),
        // Not `.`: a `.` and a digit after an id read as a sub-technique (tests add dots deliberately).
        any::<char>().prop_filter("a non-word character", |c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '.')),
    ]
}

fn word_char() -> impl Strategy<Value = char> {
    prop::sample::select(('a'..='z').chain('A'..='Z').chain('0'..='9').chain(['_']).collect::<Vec<char>>())
}

/// Arbitrary text without a `T`, so the only candidate id is the one a test places.
fn t_free_text() -> impl Strategy<Value = String> {
    prop_oneof![text(16), id_ish_text()].prop_map(|s| s.replace('T', "x"))
}

fn technique_id() -> impl Strategy<Value = String> {
    prop_oneof!["T[0-9]{4}", "T[0-9]{4}\\.[0-9]{3}"]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn ids_are_well_formed_distinct_and_from_the_input(text in prop_oneof![text(64), id_ish_text()]) {
        let ids = technique_ids(&text);
        let mut seen = HashSet::new();
        for id in &ids {
            prop_assert!(is_technique_id(id), "{:?} from {:?}", id, text);
            prop_assert!(text.contains(id.as_str()), "{:?} is not in {:?}", id, text);
            prop_assert!(seen.insert(id), "{:?} twice from {:?}", id, text);
        }
        prop_assert_eq!(ids, oracle(&text), "{:?}", text);
    }

    #[test]
    fn an_id_between_separators_is_found(
        before in t_free_text(),
        sep_before in separator(),
        id in technique_id(),
        sep_after in separator(),
        after in t_free_text(),
        dot_after in any::<bool>(),
    ) {
        // A `.` after an id is a separator too, unless a digit follows it (then it reads as a sub-technique).
        let dot = if dot_after { "." } else { "" };
        for text in [
            format!("{before}{sep_before}{id}{dot}{sep_after}{after}"),
            format!("{id}{dot}{sep_after}{after}"),
            format!("{before}{sep_before}{id}{dot}"),
            id.clone(),
        ] {
            prop_assert_eq!(technique_ids(&text), vec![id.clone()], "{:?}", text);
        }
    }

    #[test]
    fn an_id_touching_a_word_character_is_not_found(
        before in t_free_text(),
        sep in separator(),
        w in word_char(),
        id in technique_id(),
        after in t_free_text(),
    ) {
        for text in [format!("{before}{w}{id}{sep}{after}"), format!("{before}{sep}{id}{w}{after}"), format!("{w}{id}"), format!("{id}{w}")] {
            prop_assert_eq!(technique_ids(&text), Vec::<String>::new(), "{:?}", text);
        }
    }

    #[test]
    fn near_ids_are_not_ids(
        before in t_free_text(),
        sep in separator(),
        near in prop_oneof!["T[0-9]{4}\\.[0-9]{1,2}", "T[0-9]{4}\\.[0-9]{4,6}", "T[0-9]{5,9}", "T[0-9]{1,3}", "t[0-9]{4}"],
        after in t_free_text(),
    ) {
        // `T1234.12` followed by a digit would be `T1234.123`: the text after starts with a non-digit.
        let after = if after.starts_with(|c: char| c.is_ascii_digit()) { format!(" {after}") } else { after };
        let text = format!("{before}{sep}{near}{after}");
        prop_assert_eq!(technique_ids(&text), Vec::<String>::new(), "{:?}", text);
        prop_assert!(technique_ids(&near).is_empty(), "{:?}", near);
    }
}

// =========================================================================================================
// 3. Tokens
// =========================================================================================================

const TTL: Duration = Duration::from_secs(3600);

fn secret() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 32..64)
}

/// A token with the byte at `at` replaced by a different printable ASCII byte (space to `~`).
fn mutate(token: &str, at: Index, byte: u8) -> (String, usize, u8) {
    let mut bytes = token.as_bytes().to_vec();
    let i = at.index(bytes.len());
    let original = bytes[i];
    let mut new = b' ' + byte % 95;
    if new == original {
        new = if new == b'~' { b' ' } else { new + 1 };
    }
    bytes[i] = new;
    (String::from_utf8(bytes).unwrap(), i, original)
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Ways to sign a token with the right key that must still be refused.
#[derive(Debug, Clone)]
enum Forgery {
    Algorithm(jsonwebtoken::Algorithm),
    Issuer(String),
    Audience(String),
    /// Expired this many seconds ago (at least 2, so the test does not race the clock).
    Expired(i64),
    NotYetValid(i64),
    Missing(&'static str),
    /// `"alg": "none"` with an empty or a random signature.
    AlgNone(Vec<u8>),
}

fn forgery() -> impl Strategy<Value = Forgery> {
    use jsonwebtoken::Algorithm::{HS384, HS512};
    prop_oneof![
        prop::sample::select(vec![HS384, HS512]).prop_map(Forgery::Algorithm),
        text(8).prop_filter("another issuer", |s| s != ISSUER).prop_map(Forgery::Issuer),
        text(12).prop_filter("another audience", |s| s != AUDIENCE).prop_map(Forgery::Audience),
        (2i64..100_000).prop_map(Forgery::Expired),
        (2i64..100_000).prop_map(Forgery::NotYetValid),
        prop::sample::select(vec!["exp", "iat", "iss", "aud", "sub", "ver"]).prop_map(Forgery::Missing),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Forgery::AlgNone),
    ]
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn bearer_tokens_round_trip(secret in secret(), user in text(40), version in any::<i64>()) {
        let keys = TokenKeys::new(&secret, TTL).unwrap();
        let issued = keys.issue(&user, version).unwrap();
        prop_assert_eq!(issued.expires_in, TTL.as_secs());
        let claims = keys.verify(&issued.token).unwrap();
        prop_assert_eq!(&claims.sub, &user);
        prop_assert_eq!(claims.ver, version);
        prop_assert_eq!(claims.iss.as_str(), ISSUER);
        prop_assert_eq!(claims.aud.as_str(), AUDIENCE);
        prop_assert_eq!(claims.exp - claims.iat, TTL.as_secs() as i64);
        prop_assert!((claims.iat - unix_now()).abs() <= 5);
    }

    /// Any single-byte change breaks a bearer token. No mutation is skipped: the header and payload are
    /// covered by the HMAC byte for byte (jsonwebtoken verifies the raw `header.payload` text), and the
    /// signature is decoded with base64's URL_SAFE_NO_PAD engine, which refuses non-zero trailing bits, so
    /// a change of the last character's unused low bits (a 32-byte HMAC is 43 characters, 2 bits spare)
    /// cannot decode to the same signature bytes.
    #[test]
    fn mutated_bearer_tokens_fail(
        secret in secret(),
        user in text(16),
        version in any::<i64>(),
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let keys = TokenKeys::new(&secret, TTL).unwrap();
        let token = keys.issue(&user, version).unwrap().token;
        let (mutated, i, original) = mutate(&token, at, byte);
        prop_assert!(
            keys.verify(&mutated).is_err(),
            "byte {} changed from {:?} to {:?} still verifies: {}",
            i,
            original as char,
            mutated.as_bytes()[i] as char,
            mutated
        );
    }

    #[test]
    fn bearer_tokens_of_another_key_fail(a in secret(), b in secret(), user in text(16), version in any::<i64>()) {
        prop_assume!(a != b);
        let ours = TokenKeys::new(&a, TTL).unwrap();
        let theirs = TokenKeys::new(&b, TTL).unwrap();
        prop_assert!(ours.verify(&theirs.issue(&user, version).unwrap().token).is_err());
        prop_assert!(theirs.verify(&ours.issue(&user, version).unwrap().token).is_err());
    }

    #[test]
    fn forged_bearer_tokens_fail(secret in secret(), user in text(16), version in any::<i64>(), forgery in forgery()) {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        use jsonwebtoken::{Algorithm, EncodingKey, Header};

        let keys = TokenKeys::new(&secret, TTL).unwrap();
        let now = unix_now();
        let mut claims = json!({"sub": user, "iat": now, "exp": now + 600, "iss": ISSUER, "aud": AUDIENCE, "ver": version});
        let key = EncodingKey::from_secret(&secret).unwrap();
        let sign = |alg: Algorithm, claims: &Value| jsonwebtoken::encode(&Header::new(alg), claims, &key).unwrap();
        // The same claims, correctly signed, verify: the refusals below are the forgery's doing.
        prop_assert!(keys.verify(&sign(Algorithm::HS256, &claims)).is_ok());
        let token = match &forgery {
            Forgery::Algorithm(alg) => sign(*alg, &claims),
            Forgery::Issuer(iss) => {
                claims["iss"] = json!(iss);
                sign(Algorithm::HS256, &claims)
            }
            Forgery::Audience(aud) => {
                claims["aud"] = json!(aud);
                sign(Algorithm::HS256, &claims)
            }
            Forgery::Expired(ago) => {
                claims["exp"] = json!(now - ago);
                claims["iat"] = json!(now - ago - 600);
                sign(Algorithm::HS256, &claims)
            }
            Forgery::NotYetValid(later) => {
                claims["nbf"] = json!(now + later);
                sign(Algorithm::HS256, &claims)
            }
            Forgery::Missing(claim) => {
                claims.as_object_mut().unwrap().remove(*claim);
                sign(Algorithm::HS256, &claims)
            }
            Forgery::AlgNone(signature) => format!(
                "{}.{}.{}",
                B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
                B64.encode(serde_json::to_vec(&claims).unwrap()),
                B64.encode(signature)
            ),
        };
        prop_assert!(keys.verify(&token).is_err(), "{:?} verified: {}", forgery, token);
    }

    #[test]
    fn arbitrary_strings_are_not_bearer_tokens(
        secret in secret(),
        s in prop_oneof![text(80), "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,50}"],
    ) {
        let keys = TokenKeys::new(&secret, TTL).unwrap();
        prop_assert!(keys.verify(&s).is_err());
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn download_tokens_are_bound_to_their_evidence(
        secret in prop::collection::vec(any::<u8>(), 0..64),
        id in text(40),
        other in text(40),
    ) {
        let tokens = DownloadTokens::new(&secret, TTL);
        let token = tokens.issue(&id);
        prop_assert!(tokens.verify(&id, &token));
        if other != id {
            prop_assert!(!tokens.verify(&other, &token), "{:?} token verifies for {:?}", id, other);
        }
    }

    #[test]
    fn download_tokens_of_another_key_fail(a in secret(), b in secret(), id in text(40)) {
        prop_assume!(a != b);
        prop_assert!(!DownloadTokens::new(&a, TTL).verify(&id, &DownloadTokens::new(&b, TTL).issue(&id)));
    }

    /// Any single-byte change breaks a download token: a token has one spelling (lower-case hex, the
    /// expiry exactly as issued), so even a case change in the signature is refused.
    #[test]
    fn mutated_download_tokens_fail(secret in secret(), id in text(40), at in any::<Index>(), byte in any::<u8>()) {
        let tokens = DownloadTokens::new(&secret, TTL);
        let token = tokens.issue(&id);
        let (mutated, i, original) = mutate(&token, at, byte);
        let new = mutated.as_bytes()[i];
        prop_assert!(
            !tokens.verify(&id, &mutated),
            "byte {} changed from {:?} to {:?} still verifies: {}",
            i,
            original as char,
            new as char,
            mutated
        );
    }

    #[test]
    fn arbitrary_strings_are_not_download_tokens(
        secret in secret(),
        id in text(40),
        s in prop_oneof![text(80), "[+-]?[0-9]{1,20}\\.[0-9a-fA-F]{0,70}", "[0-9]{10}\\.[0-9a-f]{64}"],
    ) {
        prop_assert!(!DownloadTokens::new(&secret, TTL).verify(&id, &s));
    }
}

// =========================================================================================================
// 4. File-name cleaning, 5. Content-Disposition
// =========================================================================================================

fn invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// File names: arbitrary text, path-like text, and long names (over the 200-character limit).
fn file_name() -> impl Strategy<Value = String> {
    let path_char = prop_oneof![
        3 => prop::sample::select(vec!['/', '\\', '.', ' ', '\t', '\n', '\r', '\0', '\u{7f}', '\u{85}', '\u{3000}',
            '\u{200b}', '\u{200e}', '\u{202a}', '\u{202e}', '\u{2060}', '\u{2066}', '\u{2069}', '\u{feff}', 'a', 'é']),
        1 => any::<char>(),
    ];
    prop_oneof![
        text(40),
        prop::collection::vec(path_char, 0..40).prop_map(|c| c.into_iter().collect()),
        (text(8), "[ .\u{200b}]{0,3}", "[a-zA-Zé😀 .\u{202e}]{150,260}", "[ .\t\u{feff}]{0,3}")
            .prop_map(|(dir, a, b, c)| format!("{dir}/{a}{b}{c}")),
    ]
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn cleaned_file_names_are_safe(raw in prop::option::of(file_name())) {
        let name = clean_file_name(raw.as_deref());
        prop_assert!(!name.is_empty());
        prop_assert!(name != "." && name != "..", "{:?}", name);
        prop_assert!(name.chars().count() <= MAX_FILE_NAME_CHARS, "{} chars", name.chars().count());
        prop_assert!(MAX_FILE_NAME_CHARS <= 200);
        for c in name.chars() {
            prop_assert!(c != '/' && c != '\\' && !c.is_control() && !invisible(c), "{:?} in {:?}", c, name);
        }
        prop_assert_eq!(name.trim(), name.as_str());
        // Cleaning a clean name changes nothing.
        prop_assert_eq!(clean_file_name(Some(&name)), name);
    }

    #[test]
    fn content_disposition_is_a_valid_header_with_the_exact_name(name in prop_oneof![text(60), file_name()]) {
        let header = content_disposition(&name);
        for b in header.bytes() {
            prop_assert!(b.is_ascii_graphic() || b == b' ', "byte {:#04x} in {:?}", b, header);
        }
        let rest = header.strip_prefix("attachment; filename=\"");
        prop_assert!(rest.is_some(), "{}", header);
        let rest = rest.unwrap();
        // The fallback ends at the first quote: it holds no quote, and no backslash (quoted-pair).
        let end = rest.find('"').unwrap();
        let (fallback, rest) = rest.split_at(end);
        prop_assert!(!fallback.contains('\\'), "{:?}", fallback);
        prop_assert_eq!(fallback.chars().count(), name.chars().count());
        let encoded = rest.strip_prefix("\"; filename*=UTF-8''");
        prop_assert!(encoded.is_some(), "{}", header);
        // RFC 5987 value-chars: attr-char or %XX.
        let encoded = encoded.unwrap().as_bytes();
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < encoded.len() {
            let b = encoded[i];
            if b == b'%' {
                prop_assert!(i + 3 <= encoded.len(), "a short escape in {:?}", header);
                let hex = std::str::from_utf8(&encoded[i + 1..i + 3]).unwrap();
                prop_assert!(hex.bytes().all(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(&h)), "%{}", hex);
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                prop_assert!(b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b), "{:?} unescaped", b as char);
                decoded.push(b);
                i += 1;
            }
        }
        prop_assert_eq!(String::from_utf8(decoded).unwrap(), name);
    }
}
