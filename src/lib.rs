//! ferry keeps a PhotoShelter library and a Preservica archive consistent, field by field.
//!
//! The crate is shaped as `shared/DESIGN.md` describes: `config` loads `ferry.toml` once,
//! `model` holds the canonical asset record, `mapping` is the only module that knows either
//! system's field names, and `store` is the only module that writes SQL. The binary
//! (`src/main.rs`) is a thin CLI over these.

pub mod clock;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod emulate;
pub mod exit;
pub mod http;
pub mod ids;
pub mod index;
pub mod logging;
pub mod mapping;
pub mod model;
pub mod notify;
pub mod photoshelter;
pub mod preservica;
pub mod private_fs;
pub mod report;
pub mod rules;
pub mod schedule;
pub mod server;
pub mod status;
pub mod store;
pub mod sync;
pub mod transfer;
pub mod xml;
