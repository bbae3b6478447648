//! Where a bundle comes from: an http(s) URL or a local file, read with bounds (time, size,
//! redirects), or a bundle embedded in the binary at build time.

use std::time::Duration;

use rust_embed::RustEmbed;

/// The largest bundle accepted from a URL, a file or an upload (the official Enterprise bundle is ~45 MB).
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(300);
const MAX_REDIRECTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source could not be read: network, HTTP status, missing file.
    #[error("{0}")]
    Unreachable(String),
    #[error("the bundle is larger than {} MiB", MAX_SOURCE_BYTES / 1024 / 1024)]
    TooLarge,
}

/// Reads the bundle named by `source`: `http://` or `https://` URLs are downloaded, anything
/// else is a file path.
pub async fn fetch(source: &str) -> Result<Vec<u8>, FetchError> {
    if source.starts_with("http://") || source.starts_with("https://") {
        download(source).await
    } else {
        read_file(source).await
    }
}

async fn read_file(path: &str) -> Result<Vec<u8>, FetchError> {
    let unreachable = |err: std::io::Error| FetchError::Unreachable(format!("cannot read {path}: {err}"));
    let metadata = tokio::fs::metadata(path).await.map_err(unreachable)?;
    if metadata.len() > MAX_SOURCE_BYTES {
        return Err(FetchError::TooLarge);
    }
    tokio::fs::read(path).await.map_err(unreachable)
}

async fn download(url: &str) -> Result<Vec<u8>, FetchError> {
    let unreachable = |err: reqwest::Error| FetchError::Unreachable(format!("cannot download {url}: {err}"));
    // No proxy from the environment: an offline lab's stray proxy variables must not redirect the catalogue.
    let client = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(TOTAL_TIMEOUT)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .no_proxy()
        .user_agent(concat!("aegis/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(unreachable)?;
    let mut response = client.get(url).send().await.map_err(unreachable)?;
    if !response.status().is_success() {
        return Err(FetchError::Unreachable(format!("{url} answered {}", response.status())));
    }
    if response.content_length().is_some_and(|length| length > MAX_SOURCE_BYTES) {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(unreachable)? {
        if body.len() as u64 + chunk.len() as u64 > MAX_SOURCE_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Bundles placed in `assets/attack/` at build time (gitignored), for offline first starts.
#[derive(RustEmbed)]
#[folder = "assets/attack/"]
struct EmbeddedBundles;

/// The first embedded bundle, by name, if the build has one.
pub fn embedded() -> Option<(String, Vec<u8>)> {
    let mut names: Vec<String> = EmbeddedBundles::iter()
        .map(|name| name.into_owned())
        .filter(|name| name.ends_with(".json") || name.ends_with(".json.gz"))
        .collect();
    names.sort();
    let name = names.into_iter().next()?;
    let file = EmbeddedBundles::get(&name)?;
    Some((name, file.data.into_owned()))
}
