//! Files: uploads (GraphQL multipart) de-duplicated by BLAKE3, the MD5
//! pre-check (`claimFile`), authorised downloads with ranges, and garbage
//! collection of blobs no file points to.
pub mod download;
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod types;
