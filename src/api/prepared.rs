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
