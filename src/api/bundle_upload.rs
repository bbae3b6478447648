//! The optional multipart `file` of `POST /system/sync-mitre`: read while counting bytes, so an
//! oversized upload is refused as it arrives rather than spooled to disk first.

use poem::web::Multipart;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use tokio::io::AsyncReadExt;

use crate::api::multipart;
use crate::attack::source::MAX_SOURCE_BYTES;
use crate::error::{ApiError, AppError};

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
        if !multipart::is_multipart_form(request) {
            return Ok(OptionalBundleUpload(None));
        }
        let mut form = <Multipart as FromRequest>::from_request(request, body).await?;
        let field = multipart::find_field(&mut form, "file")
            .await
            .map_err(ApiError::<0>::from)?
            .ok_or_else(|| ApiError::<0>::from(AppError::validation("the multipart body has no 'file' field")))?;
        let mut bytes = Vec::new();
        field
            .into_async_read()
            .take(MAX_SOURCE_BYTES + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|err| ApiError::<0>::from(AppError::validation(format!("reading the upload: {err}"))))?;
        if bytes.len() as u64 > MAX_SOURCE_BYTES {
            let detail = format!("the bundle is larger than {} MiB", MAX_SOURCE_BYTES / 1024 / 1024);
            return Err(ApiError::<0>::from(AppError::PayloadTooLarge(detail)).into());
        }
        Ok(OptionalBundleUpload(Some(bytes)))
    }
}
