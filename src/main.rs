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
    /// Run a local emulator of one of the systems, for trying ferry without accounts
    Emulate {
        #[command(subcommand)]
        system: EmulateCommand,
    },
}

#[derive(Subcommand)]
enum EmulateCommand {
    /// A local Preservica (Entity API, S3 upload with OPEX ingest, process monitor)
    Preservica(PreservicaEmulateArgs),
}

#[derive(clap::Args)]
struct PreservicaEmulateArgs {
    /// How many assets to seed (in folders of 250)
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// Seed of the generator: the same value gives the same library
    #[arg(long, default_value_t = 1)]
    rng_seed: u64,
    /// The server version to emulate; namespaces follow it (e.g. 6.2, 7.7, 8.1)
    #[arg(long, default_value = "7.7.0")]
    server_version: String,
    /// Where to listen; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// Seconds an access token stays valid (Preservica's own is 15 minutes); a short
    /// lifetime exercises a client's re-login on 401
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    token_seconds: u64,
    #[command(flatten)]
    faults: FaultArgs,
}

/// Fault injection, off by default.
#[derive(clap::Args)]
struct FaultArgs {
    /// Milliseconds added to every answer
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of requests answered 429 with Retry-After (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    throttle: f64,
    /// Share of requests answered 502 or 503 (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    unavailable: f64,
    /// Share of answers cut short (0 to 1)
    #[arg(long, default_value_t = 0.0)]
    truncate: f64,
}

impl FaultArgs {
    fn options(&self) -> Result<ferry::emulate::FaultOptions> {
        for (name, v) in [
            ("--throttle", self.throttle),
            ("--unavailable", self.unavailable),
            ("--truncate", self.truncate),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&v),
                "{name} takes a share from 0 to 1, got {v}"
            );
        }
        Ok(ferry::emulate::FaultOptions {
            latency: std::time::Duration::from_millis(self.latency_ms),
            throttle_share: self.throttle,
            retry_after_secs: 1,
            unavailable_share: self.unavailable,
            truncate_share: self.truncate,
            // Logins stay reliable so that faults hit the data calls under test.
            exempt_prefixes: vec!["/api/accesstoken".into()],
            ..Default::default()
        })
    }
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
        Command::Emulate {
            system: EmulateCommand::Preservica(args),
        } => emulate_preservica(args),
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

fn emulate_preservica(args: PreservicaEmulateArgs) -> Result<Outcome> {
    use ferry::preservica::emulator::{self, EmulatorOptions};
    let version =
        ferry::preservica::wire::Version::parse(&args.server_version).with_context(|| {
            format!(
                "--server-version '{}' is not a version like 7.7.0",
                args.server_version
            )
        })?;
    let options = EmulatorOptions {
        version,
        seed_assets: args.seed,
        seed: args.rng_seed,
        token_lifetime: std::time::Duration::from_secs(args.token_seconds),
        faults: args.faults.options()?,
        ..EmulatorOptions::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let emu = emulator::start(options, args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let o = emu.options();
        println!(
            "Preservica emulator {} listening on {}",
            o.version,
            emu.url()
        );
        println!("  server    {}  (protocol http)", emu.server());
        println!("  username  {}", o.username);
        println!("  password  {}", o.password);
        println!("  tenant    {}", o.tenant);
        println!(
            "  assets    {} in {} folders",
            o.seed_assets,
            o.seed_assets.div_ceil(o.seed_folder_size)
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        emu.stop().await;
        Ok(Outcome::Done)
    })
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
