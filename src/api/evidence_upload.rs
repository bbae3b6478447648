//! The multipart `file` of an evidence upload. The extractor only opens the multipart stream; the
//! handler checks the caller's rights first and then streams the file into the store, so no byte
//! is written for a request that will be refused.

use poem::http::StatusCode;
use poem::web::{Field, Multipart};
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::api::multipart;
use crate::app::AppState;
use crate::error::{ApiError, AppError};

/// Documents the form; the extractor below does the reading.
#[derive(poem_openapi::Multipart)]
#[allow(dead_code)]
struct EvidenceForm {
    /// The evidence file: a screenshot, a log, a capture. Its name is kept as metadata only.
    file: Upload,
}

pub struct EvidenceUpload(Multipart);

impl EvidenceUpload {
    /// The `file` field; the fields before it are held to a small size.
    pub async fn file_field(mut self) -> Result<Field, AppError> {
        multipart::find_field(&mut self.0, "file")
            .await?
            .ok_or_else(|| AppError::validation("the multipart body has no 'file' field"))
    }
}

impl<'a> ApiExtractor<'a> for EvidenceUpload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <EvidenceForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("`multipart/form-data` with the evidence in the field `file`."),
            content: vec![MetaMediaType { content_type: "multipart/form-data", schema: EvidenceForm::schema_ref() }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !multipart::is_multipart_form(request) {
            return Err(ApiError::<0>::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "evidence is uploaded as multipart/form-data with the field 'file'",
            )
            .into());
        }
        // A declared length over the limit is refused before a byte is read; an undeclared
        // (chunked) one is counted while the file streams.
        let max = request.data::<AppState>().map_or(u64::MAX, |state| state.config.max_upload_bytes);
        let declared = request.header("content-length").and_then(|length| length.trim().parse::<u64>().ok());
        if declared.is_some_and(|length| length > max.saturating_add(multipart::OTHER_FIELDS_LIMIT)) {
            return Err(ApiError::<0>::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                format!("evidence files are limited to {} MiB", max / 1024 / 1024),
            )
            .into());
        }
        Ok(EvidenceUpload(<Multipart as FromRequest>::from_request(request, body).await?))
    }
}
