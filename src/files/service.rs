//! File rules: who may read a file, de-duplicated storage, claims, GC.
//!
//! Storing: the file row and the blob row (touched) commit first, then the
//! bytes are renamed into place. Garbage collection deletes a blob row only
//! when no file points to it and it was not used lately, then moves the bytes
//! to the trash, checks the row is still gone, and puts them back if an upload
//! raced in. So a blob a file points to always has its bytes.
use std::time::Duration;

use chrono::Utc;
use entity::{blob, case_attachment, conversation, file, message};
use hmac::{Hmac, Mac};
use sea_orm::{
    sea_query::OnConflict, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait,
    QueryFilter, QuerySelect, TransactionTrait,
};
use sha2::Sha256;

use super::types::FileRef;
use crate::{
    accounts::types::{AccountId, Role},
    auth::Session,
    config::Config,
    contacts::service::has_active_link,
    error::{AppError, AppResult},
    http::upload::Received,
    store::{blobs::is_hex_digest, Stores},
};

#[derive(Clone)]
pub struct FilesService {
    stores: Stores,
    secret: std::sync::Arc<Vec<u8>>,
    url_ttl: Duration,
    claims_per_minute: u32,
    limits: crate::limits::Limits,
}

/// A file name that is safe to store and to send back in Content-Disposition.
pub fn file_name(raw: &str) -> AppResult<String> {
    let name = raw.trim();
    let bad = name.is_empty()
        || name.chars().count() > 255
        || name.contains(['/', '\\'])
        || name == "."
        || name.contains("..")
        || name.chars().any(char::is_control);
    if bad {
        return Err(AppError::bad_input(
            "fileName must be 1 to 255 characters without path separators, `..` or control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The content type of the bytes at `path`, from their magic number.
pub fn sniff(path: &std::path::Path) -> String {
    let mut head = vec![0u8; 8192];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    head.truncate(n);
    match infer::get(&head) {
        Some(kind) => kind.mime_type().to_owned(),
        None if !head.is_empty() && std::str::from_utf8(&head).is_ok() => {
            "text/plain; charset=utf-8".into()
        }
        None => "application/octet-stream".into(),
    }
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl FilesService {
    pub fn new(stores: Stores, config: &Config) -> Self {
        let secret = match &config.file_url_secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut b = vec![0u8; 32];
                rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
                b
            }
        };
        Self {
            limits: crate::limits::Limits::new(stores.clone(), config),
            stores,
            secret: std::sync::Arc::new(secret),
            url_ttl: Duration::from_secs(config.file_url_ttl_secs),
            claims_per_minute: config.claims_per_minute,
        }
    }

    fn signature(&self, id: i64, expires: i64) -> String {
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(format!("{id}:{expires}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// `/files/<id>?expires=…&sig=…`, valid for the configured lifetime.
    pub fn signed_path(&self, id: i64) -> String {
        let expires = Utc::now().timestamp() + self.url_ttl.as_secs() as i64;
        format!(
            "/files/{id}?expires={expires}&sig={}",
            self.signature(id, expires)
        )
    }

    /// Whether a signed URL is genuine and unexpired.
    pub fn check_signature(&self, id: i64, expires: i64, sig: &str) -> bool {
        if expires < Utc::now().timestamp() {
            return false;
        }
        let Ok(given) = hex::decode(sig) else {
            return false;
        };
        let mut mac = <Hmac<Sha256>>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        mac.update(format!("{id}:{expires}").as_bytes());
        mac.verify_slice(&given).is_ok()
    }

    pub async fn get(&self, id: i64) -> AppResult<Option<file::Model>> {
        Ok(file::Entity::find_by_id(id)
            .one(self.stores.sql.writer())
            .await?)
    }

    /// Whether `session` may read `file`: its owner, a member of a
    /// conversation it was sent in, or a reader of a case document it is attached to.
    pub async fn can_read(&self, session: &Session, file: &file::Model) -> AppResult<bool> {
        let me = session.account_id.0;
        if file.owner_id == me {
            return Ok(true);
        }
        let db = self.stores.sql.writer();
        let conversations: Vec<i64> = message::Entity::find()
            .select_only()
            .column(message::Column::ConversationId)
            .filter(message::Column::FileId.eq(file.id))
            .into_tuple()
            .all(db)
            .await?;
        if !conversations.is_empty() {
            let member = conversation::Entity::find()
                .filter(conversation::Column::Id.is_in(conversations))
                .all(db)
                .await?
                .iter()
                .any(|c| c.doctor_id == me || c.patient_id == me);
            if member {
                return Ok(true);
            }
        }
        let patients: Vec<i64> = case_attachment::Entity::find()
            .select_only()
            .column(case_attachment::Column::PatientId)
            .filter(case_attachment::Column::FileId.eq(file.id))
            .into_tuple()
            .all(db)
            .await?;
        for p in patients {
            if p == me
                || (session.role == Role::Doctor
                    && has_active_link(&self.stores.sql, true, session.account_id, AccountId(p))
                        .await?)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A file the viewer may read, or NOT_FOUND.
    pub async fn visible(&self, session: &Session, id: i64) -> AppResult<FileRef> {
        let file = self.get(id).await?.ok_or(AppError::NotFound)?;
        if !self.can_read(session, &file).await? {
            return Err(AppError::NotFound);
        }
        Ok(FileRef(file))
    }

    /// A file the session owns, for attaching or sending; NOT_FOUND otherwise.
    pub async fn owned(&self, session: &Session, id: i64) -> AppResult<file::Model> {
        match self.get(id).await? {
            Some(f) if f.owner_id == session.account_id.0 => Ok(f),
            _ => Err(AppError::NotFound),
        }
    }

    /// Records the file (and its blob) in one transaction.
    async fn record<C: ConnectionTrait>(
        db: &C,
        owner: i64,
        digest: &str,
        md5: &str,
        size: i64,
        content_type: &str,
        name: String,
    ) -> AppResult<file::Model> {
        blob::Entity::insert(blob::ActiveModel {
            blake3: Set(digest.to_owned()),
            md5: Set(md5.to_owned()),
            size: Set(size),
            content_type: Set(content_type.to_owned()),
            last_used_ms: Set(now_ms()),
        })
        .on_conflict(
            OnConflict::column(blob::Column::Blake3)
                .update_column(blob::Column::LastUsedMs)
                .to_owned(),
        )
        .exec(db)
        .await?;
        let inserted = file::Entity::insert(file::ActiveModel {
            owner_id: Set(owner),
            blob_blake3: Set(digest.to_owned()),
            file_name: Set(name),
            content_type: Set(content_type.to_owned()),
            size: Set(size),
            created_at: Set(Utc::now()),
            ..Default::default()
        })
        .exec(db)
        .await?;
        file::Entity::find_by_id(inserted.last_insert_id)
            .one(db)
            .await?
            .ok_or(AppError::NotFound)
    }

    /// Keeps an uploaded file: checks the client's MD5, records it, moves the bytes in.
    pub async fn store_upload(
        &self,
        session: &Session,
        received: &Received,
        name: &str,
        md5: Option<&str>,
    ) -> AppResult<FileRef> {
        let name = file_name(name)?;
        if let Some(m) = md5 {
            if !m.eq_ignore_ascii_case(&received.md5) {
                return Err(AppError::bad_input(
                    "the file's MD5 does not match `md5`: the upload was damaged",
                ));
            }
        }
        let temp = received
            .temp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| AppError::bad_input("each uploaded file can be stored once"))?;
        let content_type = sniff(temp.path());
        let txn = self.stores.sql.writer().begin().await?;
        let file = Self::record(
            &txn,
            session.account_id.0,
            &received.blake3,
            &received.md5,
            received.size as i64,
            &content_type,
            name,
        )
        .await?;
        txn.commit().await?;
        let path = temp.into_temp_path();
        let stored = self.stores.blobs.put(&received.blake3, &path).await;
        if let Err(e) = stored {
            return Err(AppError::Unavailable(e.context("blob store")));
        }
        // The rename consumed the temporary file; nothing left to delete.
        let _ = path.keep();
        tracing::info!(file = file.id, size = received.size, "file stored");
        Ok(FileRef(file))
    }

    /// A new file of the caller for bytes the server already has, if MD5,
    /// BLAKE3 and size all match; None means "upload it".
    pub async fn claim(
        &self,
        session: &Session,
        md5: &str,
        digest: &str,
        size: i64,
        name: &str,
    ) -> AppResult<Option<FileRef>> {
        let account = session.account_id.0;
        self.limits
            .hit(&format!("claims:{account}"), self.claims_per_minute)
            .await?;
        let name = file_name(name)?;
        if !is_hex_digest(md5, 32) || !is_hex_digest(digest, 64) || size < 0 {
            return Err(AppError::bad_input(
                "md5 must be 32 and blake3 64 hex digits; size not negative",
            ));
        }
        let (md5, digest) = (md5.to_ascii_lowercase(), digest.to_ascii_lowercase());
        let txn = self.stores.sql.writer().begin().await?;
        let found = blob::Entity::find_by_id(digest.clone()).one(&txn).await?;
        let Some(blob) = found.filter(|b| b.md5 == md5 && b.size == size) else {
            return Ok(None);
        };
        if self
            .stores
            .blobs
            .path(&digest)
            .await
            .map_err(AppError::internal)?
            .is_none()
        {
            return Ok(None);
        }
        let file = Self::record(
            &txn,
            session.account_id.0,
            &digest,
            &md5,
            size,
            &blob.content_type,
            name,
        )
        .await?;
        txn.commit().await?;
        Ok(Some(FileRef(file)))
    }

    /// Removes blobs no file points to and not used for `min_age`; returns how many.
    pub async fn collect_garbage(&self, min_age: Duration) -> AppResult<usize> {
        let db = self.stores.sql.writer();
        let cutoff = now_ms() - min_age.as_millis() as i64;
        let candidates: Vec<String> = blob::Entity::find()
            .select_only()
            .column(blob::Column::Blake3)
            .filter(blob::Column::LastUsedMs.lt(cutoff))
            .into_tuple()
            .all(db)
            .await?;
        let mut removed = 0;
        for digest in candidates {
            let referenced = file::Entity::find()
                .filter(file::Column::BlobBlake3.eq(digest.clone()))
                .one(db)
                .await?
                .is_some();
            if referenced {
                continue;
            }
            let deleted = blob::Entity::delete_many()
                .filter(blob::Column::Blake3.eq(digest.clone()))
                .filter(blob::Column::LastUsedMs.lt(cutoff))
                .exec(db)
                .await?;
            if deleted.rows_affected == 0 {
                continue;
            }
            let trash = self
                .stores
                .blobs
                .trash(&digest)
                .await
                .map_err(AppError::internal)?;
            let Some(trash) = trash else { continue };
            // An upload of the same bytes may have recorded the blob again meanwhile.
            if blob::Entity::find_by_id(digest.clone())
                .one(db)
                .await?
                .is_some()
            {
                self.stores
                    .blobs
                    .untrash(&digest, &trash)
                    .await
                    .map_err(AppError::internal)?;
            } else {
                tokio::fs::remove_file(&trash)
                    .await
                    .map_err(AppError::internal)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
