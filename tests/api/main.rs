//! All integration tests, one binary. Each test spawns the real server on a
//! random port and talks HTTP/WebSocket to it.
//!
//! By default the server runs on the embedded backends. With
//! `DRSEEK_TEST_SERVICES=real` (set by `scripts/test.sh` after
//! `scripts/services.sh start`) the same tests run against MariaDB primary +
//! replica, Redis and FerretDB, and fail when one is unreachable.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod accounts;
mod cases;
mod contacts;
mod deploy;
mod directory;
mod files;
mod helpers;
mod http_spec;
mod loaders;
pub mod messaging;
mod operations;
mod routing;
mod schema_file;
mod stores;
mod websocket;
