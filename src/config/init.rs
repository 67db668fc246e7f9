//! `ferry init`: the commented `ferry.toml` template and the two files it writes.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::ConfigError;

/// The commented `ferry.toml` that `ferry init` writes.
pub const INIT_TEMPLATE: &str = include_str!("../config_template.toml");

/// Writes `dir/ferry.toml` (the template) and `dir/mapping.toml` (`default_mapping`), creating
/// `dir` if needed. Refuses before writing anything if either file exists.
pub fn write_init(dir: &Path, default_mapping: &str) -> Result<Vec<PathBuf>, ConfigError> {
    let files = [
        (dir.join("ferry.toml"), INIT_TEMPLATE),
        (dir.join("mapping.toml"), default_mapping),
    ];
    for (path, _) in &files {
        match fs::symlink_metadata(path) {
            Ok(_) => return Err(ConfigError::InitExists { path: path.clone() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(io) => {
                return Err(ConfigError::InitWrite {
                    path: path.clone(),
                    io,
                });
            }
        }
    }
    fs::create_dir_all(dir).map_err(|io| ConfigError::InitWrite {
        path: dir.to_path_buf(),
        io,
    })?;
    let mut written = Vec::new();
    for (path, content) in files {
        // `create_new` so that a file appearing since the check above is still not overwritten.
        let result = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut f| f.write_all(content.as_bytes()));
        match result {
            Ok(()) => written.push(path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ConfigError::InitExists { path });
            }
            Err(io) => return Err(ConfigError::InitWrite { path, io }),
        }
    }
    Ok(written)
}
