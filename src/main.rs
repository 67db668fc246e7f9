//! The `ferry` binary: parse the command line, set up logging, run the command, and exit
//! with its outcome's code. Everything else lives in the library: `ferry::cli` parses and
//! prints, `ferry::app` wires the parts together.

use ferry::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::from_args();
    cli.init_logging();
    match ferry::cli::run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("error: {}", ferry::exit::message(&e));
            ExitCode::from(ferry::exit::outcome_of(&e).code())
        }
    }
}
