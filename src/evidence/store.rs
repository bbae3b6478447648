//! The blob store: `evidence/<ab>/<sha256>`, content-addressed so identical files are kept once.
//! An upload streams once into `evidence/tmp/` while it is hashed and counted, is fsynced, and is
//! moved into place by [`BlobStore::commit`] inside the database transaction that records it, so a
//! concurrent delete of the same content cannot remove a blob a new row points at.

use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 64 * 1024;

#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
}

/// A received upload, durable in `tmp/`, not yet in place. Dropped without [`BlobStore::commit`],
/// its temp file is removed.
#[derive(Debug)]
pub struct TempBlob {
    path: PathBuf,
    pub sha256: String,
    pub size: u64,
}

impl Drop for TempBlob {
    fn drop(&mut self) {
        // After a commit the temp file is gone (moved or removed): nothing to do.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    #[error("the file is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("the file is empty")]
    Empty,
    #[error("reading the upload: {0}")]
    Read(io::Error),
    #[error("writing to the evidence store: {0}")]
    Write(io::Error),
}

impl BlobStore {
    /// Opens the store under `root`, creating it, and removes what an interrupted upload left in `tmp/`.
    pub fn open(root: &Path) -> io::Result<BlobStore> {
        let store = BlobStore { root: root.to_path_buf() };
        std::fs::create_dir_all(store.tmp_dir())?;
        for entry in std::fs::read_dir(store.tmp_dir())? {
            let path = entry?.path();
            tracing::info!(path = %path.display(), "removing an unfinished upload");
            std::fs::remove_file(path)?;
        }
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Where the blob with this hash lives. `sha256` is always 64 hex digits computed here.
    pub fn blob_path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// Streams `reader` into a temp file, hashing and counting; refuses more than `max_bytes`
    /// (as soon as the count passes it) and empty files, leaving nothing behind either way.
    pub async fn receive(&self, mut reader: impl AsyncRead + Unpin, max_bytes: u64) -> Result<TempBlob, ReceiveError> {
        let path = self.tmp_dir().join(uuid::Uuid::new_v4().to_string());
        let mut file = tokio::fs::File::create(&path).await.map_err(ReceiveError::Write)?;
        let outcome = async {
            let mut hasher = Sha256::new();
            let mut size: u64 = 0;
            let mut buffer = vec![0u8; CHUNK];
            loop {
                let read = reader.read(&mut buffer).await.map_err(ReceiveError::Read)?;
                if read == 0 {
                    break;
                }
                size += read as u64;
                if size > max_bytes {
                    return Err(ReceiveError::TooLarge { limit: max_bytes });
                }
                hasher.update(&buffer[..read]);
                file.write_all(&buffer[..read]).await.map_err(ReceiveError::Write)?;
            }
            if size == 0 {
                return Err(ReceiveError::Empty);
            }
            file.sync_all().await.map_err(ReceiveError::Write)?;
            Ok((hex::encode(hasher.finalize()), size))
        }
        .await;
        drop(file);
        match outcome {
            Ok((sha256, size)) => Ok(TempBlob { path, sha256, size }),
            Err(err) => {
                let _ = tokio::fs::remove_file(&path).await;
                Err(err)
            }
        }
    }

    /// Moves a received blob into place (or drops it when identical content is already stored)
    /// and makes the move durable. Blocking: call it inside the recording transaction.
    pub fn commit(&self, blob: &TempBlob) -> io::Result<()> {
        let target = self.blob_path(&blob.sha256);
        if target.exists() {
            std::fs::remove_file(&blob.path)?;
            return Ok(());
        }
        let dir = target.parent().expect("blob paths have a parent");
        if !dir.exists() {
            std::fs::create_dir_all(dir)?;
            // The new `ab/` entry must survive a power loss too.
            sync_dir(&self.root)?;
        }
        std::fs::rename(&blob.path, &target)?;
        sync_dir(dir)
    }

    /// Removes a blob no row refers to any more. Blocking: call it inside the deleting transaction.
    pub fn remove(&self, sha256: &str) -> io::Result<()> {
        match std::fs::remove_file(self.blob_path(sha256)) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn stores_once_by_content() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let first = store.receive(&b"hello evidence"[..], 100).await.unwrap();
        let second = store.receive(&b"hello evidence"[..], 100).await.unwrap();
        assert_eq!(first.sha256, second.sha256);
        assert_eq!(first.size, 14);
        let sha = first.sha256.clone();
        store.commit(&first).unwrap();
        store.commit(&second).unwrap();
        drop((first, second));
        assert_eq!(std::fs::read(store.blob_path(&sha)).unwrap(), b"hello evidence");
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        store.remove(&sha).unwrap();
        store.remove(&sha).unwrap();
        assert!(!store.blob_path(&sha).exists());
    }

    #[tokio::test]
    async fn refuses_too_large_and_empty_leaving_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let big = vec![7u8; 1000];
        assert!(matches!(store.receive(&big[..], 999).await, Err(ReceiveError::TooLarge { limit: 999 })));
        let accepted = store.receive(&big[..], 1000).await.unwrap();
        assert!(matches!(store.receive(&b""[..], 10).await, Err(ReceiveError::Empty)));
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 1, "only the accepted one");
        drop(accepted);
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0, "an uncommitted blob is dropped");
    }

    #[test]
    fn open_cleans_unfinished_uploads() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        std::fs::write(dir.path().join("tmp/leftover"), b"x").unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
    }
}
