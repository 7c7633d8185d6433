//! Who is asking. A [`Viewer`] is built once per HTTP request (from the
//! `Authorization: Bearer` header) or per WebSocket (from the `connection_init`
//! payload) and placed in the GraphQL context.
use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use async_graphql::Context;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::{
    accounts::types::{AccountId, Role},
    error::{AppError, AppResult},
};

/// An authenticated session.
#[derive(Debug)]
pub struct Session {
    pub account_id: AccountId,
    pub role: Role,
    pub session_id: i64,
    /// Set when this account wrote recently (in this request or within the
    /// read-your-writes window): its reads then go to the primary.
    wrote_recently: AtomicBool,
}

impl Session {
    pub fn new(account_id: AccountId, role: Role, session_id: i64, wrote_recently: bool) -> Self {
        Self {
            account_id,
            role,
            session_id,
            wrote_recently: AtomicBool::new(wrote_recently),
        }
    }

    pub fn wrote_recently(&self) -> bool {
        self.wrote_recently.load(Ordering::Relaxed)
    }

    pub fn mark_wrote(&self) {
        self.wrote_recently.store(true, Ordering::Relaxed);
    }
}

#[derive(Clone, Debug, Default)]
pub enum Viewer {
    /// No token was given.
    #[default]
    Anonymous,
    /// A token was given but is unknown, expired or revoked.
    Rejected,
    Account(Arc<Session>),
}

impl Viewer {
    pub fn from_ctx(ctx: &Context<'_>) -> Viewer {
        ctx.data_opt::<Viewer>().cloned().unwrap_or_default()
    }

    /// The session, or UNAUTHENTICATED.
    pub fn require(&self) -> AppResult<&Arc<Session>> {
        match self {
            Viewer::Account(s) => Ok(s),
            _ => Err(AppError::Unauthenticated),
        }
    }

    pub fn account_id(&self) -> Option<AccountId> {
        match self {
            Viewer::Account(s) => Some(s.account_id),
            _ => None,
        }
    }

    /// Whether reads for this viewer must see the primary.
    pub fn needs_primary(&self) -> bool {
        matches!(self, Viewer::Account(s) if s.wrote_recently())
    }
}

/// Prefix of every token, so leaked tokens are easy to recognise in scanners.
const TOKEN_PREFIX: &str = "dsk_";

/// A new random bearer token (256 bits).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What is stored for a token: its SHA-256, hex. `None` for a string that is no token.
pub fn token_hash(token: &str) -> Option<String> {
    let body = token.strip_prefix(TOKEN_PREFIX)?;
    if body.len() != 43
        || !body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let digest = Sha256::digest(token.as_bytes());
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The token in an `Authorization` header value (`Bearer <token>`), if any.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_hash_and_reject_garbage() {
        let t = new_token();
        assert!(token_hash(&t).is_some_and(|h| h.len() == 64));
        assert_ne!(token_hash(&t), token_hash(&new_token()));
        assert_eq!(token_hash("dsk_short"), None);
        assert_eq!(token_hash(&t.replace("dsk_", "xyz_")), None);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("abc"), None);
    }
}
