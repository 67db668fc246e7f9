//! The `ferry` command line: parse arguments, load the config, call into the library, and map
//! the result onto the exit codes of `ferry::exit::Outcome`. No logic of its own lives here.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ferry::config::{Config, Env};
use ferry::exit::Outcome;
use ferry::mapping::{Mapping, MappingError};
use ferry::model::System;
use ferry::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Keeps a PhotoShelter library and a Preservica archive consistent, field by field",
    after_help = "Exit codes: 0 all done, 1 some items skipped, 2 failures or invalid input, 3 fatal or locked out."
)]
struct Cli {
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
    /// Show the store: its path, schema version and what it holds
    Status,
}

#[derive(Subcommand)]
enum MappingsCommand {
    /// Validate a mapping file and print its fields, locations and rules
    Check {
        /// The mapping file [default: the one ferry.toml names]
        file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    match run(cli) {
        Ok(outcome) => ExitCode::from(outcome.code()),
        Err(e) => {
            eprintln!("error: {e:#}");
            let outcome = if e.downcast_ref::<MappingError>().is_some() {
                Outcome::Failures
            } else {
                Outcome::Fatal
            };
            ExitCode::from(outcome.code())
        }
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // FERRY_LOG (EnvFilter syntax) overrides the flags, for debugging one module.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Human => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(cli: Cli) -> Result<Outcome> {
    let env = Env::from_process();
    let config_path = cli
        .config
        .clone()
        .unwrap_or_else(|| Config::default_path(&env));
    match cli.command {
        Command::Init { dir } => init(&dir.unwrap_or_else(|| PathBuf::from("."))),
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
            mappings_check(&file)
        }
        Command::Status => status(&Config::load(&config_path, &env)?),
    }
}

fn init(dir: &Path) -> Result<Outcome> {
    let written = ferry::config::write_init(dir, Mapping::default_text())?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    let config = dir.join("ferry.toml");
    println!(
        "\nNext: edit {} (tenants, and secrets through the environment), then run\n  ferry --config {} mappings check\n  ferry --config {} status",
        config.display(),
        config.display(),
        config.display()
    );
    Ok(Outcome::Done)
}

fn mappings_check(file: &Path) -> Result<Outcome> {
    let mapping = Mapping::load(file)?;
    let rows: Vec<[String; 6]> = mapping
        .fields
        .iter()
        .map(|f| {
            let limit = |s: System| f.max_bytes(s).map(|b| b.to_string()).unwrap_or_default();
            [
                f.name.clone(),
                f.kind.to_string(),
                f.rule.to_string(),
                f.describe_location(System::PhotoShelter, &mapping),
                f.describe_location(System::Preservica, &mapping),
                [limit(System::PhotoShelter), limit(System::Preservica)]
                    .iter()
                    .zip(["ps", "pv"])
                    .filter(|(l, _)| !l.is_empty())
                    .map(|(l, s)| format!("{s} {l}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        })
        .collect();
    let header = [
        "field",
        "kind",
        "rule",
        "photoshelter",
        "preservica",
        "max bytes",
    ]
    .map(String::from);
    print_table(&header, &rows);
    println!(
        "\n{}: {} fields ({} reconciled in both systems), {} Preservica fragments: ok",
        file.display(),
        mapping.fields.len(),
        mapping.paired_fields().count(),
        mapping.fragments.len()
    );
    Ok(Outcome::Done)
}

fn status(config: &Config) -> Result<Outcome> {
    let store = Store::open(&config.paths.store)?;
    let counts = store.counts()?;
    println!("config          {}", config.file.display());
    println!("store           {}", config.paths.store.display());
    println!(
        "schema version  {} (this ferry: {})",
        store.schema_version()?,
        Store::latest_schema_version()
    );
    for (label, n) in counts.rows() {
        println!("{label:<15} {n}");
    }
    Ok(Outcome::Done)
}

fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    line(&widths.map(|w| "-".repeat(w)));
    for row in rows {
        line(row);
    }
}
