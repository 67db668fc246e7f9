//! Process exit codes shared by every command, as DESIGN.md fixes them (the same scheme as
//! Unison's): scripts and schedulers rely on these numbers, so they never change meaning.

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
