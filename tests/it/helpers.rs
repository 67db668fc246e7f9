//! Helpers shared by the integration test modules.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Path of a file shipped in the repository (e.g. `mappings/default.toml`).
pub fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}
