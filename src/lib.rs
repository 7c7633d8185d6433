//! drseek: the server behind a doctor–patient app.
//!
//! One GraphQL schema (async-graphql on poem) over relational data (SeaORM on a
//! MySQL primary and replica, or SQLite), schemaless case history (MongoDB, or
//! JSON rows in SQL), a cache and an event bus (Redis, or in-process).
//!
//! Map of the crate:
//! - [`config`]: settings from env and flags, all with embedded defaults;
//! - [`app`]: builds stores, schema and routes, binds the port;
//! - [`schema`]: the merged GraphQL roots and the services resolvers call;
//! - [`http`]: GraphQL over HTTP and WebSocket, GraphiQL, health;
//! - [`auth`]: the [`auth::Viewer`] of a request, token helpers;
//! - [`error`]: [`error::AppError`], the stable `extensions.code`s;
//! - [`pagination`]: page sizes and keyset cursors;
//! - [`store`]: one trait per storage concern, real and embedded implementations;
//! - [`loader`]: batched reads by id over the shared cache, invalidated on write;
//! - domains, each with `types`, `query`, `mutation`, `service`, and `loader`
//!   where entities are read by id:
//!   [`accounts`], [`directory`], [`contacts`], [`cases`], [`messaging`], [`files`];
//! - [`seed`]: demo data for newcomers.
pub mod accounts;
pub mod app;
pub mod auth;
pub mod cases;
pub mod config;
pub mod contacts;
pub mod directory;
pub mod error;
pub mod files;
pub mod http;
pub mod limits;
pub mod loader;
pub mod messaging;
pub mod pagination;
pub mod schema;
pub mod seed;
pub mod store;
