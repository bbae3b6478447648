//! What the two upload extractors share: recognising a multipart body, and finding the `file`
//! field while holding the other fields to a small size, so no part of an upload goes uncounted.

use poem::Request;
use poem::web::{Field, Multipart};
use tokio::io::AsyncReadExt;

use crate::error::AppError;

/// Bytes allowed, in all, for the fields other than `file` (and, for declared lengths, the framing).
pub const OTHER_FIELDS_LIMIT: u64 = 64 * 1024;

pub fn is_multipart_form(request: &Request) -> bool {
    request
        .content_type()
        .is_some_and(|content_type| content_type.to_ascii_lowercase().starts_with("multipart/form-data"))
}

/// The first field named `name`; the fields before it are read and dropped, up to [`OTHER_FIELDS_LIMIT`].
pub async fn find_field(multipart: &mut Multipart, name: &str) -> Result<Option<Field>, AppError> {
    let malformed =
        |err: poem::error::ParseMultipartError| AppError::validation(format!("malformed multipart body: {err}"));
    let mut skipped: u64 = 0;
    while let Some(field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() == Some(name) {
            return Ok(Some(field));
        }
        let mut reader = field.into_async_read().take(OTHER_FIELDS_LIMIT - skipped + 1);
        skipped += tokio::io::copy(&mut reader, &mut tokio::io::sink())
            .await
            .map_err(|err| AppError::validation(format!("malformed multipart body: {err}")))?;
        if skipped > OTHER_FIELDS_LIMIT {
            return Err(AppError::PayloadTooLarge(format!(
                "fields other than '{name}' are limited to {} KiB",
                OTHER_FIELDS_LIMIT / 1024
            )));
        }
    }
    Ok(None)
}
