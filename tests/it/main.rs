//! ferry's integration tests: one test binary (each extra binary relinks the whole stack),
//! one module per capability, shared helpers in `helpers.rs`.

mod helpers;

mod cli;
mod config;
mod mapping;
mod model;
mod opex;
mod photoshelter;
mod preservica;
mod report;
mod store;
mod sync;
