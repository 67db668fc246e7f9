//! The nightly sync cycle: pull both systems, reconcile each paired field three ways, plan the
//! corrections, guard against mass change, push through the outbox, and report.

pub mod concurrent;
pub mod cycle;
pub mod engine;
mod execute;
pub mod lock;
pub mod pair;
pub mod plan;
pub mod pull;
pub mod push;
pub mod reconcile;

pub use cycle::{Scope, SyncContext, SyncError, SyncOptions, SyncOutcome, run_scoped, run_sync};
