//! Where log lines go and how they look.
//!
//! Invariant: logs carry ANSI colour only when stderr is a terminal and `NO_COLOR` is unset
//! or empty (<https://no-color.org>), so a log file, a pipe or a journal never holds escape
//! codes.

/// Whether log lines may use colour: stderr is a terminal and `NO_COLOR` does not forbid it.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// [`use_colour`] for this process.
pub fn colour_for_this_process() -> bool {
    use_colour(
        std::io::IsTerminal::is_terminal(&std::io::stderr()),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::use_colour;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_and_never_with_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
    }
}
