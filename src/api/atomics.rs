//! Atomic Red Team: importing the procedure library (`POST /import/atomic-red-team`) and listing
//! a technique's atomics (`GET /techniques/{mitre_id}/atomics`).

use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Path;
use poem_openapi::payload::{Json, Payload};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::multipart::Upload;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions, Object, OpenApi};

use crate::api::{ApiTags, multipart};
use crate::app::AppState;
use crate::auth::{BearerAuth, Permission};
use crate::error::{ApiError, AppError, documented::*};
use crate::service::atomics::{self, AtomicRow, ImportReport, MAX_UPLOAD_BYTES};

pub struct AtomicsApi;

/// Documents the form; the extractor below does the reading.
#[derive(poem_openapi::Multipart)]
#[allow(dead_code)]
struct AtomicsUploadForm {
    /// A `.tar.gz`/`.tgz` or `.zip` of the `atomics/` folder, or one technique file (`T1059.001.yaml`).
    file: Upload,
}

/// The multipart `file`, read while counting bytes: over 64 MiB is refused as it arrives.
pub struct AtomicsUpload {
    pub file_name: Option<String>,
    pub bytes: Vec<u8>,
}

impl<'a> ApiExtractor<'a> for AtomicsUpload {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        <AtomicsUploadForm as Payload>::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some("The Atomic Red Team files, as multipart field `file`."),
            content: vec![MetaMediaType {
                content_type: "multipart/form-data",
                schema: AtomicsUploadForm::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _options: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        if !multipart::is_multipart_form(request) {
            return Err(ApiError::<0>::from(AppError::validation(
                "send the file as multipart/form-data, field 'file'",
            ))
            .into());
        }
        let (file_name, bytes) =
            multipart::read_file(request, body, MAX_UPLOAD_BYTES, "the upload").await.map_err(ApiError::<0>::from)?;
        Ok(AtomicsUpload { file_name, bytes })
    }
}

/// A technique file that could not be read; the others were imported.
#[derive(Debug, Object)]
pub struct ImportFileError {
    pub file: String,
    pub error: String,
}

#[derive(Debug, Object)]
pub struct AtomicsImportReport {
    /// Atomic tests new to the library.
    pub imported: u64,
    /// Atomic tests already known whose content changed.
    pub updated: u64,
    /// Atomic tests already known, unchanged.
    pub unchanged: u64,
    /// Atomic tests without `auto_generated_guid`, not imported.
    pub skipped: u64,
    /// Distinct ATT&CK ids among the atomic tests read.
    pub techniques: u64,
    /// Technique files read.
    pub files: u64,
    pub errors: Vec<ImportFileError>,
}

impl From<ImportReport> for AtomicsImportReport {
    fn from(report: ImportReport) -> Self {
        AtomicsImportReport {
            imported: report.imported,
            updated: report.updated,
            unchanged: report.unchanged,
            skipped: report.skipped,
            techniques: report.techniques,
            files: report.files,
            errors: report.errors.into_iter().map(|e| ImportFileError { file: e.file, error: e.error }).collect(),
        }
    }
}

/// An Atomic Red Team test: a procedure, not a red-team test of this install.
#[derive(Debug, Object)]
pub struct AtomicOut {
    /// The atomic's `auto_generated_guid`.
    pub guid: String,
    pub mitre_id: String,
    #[oai(nullable)]
    pub technique_name: Option<String>,
    pub name: String,
    pub description: String,
    /// Lowercase.
    pub platforms: Vec<String>,
    /// The executor's name (`powershell`, `command_prompt`, `sh`, `bash`, `manual`…).
    #[oai(nullable)]
    pub executor: Option<String>,
    /// With `#{argument}` placeholders.
    pub command: String,
    #[oai(nullable)]
    pub cleanup_command: Option<String>,
    /// `{name: {description, type, default}}`.
    pub input_arguments: serde_json::Value,
    pub elevation_required: bool,
}

impl From<AtomicRow> for AtomicOut {
    fn from(row: AtomicRow) -> Self {
        AtomicOut {
            guid: row.guid,
            mitre_id: row.mitre_id,
            technique_name: row.technique_name,
            name: row.name,
            description: row.description,
            platforms: row.platforms,
            executor: row.executor_name,
            command: row.command,
            cleanup_command: row.cleanup_command,
            input_arguments: row.input_arguments,
            elevation_required: row.elevation_required,
        }
    }
}

#[OpenApi(prefix_path = "/api/v1", tag = "ApiTags::Atomics")]
impl AtomicsApi {
    /// Import Atomic Red Team tests
    ///
    /// Admins and red leads. Multipart `file`: a `.tar.gz` or `.zip` of the `atomics/` folder (every
    /// `T1234.yaml` / `T1234.001.yaml` in it is read), or one technique file. Upserts by
    /// `auto_generated_guid`; a file that does not parse is reported while the others import. At most
    /// 64 MiB uploaded (413), 5,000 technique files and 200 MiB decompressed (400). Changes no
    /// technique's status: these are procedures, not tests.
    #[oai(path = "/import/atomic-red-team", method = "post")]
    async fn import(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        upload: AtomicsUpload,
    ) -> Result<Json<AtomicsImportReport>, ApiError<{ AUTHED | BODY }>> {
        let report = atomics::import(&state.db, &auth.0, upload.bytes, upload.file_name).await?;
        Ok(Json(report.into()))
    }

    /// List a technique's Atomic Red Team tests
    ///
    /// Every role. By name; empty when none were imported for it.
    #[oai(path = "/techniques/:mitre_id/atomics", method = "get")]
    async fn for_technique(
        &self,
        auth: BearerAuth,
        state: Data<&AppState>,
        mitre_id: Path<String>,
    ) -> Result<Json<Vec<AtomicOut>>, ApiError<{ AUTHED | NOT_FOUND }>> {
        auth.0.require(Permission::Read)?;
        let rows = atomics::for_technique(&state.db, &auth.0, &mitre_id.0).await?;
        Ok(Json(rows.into_iter().map(AtomicOut::from).collect()))
    }
}
