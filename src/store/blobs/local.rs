//! Blobs as files under `<data dir>/blobs/ab/cd/<digest>`.
use std::path::{Path, PathBuf};

use super::{is_hex_digest, BlobStore};

pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn new(root: PathBuf) -> anyhow::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        std::fs::create_dir_all(root.join("trash"))?;
        Ok(Self { root })
    }

    fn location(&self, digest: &str) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(is_hex_digest(digest, 64), "not a BLAKE3 digest");
        let d = digest.to_ascii_lowercase();
        Ok(self.root.join(&d[0..2]).join(&d[2..4]).join(d))
    }
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobs {
    async fn put(&self, digest: &str, temp: &Path) -> anyhow::Result<()> {
        let target = self.location(digest)?;
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        // rename(2) replaces atomically; concurrent identical puts leave one blob.
        tokio::fs::rename(temp, &target).await?;
        Ok(())
    }

    async fn path(&self, digest: &str) -> anyhow::Result<Option<PathBuf>> {
        let p = self.location(digest)?;
        Ok(tokio::fs::try_exists(&p).await?.then_some(p))
    }

    async fn trash(&self, digest: &str) -> anyhow::Result<Option<PathBuf>> {
        let p = self.location(digest)?;
        let t = self
            .root
            .join("trash")
            .join(format!("{digest}.{}", rand::random::<u64>()));
        match tokio::fs::rename(&p, &t).await {
            Ok(()) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn untrash(&self, digest: &str, trash: &Path) -> anyhow::Result<()> {
        let p = self.location(digest)?;
        if tokio::fs::try_exists(&p).await? {
            tokio::fs::remove_file(trash).await?;
        } else {
            tokio::fs::rename(trash, &p).await?;
        }
        Ok(())
    }

    fn temp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    async fn ping(&self) -> anyhow::Result<()> {
        tokio::fs::metadata(&self.root).await?;
        Ok(())
    }
}
