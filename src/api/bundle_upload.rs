//! The optional multipart `file` of `POST /system/sync-mitre`: read while counting bytes, so an
//! oversized upload is refused as it arrives rather than spooled to disk first.

use poem::{Request, RequestBody};
use poem_openapi::payload::Payload;
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::api::multipart;
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
        if !multipart::is_multipart_form(request) {
            return Ok(OptionalBundleUpload(None));
        }
        let (_, bytes) =
            multipart::read_file(request, body, MAX_SOURCE_BYTES, "the bundle").await.map_err(ApiError::<0>::from)?;
        Ok(OptionalBundleUpload(Some(bytes)))
    }
}
