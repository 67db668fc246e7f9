//! ferry keeps a PhotoShelter library and a Preservica archive consistent, field by field.
//!
//! The crate is shaped as `shared/DESIGN.md` describes. Reading order for a newcomer:
//!
//! - `main.rs` parses the command line, sets up logging, calls [`cli::run`] and exits with
//!   the outcome's code; nothing else.
//! - [`cli`]: clap types (closed choices are `ValueEnum`s) and one file per command group;
//!   each parses its arguments, calls [`app`] or the module that owns the question, and
//!   prints. [`report::describe_sync`] and [`transfer::describe`] say what a run did.
//! - [`app`]: the composition root. [`app::Ferry::open`] turns a [`config::Config`] into the
//!   mapping, both clients and the run settings and hands out the sync and transfer contexts;
//!   [`app::after_run`] refreshes the index after any run; [`app::nightly`] is `ferry serve`'s
//!   scheduled job. Tests, benchmarks and the demo build their contexts through
//!   [`app::Parts`] too.
//! - The core: [`config`] loads `ferry.toml` once, [`model`] holds the canonical asset
//!   record, [`mapping`] is the only module that knows either system's field names, [`store`]
//!   is the only module that writes SQL, [`sync`] runs a cycle, [`transfer`] archives and
//!   republishes, [`index`] is the search index, [`report`] the drift report.
//! - The edges: [`photoshelter`] and [`preservica`] (clients, wire shapes, emulators),
//!   [`http`] (the shared HTTP layer), [`webhook`] (Preservica webhooks on the wire:
//!   signatures, deliveries, subscriptions), [`server`] (the web app and `ferry serve`; it depends on
//!   [`app`], never the reverse), [`schedule`], [`notify`], [`doctor`], [`status`].
//! - [`world`]: both emulators with a paired library, which `ferry demo` ([`demo`]), the
//!   integration tests and the benchmarks start from.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod csv_out;
pub mod demo;
pub mod doctor;
pub mod emulate;
pub mod exit;
pub mod html;
pub mod http;
pub mod ids;
pub mod index;
pub mod live;
pub mod logging;
pub mod mapping;
pub mod media;
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
pub mod webhook;
pub mod world;
pub mod xml;
