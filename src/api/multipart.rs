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

/// A multipart body's `file` field read whole, refused as soon as it passes `max_bytes`
/// (`what` names it in that message): (the client's file name, the bytes).
pub async fn read_file(
    request: &Request,
    body: &mut poem::RequestBody,
    max_bytes: u64,
    what: &str,
) -> Result<(Option<String>, Vec<u8>), AppError> {
    let mut form = <Multipart as poem::FromRequest>::from_request(request, body)
        .await
        .map_err(|err| AppError::validation(format!("malformed multipart body: {err}")))?;
    let field = find_field(&mut form, "file")
        .await?
        .ok_or_else(|| AppError::validation("the multipart body has no 'file' field"))?;
    let file_name = field.file_name().map(str::to_owned);
    let mut bytes = Vec::new();
    field
        .into_async_read()
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|err| AppError::validation(format!("reading the upload: {err}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(AppError::PayloadTooLarge(format!("{what} is larger than {} MiB", max_bytes / 1024 / 1024)));
    }
    Ok((file_name, bytes))
}
