//! STIX bundle parsing: ATT&CK techniques, sub-techniques and tactics (in matrix order), from STIX 2.0 or
//! 2.1 bundles, plain or gzip-compressed. Objects it does not use are skipped, not rejected.
//!
//! The parser streams the `objects` array with a hand-written serde visitor: each object's `type` is read
//! (it comes first in every bundle MITRE publishes), and objects of types the catalogue does not use
//! (relationships, malware, analytics, ...) are then skipped with [`IgnoredAny`] without allocating. Only
//! attack-patterns, tactics, the first matrix and the collection are kept, borrowing from the one
//! decompressed buffer where the JSON strings hold no escapes.
//!
//! The fields read are typed strictly (a `name` that is not a string is an error) on the objects whose
//! fields are read. When an object's `type` is not its first field, the fields before it are read as if the
//! object might be used; STIX gives these properties the same types on every object type, so this only
//! refuses data that is not valid STIX anyway.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt::{self, Write as _};
use std::io::Read;
use std::ops::Deref;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Hard cap on the decompressed size, so a gzip bomb is refused instead of filling memory.
pub const MAX_BUNDLE_BYTES: usize = 512 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The bytes are not a usable ATT&CK bundle; the message says why for a person (it is sent to API clients,
    /// so it must not contain file paths; keep it under ~300 chars; include serde_json's line/column when relevant).
    #[error("{0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tactic {
    pub stix_id: String,
    /// "TA0002" (from the external_references entry whose source_name is mitre-attack / mitre-ics-attack /
    /// mitre-mobile-attack).
    pub mitre_id: String,
    /// x_mitre_shortname, e.g. "execution".
    pub shortname: String,
    /// "Execution".
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technique {
    pub stix_id: String,
    /// "T1059" or "T1059.001" (external_id of the mitre-* external reference).
    pub mitre_id: String,
    pub name: String,
    /// "" when absent.
    pub description: String,
    /// kill_chain_phases phase_name values whose kill_chain_name starts with "mitre-", deduplicated, ordered by
    /// the matrix's tactic order (unknown shortnames go last, in bundle order).
    pub tactics: Vec<String>,
    /// x_mitre_platforms lowercased and trimmed ("Windows" -> "windows", "Network Devices" -> "network
    /// devices"), deduplicated, order kept.
    pub platforms: Vec<String>,
    /// x_mitre_is_subtechnique (false when absent).
    pub is_subtechnique: bool,
    /// "T1059" for "T1059.001"; None for techniques.
    pub parent_mitre_id: Option<String>,
    /// x_mitre_version.
    pub version: Option<String>,
    /// modified (as in the bundle).
    pub modified: Option<String>,
    /// url of the mitre-* external reference.
    pub url: Option<String>,
    /// revoked (false when absent).
    pub revoked: bool,
    /// x_mitre_deprecated (false when absent).
    pub deprecated: bool,
}

impl Technique {
    /// Neither revoked nor deprecated.
    fn is_active(&self) -> bool {
        !self.revoked && !self.deprecated
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// "2.0" or "2.1": the bundle's own spec_version if present, else the first object's spec_version, else "2.0".
    pub spec_version: String,
    /// The ATT&CK release the bundle names: x_mitre_version of an `x-mitre-collection` object (e.g. "18.1"), else None.
    pub attack_version: Option<String>,
    /// Tactics in the order of the first `x-mitre-matrix` object's `tactic_refs`; tactics not referenced by a matrix follow in bundle order. Revoked/deprecated tactics are dropped.
    pub tactics: Vec<Tactic>,
    /// Every attack-pattern that has a mitre-* external id, in bundle order (revoked and deprecated included, flagged).
    pub techniques: Vec<Technique>,
    /// attack-pattern objects skipped because they had no mitre-* external id (reported, not fatal).
    pub skipped_without_id: usize,
}

/// Parses a bundle from bytes that are either JSON or gzip-compressed JSON (detected by the gzip magic bytes 1f 8b).
pub fn parse(bytes: &[u8]) -> Result<Bundle, BundleError> {
    let json = decompress(bytes)?;
    parse_json(&json)
}

/// Decompresses gzip input (bounded by MAX_BUNDLE_BYTES, refusing larger output with BundleError::Invalid) or
/// returns the input borrowed when it is not gzip.
pub fn decompress(bytes: &[u8]) -> Result<Cow<'_, [u8]>, BundleError> {
    decompress_with_limit(bytes, MAX_BUNDLE_BYTES)
}

// ---------------------------------------------------------------------------------------------------------
// Decompression
// ---------------------------------------------------------------------------------------------------------

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The most a deflate stream can expand (about 1032:1), used to bound the trailer's size hint.
const MAX_DEFLATE_RATIO: usize = 1032;

/// [`decompress`] with the size limit as a parameter, so tests can exercise it with a small one.
fn decompress_with_limit(bytes: &[u8], limit: usize) -> Result<Cow<'_, [u8]>, BundleError> {
    if !bytes.starts_with(&GZIP_MAGIC) {
        return Ok(Cow::Borrowed(bytes));
    }
    // Allowing one byte past the limit tells "exactly at the limit" from "over it".
    let max = limit.saturating_add(1);
    // The gzip trailer's ISIZE (size modulo 2^32 of the last member) sizes the first allocation so an honest
    // file is read without regrowing; it is only a hint, bounded by the limit and by deflate's best ratio.
    let hint = match bytes.len().checked_sub(4) {
        Some(start) if start >= 10 => {
            let mut le = [0u8; 4];
            le.copy_from_slice(&bytes[start..]);
            u32::from_le_bytes(le) as usize
        }
        _ => 0,
    };
    let first = hint.saturating_add(1).min(bytes.len().saturating_mul(MAX_DEFLATE_RATIO)).clamp(64 * 1024, max.max(1));

    // Concatenated gzip members are one valid gzip file (`cat a.gz b.gz`), so all members are read.
    let mut decoder = flate2::read::MultiGzDecoder::new(bytes);
    let mut out: Vec<u8> = Vec::new();
    let mut filled = 0usize;
    loop {
        if filled == out.len() {
            if out.len() >= max {
                break;
            }
            let new_len = if out.is_empty() { first } else { out.len().saturating_mul(2) }.min(max);
            out.reserve_exact(new_len - out.len());
            out.resize(new_len, 0);
        }
        match decoder.read(&mut out[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(BundleError::Invalid(format!(
                    "the gzip data could not be decompressed: {}",
                    clip(&e.to_string(), 160)
                )));
            }
        }
    }
    if filled > limit {
        return Err(BundleError::Invalid(format!(
            "the bundle is larger than the size limit of {} once decompressed; refusing it",
            human_size(limit)
        )));
    }
    out.truncate(filled);
    Ok(Cow::Owned(out))
}

fn human_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) { format!("{} MiB", bytes / MIB) } else { format!("{bytes} bytes") }
}

// ---------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

fn parse_json(json: &[u8]) -> Result<Bundle, BundleError> {
    let json = json.strip_prefix(UTF8_BOM).unwrap_or(json);
    if json.iter().all(u8::is_ascii_whitespace) {
        return Err(BundleError::Invalid("the bundle is empty".to_owned()));
    }
    let mut collector = Collector::default();
    let mut de = serde_json::Deserializer::from_slice(json);
    let head = BundleSeed { col: &mut collector }
        .deserialize(&mut de)
        .and_then(|head| de.end().map(|()| head))
        .map_err(|e| json_error(&e, &collector.ctx))?;

    if !head.type_seen {
        return Err(BundleError::Invalid(
            "not a STIX bundle: the top-level object has no \"type\": \"bundle\"".to_owned(),
        ));
    }
    if !head.objects_seen {
        return Err(BundleError::Invalid("not a STIX bundle: the bundle has no \"objects\" array".to_owned()));
    }
    build(collector, head.spec_version)
}

/// A JSON string, borrowed from the input when it holds no escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Str<'a>(Cow<'a, str>);

impl Deref for Str<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Str<'_> {
    fn into_string(self) -> String {
        self.0.into_owned()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

#[derive(Debug, Deserialize)]
struct ExternalRef<'a> {
    #[serde(borrow, default)]
    source_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    external_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    url: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
struct KillChainPhase<'a> {
    #[serde(borrow, default)]
    kill_chain_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    phase_name: Option<Str<'a>>,
}

/// The fields of a STIX object the parser may read (all optional; which are read depends on the type).
#[derive(Debug, Default)]
struct RawObject<'a> {
    id: Option<Str<'a>>,
    name: Option<Str<'a>>,
    description: Option<Str<'a>>,
    modified: Option<Str<'a>>,
    revoked: Option<bool>,
    deprecated: Option<bool>,
    is_subtechnique: Option<bool>,
    version: Option<Str<'a>>,
    platforms: Option<Vec<Str<'a>>>,
    shortname: Option<Str<'a>>,
    kill_chain_phases: Option<Vec<KillChainPhase<'a>>>,
    external_references: Option<Vec<ExternalRef<'a>>>,
    tactic_refs: Option<Vec<Str<'a>>>,
}

/// The object types the parser uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    AttackPattern,
    Tactic,
    Matrix,
    Collection,
    /// Anything else, and matrices/collections after the first: skipped.
    Other,
}

/// Keys of a STIX object (and of the bundle) the parser knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Type,
    SpecVersion,
    Objects,
    Id,
    Name,
    Description,
    Modified,
    Revoked,
    Deprecated,
    IsSubtechnique,
    Version,
    Platforms,
    Shortname,
    KillChainPhases,
    ExternalReferences,
    TacticRefs,
    Other,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Type => "type",
            Field::SpecVersion => "spec_version",
            Field::Objects => "objects",
            Field::Id => "id",
            Field::Name => "name",
            Field::Description => "description",
            Field::Modified => "modified",
            Field::Revoked => "revoked",
            Field::Deprecated => "x_mitre_deprecated",
            Field::IsSubtechnique => "x_mitre_is_subtechnique",
            Field::Version => "x_mitre_version",
            Field::Platforms => "x_mitre_platforms",
            Field::Shortname => "x_mitre_shortname",
            Field::KillChainPhases => "kill_chain_phases",
            Field::ExternalReferences => "external_references",
            Field::TacticRefs => "tactic_refs",
            Field::Other => "?",
        }
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }

    /// Whether an object of `kind` (None: not known yet) needs this field.
    fn wanted_by(self, kind: Option<Kind>) -> bool {
        use Field::*;
        match kind {
            None => !matches!(self, Type | SpecVersion | Objects | Other),
            Some(Kind::AttackPattern) => matches!(
                self,
                Id | Name
                    | Description
                    | Modified
                    | Revoked
                    | Deprecated
                    | IsSubtechnique
                    | Version
                    | Platforms
                    | KillChainPhases
                    | ExternalReferences
            ),
            Some(Kind::Tactic) => matches!(self, Id | Name | Revoked | Deprecated | Shortname | ExternalReferences),
            Some(Kind::Matrix) => self == TacticRefs,
            Some(Kind::Collection) => self == Version,
            Some(Kind::Other) => false,
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = Field;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Field, E> {
                Ok(match v {
                    "type" => Field::Type,
                    "spec_version" => Field::SpecVersion,
                    "objects" => Field::Objects,
                    "id" => Field::Id,
                    "name" => Field::Name,
                    "description" => Field::Description,
                    "modified" => Field::Modified,
                    "revoked" => Field::Revoked,
                    "x_mitre_deprecated" => Field::Deprecated,
                    "x_mitre_is_subtechnique" => Field::IsSubtechnique,
                    "x_mitre_version" => Field::Version,
                    "x_mitre_platforms" => Field::Platforms,
                    "x_mitre_shortname" => Field::Shortname,
                    "kill_chain_phases" => Field::KillChainPhases,
                    "external_references" => Field::ExternalReferences,
                    "tactic_refs" => Field::TacticRefs,
                    _ => Field::Other,
                })
            }
        }
        deserializer.deserialize_identifier(FieldVisitor)
    }
}

/// Where the parser is, so a serde_json error can say which object and field it concerns.
#[derive(Debug, Default)]
struct Ctx<'a> {
    /// Index in `objects` of the object being read, or of the last one read.
    index: Option<usize>,
    /// Whether the parser is inside the object at `index` (false: after it).
    inside: bool,
    /// The object's `type`, once read.
    ty: Option<Cow<'a, str>>,
    /// The object's `id`, once read (only on objects whose fields are read).
    id: Option<Cow<'a, str>>,
    /// The field whose value is being read.
    field: Option<&'static str>,
}

impl Ctx<'_> {
    fn describe(&self, out: &mut String) {
        let Some(index) = self.index else { return };
        if !self.inside {
            let _ = write!(out, " after objects[{index}]");
            return;
        }
        let _ = write!(out, " in objects[{index}]");
        match (&self.ty, &self.id) {
            (Some(ty), Some(id)) => {
                let _ = write!(out, " ({} {})", clip(ty, 32), clip(id, 64));
            }
            (Some(ty), None) => {
                let _ = write!(out, " ({})", clip(ty, 32));
            }
            (None, Some(id)) => {
                let _ = write!(out, " ({})", clip(id, 64));
            }
            (None, None) => {}
        }
        if let Some(field) = self.field {
            let _ = write!(out, ", field \"{field}\"");
        }
    }
}

/// What the streaming pass keeps.
#[derive(Debug, Default)]
struct Collector<'a> {
    ctx: Ctx<'a>,
    first_spec_version: Option<Str<'a>>,
    attack_version: Option<Str<'a>>,
    /// The first matrix's tactic_refs (Some once a matrix was seen).
    matrix_refs: Option<Vec<Str<'a>>>,
    tactics: Vec<RawObject<'a>>,
    patterns: Vec<RawObject<'a>>,
}

impl Collector<'_> {
    fn kind_of(&self, ty: &str) -> Kind {
        match ty {
            "attack-pattern" => Kind::AttackPattern,
            "x-mitre-tactic" => Kind::Tactic,
            "x-mitre-matrix" if self.matrix_refs.is_none() => Kind::Matrix,
            "x-mitre-collection" if self.attack_version.is_none() => Kind::Collection,
            _ => Kind::Other,
        }
    }
}

/// The bundle's own fields.
struct BundleHead<'a> {
    type_seen: bool,
    objects_seen: bool,
    spec_version: Option<Str<'a>>,
}

struct BundleSeed<'c, 'a> {
    col: &'c mut Collector<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for BundleSeed<'_, 'a> {
    type Value = BundleHead<'a>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for BundleSeed<'_, 'a> {
    type Value = BundleHead<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with \"type\": \"bundle\"")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut head = BundleHead { type_seen: false, objects_seen: false, spec_version: None };
        while let Some(field) = map.next_key::<Field>()? {
            match field {
                Field::Type => {
                    if head.type_seen {
                        return Err(de::Error::duplicate_field("type"));
                    }
                    let ty: Str<'a> = map.next_value()?;
                    if &*ty != "bundle" {
                        // Refuse unrelated JSON before reading the rest of it.
                        return Err(de::Error::custom(format_args!(
                            "\"type\" is \"{}\", expected \"bundle\"",
                            clip(&ty, 40)
                        )));
                    }
                    head.type_seen = true;
                }
                Field::SpecVersion => {
                    if head.spec_version.is_some() {
                        return Err(de::Error::duplicate_field("spec_version"));
                    }
                    head.spec_version = Some(map.next_value()?);
                }
                Field::Objects => {
                    if head.objects_seen {
                        return Err(de::Error::duplicate_field("objects"));
                    }
                    map.next_value_seed(ObjectsSeed { col: &mut *self.col })?;
                    head.objects_seen = true;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(head)
    }
}

struct ObjectsSeed<'c, 'a> {
    col: &'c mut Collector<'a>,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for ObjectsSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for ObjectsSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of STIX objects")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let mut index = 0usize;
        while seq.next_element_seed(ObjectSeed { col: &mut *self.col, index })?.is_some() {
            index += 1;
        }
        self.col.ctx.index = None;
        Ok(())
    }
}

struct ObjectSeed<'c, 'a> {
    col: &'c mut Collector<'a>,
    index: usize,
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for ObjectSeed<'_, 'a> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let ctx = &mut self.col.ctx;
        ctx.index = Some(self.index);
        ctx.inside = true;
        ctx.ty = None;
        ctx.id = None;
        ctx.field = None;
        deserializer.deserialize_map(self)
    }
}

impl<'de: 'a, 'a> Visitor<'de> for ObjectSeed<'_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a STIX object (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let col = self.col;
        // The first object's spec_version stands in for a STIX 2.1 bundle's missing one.
        let want_spec = self.index == 0;
        let mut kind: Option<Kind> = None;
        let mut obj = RawObject::default();
        let mut seen = 0u32;

        macro_rules! read {
            ($slot:expr, $field:expr) => {{
                col.ctx.field = Some($field.name());
                $slot = Some(map.next_value()?);
                col.ctx.field = None;
            }};
        }

        while let Some(field) = map.next_key::<Field>()? {
            if field != Field::Other {
                if seen & field.bit() != 0 {
                    return Err(de::Error::duplicate_field(field.name()));
                }
                seen |= field.bit();
            }
            match field {
                Field::Type => {
                    col.ctx.field = Some("type");
                    let ty: Str<'a> = map.next_value()?;
                    col.ctx.field = None;
                    let k = col.kind_of(&ty);
                    col.ctx.ty = Some(ty.0);
                    kind = Some(k);
                    if k == Kind::Other && (!want_spec || seen & Field::SpecVersion.bit() != 0) {
                        // Nothing more to read: skip the rest of the object cheaply.
                        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                        break;
                    }
                }
                Field::SpecVersion if want_spec => read!(col.first_spec_version, field),
                Field::Id if field.wanted_by(kind) => {
                    read!(obj.id, field);
                    col.ctx.id = obj.id.as_ref().map(|id| id.0.clone());
                }
                Field::Name if field.wanted_by(kind) => read!(obj.name, field),
                Field::Description if field.wanted_by(kind) => read!(obj.description, field),
                Field::Modified if field.wanted_by(kind) => read!(obj.modified, field),
                Field::Revoked if field.wanted_by(kind) => read!(obj.revoked, field),
                Field::Deprecated if field.wanted_by(kind) => read!(obj.deprecated, field),
                Field::IsSubtechnique if field.wanted_by(kind) => {
                    read!(obj.is_subtechnique, field)
                }
                Field::Version if field.wanted_by(kind) => read!(obj.version, field),
                Field::Platforms if field.wanted_by(kind) => read!(obj.platforms, field),
                Field::Shortname if field.wanted_by(kind) => read!(obj.shortname, field),
                Field::KillChainPhases if field.wanted_by(kind) => {
                    read!(obj.kill_chain_phases, field)
                }
                Field::ExternalReferences if field.wanted_by(kind) => {
                    read!(obj.external_references, field)
                }
                Field::TacticRefs if field.wanted_by(kind) => read!(obj.tactic_refs, field),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }

        match kind {
            Some(Kind::AttackPattern) => col.patterns.push(obj),
            Some(Kind::Tactic) => col.tactics.push(obj),
            Some(Kind::Matrix) => col.matrix_refs = Some(obj.tactic_refs.unwrap_or_default()),
            Some(Kind::Collection) => col.attack_version = obj.version,
            // Objects without a type are not STIX; like unknown types, they are skipped.
            Some(Kind::Other) | None => {}
        }
        col.ctx.inside = false;
        Ok(())
    }
}

/// The longest message [`json_error`] aims for.
const MAX_MESSAGE: usize = 300;

/// Turns a serde_json error into a message for a person: what kind of problem, where in the bundle, and
/// serde_json's line and column.
fn json_error(e: &serde_json::Error, ctx: &Ctx<'_>) -> BundleError {
    use serde_json::error::Category;
    let full = e.to_string();
    let body = if e.line() > 0 {
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        full.strip_suffix(&suffix).unwrap_or(&full)
    } else {
        &full
    };
    let mut msg = String::from(match e.classify() {
        Category::Eof => "the bundle is truncated (the JSON ends early)",
        Category::Syntax => "the bundle is not valid JSON",
        Category::Data | Category::Io => "not a usable STIX bundle",
    });
    ctx.describe(&mut msg);
    msg.push_str(": ");
    let position = if e.line() > 0 { format!(" (line {}, column {})", e.line(), e.column()) } else { String::new() };
    // serde_json quotes offending values whole; keep the message short enough to show to a person.
    let budget = MAX_MESSAGE.saturating_sub(msg.len() + position.len() + 3);
    msg.push_str(&clip(body, budget.max(60)));
    msg.push_str(&position);
    BundleError::Invalid(msg)
}

/// `s` cut to at most `max` bytes (on a character boundary), with "..." added when cut.
fn clip(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}...", &s[..end]))
}

// ---------------------------------------------------------------------------------------------------------
// From the raw objects to the catalogue
// ---------------------------------------------------------------------------------------------------------

fn is_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

/// `^T\d{4}(\.\d{3})?$`
fn is_technique_id(id: &str) -> bool {
    let b = id.as_bytes();
    match b.len() {
        5 => b[0] == b'T' && is_digits(&b[1..5]),
        9 => b[0] == b'T' && is_digits(&b[1..5]) && b[5] == b'.' && is_digits(&b[6..9]),
        _ => false,
    }
}

/// `^TA\d{4}$`
fn is_tactic_id(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 6 && b.starts_with(b"TA") && is_digits(&b[2..])
}

/// The first external reference from an ATT&CK source (mitre-attack, mitre-ics-attack,
/// mitre-mobile-attack, ...) whose external_id has the expected shape.
fn mitre_reference<'r, 'a>(
    refs: Option<&'r [ExternalRef<'a>]>,
    valid: fn(&str) -> bool,
) -> Option<&'r ExternalRef<'a>> {
    refs?.iter().find(|r| {
        r.source_name.as_deref().is_some_and(|s| s.starts_with("mitre-")) && r.external_id.as_deref().is_some_and(valid)
    })
}

fn build(col: Collector<'_>, bundle_spec: Option<Str<'_>>) -> Result<Bundle, BundleError> {
    let spec_version = bundle_spec.or(col.first_spec_version).map_or_else(|| "2.0".to_owned(), Str::into_string);
    let attack_version = col.attack_version.map(Str::into_string);
    let tactics = build_tactics(col.tactics, col.matrix_refs.as_deref().unwrap_or_default());

    let order: HashMap<&str, usize> = tactics.iter().enumerate().map(|(i, t)| (t.shortname.as_str(), i)).collect();

    let mut techniques = Vec::with_capacity(col.patterns.len());
    let mut skipped_without_id = 0usize;
    for raw in col.patterns {
        if let Some(t) = build_technique(raw, &order)? {
            techniques.push(t);
        } else {
            skipped_without_id += 1;
        }
    }
    if skipped_without_id > 0 {
        tracing::debug!(skipped_without_id, "attack-patterns without an ATT&CK id were skipped");
    }
    let techniques = drop_shadowed(techniques)?;

    if techniques.is_empty() {
        return Err(BundleError::Invalid("the bundle holds no ATT&CK techniques".to_owned()));
    }
    if !techniques.iter().any(Technique::is_active) {
        return Err(BundleError::Invalid(format!(
            "the bundle holds no active ATT&CK techniques (all {} are revoked or deprecated)",
            techniques.len()
        )));
    }

    Ok(Bundle { spec_version, attack_version, tactics, techniques, skipped_without_id })
}

/// Active tactics with an ATT&CK id, shortname and name, in the matrix's order, then the others in bundle
/// order. A tactic that repeats an earlier one's STIX id or shortname is dropped.
fn build_tactics(raw: Vec<RawObject<'_>>, matrix_refs: &[Str<'_>]) -> Vec<Tactic> {
    let mut all = Vec::with_capacity(raw.len());
    for t in raw {
        if t.revoked == Some(true) || t.deprecated == Some(true) {
            continue;
        }
        let mitre = mitre_reference(t.external_references.as_deref(), is_tactic_id);
        let (Some(stix_id), Some(mitre), Some(shortname), Some(name)) = (&t.id, mitre, &t.shortname, &t.name) else {
            tracing::warn!(
                stix_id = t.id.as_deref().unwrap_or(""),
                "skipping an x-mitre-tactic without an id, ATT&CK id, shortname or name"
            );
            continue;
        };
        all.push(Tactic {
            stix_id: stix_id.to_string(),
            mitre_id: mitre.external_id.as_deref().unwrap_or_default().to_owned(),
            shortname: shortname.to_string(),
            name: name.to_string(),
        });
    }

    let by_stix_id: HashMap<&str, usize> = all.iter().enumerate().rev().map(|(i, t)| (t.stix_id.as_str(), i)).collect();
    let mut order: Vec<usize> = Vec::with_capacity(all.len());
    let mut placed = vec![false; all.len()];
    for r in matrix_refs {
        if let Some(&i) = by_stix_id.get(&**r)
            && !placed[i]
        {
            placed[i] = true;
            order.push(i);
        }
    }
    order.extend((0..all.len()).filter(|&i| !placed[i]));
    drop(by_stix_id);

    let mut slots: Vec<Option<Tactic>> = all.into_iter().map(Some).collect();
    let mut tactics: Vec<Tactic> = Vec::with_capacity(slots.len());
    for i in order {
        let Some(t) = slots[i].take() else { continue };
        if tactics.iter().any(|k| k.stix_id == t.stix_id || k.shortname == t.shortname) {
            tracing::warn!(
                stix_id = t.stix_id,
                shortname = t.shortname,
                "skipping a tactic that repeats another's id or shortname"
            );
            continue;
        }
        tactics.push(t);
    }
    tactics
}

/// The technique for an attack-pattern, or None when it has no ATT&CK id of the right shape.
fn build_technique(raw: RawObject<'_>, order: &HashMap<&str, usize>) -> Result<Option<Technique>, BundleError> {
    let Some(mitre) = mitre_reference(raw.external_references.as_deref(), is_technique_id) else {
        tracing::debug!(stix_id = raw.id.as_deref().unwrap_or(""), "skipping an attack-pattern without an ATT&CK id");
        return Ok(None);
    };
    let mitre_id = mitre.external_id.as_deref().unwrap_or_default().to_owned();
    let url = mitre.url.as_deref().map(str::to_owned);
    let Some(stix_id) = raw.id else {
        return Err(BundleError::Invalid(format!("the attack-pattern for {mitre_id} has no \"id\"")));
    };
    let Some(name) = raw.name else {
        return Err(BundleError::Invalid(format!("the attack-pattern for {mitre_id} has no \"name\"")));
    };

    let mut tactics: Vec<String> = Vec::new();
    for phase in raw.kill_chain_phases.unwrap_or_default() {
        let (Some(chain), Some(phase)) = (phase.kill_chain_name, phase.phase_name) else {
            continue;
        };
        if chain.starts_with("mitre-") && !tactics.iter().any(|t| *t == *phase) {
            tactics.push(phase.into_string());
        }
    }
    // Stable: shortnames the matrix does not know keep their bundle order, after the known ones.
    tactics.sort_by_key(|t| order.get(t.as_str()).copied().unwrap_or(usize::MAX));

    let mut platforms: Vec<String> = Vec::new();
    for p in raw.platforms.unwrap_or_default() {
        let p = p.trim().to_lowercase();
        if !p.is_empty() && !platforms.contains(&p) {
            platforms.push(p);
        }
    }

    let parent_mitre_id = mitre_id.split_once('.').map(|(parent, _)| parent.to_owned());
    Ok(Some(Technique {
        stix_id: stix_id.into_string(),
        mitre_id,
        name: name.into_string(),
        description: raw.description.map(Str::into_string).unwrap_or_default(),
        tactics,
        platforms,
        is_subtechnique: raw.is_subtechnique.unwrap_or(false),
        parent_mitre_id,
        version: raw.version.map(Str::into_string),
        modified: raw.modified.map(Str::into_string),
        url,
        revoked: raw.revoked.unwrap_or(false),
        deprecated: raw.deprecated.unwrap_or(false),
    }))
}

/// Keeps one technique per ATT&CK id: two active ones sharing an id make the bundle invalid; an active one
/// wins over revoked/deprecated ones; among only revoked/deprecated ones the first in the bundle is kept.
fn drop_shadowed(techniques: Vec<Technique>) -> Result<Vec<Technique>, BundleError> {
    let mut keep = vec![true; techniques.len()];
    let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(techniques.len());
    for (i, t) in techniques.iter().enumerate() {
        match by_id.entry(t.mitre_id.as_str()) {
            Entry::Vacant(e) => {
                e.insert(i);
            }
            Entry::Occupied(mut e) => {
                let earlier = &techniques[*e.get()];
                match (earlier.is_active(), t.is_active()) {
                    (true, true) => {
                        return Err(BundleError::Invalid(format!(
                            "two active attack-patterns have the ATT&CK id {} ({} and {})",
                            t.mitre_id,
                            clip(&earlier.stix_id, 80),
                            clip(&t.stix_id, 80)
                        )));
                    }
                    (false, true) => {
                        keep[*e.get()] = false;
                        e.insert(i);
                    }
                    _ => keep[i] = false,
                }
            }
        }
    }
    drop(by_id);
    if keep.iter().all(|&k| k) {
        return Ok(techniques);
    }
    Ok(techniques.into_iter().zip(keep).filter_map(|(t, k)| k.then_some(t)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::io::Write as _;
    use std::time::Instant;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    fn mitre_ref(id: &str) -> Value {
        json!({
            "source_name": "mitre-attack",
            "url": format!("https://attack.mitre.org/techniques/{}", id.replace('.', "/")),
            "external_id": id
        })
    }

    fn tactic(stix_id: &str, mitre_id: &str, shortname: &str, name: &str) -> Value {
        json!({
            "type": "x-mitre-tactic",
            "id": stix_id,
            "name": name,
            "description": "A tactic.",
            "x_mitre_shortname": shortname,
            "external_references": [{
                "source_name": "mitre-attack",
                "url": format!("https://attack.mitre.org/tactics/{mitre_id}"),
                "external_id": mitre_id
            }],
            "x_mitre_deprecated": false
        })
    }

    fn phases(names: &[&str]) -> Value {
        names.iter().map(|p| json!({"kill_chain_name": "mitre-attack", "phase_name": p})).collect()
    }

    fn technique(stix_id: &str, mitre_id: &str, name: &str, tactics: &[&str]) -> Value {
        json!({
            "type": "attack-pattern",
            "id": stix_id,
            "created": "2020-01-14T17:18:32.126Z",
            "modified": "2025-04-15T19:58:00.000Z",
            "name": name,
            "description": format!("About {name}."),
            "external_references": [
                mitre_ref(mitre_id),
                {"source_name": "Some Blog", "description": "A reference.", "url": "https://example.com/x"}
            ],
            "kill_chain_phases": phases(tactics),
            "x_mitre_platforms": ["Windows"],
            "x_mitre_is_subtechnique": mitre_id.contains('.'),
            "x_mitre_version": "1.2",
            "x_mitre_deprecated": false,
            "revoked": false
        })
    }

    /// Tactics are listed out of matrix order on purpose; "impact" is not in the matrix; "collection" is revoked.
    fn base_objects() -> Vec<Value> {
        let mut revoked_tactic = tactic("x-mitre-tactic--col", "TA0009", "collection", "Collection");
        revoked_tactic["revoked"] = json!(true);
        let mut sub = technique(
            "attack-pattern--t1055-011",
            "T1055.011",
            "Extra Window Memory Injection",
            &["defense-evasion", "privilege-escalation"],
        );
        sub["x_mitre_platforms"] = json!(["Windows", " windows ", "WINDOWS"]);
        let mut injection = technique(
            "attack-pattern--t1055",
            "T1055",
            "Process Injection",
            &["defense-evasion", "privilege-escalation"],
        );
        injection["x_mitre_platforms"] = json!(["Windows", " Linux ", "windows", "macOS", "Network Devices", ""]);
        vec![
            json!({"type": "identity", "id": "identity--1", "name": "The MITRE Corporation"}),
            tactic("x-mitre-tactic--de", "TA0005", "defense-evasion", "Defense Evasion"),
            tactic("x-mitre-tactic--impact", "TA0040", "impact", "Impact"),
            tactic("x-mitre-tactic--exec", "TA0002", "execution", "Execution"),
            revoked_tactic,
            tactic("x-mitre-tactic--pe", "TA0004", "privilege-escalation", "Privilege Escalation"),
            json!({
                "type": "x-mitre-matrix",
                "id": "x-mitre-matrix--1",
                "name": "Enterprise ATT&CK",
                "tactic_refs": [
                    "x-mitre-tactic--exec",
                    "x-mitre-tactic--pe",
                    "x-mitre-tactic--col",
                    "x-mitre-tactic--missing",
                    "x-mitre-tactic--de"
                ]
            }),
            technique("attack-pattern--t1059", "T1059", "Command and Scripting \"Interpreter\"\n", &["execution"]),
            injection,
            sub,
            json!({
                "type": "relationship",
                "id": "relationship--1",
                "relationship_type": "subtechnique-of",
                "source_ref": "attack-pattern--t1055-011",
                "target_ref": "attack-pattern--t1055",
                "description": "with \"escapes\" \u{e9}\n"
            }),
        ]
    }

    fn bundle_20(objects: Vec<Value>) -> Value {
        json!({"type": "bundle", "id": "bundle--1", "spec_version": "2.0", "objects": objects})
    }

    /// JSON with every object's "type" first, as in the bundles MITRE publishes (serde_json's own maps
    /// sort their keys, which would put "type" near the end).
    fn to_bytes(v: &Value) -> Vec<u8> {
        fn write(v: &Value, out: &mut String) {
            match v {
                Value::Object(map) => {
                    out.push('{');
                    let ty = map.get("type").map(|t| ("type", t));
                    let rest = map.iter().filter(|(k, _)| *k != "type");
                    for (i, (k, v)) in ty.into_iter().chain(rest.map(|(k, v)| (k.as_str(), v))).enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&serde_json::to_string(k).unwrap());
                        out.push(':');
                        write(v, out);
                    }
                    out.push('}');
                }
                Value::Array(items) => {
                    out.push('[');
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        write(item, out);
                    }
                    out.push(']');
                }
                other => out.push_str(&other.to_string()),
            }
        }
        let mut out = String::new();
        write(v, &mut out);
        out.into_bytes()
    }

    fn parse_value(v: &Value) -> Result<Bundle, BundleError> {
        parse(&to_bytes(v))
    }

    fn base() -> Bundle {
        parse_value(&bundle_20(base_objects())).expect("the base fixture parses")
    }

    fn find<'b>(bundle: &'b Bundle, mitre_id: &str) -> &'b Technique {
        bundle.techniques.iter().find(|t| t.mitre_id == mitre_id).unwrap_or_else(|| panic!("{mitre_id} not parsed"))
    }

    /// The message of an Invalid, checked for the properties every message must have.
    fn invalid(bytes: &[u8]) -> String {
        match parse(bytes) {
            Ok(b) => panic!("expected Invalid, parsed {} techniques", b.techniques.len()),
            Err(BundleError::Invalid(msg)) => {
                assert!(!msg.is_empty());
                assert!(msg.len() <= 300, "message too long ({}): {msg}", msg.len());
                assert!(!msg.contains("/work") && !msg.contains(".json"), "{msg}");
                msg
            }
        }
    }

    fn invalid_value(v: &Value) -> String {
        invalid(&to_bytes(v))
    }

    #[test]
    fn parses_tactics_in_matrix_order() {
        let b = base();
        let names: Vec<(&str, &str)> = b.tactics.iter().map(|t| (t.mitre_id.as_str(), t.shortname.as_str())).collect();
        // Matrix order first (the revoked and the missing refs skipped), then unreferenced ones in bundle order.
        assert_eq!(
            names,
            [
                ("TA0002", "execution"),
                ("TA0004", "privilege-escalation"),
                ("TA0005", "defense-evasion"),
                ("TA0040", "impact"),
            ]
        );
        assert_eq!(
            b.tactics[0],
            Tactic {
                stix_id: "x-mitre-tactic--exec".into(),
                mitre_id: "TA0002".into(),
                shortname: "execution".into(),
                name: "Execution".into(),
            }
        );
    }

    #[test]
    fn technique_tactics_follow_the_matrix() {
        let b = base();
        // Given as [defense-evasion, privilege-escalation]; the matrix puts privilege-escalation first.
        assert_eq!(find(&b, "T1055").tactics, ["privilege-escalation", "defense-evasion"]);
        assert_eq!(find(&b, "T1059").tactics, ["execution"]);
    }

    #[test]
    fn unknown_and_non_mitre_phases() {
        let mut objects = base_objects();
        let mut t = technique(
            "attack-pattern--t1000",
            "T1000",
            "Phases",
            &["mystery", "defense-evasion", "execution", "mystery", "another"],
        );
        t["kill_chain_phases"]
            .as_array_mut()
            .unwrap()
            .push(json!({"kill_chain_name": "lockheed-martin-cyber-kill-chain", "phase_name": "weaponization"}));
        objects.push(t);
        let b = parse_value(&bundle_20(objects)).unwrap();
        assert_eq!(find(&b, "T1000").tactics, ["execution", "defense-evasion", "mystery", "another"]);
    }

    #[test]
    fn technique_fields() {
        let b = base();
        let t = find(&b, "T1059");
        assert_eq!(
            *t,
            Technique {
                stix_id: "attack-pattern--t1059".into(),
                mitre_id: "T1059".into(),
                name: "Command and Scripting \"Interpreter\"\n".into(),
                description: "About Command and Scripting \"Interpreter\"\n.".into(),
                tactics: vec!["execution".into()],
                platforms: vec!["windows".into()],
                is_subtechnique: false,
                parent_mitre_id: None,
                version: Some("1.2".into()),
                modified: Some("2025-04-15T19:58:00.000Z".into()),
                url: Some("https://attack.mitre.org/techniques/T1059".into()),
                revoked: false,
                deprecated: false,
            }
        );
        let ids: Vec<&str> = b.techniques.iter().map(|t| t.mitre_id.as_str()).collect();
        assert_eq!(ids, ["T1059", "T1055", "T1055.011"], "bundle order");
        assert_eq!(b.skipped_without_id, 0);
    }

    #[test]
    fn optional_fields_default() {
        let objects = vec![json!({
            "type": "attack-pattern",
            "id": "attack-pattern--bare",
            "name": "Bare",
            "external_references": [{"source_name": "mitre-attack", "external_id": "T1234"}]
        })];
        let b = parse_value(&bundle_20(objects)).unwrap();
        let t = &b.techniques[0];
        assert_eq!(t.description, "");
        assert!(t.tactics.is_empty() && t.platforms.is_empty());
        assert!(!t.is_subtechnique && !t.revoked && !t.deprecated);
        assert_eq!((&t.version, &t.modified, &t.url), (&None, &None, &None));
        assert!(b.tactics.is_empty());
        assert_eq!(b.attack_version, None);
    }

    #[test]
    fn subtechnique_has_parent() {
        let b = base();
        let t = find(&b, "T1055.011");
        assert!(t.is_subtechnique);
        assert_eq!(t.parent_mitre_id.as_deref(), Some("T1055"));
        assert_eq!(t.url.as_deref(), Some("https://attack.mitre.org/techniques/T1055/011"));
        let parent = find(&b, "T1055");
        assert!(!parent.is_subtechnique);
        assert_eq!(parent.parent_mitre_id, None);
    }

    #[test]
    fn revoked_and_deprecated_are_kept_and_flagged() {
        let mut objects = base_objects();
        let mut revoked = technique("attack-pattern--r", "T1001", "Old", &["execution"]);
        revoked["revoked"] = json!(true);
        let mut deprecated = technique("attack-pattern--d", "T1002", "Older", &["execution"]);
        deprecated["x_mitre_deprecated"] = json!(true);
        deprecated.as_object_mut().unwrap().remove("revoked");
        objects.push(revoked);
        objects.push(deprecated);
        let b = parse_value(&bundle_20(objects)).unwrap();
        let r = find(&b, "T1001");
        assert!(r.revoked && !r.deprecated);
        let d = find(&b, "T1002");
        assert!(d.deprecated && !d.revoked);
        assert_eq!(b.techniques.len(), 5);
        assert_eq!(b.techniques.iter().filter(|t| t.is_active()).count(), 3);
    }

    #[test]
    fn attack_patterns_without_a_mitre_id_are_skipped_and_counted() {
        let mut objects = base_objects();
        // No external references at all.
        objects.push(json!({"type": "attack-pattern", "id": "attack-pattern--none", "name": "No refs"}));
        // Only a non-mitre reference (CAPEC), carrying an id of the right shape.
        objects.push(json!({
            "type": "attack-pattern", "id": "attack-pattern--capec", "name": "CAPEC only",
            "external_references": [{"source_name": "capec", "external_id": "T1111", "url": "https://capec.mitre.org/"}]
        }));
        // A mitre reference without an external_id.
        objects.push(json!({
            "type": "attack-pattern", "id": "attack-pattern--noid", "name": "No id",
            "external_references": [{"source_name": "mitre-attack", "url": "https://attack.mitre.org/"}]
        }));
        // Ids of the wrong shape.
        for (i, bad) in
            ["T12", "T12345", "TA0001", "t1059", "T1059.01", "T1059-001", "T1059.0011", "X1059", "T１０５９"]
                .into_iter()
                .enumerate()
        {
            let mut t = technique(&format!("attack-pattern--bad{i}"), "T9999", "Bad", &[]);
            t["external_references"][0]["external_id"] = json!(bad);
            objects.push(t);
        }
        let b = parse_value(&bundle_20(objects)).unwrap();
        assert_eq!(b.skipped_without_id, 12);
        assert_eq!(b.techniques.len(), 3);
    }

    #[test]
    fn ics_and_mobile_sources_are_mitre_sources() {
        let mut ics =
            technique("attack-pattern--ics", "T0800", "Activate Firmware Update Mode", &["inhibit-response-function"]);
        ics["external_references"][0]["source_name"] = json!("mitre-ics-attack");
        ics["kill_chain_phases"][0]["kill_chain_name"] = json!("mitre-ics-attack");
        let mut mobile = technique("attack-pattern--mob", "T1400", "Mobile", &["persistence"]);
        mobile["external_references"][0]["source_name"] = json!("mitre-mobile-attack");
        let mut t = tactic("x-mitre-tactic--irf", "TA0107", "inhibit-response-function", "Inhibit Response Function");
        t["external_references"][0]["source_name"] = json!("mitre-ics-attack");
        let b = parse_value(&bundle_20(vec![t, ics, mobile])).unwrap();
        assert_eq!(b.tactics.len(), 1);
        assert_eq!(b.tactics[0].mitre_id, "TA0107");
        assert_eq!(find(&b, "T0800").tactics, ["inhibit-response-function"]);
        assert_eq!(find(&b, "T1400").tactics, ["persistence"]);
    }

    #[test]
    fn stix_2_0_spec_version_on_the_bundle() {
        let b = base();
        assert_eq!(b.spec_version, "2.0");
        assert_eq!(b.attack_version, None);
        // No spec_version anywhere: 2.0.
        let mut v = bundle_20(base_objects());
        v.as_object_mut().unwrap().remove("spec_version");
        assert_eq!(parse_value(&v).unwrap().spec_version, "2.0");
    }

    #[test]
    fn stix_2_1_spec_version_on_objects_and_collection_version() {
        let mut objects = vec![json!({
            "type": "x-mitre-collection",
            "id": "x-mitre-collection--1",
            "spec_version": "2.1",
            "name": "Enterprise ATT&CK",
            "x_mitre_version": "18.1",
            "x_mitre_contents": [{"object_ref": "attack-pattern--t1059", "object_modified": "2025-04-15T19:58:00.000Z"}]
        })];
        for mut o in base_objects() {
            o["spec_version"] = json!("2.1");
            objects.push(o);
        }
        // A second collection does not override the first.
        objects.push(json!({"type": "x-mitre-collection", "id": "x-mitre-collection--2", "spec_version": "2.1", "x_mitre_version": "1.0"}));
        let v = json!({"type": "bundle", "id": "bundle--2", "objects": objects});
        let b = parse_value(&v).unwrap();
        assert_eq!(b.spec_version, "2.1");
        assert_eq!(b.attack_version.as_deref(), Some("18.1"));
        // The same content otherwise.
        let b20 = base();
        assert_eq!(b.techniques, b20.techniques);
        assert_eq!(b.tactics, b20.tactics);
    }

    #[test]
    fn spec_version_of_the_first_object_even_when_unused() {
        let mut objects = base_objects();
        objects[0]["spec_version"] = json!("2.1");
        let v = json!({"type": "bundle", "id": "bundle--2", "objects": objects});
        assert_eq!(parse_value(&v).unwrap().spec_version, "2.1");
        // The bundle's own spec_version wins, even when it comes after the objects.
        let raw = format!(
            r#"{{"objects": {}, "type": "bundle", "spec_version": "2.0"}}"#,
            serde_json::to_string(&v["objects"]).unwrap()
        );
        assert_eq!(parse(raw.as_bytes()).unwrap().spec_version, "2.0");
    }

    #[test]
    fn gzip_input_gives_the_same_result() {
        let plain = to_bytes(&bundle_20(base_objects()));
        let gz = gzip(&plain);
        assert_eq!(&gz[..2], &[0x1f, 0x8b]);
        assert_eq!(parse(&gz).unwrap(), parse(&plain).unwrap());
        // Concatenated gzip members are one gzip file.
        let mut two = gzip(&plain[..100]);
        two.extend_from_slice(&gzip(&plain[100..]));
        assert_eq!(parse(&two).unwrap(), parse(&plain).unwrap());
    }

    #[test]
    fn decompress_borrows_plain_input() {
        let plain = b"{\"type\":\"bundle\"}";
        assert!(matches!(decompress(plain).unwrap(), Cow::Borrowed(b) if b == plain));
        let gz = gzip(plain);
        let out = decompress(&gz).unwrap();
        assert!(matches!(out, Cow::Owned(_)));
        assert_eq!(&*out, plain);
        // Empty gzip content.
        assert_eq!(&*decompress(&gzip(b"")).unwrap(), b"");
    }

    #[test]
    fn corrupt_gzip_is_invalid() {
        let gz = gzip(&to_bytes(&bundle_20(base_objects())));
        let msg = invalid(&gz[..gz.len() / 2]);
        assert!(msg.contains("gzip"), "{msg}");
        let mut garbled = gz.clone();
        for b in &mut garbled[20..60] {
            *b ^= 0x55;
        }
        let msg = invalid(&garbled);
        assert!(msg.contains("gzip"), "{msg}");
        let msg = invalid(&[0x1f, 0x8b]);
        assert!(msg.contains("gzip"), "{msg}");
    }

    /// Gzip of `total` zero bytes, built from repeated 1 MiB members so building it stays quick.
    fn zeros_gzip(total_mib: usize) -> Vec<u8> {
        let member = gzip(&vec![0u8; 1024 * 1024]);
        member.repeat(total_mib)
    }

    #[test]
    fn gzip_bomb_is_refused() {
        const LIMIT: usize = 1024 * 1024;
        // Streamed into the encoder in chunks, so the test never holds the decompressed size.
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..(3 * LIMIT / chunk.len()) {
            enc.write_all(&chunk).unwrap();
        }
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 64 * 1024);
        let Err(BundleError::Invalid(msg)) = decompress_with_limit(&bomb, LIMIT) else {
            panic!("the bomb was decompressed");
        };
        assert!(msg.contains("size limit") && msg.contains("1 MiB"), "{msg}");
        // Also with many small members, and just one byte over.
        assert!(decompress_with_limit(&zeros_gzip(2), LIMIT).is_err());
        let over = gzip(&vec![b' '; LIMIT + 1]);
        assert!(decompress_with_limit(&over, LIMIT).is_err());
        // Exactly at the limit is fine.
        let at = gzip(&vec![b' '; LIMIT]);
        assert_eq!(decompress_with_limit(&at, LIMIT).unwrap().len(), LIMIT);
        // A lying size trailer only changes the first allocation.
        let mut lying = gzip(b"{}");
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decompress_with_limit(&lying, LIMIT).is_err(), "the CRC/size check fails");
    }

    /// The real limit with a 600 MiB bomb; slow in debug builds and needs ~512 MiB of memory, so ignored.
    #[test]
    #[ignore]
    fn gzip_bomb_is_refused_at_the_real_limit() {
        let bomb = zeros_gzip(600);
        let started = Instant::now();
        let Err(BundleError::Invalid(msg)) = parse(&bomb) else {
            panic!("the bomb was decompressed");
        };
        println!("refused in {:?}: {msg}", started.elapsed());
        assert!(msg.contains("size limit") && msg.contains("512 MiB"), "{msg}");
    }

    #[test]
    fn truncated_json_is_invalid() {
        let plain = to_bytes(&bundle_20(base_objects()));
        for cut in [1, 10, plain.len() / 3, plain.len() / 2, plain.len() - 1] {
            let msg = invalid(&plain[..cut]);
            assert!(msg.contains("truncated"), "cut at {cut}: {msg}");
            assert!(msg.contains("line 1, column"), "cut at {cut}: {msg}");
        }
        let gz = gzip(&plain[..plain.len() / 2]);
        assert!(invalid(&gz).contains("truncated"));
    }

    #[test]
    fn invalid_json_is_invalid() {
        let msg = invalid(br#"{"type": "bundle", "objects": [}"#);
        assert!(msg.contains("not valid JSON") && msg.contains("column"), "{msg}");
        let msg = invalid(b"{\"type\": \"bundle\",\n \"objects\": [{\"type\": \"x\"} {}]}");
        assert!(msg.contains("after objects[0]") && msg.contains("line 2"), "{msg}");
        let mut trailing = to_bytes(&bundle_20(base_objects()));
        trailing.extend_from_slice(b" {}");
        assert!(invalid(&trailing).contains("trailing"));
    }

    #[test]
    fn wrong_types_are_invalid() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"type": "bundle", "objects": {}}), "expected an array"),
            (json!({"type": "bundle", "objects": null}), "expected an array"),
            (json!({"type": "bundle", "objects": "x"}), "expected an array"),
            (json!({"type": "bundle", "objects": [1]}), "objects[0]"),
            (json!({"type": "bundle", "objects": [[]]}), "objects[0]"),
            (json!({"type": 5, "objects": []}), "expected a string"),
            (json!({"type": "bundle", "spec_version": 2.0, "objects": []}), "expected a string"),
        ];
        for (v, expected) in cases {
            let msg = invalid_value(&v);
            assert!(msg.contains(expected), "{v}: {msg}");
        }
        let field_cases: Vec<(&str, Value)> = vec![
            ("name", json!(5)),
            ("description", json!(["x"])),
            ("x_mitre_platforms", json!("Windows")),
            ("x_mitre_platforms", json!(["Windows", 1])),
            ("revoked", json!("yes")),
            ("x_mitre_deprecated", json!(1)),
            ("x_mitre_is_subtechnique", json!("true")),
            ("x_mitre_version", json!(1.0)),
            ("modified", json!(20250101)),
            ("external_references", json!("T1059")),
            ("external_references", json!([{"source_name": "mitre-attack", "external_id": 1059}])),
            ("kill_chain_phases", json!([{"kill_chain_name": "mitre-attack", "phase_name": 3}])),
            ("id", json!({"a": 1})),
        ];
        for (field, value) in field_cases {
            let mut objects = base_objects();
            let idx = objects.len() - 2;
            objects[idx][field] = value.clone();
            let msg = invalid_value(&bundle_20(objects));
            assert!(
                msg.contains(&format!("objects[{idx}] (attack-pattern"))
                    && msg.contains(&format!("field \"{field}\": invalid type")),
                "{field}={value}: {msg}"
            );
            assert!(msg.contains("invalid type") && msg.contains("line 1, column"), "{msg}");
        }
        // On a tactic too, and on the matrix.
        let mut objects = base_objects();
        objects[1]["x_mitre_shortname"] = json!(false);
        assert!(invalid_value(&bundle_20(objects)).contains("field \"x_mitre_shortname\""));
        let mut objects = base_objects();
        objects[6]["tactic_refs"] = json!([1, 2]);
        assert!(invalid_value(&bundle_20(objects)).contains("field \"tactic_refs\""));
        // The type of an object itself.
        let mut objects = base_objects();
        objects[2]["type"] = json!(["attack-pattern"]);
        assert!(invalid_value(&bundle_20(objects)).contains("objects[2], field \"type\""));
        // A duplicated field.
        let raw = r#"{"type":"bundle","objects":[{"type":"attack-pattern","name":"a","name":"b"}]}"#;
        assert!(invalid(raw.as_bytes()).contains("duplicate field `name`"));
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let mut objects = base_objects();
        let idx = objects.len() - 2;
        objects[idx]["revoked"] = json!("x".repeat(5000));
        let msg = invalid_value(&bundle_20(objects));
        assert!(msg.ends_with(')') && msg.contains("(line 1, column"), "{msg}");
        // A long id and a long value: still one short message, ending with the position.
        let mut objects = base_objects();
        objects[idx]["id"] = json!(format!("attack-pattern--{}", "a".repeat(500)));
        objects[idx]["x_mitre_is_subtechnique"] = json!("y".repeat(5000));
        let msg = invalid_value(&bundle_20(objects));
        assert!(msg.contains("attack-pattern--aaa") && msg.contains("...") && msg.ends_with(')'), "{msg}");
        let v = json!({"type": "y".repeat(1000), "objects": []});
        assert!(invalid_value(&v).contains("expected \"bundle\""));
    }

    #[test]
    fn not_a_bundle_is_invalid() {
        for (input, expected) in [
            (&br#"{"type":"foo"}"#[..], "\"type\" is \"foo\", expected \"bundle\""),
            (br#"{"type":"foo","objects":[]}"#, "expected \"bundle\""),
            (b"[]", "expected a JSON object with \"type\": \"bundle\""),
            (b"\"x\"", "expected a JSON object"),
            (b"42", "expected a JSON object"),
            (b"null", "expected a JSON object"),
            (b"", "empty"),
            (b"  \n ", "empty"),
            (br#"{"objects": []}"#, "no \"type\": \"bundle\""),
            (br#"{}"#, "no \"type\": \"bundle\""),
            (br#"{"type":"bundle"}"#, "no \"objects\" array"),
            (b"hello", "not valid JSON"),
            (b"\x00\x01\x02", "not valid JSON"),
        ] {
            let msg = invalid(input);
            assert!(msg.contains(expected), "{:?}: {msg}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn zero_techniques_is_invalid() {
        let msg = invalid_value(&bundle_20(vec![]));
        assert_eq!(msg, "the bundle holds no ATT&CK techniques");
        let only_tactics: Vec<Value> = base_objects().into_iter().filter(|o| o["type"] != "attack-pattern").collect();
        assert_eq!(invalid_value(&bundle_20(only_tactics)), "the bundle holds no ATT&CK techniques");
        let unusable = vec![json!({"type": "attack-pattern", "id": "attack-pattern--x", "name": "x"})];
        assert_eq!(invalid_value(&bundle_20(unusable)), "the bundle holds no ATT&CK techniques");
        // Some unrelated STIX data.
        let v = json!({"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--1", "pattern": "[x]"}]});
        assert_eq!(invalid_value(&v), "the bundle holds no ATT&CK techniques");
        // Only revoked techniques.
        let mut revoked = technique("attack-pattern--r", "T1001", "Old", &[]);
        revoked["revoked"] = json!(true);
        let msg = invalid_value(&bundle_20(vec![revoked]));
        assert!(msg.contains("no active ATT&CK techniques"), "{msg}");
    }

    #[test]
    fn duplicate_active_ids_are_invalid() {
        let mut objects = base_objects();
        objects.push(technique("attack-pattern--other", "T1059", "Again", &["execution"]));
        let msg = invalid_value(&bundle_20(objects));
        assert!(
            msg.contains("T1059") && msg.contains("attack-pattern--t1059") && msg.contains("attack-pattern--other"),
            "{msg}"
        );
    }

    #[test]
    fn an_active_technique_wins_over_revoked_or_deprecated_ones() {
        let mut objects = base_objects();
        let mut revoked_before = technique("attack-pattern--old", "T1055", "Old injection", &[]);
        revoked_before["revoked"] = json!(true);
        objects.insert(1, revoked_before);
        let mut deprecated_after = technique("attack-pattern--dep", "T1059", "Old shell", &[]);
        deprecated_after["x_mitre_deprecated"] = json!(true);
        objects.push(deprecated_after);
        let mut r1 = technique("attack-pattern--r1", "T1003", "First", &[]);
        r1["revoked"] = json!(true);
        let mut r2 = technique("attack-pattern--r2", "T1003", "Second", &[]);
        r2["x_mitre_deprecated"] = json!(true);
        objects.push(r1);
        objects.push(r2);
        let b = parse_value(&bundle_20(objects)).unwrap();
        let ids: Vec<(&str, &str)> = b.techniques.iter().map(|t| (t.mitre_id.as_str(), t.stix_id.as_str())).collect();
        assert_eq!(
            ids,
            [
                ("T1059", "attack-pattern--t1059"),
                ("T1055", "attack-pattern--t1055"),
                ("T1055.011", "attack-pattern--t1055-011"),
                ("T1003", "attack-pattern--r1"),
            ]
        );
    }

    #[test]
    fn platforms_are_lowercased_trimmed_and_deduplicated() {
        let b = base();
        assert_eq!(find(&b, "T1055").platforms, ["windows", "linux", "macos", "network devices"]);
        assert_eq!(find(&b, "T1055.011").platforms, ["windows"]);
    }

    #[test]
    fn unknown_types_and_fields_are_ignored() {
        let mut objects = base_objects();
        // Unknown types with fields the parser would read on a technique, of other types.
        objects.push(json!({"type": "x-custom-thing", "id": 7, "name": 5, "x_mitre_platforms": "all",
            "external_references": {"a": [1, 2, {"b": null}]}, "revoked": "no"}));
        objects.push(json!({"type": "malware", "name": ["x"], "description": {"nested": [true, 1.5e10, null]}}));
        objects.push(json!({"type": "marking-definition", "definition": {"statement": "\u{2603} \"quoted\""}}));
        // An object without a type.
        objects.push(json!({"id": "nothing--1", "name": "No type"}));
        // Unknown fields on the objects that are read.
        for o in &mut objects {
            if o["type"] == "attack-pattern" || o["type"] == "x-mitre-tactic" {
                o["x_custom_field"] = json!({"deep": [[[1], {"k": "v"}], "\\u0000"]});
                o["x_mitre_detection"] = json!(12);
            }
        }
        // A second matrix does not change the order, even with bad refs.
        objects.push(json!({"type": "x-mitre-matrix", "tactic_refs": "x-mitre-tactic--de"}));
        let b = parse_value(&bundle_20(objects)).unwrap();
        assert_eq!(b.techniques, base().techniques);
        assert_eq!(b.tactics, base().tactics);
        assert_eq!(b.skipped_without_id, 0);
        // Unknown top-level bundle fields.
        let mut v = bundle_20(base_objects());
        v["x_extra"] = json!([{"type": "attack-pattern"}]);
        assert_eq!(parse_value(&v).unwrap(), base());
    }

    #[test]
    fn type_need_not_be_the_first_field() {
        // Serialize objects with "type" last, by hand.
        let mut out = String::from(r#"{"objects":["#);
        for (i, o) in base_objects().into_iter().enumerate() {
            let mut map = o.as_object().unwrap().clone();
            let ty = map.remove("type").unwrap();
            let mut s = serde_json::to_string(&map).unwrap();
            s.pop();
            s.push_str(&format!(r#","type":{ty}}}"#));
            if i > 0 {
                out.push(',');
            }
            out.push_str(&s);
        }
        out.push_str(r#"],"spec_version":"2.0","type":"bundle"}"#);
        assert_eq!(parse(out.as_bytes()).unwrap(), base());
        // serde_json's own serialization sorts keys, so "type" comes late there too.
        assert_eq!(parse(&serde_json::to_vec(&bundle_20(base_objects())).unwrap()).unwrap(), base());
        // Documented limit: before "type" is known, the fields the parser reads are typed as STIX types
        // them, even on an object that turns out to be unused.
        let raw = r#"{"type":"bundle","objects":[{"name":5,"type":"x-custom"}]}"#;
        let msg = invalid(raw.as_bytes());
        assert!(msg.contains("objects[0], field \"name\""), "{msg}");
        // The error names the object by its id when the id came first.
        let raw = r#"{"type":"bundle","objects":[{"id":"attack-pattern--9","name":5,"type":"attack-pattern"}]}"#;
        let msg = invalid(raw.as_bytes());
        assert!(msg.contains("objects[0] (attack-pattern--9), field \"name\""), "{msg}");
    }

    #[test]
    fn escapes_and_byte_order_mark() {
        let mut v = bundle_20(base_objects());
        v["objects"][7]["id"] = json!("attack-pattern--\u{e9}t\"1059");
        let text = serde_json::to_string(&v).unwrap().replace('\u{e9}', "\\u00e9");
        assert!(text.contains("\\u00e9"));
        let mut bytes = b"\xEF\xBB\xBF".to_vec();
        bytes.extend_from_slice(text.as_bytes());
        let b = parse(&bytes).unwrap();
        assert_eq!(find(&b, "T1059").stix_id, "attack-pattern--\u{e9}t\"1059");
    }

    #[test]
    fn id_shapes() {
        for ok in ["T1059", "T0800", "T1059.001", "T0000.000"] {
            assert!(is_technique_id(ok), "{ok}");
        }
        for bad in
            ["", "T", "T105", "T10599", "T1059.", "T1059.1", "T1059.0001", "T1059,001", "TA005", "T105a", "t1059"]
        {
            assert!(!is_technique_id(bad), "{bad}");
        }
        for ok in ["TA0002", "TA0104"] {
            assert!(is_tactic_id(ok), "{ok}");
        }
        for bad in ["", "TA002", "TA00020", "T0002", "ta0002", "TA00x2", "TB0002"] {
            assert!(!is_tactic_id(bad), "{bad}");
        }
    }

    #[test]
    fn tactics_without_a_valid_id_or_repeated_are_skipped() {
        let mut objects = base_objects();
        let mut no_id = tactic("x-mitre-tactic--noid", "T0001", "nothing", "Nothing");
        no_id["external_references"][0]["source_name"] = json!("mitre-attack");
        objects.push(no_id);
        let mut deprecated = tactic("x-mitre-tactic--dep", "TA0099", "old", "Old");
        deprecated["x_mitre_deprecated"] = json!(true);
        objects.push(deprecated);
        objects.push(tactic("x-mitre-tactic--again", "TA0098", "execution", "Execution again"));
        let b = parse_value(&bundle_20(objects)).unwrap();
        assert_eq!(b.tactics, base().tactics);
    }

    // ---- The real ATT&CK data, when it is beside the checkout ----

    const ENTERPRISE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/attack/enterprise-attack.json.gz");
    const ICS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data/attack/ics-attack.json.gz");

    fn read_real(path: &str, name: &str) -> Option<Vec<u8>> {
        match std::fs::read(path) {
            Ok(bytes) => Some(bytes),
            Err(_) => {
                println!(
                    "skipping: ../shared/data/attack/{name} not found (real ATT&CK data lives beside the checkout)"
                );
                None
            }
        }
    }

    #[test]
    fn real_enterprise_bundle() {
        let Some(bytes) = read_real(ENTERPRISE, "enterprise-attack.json.gz") else {
            return;
        };
        let b = parse(&bytes).unwrap();
        assert_eq!(b.spec_version, "2.0");
        assert_eq!(b.attack_version, None);
        assert_eq!(b.skipped_without_id, 0);
        assert_eq!(b.techniques.len(), 835);
        let active: Vec<&Technique> = b.techniques.iter().filter(|t| t.is_active()).collect();
        assert_eq!(active.len(), 691);
        assert_eq!(active.iter().filter(|t| !t.is_subtechnique).count(), 216);
        assert_eq!(active.iter().filter(|t| t.is_subtechnique).count(), 475);
        assert_eq!(b.techniques.iter().filter(|t| t.revoked).count(), 132);
        assert_eq!(b.techniques.iter().filter(|t| t.deprecated).count(), 12);

        let shortnames: Vec<&str> = b.tactics.iter().map(|t| t.shortname.as_str()).collect();
        assert_eq!(
            shortnames,
            [
                "reconnaissance",
                "resource-development",
                "initial-access",
                "execution",
                "persistence",
                "privilege-escalation",
                "defense-evasion",
                "credential-access",
                "discovery",
                "lateral-movement",
                "collection",
                "command-and-control",
                "exfiltration",
                "impact",
            ]
        );
        assert_eq!(b.tactics[0].mitre_id, "TA0043");
        assert_eq!(b.tactics[13].mitre_id, "TA0040");
        assert_eq!(b.tactics[3].name, "Execution");

        let t1059 = find(&b, "T1059");
        assert_eq!(t1059.tactics, ["execution"]);
        assert_eq!(t1059.name, "Command and Scripting Interpreter");
        assert!(t1059.is_active() && !t1059.is_subtechnique);
        assert_eq!(t1059.url.as_deref(), Some("https://attack.mitre.org/techniques/T1059"));
        let t = find(&b, "T1055.011");
        assert_eq!(t.parent_mitre_id.as_deref(), Some("T1055"));
        assert!(t.is_subtechnique);
        // The bundle lists [defense-evasion, privilege-escalation]; the matrix puts privilege-escalation first.
        assert_eq!(t.tactics, ["privilege-escalation", "defense-evasion"]);
        assert_eq!(t.platforms, ["windows"]);
        // Every sub-technique's parent is in the bundle, and the ids are unique.
        let ids: std::collections::HashSet<&str> = b.techniques.iter().map(|t| t.mitre_id.as_str()).collect();
        assert_eq!(ids.len(), b.techniques.len());
        for t in &active {
            if let Some(parent) = &t.parent_mitre_id {
                assert!(ids.contains(parent.as_str()), "{} has no parent", t.mitre_id);
            }
            assert!(!t.tactics.is_empty(), "{} has no tactic", t.mitre_id);
        }
    }

    #[test]
    fn real_ics_bundle() {
        let Some(bytes) = read_real(ICS, "ics-attack.json.gz") else {
            return;
        };
        let b = parse(&bytes).unwrap();
        assert_eq!(b.spec_version, "2.1");
        assert_eq!(b.attack_version.as_deref(), Some("18.1"));
        assert_eq!(b.tactics.len(), 12);
        assert_eq!(b.tactics[0].shortname, "initial-access");
        assert_eq!(b.tactics[0].mitre_id, "TA0108");
        assert_eq!(b.tactics[11].shortname, "impact");
        // All 95 attack-patterns have a valid id (83 under mitre-attack, 12 deprecated ones under mitre-ics-attack).
        assert_eq!(b.techniques.len(), 95);
        assert_eq!(b.skipped_without_id, 0);
        assert_eq!(b.techniques.iter().filter(|t| t.is_active()).count(), 83);
        assert_eq!(b.techniques.iter().filter(|t| t.deprecated).count(), 12);
        assert!(b.techniques.iter().all(|t| !t.is_subtechnique));
        assert!(b.techniques.iter().all(|t| t.mitre_id.starts_with("T0")));
    }

    /// Prints how long parsing the real Enterprise bundle takes next to a bare IgnoredAny pass:
    /// `cargo test --lib attack::stix::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn timing() {
        let Some(bytes) = read_real(ENTERPRISE, "enterprise-attack.json.gz") else {
            return;
        };
        let best = |f: &dyn Fn()| {
            (0..3)
                .map(|_| {
                    let started = Instant::now();
                    f();
                    started.elapsed()
                })
                .min()
                .unwrap()
        };
        let json = decompress(&bytes).unwrap().into_owned();
        let unzip = best(&|| {
            decompress(&bytes).unwrap();
        });
        let ignored = best(&|| {
            serde_json::from_slice::<IgnoredAny>(&json).unwrap();
        });
        let ours = best(&|| {
            parse_json(&json).unwrap();
        });
        let value = best(&|| {
            serde_json::from_slice::<Value>(&json).unwrap();
        });
        println!(
            "{} MB: gunzip {unzip:?}; IgnoredAny {ignored:?}; parse (JSON only) {ours:?} ({:.2}x); serde_json::Value {value:?}",
            json.len() / 1_000_000,
            ours.as_secs_f64() / ignored.as_secs_f64()
        );
    }
}
