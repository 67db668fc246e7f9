//! Process exit codes shared by every command, as DESIGN.md fixes them (the same scheme as
//! Unison's): scripts and schedulers rely on these numbers, so they never change meaning.
//!
//! Invariant: a mistake in what the operator typed (a malformed query, an unknown id, a file
//! `init` would overwrite, an invalid mapping) exits [`Outcome::Failures`] (2); only fatal
//! errors, a held lock and a lockout exit [`Outcome::Fatal`] (3). [`outcome_of`] decides which
//! from the error's chain, and [`message`] prints that chain once, without a cause repeated
//! inside the message that wraps it.

use crate::config::ConfigError;
use crate::index::{IndexError, QueryError};
use crate::mapping::MappingError;

/// How a command ended, mapped one-to-one onto the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for was done.
    Done = 0,
    /// Some items were skipped (for example a value changed during the run).
    SomeSkipped = 1,
    /// Non-fatal failures: some items failed, or the input given was invalid.
    Failures = 2,
    /// Fatal error or locked out: nothing (more) could be done.
    Fatal = 3,
}

impl Outcome {
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A mistake in the command line's input: the message says what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InputError(pub String);

impl InputError {
    pub fn new(message: impl Into<String>) -> InputError {
        InputError(message.into())
    }
}

/// The exit code for a command that failed with `err`: [`Outcome::Failures`] when anything in
/// its chain is a mistake in the input, [`Outcome::Fatal`] otherwise.
pub fn outcome_of(err: &anyhow::Error) -> Outcome {
    let input = err.chain().any(|cause| {
        cause.is::<InputError>()
            || cause.is::<MappingError>()
            || cause.is::<QueryError>()
            || matches!(cause.downcast_ref(), Some(IndexError::Query(_)))
            || matches!(cause.downcast_ref(), Some(ConfigError::InitExists { .. }))
            || matches!(
                cause.downcast_ref(),
                Some(crate::transfer::TransferError::Refused(_))
            )
    });
    if input {
        Outcome::Failures
    } else {
        Outcome::Fatal
    }
}

/// `err` and its causes as one line, each cause once: a cause whose text the message above it
/// already contains (`#[error("...: {0}")]` next to `#[source]`) is not repeated.
pub fn message(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot search for that: {0}")]
    struct Wrapper(#[source] QueryError);

    #[test]
    fn a_cause_already_in_its_message_is_printed_once() {
        let q = QueryError {
            message: "year:abc is not a year".into(),
        };
        let err = anyhow::Error::new(Wrapper(q)).context("--filter year:abc");
        assert_eq!(
            message(&err),
            "--filter year:abc: cannot search for that: year:abc is not a year"
        );
        assert_eq!(outcome_of(&err), Outcome::Failures);
    }

    #[test]
    fn other_errors_stay_fatal() {
        let err = anyhow::anyhow!("disk full").context("cannot write the store");
        assert_eq!(message(&err), "cannot write the store: disk full");
        assert_eq!(outcome_of(&err), Outcome::Fatal);
        let err = anyhow::Error::new(InputError::new("there is no run 99"));
        assert_eq!(outcome_of(&err), Outcome::Failures);
    }
}
