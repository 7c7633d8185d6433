//! Chat between a doctor and a patient: one conversation per care link,
//! messages stored with a gap-free `seq` before they are published, read
//! receipts, typing signals, and subscriptions that resume losslessly.
pub mod loader;
pub mod mutation;
pub mod query;
pub mod service;
pub mod stream;
pub mod subscription;
pub mod types;
