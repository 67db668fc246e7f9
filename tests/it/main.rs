//! ferry's integration tests: one test binary (each extra binary relinks the whole stack),
//! one module per capability, shared helpers in `helpers.rs`.

mod helpers;

mod asset_urls;
mod browser;
mod charts;
mod cli;
mod concurrent;
mod config;
mod decide;
mod demo_serve;
mod hostile;
mod index;
mod live;
mod mapping;
mod model;
mod opex;
mod pace;
mod photoshelter;
mod preservica;
mod preservica_actions;
mod props;
mod report;
mod republish_checks;
mod server;
mod side_by_side;
mod signals;
mod soak;
mod store;
mod sync;
mod templates;
mod thumbs;
mod transfer;
mod webhooks;
