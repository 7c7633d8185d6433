//! One error type for the whole server. Each variant names the stable
//! `extensions.code` clients see; internal causes are logged, never sent.
//!
//! `AppError` deliberately does not implement `Display`: that keeps
//! async-graphql's blanket `From<T: Display>` away, so `?` in a resolver always
//! goes through [`From<AppError> for async_graphql::Error`] and sets the code.
use std::fmt;

use async_graphql::ErrorExtensions as _;

/// The codes clients can rely on, as they appear in `extensions.code`.
pub const CODES: &[&str] = &[
    "UNAUTHENTICATED",
    "FORBIDDEN",
    "NOT_FOUND",
    "BAD_USER_INPUT",
    "CONFLICT",
    "RATE_LIMITED",
    "PAYLOAD_TOO_LARGE",
    "UNAVAILABLE",
    "INTERNAL",
    "RESYNC_REQUIRED",
];

pub enum AppError {
    /// No valid token: missing, malformed, expired or revoked.
    Unauthenticated,
    /// Authenticated, but the role may not do this (never used to hide existence).
    Forbidden(String),
    /// Does not exist, or exists and the viewer may not know it.
    NotFound,
    /// The input is wrong; the message says how to fix it.
    BadInput(String),
    /// The input clashes with current state (duplicate, stale version).
    Conflict(String),
    /// Too many requests; retry after this many seconds.
    RateLimited { retry_after_secs: u64 },
    /// The body or file is larger than allowed.
    PayloadTooLarge(String),
    /// A backend this request needs is down; the cause is logged.
    Unavailable(anyhow::Error),
    /// A bug or an unexpected failure; the cause is logged.
    Internal(anyhow::Error),
    /// An incremental sync cannot be answered from this version: sync in full.
    ResyncRequired,
}

pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::BadInput(message.into())
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        Self::Internal(cause.into())
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadInput(_) => "BAD_USER_INPUT",
            Self::Conflict(_) => "CONFLICT",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::PayloadTooLarge(_) => "PAYLOAD_TOO_LARGE",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
            Self::ResyncRequired => "RESYNC_REQUIRED",
        }
    }

    /// The message a client sees.
    pub fn message(&self) -> String {
        match self {
            Self::Unauthenticated => "a valid login token is required".into(),
            Self::Forbidden(m)
            | Self::BadInput(m)
            | Self::Conflict(m)
            | Self::PayloadTooLarge(m) => m.clone(),
            Self::NotFound => "not found".into(),
            Self::RateLimited { retry_after_secs } => {
                format!("too many requests; retry in {retry_after_secs} s")
            }
            Self::Unavailable(_) => "a backend service is unavailable; try again later".into(),
            Self::Internal(_) => "internal error".into(),
            Self::ResyncRequired => {
                "this version is too old or unknown: sync the whole list again, then use its version".into()
            }
        }
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(e) | Self::Internal(e) => write!(f, "{}: {e:#}", self.code()),
            _ => write!(f, "{}: {}", self.code(), self.message()),
        }
    }
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        match &err {
            AppError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "internal error")
            }
            AppError::Unavailable(cause) => {
                tracing::warn!(error = %format!("{cause:#}"), "backend unavailable")
            }
            _ => {}
        }
        let mut out = async_graphql::Error::new(err.message());
        out = out.extend_with(|_, ext| {
            ext.set("code", err.code());
            if let AppError::RateLimited { retry_after_secs } = err {
                ext.set("retryAfter", retry_after_secs);
            }
        });
        out
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(err: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => Self::Unavailable(err.into()),
            other => Self::Internal(other.into()),
        }
    }
}

/// Whether a database error is a unique-key violation (a duplicate), on every backend.
pub fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

/// Gives every error a code: errors that did not come from [`AppError`]
/// (parse and validation failures, input coercion, limits) are the client's
/// input, so they get BAD_USER_INPUT.
pub struct ErrorCodes;

impl async_graphql::extensions::ExtensionFactory for ErrorCodes {
    fn create(&self) -> std::sync::Arc<dyn async_graphql::extensions::Extension> {
        std::sync::Arc::new(ErrorCodesExtension)
    }
}

struct ErrorCodesExtension;

fn with_codes(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let ext = error.extensions.get_or_insert_with(Default::default);
        if ext.get("code").is_none() {
            ext.set("code", "BAD_USER_INPUT");
        }
    }
    response
}

#[async_trait::async_trait]
impl async_graphql::extensions::Extension for ErrorCodesExtension {
    async fn request(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        next: async_graphql::extensions::NextRequest<'_>,
    ) -> async_graphql::Response {
        with_codes(next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &async_graphql::extensions::ExtensionContext<'_>,
        stream: futures_util::stream::BoxStream<'s, async_graphql::Response>,
        next: async_graphql::extensions::NextSubscribe<'_>,
    ) -> futures_util::stream::BoxStream<'s, async_graphql::Response> {
        use futures_util::StreamExt as _;
        next.run(ctx, stream).map(with_codes).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_a_listed_code() {
        let all = [
            AppError::Unauthenticated,
            AppError::Forbidden(String::new()),
            AppError::NotFound,
            AppError::bad_input(""),
            AppError::Conflict(String::new()),
            AppError::RateLimited {
                retry_after_secs: 1,
            },
            AppError::PayloadTooLarge(String::new()),
            AppError::Unavailable(anyhow::anyhow!("x")),
            AppError::internal(anyhow::anyhow!("x")),
            AppError::ResyncRequired,
        ];
        let codes: Vec<_> = all.iter().map(AppError::code).collect();
        assert_eq!(codes, CODES);
    }

    #[test]
    fn internal_detail_never_reaches_the_client() {
        let err: async_graphql::Error =
            AppError::internal(anyhow::anyhow!("password=hunter2")).into();
        assert_eq!(err.message, "internal error");
        let ext = format!("{:?}", err.extensions);
        assert!(!ext.contains("hunter2"));
        assert!(ext.contains("INTERNAL"));
    }
}
