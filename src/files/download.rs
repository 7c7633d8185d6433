//! `GET /files/<id>`: the bytes of a file, to a viewer who may read it (bearer
//! token) or to anyone with an unexpired signed URL; everyone else gets 404.
//! `Range: bytes=…` gives 206 (resumable downloads); a range that cannot be
//! satisfied gives 416.
use std::io::SeekFrom;

use poem::{
    handler,
    http::{header, StatusCode},
    web::{Data, Path, Query},
    Body, IntoResponse, Request, Response,
};
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use crate::{auth, http::SharedState};

#[derive(Deserialize)]
pub struct Signed {
    expires: Option<i64>,
    sig: Option<String>,
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `filename="…"` with only safe ASCII, plus the exact name in RFC 5987 form.
fn disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " ._-()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A `Range` header that is malformed or cannot be satisfied (416).
#[derive(Debug, PartialEq, Eq)]
pub struct BadRange;

impl From<std::num::ParseIntError> for BadRange {
    fn from(_: std::num::ParseIntError) -> Self {
        BadRange
    }
}

/// Parses a single `bytes=` range against `size`; Ok(None) for no header.
pub fn parse_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, BadRange> {
    let Some(h) = header else { return Ok(None) };
    let spec = h.trim().strip_prefix("bytes=").ok_or(BadRange)?;
    if spec.contains(',') {
        return Err(BadRange);
    }
    let (start, end) = spec.split_once('-').ok_or(BadRange)?;
    let (start, end) = (start.trim(), end.trim());
    let range = match (start.is_empty(), end.is_empty()) {
        (true, true) => return Err(BadRange),
        (true, false) => {
            let n: u64 = end.parse()?;
            if n == 0 || size == 0 {
                return Err(BadRange);
            }
            (size.saturating_sub(n), size - 1)
        }
        (false, _) => {
            let s: u64 = start.parse()?;
            let e: u64 = if end.is_empty() {
                size.saturating_sub(1)
            } else {
                end.parse::<u64>()?.min(size.saturating_sub(1))
            };
            if s >= size || e < s {
                return Err(BadRange);
            }
            (s, e)
        }
    };
    Ok(Some(range))
}

#[handler]
pub async fn download(
    req: &Request,
    Path(id): Path<String>,
    Query(signed): Query<Signed>,
    Data(state): Data<&SharedState>,
) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return not_found();
    };
    let files = &state.services.files;
    let Ok(Some(file)) = files.get(id).await else {
        return not_found();
    };
    let allowed = match (signed.expires, signed.sig.as_deref()) {
        (Some(exp), Some(sig)) => files.check_signature(id, exp, sig),
        _ => {
            let token = req.header(header::AUTHORIZATION).and_then(auth::bearer);
            match state.services.accounts.authenticate(token).await {
                auth::Viewer::Account(session) => {
                    files.can_read(&session, &file).await.unwrap_or(false)
                }
                _ => false,
            }
        }
    };
    if !allowed {
        return not_found();
    }
    let Ok(Some(path)) = state.services.stores.blobs.path(&file.blob_blake3).await else {
        tracing::error!(file = id, "a file's blob is missing");
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let size = file.size as u64;
    let etag = format!("\"{}\"", file.blob_blake3);
    if req.header(header::IF_NONE_MATCH) == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED
            .with_header(header::ETAG, etag)
            .into_response();
    }
    let range = match parse_range(req.header(header::RANGE), size) {
        Ok(r) => r,
        Err(BadRange) => {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                .finish()
        }
    };
    let Ok(mut f) = tokio::fs::File::open(&path).await else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let builder = Response::builder()
        .header(header::CONTENT_TYPE, file.content_type.clone())
        .header(header::CONTENT_DISPOSITION, disposition(&file.file_name))
        .header(header::ETAG, etag)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, max-age=0")
        .header("x-content-type-options", "nosniff");
    match range {
        None => builder
            .header(header::CONTENT_LENGTH, size)
            .body(Body::from_async_read(f)),
        Some((start, end)) => {
            if f.seek(SeekFrom::Start(start)).await.is_err() {
                return StatusCode::SERVICE_UNAVAILABLE.into_response();
            }
            let len = end - start + 1;
            builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{size}"))
                .header(header::CONTENT_LENGTH, len)
                .body(Body::from_async_read(f.take(len)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 10), Ok(None));
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Ok(Some((0, 3))));
        assert_eq!(parse_range(Some("bytes=5-"), 10), Ok(Some((5, 9))));
        assert_eq!(parse_range(Some("bytes=-4"), 10), Ok(Some((6, 9))));
        assert_eq!(parse_range(Some("bytes=8-100"), 10), Ok(Some((8, 9))));
        for bad in [
            "bytes=10-",
            "bytes=5-2",
            "bytes=x-1",
            "items=0-1",
            "bytes=-",
            "bytes=0-1,3-4",
            "bytes=-0",
        ] {
            assert_eq!(parse_range(Some(bad), 10), Err(BadRange), "{bad}");
        }
    }

    #[test]
    fn dispositions_are_safe() {
        let d = disposition("rapport \"final\"\r\n.pdf");
        assert!(!d.contains('\r') && !d.contains('\n'));
        assert!(d.starts_with("attachment; filename=\"rapport _final___.pdf\""));
    }
}
