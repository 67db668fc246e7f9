//! The `ferry` command line: clap types (every closed choice a [`ValueEnum`]) and one file per
//! command group, each parsing its arguments, calling [`crate::app`] (or the module that owns
//! the question) and printing the result. The exit code comes from [`crate::exit::Outcome`].
//! `src/main.rs` only parses, sets up logging, calls [`run`] and exits.

mod conflicts;
mod demo;
mod doctor;
mod emulate;
mod init;
mod report;
mod search;
mod serve;
mod status;
mod sync;
mod table;
mod transfer;

use crate::config::{Config, Env};
use crate::exit::Outcome;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use conflicts::{ConflictsCommand, PairsCommand};
use emulate::EmulateCommand;
use init::MappingsCommand;
use search::{IndexCommand, SearchArgs};
use std::path::PathBuf;
use sync::SyncArgs;
use transfer::{ArchiveArgs, RepublishArgs};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Keeps a PhotoShelter library and a Preservica archive consistent, field by field",
    after_help = "Exit codes: 0 all done, 1 some items skipped, 2 failures or invalid input, 3 fatal, lock held or locked out."
)]
pub struct Cli {
    /// The config file [default: ./ferry.toml]
    #[arg(long, global = true, env = "FERRY_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors in the log
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Log format
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

/// How `status`, `conflicts list` and `doctor` print: for people, or JSON for scripts.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Write a commented ferry.toml and the default mapping into DIR (never overwrites)
    Init {
        /// Where to write them [default: the current directory]
        dir: Option<PathBuf>,
    },
    /// Check field mappings
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    /// What needs attention: lockout, run lock, last run, next scheduled run, conflicts, and
    /// what the store holds
    Status {
        /// Output: text, or json for scripts
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Run one sync cycle now: pull both systems, reconcile, push corrections, report
    Sync(SyncArgs),
    /// Show a run's report: its summary and where its files are (latest run by default)
    Report {
        /// The run id
        run: Option<i64>,
        /// Open the HTML report in a browser
        #[arg(long)]
        open: bool,
    },
    /// Review the conflicts that wait for a person
    Conflicts {
        #[command(subcommand)]
        command: ConflictsCommand,
    },
    /// Review pairs ferry suggests (same file name and date) but never makes by itself
    Pairs {
        #[command(subcommand)]
        command: PairsCommand,
    },
    /// Archive finished PhotoShelter galleries and media into Preservica, with captions,
    /// rights records and releases; writes the preservation reference back
    Archive(ArchiveArgs),
    /// Republish archive assets into a PhotoShelter gallery for reuse, with their metadata
    Republish(RepublishArgs),
    /// Check both tenants: reachability, TLS, credentials, organisation, version, roles, access
    Doctor {
        /// Output: text, or json for scripts
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Search the archive index (see `ferry search --help` for the query language)
    Search(SearchArgs),
    /// Maintain the search index
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Run the web app (search, assets, runs, conflicts, /healthz, /metrics) and the nightly sync
    Serve {
        /// Serve the web app only; run no scheduled syncs
        #[arg(long)]
        no_schedule: bool,
    },
    /// Try ferry with no accounts: both emulators, a seeded library, a day of edits, two syncs
    Demo {
        /// Where to keep the config, store and reports [default: a new temp directory]
        dir: Option<PathBuf>,
        /// How many media the PhotoShelter library holds
        #[arg(long, default_value_t = 300)]
        media: usize,
        /// Then keep both emulators and the web app running, to explore, until Ctrl-C
        #[arg(long)]
        serve: bool,
    },
    /// Run a local emulator of one of the systems, for trying ferry without accounts
    Emulate {
        #[command(subcommand)]
        system: EmulateCommand,
    },
}

impl Cli {
    /// Parses the process's arguments (exits with clap's usage message when they are wrong).
    pub fn from_args() -> Cli {
        Cli::parse()
    }

    /// Logging to stderr at the level the flags (or `FERRY_LOG`) ask for.
    pub fn init_logging(&self) {
        init_logging(self)
    }
}

fn init_logging(cli: &Cli) {
    // The demo tells its own story on stdout; its logs stay out of the way unless asked for.
    let quiet_default = matches!(cli.command, Command::Demo { .. });
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) if quiet_default => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // FERRY_LOG (EnvFilter syntax) overrides the flags, for debugging one module.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(crate::logging::colour_for_this_process())
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the parsed command; the outcome (or error) decides the exit code.
pub fn run(cli: Cli) -> Result<Outcome> {
    let env = Env::from_process();
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| Config::default_path(&env));
    match cli.command {
        Command::Init { dir } => init::init(&dir.unwrap_or_else(|| PathBuf::from("."))),
        Command::Mappings {
            command: MappingsCommand::Check { file },
        } => {
            let file =
                match file {
                    Some(f) => f,
                    None => Config::load(&config_path, &env)
                        .context(
                            "no mapping file given, so ferry looked for the one ferry.toml names",
                        )?
                        .mapping,
                };
            init::mappings_check(&file)
        }
        Command::Status { format } => status::status(&Config::load(&config_path, &env)?, format),
        Command::Sync(args) => sync::sync(&Config::load(&config_path, &env)?, &args),
        Command::Report { run, open } => {
            report::report(&Config::load(&config_path, &env)?, run, open)
        }
        Command::Conflicts { command } => {
            conflicts::conflicts(&Config::load(&config_path, &env)?, command)
        }
        Command::Pairs { command } => conflicts::pairs(&Config::load(&config_path, &env)?, command),
        Command::Demo { dir, media, serve } => demo::demo(dir, media, serve),
        Command::Emulate {
            system: EmulateCommand::Preservica(args),
        } => emulate::emulate_preservica(args),
        Command::Emulate {
            system: EmulateCommand::Photoshelter(args),
        } => emulate::emulate_photoshelter(args),
        Command::Archive(args) => transfer::archive(&Config::load(&config_path, &env)?, &args),
        Command::Republish(args) => transfer::republish(&Config::load(&config_path, &env)?, &args),
        Command::Doctor { format } => doctor::doctor(&Config::load(&config_path, &env)?, format),
        Command::Search(args) => search::search(&Config::load(&config_path, &env)?, &args),
        Command::Index {
            command: IndexCommand::Rebuild,
        } => search::index_rebuild(&Config::load(&config_path, &env)?),
        Command::Serve { no_schedule } => {
            serve::serve(Config::load(&config_path, &env)?, no_schedule)
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}
