//! The optional multipart `file` of `POST /system/sync-mitre`: read while counting bytes, so an
//! oversized upload is refused as it arrives rather than spooled to disk first.

use poem::http::StatusCode;
use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tokio::io::AsyncReadExt;

use crate::attack::source::MAX_SOURCE_BYTES;
use crate::error::ApiError;

/// Documents the form; the extractor below does the reading.
#[derive(poem_openapi::Multipart)]
#[allow(dead_code)]
struct BundleUploadForm {
    /// A STIX 2.0 or 2.1 bundle, `.json` or `.json.gz`.
    file: Upload,
}

/// `Some(bytes)` when the request carried a multipart `file`, `None` for an empty body.
pub struct OptionalBundleUpload(pub Option<Vec<u8>>);

impl<'a> ApiExtractor<'a> for OptionalBundleUpload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <BundleUploadForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "Optional: a bundle to sync from instead of the configured source (air-gapped installs).",
            ),
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: BundleUploadForm::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let is_multipart = request
            .content_type()
            .is_some_and(|content_type| content_type.to_ascii_lowercase().starts_with("multipart/form-data"));
        if !is_multipart {
            return Ok(OptionalBundleUpload(None));
        }
        let mut multipart = <Multipart as FromRequest>::from_request(request, body).await?;
        while let Some(field) = multipart.next_field().await? {
            if field.name() != Some("file") {
                continue;
            }
            let mut bytes = Vec::new();
            field.into_async_read().take(MAX_SOURCE_BYTES + 1).read_to_end(&mut bytes).await.map_err(|err| {
                poem::Error::from(ApiError::<0>::new(
                    StatusCode::BAD_REQUEST,
                    "VALIDATION_ERROR",
                    format!("reading the upload: {err}"),
                ))
            })?;
            if bytes.len() as u64 > MAX_SOURCE_BYTES {
                return Err(ApiError::<0>::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PAYLOAD_TOO_LARGE",
                    format!("the bundle is larger than {} MiB", MAX_SOURCE_BYTES / 1024 / 1024),
                )
                .into());
            }
            return Ok(OptionalBundleUpload(Some(bytes)));
        }
        Err(ApiError::<0>::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", "the multipart body has no 'file' field")
            .into())
    }
}
