//! Where file bytes live, addressed by BLAKE3. A local directory by default;
//! the trait leaves room for object storage.
pub mod local;

use std::path::{Path, PathBuf};

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync {
    /// Moves a fully written temporary file into place as `digest`. Atomic:
    /// readers see the whole blob or none; identical concurrent puts are fine.
    async fn put(&self, digest: &str, temp: &Path) -> anyhow::Result<()>;
    /// Where to read `digest` from, if it is stored.
    async fn path(&self, digest: &str) -> anyhow::Result<Option<PathBuf>>;
    /// Moves `digest` aside (for garbage collection); returns the trash path.
    async fn trash(&self, digest: &str) -> anyhow::Result<Option<PathBuf>>;
    /// Puts a trashed blob back if it is missing, else drops the trash.
    async fn untrash(&self, digest: &str, trash: &Path) -> anyhow::Result<()>;
    /// A directory for temporary uploads on the same filesystem as the blobs.
    fn temp_dir(&self) -> PathBuf;
    async fn ping(&self) -> anyhow::Result<()>;
}

/// Whether `s` is a hex digest of `len` characters.
pub fn is_hex_digest(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit())
}
