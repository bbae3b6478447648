//! Responses rendered once and sent many times: the technique list and the coverage metrics, kept
//! for as long as the catalogue version (a counter the database's triggers keep) stays the same.
//!
//! Why: the list is 691 techniques (~230 KB of JSON) that change a few times a day but are read on
//! every page of the UI; rendering it per request cost milliseconds, sending prepared bytes costs
//! microseconds. The bytes are exactly what `Json<T>` would have sent (the same `ToJSON` and
//! serde_json), and the OpenAPI document still describes `T`.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{ApiResponse, payload::Json};

use crate::error::AppError;
use crate::service::catalogue::TechniqueCatalogue;

/// A JSON body serialised ahead of time, documented as `T`.
pub struct PreparedJson<T> {
    body: Bytes,
    documents: PhantomData<fn() -> T>,
}

impl<T: ToJSON> PreparedJson<T> {
    pub fn new(body: Bytes) -> Self {
        PreparedJson { body, documents: PhantomData }
    }

    /// Renders `value` as `Json<T>` would.
    pub fn render(value: &T) -> Bytes {
        Bytes::from(render_json(value))
    }

    /// `value` written straight to JSON with serde, for large bodies rendered per request: the same
    /// JSON value as `Json<T>` (its `ToJSON` goes through a `serde_json::Value` tree, a few allocations
    /// per field; tests check the two agree), with the keys in declaration order rather than sorted.
    pub fn serialize(value: &T) -> Result<Self, AppError>
    where
        T: serde::Serialize,
    {
        let body = serde_json::to_vec(value)
            .map_err(|err| AppError::Internal(anyhow::Error::new(err).context("serialising a response")))?;
        Ok(PreparedJson::new(Bytes::from(body)))
    }
}

impl<T> Clone for PreparedJson<T> {
    fn clone(&self) -> Self {
        PreparedJson { body: self.body.clone(), documents: PhantomData }
    }
}

fn render_json<T: ToJSON>(value: &T) -> Vec<u8> {
    serde_json::to_vec(&value.to_json()).expect("a serde_json Value always serialises")
}

impl<T: Type> Payload for PreparedJson<T> {
    const CONTENT_TYPE: &'static str = <Json<T> as Payload>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> IntoResponse for PreparedJson<T> {
    fn into_response(self) -> Response {
        Response::builder().content_type(<Json<serde_json::Value> as Payload>::CONTENT_TYPE).body(self.body)
    }
}

impl<T: Type + Send> ApiResponse for PreparedJson<T> {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![MetaResponse {
                description: "",
                status: Some(200),
                status_range: None,
                content: vec![MetaMediaType { content_type: Self::CONTENT_TYPE, schema: Self::schema_ref() }],
                headers: vec![],
            }],
        }
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

/// One value derived from the catalogue, with the version it was derived at.
pub struct Versioned<T> {
    slot: Mutex<Option<(i64, Arc<T>)>>,
}

impl<T> Default for Versioned<T> {
    fn default() -> Self {
        Versioned { slot: Mutex::new(None) }
    }
}

impl<T> Versioned<T> {
    /// The value, if it was derived at exactly `version`.
    pub fn get(&self, version: i64) -> Option<Arc<T>> {
        let slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        slot.as_ref().filter(|(at, _)| *at == version).map(|(_, value)| value.clone())
    }

    /// Keeps `value`, derived at `version`, unless a newer one is already kept.
    pub fn put(&self, version: i64, value: Arc<T>) {
        let mut slot = self.slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.as_ref().is_none_or(|(at, _)| *at <= version) {
            *slot = Some((version, value));
        }
    }

    /// The value kept for `version`; otherwise `derive`'s, kept under the version it reports (at least
    /// `version`: it reads the database after the caller read the version).
    pub async fn get_or_derive<F>(&self, version: i64, derive: F) -> Result<Arc<T>, AppError>
    where
        F: Future<Output = Result<(i64, T), AppError>>,
    {
        if let Some(value) = self.get(version) {
            return Ok(value);
        }
        let (derived_at, value) = derive.await?;
        let value = Arc::new(value);
        self.put(derived_at, value.clone());
        Ok(value)
    }
}

/// The technique list rendered: each technique's JSON alone (any filter joins a selection of them)
/// and the unfiltered list whole.
pub struct TechniqueList {
    pub catalogue: TechniqueCatalogue,
    fragments: Vec<Vec<u8>>,
    /// Active techniques, no filter: what the UI asks for.
    pub unfiltered: Bytes,
}

impl TechniqueList {
    pub fn render<S: ToJSON>(
        catalogue: TechniqueCatalogue,
        to_summary: impl Fn(&crate::db::catalogue::TechniqueRow) -> S,
    ) -> Self {
        let fragments: Vec<Vec<u8>> =
            catalogue.techniques.iter().map(|technique| render_json(&to_summary(technique))).collect();
        let active =
            catalogue.select(&Default::default()).expect("the empty filter names no tactic, so it always applies");
        let mut list = TechniqueList { catalogue, fragments, unfiltered: Bytes::new() };
        list.unfiltered = list.join(&active);
        list
    }

    /// `[` the selected fragments `]`: byte for byte what rendering the selected list would give.
    pub fn join(&self, selected: &[usize]) -> Bytes {
        let size = selected.iter().map(|&index| self.fragments[index].len() + 1).sum::<usize>() + 2;
        let mut body = Vec::with_capacity(size);
        body.push(b'[');
        for (position, &index) in selected.iter().enumerate() {
            if position > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&self.fragments[index]);
        }
        body.push(b']');
        Bytes::from(body)
    }
}

/// What the API keeps rendered between catalogue changes.
#[derive(Default)]
pub struct CatalogueViews {
    pub techniques: Versioned<TechniqueList>,
    pub metrics_summary: Versioned<Bytes>,
    pub metrics_by_tactic: Versioned<Bytes>,
}

#[cfg(test)]
mod tests {
    //! `PreparedJson::serialize` must send the JSON `Json<T>` would: the same value for every field,
    //! set and unset.

    use poem_openapi::types::{Example, ToJSON};

    use crate::api::audit::{AuditLogOut, AuditLogPage};
    use crate::api::evidence::EvidenceOut;
    use crate::api::intel::IntelItemOut;
    use crate::api::techniques::{ReviewInfo, ReviewReason, SubtechniqueSummary, TechniqueDetailOut};
    use crate::api::tests::{TestDetailOut, TestOut};
    use crate::service::coverage::CoverageStatus;
    use crate::service::tests::{TestResult, TestState};

    fn assert_same_json<T: ToJSON + serde::Serialize>(value: &T) {
        let by_serde: serde_json::Value = serde_json::from_slice(&serde_json::to_vec(value).unwrap()).unwrap();
        assert_eq!(by_serde, value.to_json().unwrap());
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    fn test_out(validated: bool) -> TestOut {
        let set = |text: &str| if validated { some(text) } else { None };
        TestOut {
            id: "t1".into(),
            technique_id: "q1".into(),
            technique_mitre_id: "T1059.001".into(),
            technique_name: "PowerShell".into(),
            name: "Encoded command".into(),
            description: "Runs \"-enc\" with a\nnewline and ünïcode".into(),
            platform: "windows".into(),
            procedure_text: "powershell -enc …".into(),
            tool_used: "Atomic Red Team".into(),
            state: if validated { TestState::Validated } else { TestState::Draft },
            result: validated.then_some(TestResult::PartiallyDetected),
            validation_comments: set("EDR alert, no SIEM rule"),
            validated_by: set("u2"),
            validated_by_username: set("blue.lead"),
            validated_at: set("2026-12-04T10:00:00Z"),
            rejection_comments: set("first try lacked evidence"),
            rejected_by: set("u3"),
            rejected_by_username: set("red.lead"),
            rejected_at: set("2026-12-03T10:00:00Z"),
            created_by: "u1".into(),
            created_by_username: "red.tech".into(),
            created_at: "2026-12-01T10:00:00Z".into(),
            updated_at: "2026-12-04T10:00:00Z".into(),
            evidence_count: i64::from(validated),
        }
    }

    #[test]
    fn a_technique_detail_set_and_unset() {
        for full in [true, false] {
            let set = |text: &str| if full { some(text) } else { None };
            assert_same_json(&TechniqueDetailOut {
                id: "q1".into(),
                mitre_id: "T1059".into(),
                name: "Command and Scripting Interpreter".into(),
                description: "Adversaries may abuse [interpreters](https://attack.mitre.org)".into(),
                tactic: set("execution"),
                tactics: if full { vec!["execution".into(), "persistence".into()] } else { Vec::new() },
                platforms: vec!["windows".into(), "linux".into()],
                status_global: if full { CoverageStatus::NotCovered } else { CoverageStatus::NotEvaluated },
                review_required: full,
                review: ReviewInfo {
                    required: full,
                    reasons: vec![ReviewReason {
                        source: "intel".into(),
                        reason: "named by new reporting".into(),
                        reference: set("item-1"),
                        flagged_at: "2026-12-04T09:00:00Z".into(),
                    }],
                    last_reviewed_by: set("blue.lead"),
                    last_reviewed_by_id: set("u2"),
                    last_reviewed_at: set("2026-12-02T09:00:00Z"),
                },
                is_subtechnique: !full,
                parent_mitre_id: set("T1059"),
                subtechniques: vec![SubtechniqueSummary {
                    mitre_id: "T1059.001".into(),
                    name: "PowerShell".into(),
                    status_global: CoverageStatus::InProgress,
                }],
                url: set("https://attack.mitre.org/techniques/T1059"),
                attack_object_version: set("2.5"),
                attack_modified: set("2025-10-24T17:48:20.000Z"),
                revoked: false,
                deprecated: full,
                test_count: 2,
                tests: vec![test_out(true), test_out(false)],
                intel_items: vec![IntelItemOut {
                    id: "i1".into(),
                    feed_id: "f1".into(),
                    feed_name: "CISA".into(),
                    title: "Advisory".into(),
                    link: set("https://example.org/a"),
                    published: set("2026-12-01T00:00:00Z"),
                    summary: "Mentions T1059".into(),
                    technique_ids: vec!["T1059".into()],
                    fetched_at: "2026-12-04T00:00:00Z".into(),
                }],
                created_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-12-04T00:00:00Z".into(),
            });
        }
    }

    #[test]
    fn a_test_with_its_evidence() {
        for validated in [true, false] {
            assert_same_json(&TestDetailOut {
                test: test_out(validated),
                evidences: vec![EvidenceOut {
                    id: "e1".into(),
                    test_id: "t1".into(),
                    file_name: "edr timeline.png".into(),
                    sha256_hash: "ab".repeat(32),
                    size_bytes: 1234,
                    content_type: if validated { some("image/png") } else { None },
                    uploaded_by: "u1".into(),
                    uploaded_by_username: "red.tech".into(),
                    uploaded_at: "2026-12-04T10:00:00Z".into(),
                    download_url: "http://127.0.0.1:8000/api/v1/evidence/e1/download?expires=1&sig=00".into(),
                }],
            });
        }
    }

    #[test]
    fn an_audit_page() {
        let mut unattributed = AuditLogOut::example();
        unattributed.user_id = None;
        unattributed.entity_id = None;
        unattributed.details = serde_json::json!({});
        assert_same_json(&AuditLogPage {
            items: vec![AuditLogOut::example(), unattributed],
            total: 2,
            offset: 0,
            limit: 50,
        });
    }
}
