//! What can go wrong loading the configuration, and where the bad value came from. The messages
//! are the interface for the person fixing the file, so each names the file and line (or the
//! environment variable) and says what to do; none ever holds a secret value.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File { file: PathBuf, line: Option<usize> },
    Env { var: String },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                file,
                line: Some(line),
            } => write!(f, "{}:{line}", file.display()),
            Location::File { file, line: None } => write!(f, "{}", file.display()),
            Location::Env { var } => write!(f, "environment variable {var}"),
        }
    }
}

/// Everything that can go wrong loading the configuration or writing the `ferry init` files.
/// No variant ever holds a secret value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The OS error is part of the message (not a `source`), so that chained printers do not
    // repeat it.
    #[error("{}", read_message(file, io))]
    Read { file: PathBuf, io: io::Error },

    #[error("{}:{line}: invalid TOML: {message}", file.display())]
    Syntax {
        file: PathBuf,
        line: usize,
        message: String,
    },

    #[error("{}:{line}: unknown key '{key}' {}{}", file.display(), section_words(section), valid_keys_words(valid))]
    UnknownKey {
        file: PathBuf,
        line: usize,
        key: String,
        /// Dotted section name; empty for the top level.
        section: String,
        valid: Vec<String>,
    },

    #[error("{at}: {key}: {reason}")]
    Value {
        at: Location,
        key: String,
        reason: String,
    },

    #[error("{}: missing required key '{name}' in [{section}]; add it, or set {var}", file.display())]
    Missing {
        file: PathBuf,
        section: &'static str,
        name: &'static str,
        var: &'static str,
    },

    #[error(
        "{}:{line}: {key}: secrets are not allowed in ferry.toml; set {var} or {key}_file (a file only its owner can read: chmod 600)",
        file.display()
    )]
    InlineSecret {
        file: PathBuf,
        line: usize,
        key: &'static str,
        var: &'static str,
    },

    #[error("{at}: {key}_file: cannot read secret file {}: {io}", path.display())]
    SecretFileRead {
        at: Location,
        key: &'static str,
        path: PathBuf,
        io: io::Error,
    },

    #[error("{at}: {key}_file: secret file {} is empty", path.display())]
    SecretFileEmpty {
        at: Location,
        key: &'static str,
        path: PathBuf,
    },

    #[error(
        "{}: secret file is readable by others (mode {mode:04o}); run: chmod 600 {}",
        path.display(),
        path.display()
    )]
    SecretFileMode { path: PathBuf, mode: u32 },

    #[error("no {what}: set {var} or {key}_file in {}", file.display())]
    MissingSecret {
        what: &'static str,
        var: &'static str,
        key: &'static str,
        file: PathBuf,
    },

    #[error("unknown environment variable {var}{}", suggestion.map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    UnknownEnvVar {
        var: String,
        suggestion: Option<&'static str>,
    },

    #[error("{}: {message}", at)]
    Other { at: Location, message: String },

    #[error("{} already exists; ferry init never overwrites files", path.display())]
    InitExists { path: PathBuf },

    #[error("cannot write {}: {io}", path.display())]
    InitWrite { path: PathBuf, io: io::Error },
}

fn read_message(file: &Path, io: &io::Error) -> String {
    let hint = if io.kind() == io::ErrorKind::NotFound
        && file.file_name().is_some_and(|n| n == "ferry.toml")
    {
        let dir = file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        format!("; run 'ferry init {}' to create one", dir.display())
    } else {
        String::new()
    };
    format!("cannot read {}: {io}{hint}", file.display())
}

fn section_words(section: &str) -> String {
    if section.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{section}]")
    }
}

fn valid_keys_words(valid: &[String]) -> String {
    if valid.is_empty() {
        String::new()
    } else {
        format!("; valid keys: {}", valid.join(", "))
    }
}
