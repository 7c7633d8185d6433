//! Contact-book versions. Every change to a link or a profile takes the next
//! number of one global change sequence inside its transaction; the row lock
//! on the counter makes commit order equal number order, so "everything
//! after N" never misses a change that committed late.
//!
//! Clients see versions as opaque tokens carrying the number and the time they
//! were issued; a token older than the configured horizon, or from a future
//! the database does not know (a restore), asks the client to resync in full.
use base64::Engine as _;
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, Statement};

use crate::error::{AppError, AppResult};

/// Takes the next change number. Call inside the writing transaction.
pub async fn next_seq<C: ConnectionTrait>(txn: &C) -> Result<i64, DbErr> {
    let backend = txn.get_database_backend();
    txn.execute(Statement::from_string(
        backend,
        "UPDATE change_seq SET value = value + 1 WHERE id = 1",
    ))
    .await?;
    current_seq(txn).await
}

/// The last change number this connection can see.
pub async fn current_seq<C: ConnectionTrait>(db: &C) -> Result<i64, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one(Statement::from_string(
            backend,
            "SELECT value FROM change_seq WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("change_seq row".into()))?;
    row.try_get::<i64>("", "value")
}

const PREFIX: &str = "cv1";

pub fn encode_version(seq: i64) -> String {
    let text = format!("{PREFIX}:{seq}:{}", Utc::now().timestamp());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

/// The change number in a version token; BAD_USER_INPUT for a malformed
/// token, RESYNC_REQUIRED for one older than `max_age_secs`.
pub fn decode_version(token: &str, max_age_secs: u64) -> AppResult<i64> {
    let bad =
        || AppError::bad_input("malformed version: pass back a `version` this server returned");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.split(':');
    let (Some(PREFIX), Some(seq), Some(issued), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let seq: i64 = seq.parse().map_err(|_| bad())?;
    let issued: i64 = issued.parse().map_err(|_| bad())?;
    if seq < 0 {
        return Err(bad());
    }
    let age = Utc::now().timestamp().saturating_sub(issued);
    if age < -300 || age as u64 > max_age_secs {
        return Err(AppError::ResyncRequired);
    }
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_round_trip() {
        assert_eq!(decode_version(&encode_version(42), 60).ok(), Some(42));
    }

    #[test]
    fn malformed_and_old_versions() {
        assert_eq!(
            decode_version("nope", 60).err().map(|e| e.code()),
            Some("BAD_USER_INPUT")
        );
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("cv1:x:1");
        assert_eq!(
            decode_version(&forged, 60).err().map(|e| e.code()),
            Some("BAD_USER_INPUT")
        );
        let old = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("cv1:5:1000");
        assert_eq!(
            decode_version(&old, 60).err().map(|e| e.code()),
            Some("RESYNC_REQUIRED")
        );
    }
}
