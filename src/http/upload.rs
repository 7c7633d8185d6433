//! The GraphQL multipart request spec (jaydenseric/graphql-multipart-request-spec):
//! `operations`, then `map`, then the files. Each file is streamed to a
//! temporary file next to the blob store while its MD5 and BLAKE3 are
//! computed in the same pass, so memory stays flat whatever the size. Over
//! the limit, or cut off, the temporary file is dropped (deleted) at once.
use std::{collections::HashMap, io::Write, sync::Mutex};

use async_graphql::{Request as GqlRequest, UploadValue};
use md5::{Digest as _, Md5};
use poem::{http::StatusCode, Body};

use super::graphql::{reject, Rejection, WireRequest};
use super::SharedState;

/// One received file: where it is and what it hashes to.
pub struct Received {
    pub temp: Mutex<Option<tempfile::NamedTempFile>>,
    pub md5: String,
    pub blake3: String,
    pub size: u64,
}

/// The files of a request, in the order of its `Upload` indexes.
#[derive(Default)]
pub struct Uploads(pub Vec<std::sync::Arc<Received>>);

/// Parses a multipart GraphQL request.
pub async fn read(
    content_type: &str,
    body: Body,
    state: &SharedState,
) -> Result<(GqlRequest, Uploads), Rejection> {
    let boundary = multer::parse_boundary(content_type).map_err(|_| {
        reject(
            StatusCode::BAD_REQUEST,
            "multipart request without a boundary",
        )
    })?;
    let config = &state.services.config;
    let max_file = config.max_upload_bytes;
    let too_large = || {
        reject(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("files are limited to {max_file} bytes"),
        )
    };
    let limits = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(
                max_file
                    .saturating_mul(2)
                    .saturating_add(config.max_body_bytes as u64),
            )
            .per_field(max_file.saturating_add(1)),
    );
    let mut multipart =
        multer::Multipart::with_constraints(body.into_bytes_stream(), boundary, limits);
    let map_err = |e: multer::Error| match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            too_large()
        }
        other => reject(
            StatusCode::BAD_REQUEST,
            &format!("malformed multipart request: {other}"),
        ),
    };
    let mut request: Option<GqlRequest> = None;
    let mut map: Option<HashMap<String, Vec<String>>> = None;
    let mut uploads = Uploads::default();
    let temp_dir = state.services.stores.blobs.temp_dir();
    while let Some(mut field) = multipart.next_field().await.map_err(map_err)? {
        let name = field.name().unwrap_or_default().to_owned();
        match name.as_str() {
            "operations" => {
                let text = field.text().await.map_err(map_err)?;
                if text.len() > config.max_body_bytes {
                    return Err(reject(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "`operations` is too large",
                    ));
                }
                let wire: WireRequest = serde_json::from_str(&text).map_err(|_| {
                    reject(
                        StatusCode::BAD_REQUEST,
                        "`operations` is not a GraphQL request (batches are not supported)",
                    )
                })?;
                request = Some(wire.into_request()?);
            }
            "map" => {
                let text = field.text().await.map_err(map_err)?;
                map = Some(serde_json::from_str(&text).map_err(|_| {
                    reject(
                        StatusCode::BAD_REQUEST,
                        "`map` must map file fields to variable paths",
                    )
                })?);
            }
            _ => {
                let (Some(req), Some(map)) = (request.as_mut(), map.as_ref()) else {
                    return Err(reject(
                        StatusCode::BAD_REQUEST,
                        "`operations` and `map` must come before the files",
                    ));
                };
                let Some(paths) = map.get(&name) else {
                    return Err(reject(
                        StatusCode::BAD_REQUEST,
                        &format!("file field `{name}` is not in `map`"),
                    ));
                };
                let filename = field.file_name().unwrap_or("file").to_owned();
                let content_type = field.content_type().map(|m| m.to_string());
                let mut temp = tempfile::NamedTempFile::new_in(&temp_dir).map_err(|_| {
                    reject(StatusCode::SERVICE_UNAVAILABLE, "cannot store the upload")
                })?;
                let (mut md5, mut blake3, mut size) = (Md5::new(), blake3::Hasher::new(), 0u64);
                while let Some(chunk) = field.chunk().await.map_err(map_err)? {
                    size += chunk.len() as u64;
                    if size > max_file {
                        return Err(too_large());
                    }
                    md5.update(&chunk);
                    blake3.update(&chunk);
                    temp.write_all(&chunk).map_err(|_| {
                        reject(StatusCode::SERVICE_UNAVAILABLE, "cannot store the upload")
                    })?;
                }
                temp.flush().map_err(|_| {
                    reject(StatusCode::SERVICE_UNAVAILABLE, "cannot store the upload")
                })?;
                let received = std::sync::Arc::new(Received {
                    md5: hex::encode(md5.finalize()),
                    blake3: blake3.finalize().to_hex().to_string(),
                    size,
                    temp: Mutex::new(None),
                });
                for path in paths {
                    let content = temp.reopen().map_err(|_| {
                        reject(StatusCode::SERVICE_UNAVAILABLE, "cannot store the upload")
                    })?;
                    let before = req.uploads.len();
                    req.set_upload(
                        path,
                        UploadValue {
                            filename: filename.clone(),
                            content_type: content_type.clone(),
                            content,
                        },
                    );
                    if req.uploads.len() > before {
                        uploads.0.push(received.clone());
                    }
                }
                *received.temp.lock().unwrap_or_else(|p| p.into_inner()) = Some(temp);
            }
        }
    }
    let request = request.ok_or_else(|| {
        reject(
            StatusCode::BAD_REQUEST,
            "the multipart request has no `operations`",
        )
    })?;
    Ok((request, uploads))
}
