//! The `ferry` command line: parse arguments, load the config, call into the library, and map
//! the result onto the exit codes of `ferry::exit::Outcome`. No logic of its own lives here.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use ferry::config::{Config, Env};
use ferry::exit::{InputError, Outcome};
use ferry::mapping::Mapping;
use ferry::model::System;
use ferry::store::Store;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "Keeps a PhotoShelter library and a Preservica archive consistent, field by field",
    after_help = "Exit codes: 0 all done, 1 some items skipped, 2 failures or invalid input, 3 fatal, lock held or locked out."
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

/// How `status`, `conflicts list` and `doctor` print: for people, or JSON for scripts.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// `ferry search --sort`.
#[derive(Clone, Copy, ValueEnum)]
enum SearchSort {
    Relevance,
    DateAsc,
    DateDesc,
}

/// `ferry search --format`.
#[derive(Clone, Copy, ValueEnum)]
enum SearchFormat {
    Table,
    Json,
    Csv,
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

#[derive(clap::Args)]
struct SyncArgs {
    /// Compute and report everything; write nothing to either system or to the store's state
    #[arg(long)]
    dry_run: bool,
    /// List every asset, not only what changed since the last run
    #[arg(long)]
    full: bool,
    /// Apply a run even when it changes more assets than the mass-change guard allows
    #[arg(long)]
    allow_mass_change: bool,
    /// Clear a lockout left by a critical error (after checking its report), then run
    #[arg(long)]
    recover: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "Without --gallery or --media, archives what the [archive] rules in \
ferry.toml select (galleries in archive.ready_collection, media whose archive.ready_field says \
ready). Nothing is deleted; a stopped archive resumes where it stopped on the next run."
)]
struct ArchiveArgs {
    /// A PhotoShelter gallery id (repeatable): the gallery becomes a folder in the archive
    #[arg(long = "gallery", value_name = "GALLERY_ID")]
    galleries: Vec<String>,
    /// A PhotoShelter media id (repeatable)
    #[arg(long = "media", value_name = "MEDIA_ID")]
    media: Vec<String>,
    /// List what would move, with sizes; touch nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "Example: ferry republish --query \"regatta 1962\" --to-gallery \
\"Anniversary 2027\" --set campaign=\"Anniversary 2027\". Republishing the same asset into the \
same gallery again does nothing."
)]
struct RepublishArgs {
    /// A Preservica asset ref (repeatable)
    #[arg(long = "ref", value_name = "REF")]
    refs: Vec<String>,
    /// Every asset in this Preservica folder (its ref)
    #[arg(long)]
    folder: Option<String>,
    /// The assets a search finds (the query language of `ferry search`)
    #[arg(long)]
    query: Option<String>,
    /// At most this many search hits
    #[arg(long, default_value_t = ferry::transfer::republish::DEFAULT_QUERY_LIMIT)]
    limit: usize,
    /// The PhotoShelter gallery's name; created (with [republish] visibility) when missing
    #[arg(long, value_name = "NAME")]
    to_gallery: String,
    /// A metadata value for the new copies, e.g. --set campaign="Anniversary 2027" (repeatable)
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    set: Vec<String>,
    /// Republish assets whose licence has expired too
    #[arg(long)]
    allow_expired: bool,
    /// List what would move, with sizes; touch nothing
    #[arg(long)]
    dry_run: bool,
}

#[derive(clap::Args)]
#[command(
    after_help = "Query language: free words (misspellings tolerated), \"a phrase\", \
creator:mary, keyword:regatta, campaign:..., city:..., gallery:..., folder:..., year:1962, \
date:1960..1965 or \
date:1962-07-01..1962-07-31, expires:30 (licence expires within 30 days), \
rights:ok|expiring|expired|restricted|unknown, in:photoshelter|preservica|both."
)]
struct SearchArgs {
    /// The query
    query: Vec<String>,
    /// An extra filter in the same syntax (repeatable), e.g. --filter rights:expired
    #[arg(long = "filter", value_name = "FIELD:VALUE")]
    filters: Vec<String>,
    /// Count facets (creator, keyword, decade, year, rights, location, system)
    #[arg(long)]
    facets: bool,
    /// How many hits
    #[arg(long, default_value_t = 20)]
    limit: usize,
    /// Order of the hits
    #[arg(long, value_enum, default_value_t = SearchSort::Relevance)]
    sort: SearchSort,
    /// Output
    #[arg(long, value_enum, default_value_t = SearchFormat::Table)]
    format: SearchFormat,
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Rebuild the index from the store
    Rebuild,
}

#[derive(Subcommand)]
enum ConflictsCommand {
    /// List the open conflicts
    List {
        /// Also list resolved ones
        #[arg(long)]
        all: bool,
        /// Output: text, or json for scripts
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Decide a conflict; the next sync writes the chosen value to both systems
    Resolve {
        /// The conflict id (from `ferry conflicts list`)
        id: i64,
        /// `photoshelter`, `preservica`, or the value itself
        #[arg(long, value_name = "photoshelter|preservica|VALUE")]
        take: String,
    },
}

#[derive(Subcommand)]
enum PairsCommand {
    /// List suggested pairs
    Suggest,
    /// Confirm a suggested pair
    Accept {
        /// The suggestion id (from `ferry pairs suggest`)
        id: i64,
    },
}

#[derive(Subcommand)]
enum EmulateCommand {
    /// A local Preservica (Entity API, S3 upload with OPEX ingest, process monitor)
    Preservica(PreservicaEmulateArgs),
    /// A local PhotoShelter (psapi v4.0 and v3: media, IPTC, galleries, upload, download)
    Photoshelter(PhotoShelterEmulateArgs),
}

#[derive(clap::Args)]
struct PhotoShelterEmulateArgs {
    /// How many media to seed (in galleries of 250)
    #[arg(long, default_value_t = 0)]
    seed: usize,
    /// Seed of the generator: the same value gives the same library
    #[arg(long, default_value_t = 1962)]
    rng_seed: u64,
    /// Where to listen; port 0 picks a free port
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    #[command(flatten)]
    faults: FaultArgs,
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
            eprintln!("error: {}", ferry::exit::message(&e));
            ExitCode::from(ferry::exit::outcome_of(&e).code())
        }
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
        .with_ansi(ferry::logging::colour_for_this_process())
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
        Command::Status { format } => status(&Config::load(&config_path, &env)?, format),
        Command::Sync(args) => sync(&Config::load(&config_path, &env)?, &args),
        Command::Report { run, open } => report(&Config::load(&config_path, &env)?, run, open),
        Command::Conflicts { command } => conflicts(&Config::load(&config_path, &env)?, command),
        Command::Pairs { command } => pairs(&Config::load(&config_path, &env)?, command),
        Command::Demo { dir, media, serve } => demo(dir, media, serve),
        Command::Emulate {
            system: EmulateCommand::Preservica(args),
        } => emulate_preservica(args),
        Command::Emulate {
            system: EmulateCommand::Photoshelter(args),
        } => emulate_photoshelter(args),
        Command::Archive(args) => archive(&Config::load(&config_path, &env)?, &args),
        Command::Republish(args) => republish(&Config::load(&config_path, &env)?, &args),
        Command::Doctor { format } => doctor(&Config::load(&config_path, &env)?, format),
        Command::Search(args) => search(&Config::load(&config_path, &env)?, &args),
        Command::Index {
            command: IndexCommand::Rebuild,
        } => index_rebuild(&Config::load(&config_path, &env)?),
        Command::Serve { no_schedule } => serve(Config::load(&config_path, &env)?, no_schedule),
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

fn status(config: &Config, format: Format) -> Result<Outcome> {
    let store = Store::open(&config.paths.store)?;
    let report = ferry::status::gather(config, &store, chrono::Utc::now())?;
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(Outcome::Done)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

fn sync(config: &Config, args: &SyncArgs) -> Result<Outcome> {
    use ferry::sync::{SyncOptions, run_sync};
    let mapping = Mapping::load(&config.mapping)?;
    let mut store = Store::open(&config.paths.store)?;
    let photoshelter = ferry::photoshelter::client::PhotoShelterClient::new(&config.photoshelter)?;
    let preservica = ferry::preservica::client::PreservicaClient::from_config(&config.preservica)?;
    let progress =
        std::io::IsTerminal::is_terminal(&std::io::stderr()).then(indicatif::MultiProgress::new);
    let ctx = sync_context(config, &mapping, &photoshelter, &preservica, progress);
    let opts = SyncOptions {
        dry_run: args.dry_run,
        full: args.full,
        allow_mass_change: args.allow_mass_change,
        recover: args.recover,
    };
    let notifier = ferry::notify::Notifier::new(&config.notify);
    let out = runtime()?.block_on(async {
        let out = run_sync(&mut store, &ctx, &opts).await;
        let notices = match &out {
            Ok(o) => ferry::notify::notices_for(&o.report, &o.paths.html.display().to_string()),
            Err(e @ ferry::sync::SyncError::LockedOut(_)) => vec![ferry::notify::Notice {
                kind: "lockout",
                text: e.to_string(),
            }],
            Err(_) => Vec::new(),
        };
        notifier.send_all(&notices).await;
        out
    })?;
    println!(
        "run {}{}: {}",
        out.run_id,
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        out.report.status
    );
    ferry::demo::describe(&out, &mut |line| println!("{line}"));
    refresh_index(config, &mapping, &store, &out.touched);
    Ok(out.outcome)
}

fn report(config: &Config, run: Option<i64>, open: bool) -> Result<Outcome> {
    let store = Store::open(&config.paths.store)?;
    let runs = store.runs(1000)?;
    let row = match run {
        Some(id) => runs.into_iter().find(|r| r.id == id).ok_or_else(|| {
            InputError::new(format!(
                "there is no run {id}; `ferry report` without an id shows the latest"
            ))
        })?,
        None => runs.into_iter().next().ok_or_else(|| {
            InputError::new("no run yet; `ferry sync` (or `ferry demo`) makes one")
        })?,
    };
    println!(
        "run {} ({}{}): {}, started {}, finished {}",
        row.id,
        row.kind,
        if row.dry_run { ", dry run" } else { "" },
        row.status,
        row.started_at,
        row.finished_at.as_deref().unwrap_or("-")
    );
    let Some(stored) = row.report_path else {
        println!("this run wrote no report");
        return Ok(Outcome::Done);
    };
    let html = report_file(&stored, &config.paths.reports);
    let json = html.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&json)
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
    {
        let s = &v["summary"];
        if row.kind != "sync" {
            let transfers = v["transfers"].as_array().cloned().unwrap_or_default();
            let count = |state: &str| transfers.iter().filter(|t| t["state"] == state).count();
            println!(
                "transfers {}: done {}, failed {}, unfinished {}; failures {}",
                transfers.len(),
                count("done"),
                count("failed"),
                count("planned") + count("in_progress"),
                s["failures"]
            );
        } else {
            println!(
                "pairs {} ({} unchanged, not compared again), fields compared {}, in sync {}, drifted {}, pushed to PhotoShelter {}, to Preservica {}, conflicts waiting {}, failures {}",
                s["pairs"],
                s["pairs_unchanged"].as_u64().unwrap_or(0),
                s["fields_compared"],
                s["in_sync"],
                s["drifted"],
                s["pushed_to_photoshelter"],
                s["pushed_to_preservica"],
                s["conflicts_queued"],
                s["failures"]
            );
        }
        if let Some(why) = v["stopped"].as_str() {
            println!("stopped: {why}");
        }
    }
    println!("report: {}", html.display());
    println!(
        "        {} (JSON), {} (CSV)",
        json.display(),
        html.with_extension("csv").display()
    );
    if open {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        std::process::Command::new(opener)
            .arg(&html)
            .status()
            .with_context(|| {
                format!(
                    "cannot run {opener} to open {}; open it by hand",
                    html.display()
                )
            })?;
    }
    Ok(Outcome::Done)
}

/// Where a run's report is: the path the store holds (absolute, since the config's paths are),
/// or, for a run an older ferry recorded with a path relative to its working directory, the
/// file of that name in `paths.reports` when it is there.
fn report_file(stored: &str, reports: &Path) -> PathBuf {
    let path = Path::new(stored);
    if path.is_absolute() || path.exists() {
        return path.to_path_buf();
    }
    match path.file_name() {
        Some(name) if reports.join(name).is_file() => reports.join(name),
        _ => path.to_path_buf(),
    }
}

fn conflicts(config: &Config, command: ConflictsCommand) -> Result<Outcome> {
    let mut store = Store::open(&config.paths.store)?;
    match command {
        ConflictsCommand::List { all, format } => {
            let items = store.review_items(!all)?;
            if format == Format::Json {
                let json: Vec<_> = items.iter().map(ferry::status::conflict_json).collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "conflicts": json }))?
                );
                return Ok(Outcome::Done);
            }
            if items.is_empty() {
                println!("no conflicts wait for a person");
                return Ok(Outcome::Done);
            }
            for i in items {
                println!(
                    "#{}  {}  {} / {}  [{}]\n    PhotoShelter: {}\n    Preservica:   {}\n    why: {}",
                    i.id,
                    i.field,
                    i.photoshelter_id.as_deref().unwrap_or("-"),
                    i.preservica_ref.as_deref().unwrap_or("-"),
                    match &i.resolution {
                        Some(r) => format!("resolved: take {r}"),
                        None => i.status.clone(),
                    },
                    i.photoshelter_value.as_deref().unwrap_or("(no value)"),
                    i.preservica_value.as_deref().unwrap_or("(no value)"),
                    i.reason
                );
            }
            println!(
                "\nDecide one with: ferry conflicts resolve ID --take photoshelter|preservica|VALUE"
            );
            Ok(Outcome::Done)
        }
        ConflictsCommand::Resolve { id, take } => {
            let item = store
                .review_items(true)?
                .into_iter()
                .find(|i| i.id == id)
                .ok_or_else(|| {
                    InputError::new(format!(
                        "conflict #{id} is not open; `ferry conflicts list` shows the open ones"
                    ))
                })?;
            let (how, value) = match take.as_str() {
                "photoshelter" | "preservica" => (take.clone(), None),
                _ => {
                    let mapping = Mapping::load(&config.mapping)?;
                    let spec = mapping.field(&item.field).with_context(|| {
                        format!("the mapping no longer has field {}", item.field)
                    })?;
                    let value = ferry::model::FieldValue::parse(spec.kind, &take)
                        .map_err(|e| InputError::new(format!("--take for {}: {e}", item.field)))?
                        .map(|v| v.to_canonical_string());
                    ("value".to_string(), value)
                }
            };
            // Never raced with a run that is pushing: refused while one holds the lock.
            let recorded = ferry::sync::lock::while_no_run(&mut store, chrono::Utc::now(), |s| {
                s.resolve_review(id, &how, value.as_deref(), chrono::Utc::now())
            })?;
            anyhow::ensure!(
                recorded,
                "conflict #{id} was decided meanwhile; `ferry conflicts list --all` shows how"
            );
            println!(
                "conflict #{id} ({}) resolved: take {take}; the next sync writes it to both systems",
                item.field
            );
            Ok(Outcome::Done)
        }
    }
}

fn pairs(config: &Config, command: PairsCommand) -> Result<Outcome> {
    let mut store = Store::open(&config.paths.store)?;
    match command {
        PairsCommand::Suggest => {
            let rows = store.pair_suggestions()?;
            if rows.is_empty() {
                println!("no pair suggestions");
            }
            for (id, ps, pv, reason, status) in rows {
                println!("#{id}  {ps}  ⇄  {pv}  ({reason})  [{status}]");
            }
            Ok(Outcome::Done)
        }
        PairsCommand::Accept { id } => {
            anyhow::ensure!(
                store.accept_suggestion(id, chrono::Utc::now())?,
                "suggestion #{id} is not open, or one of its assets is already paired"
            );
            println!("paired (suggestion #{id}); the next sync reconciles them");
            Ok(Outcome::Done)
        }
    }
}

fn demo(dir: Option<PathBuf>, media: usize, serve: bool) -> Result<Outcome> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "ferry-demo-{}",
            chrono::Utc::now().format("%Y%m%d-%H%M%S")
        )),
    };
    anyhow::ensure!(
        !dir.join("ferry.db").exists(),
        "{} already holds a ferry store; give the demo a new directory",
        dir.display()
    );
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    println!("ferry demo\n");
    let mut say = |line: String| println!("{line}");
    if serve {
        let rt = runtime()?;
        rt.block_on(async {
            let (result, world) = ferry::demo::run_demo_kept(&dir, media, &mut say).await?;
            // Listening starts before the URLs are printed, so no early Ctrl-C is lost.
            let stop = ferry::server::stop_signal();
            ferry::demo::serve_demo(world, &result, stop, &mut say).await
        })?;
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
        return Ok(Outcome::Done);
    }
    let result = runtime()?.block_on(ferry::demo::run_demo(&dir, media, &mut say))?;
    println!(
        "\nThe store, index and reports stay in {dir}. Look around with:\n  ferry --config {cfg} report\n  ferry --config {cfg} conflicts list\n  ferry --config {cfg} search harbour regatta --facets\n  ferry --config {cfg} serve --no-schedule      (the web app, http://127.0.0.1:8080)\n\n`ferry demo --serve` keeps both emulators and the web app running after the demo, so sync, archive, republish and previews can be tried too.\n\nWith live tenants, the transfers above are:\n  ferry archive                  (what the [archive] rules select; or --gallery ID / --media ID)\n  ferry republish --query \"regatta 1962\" --to-gallery \"Anniversary 2027\" --set campaign=\"Anniversary 2027\"",
        dir = result.dir.display(),
        cfg = result.config.display(),
    );
    Ok(Outcome::Done)
}

fn search(config: &Config, args: &SearchArgs) -> Result<Outcome> {
    use ferry::index::{Filter, SearchIndex, SearchRequest, Sort};
    // Read-only: a `ferry serve` holding the writer does not block a search.
    let index = SearchIndex::open_read_only(&config.paths.index)?;
    let mut request = SearchRequest::new(&args.query.join(" "), chrono::Utc::now().date_naive());
    request.facets = args.facets;
    request.limit = args.limit;
    request.sort = match args.sort {
        SearchSort::Relevance => Sort::Relevance,
        SearchSort::DateAsc => Sort::DateAsc,
        SearchSort::DateDesc => Sort::DateDesc,
    };
    for f in &args.filters {
        request
            .filters
            .push(Filter::parse(f).with_context(|| format!("--filter {f}"))?);
    }
    let results = index.search(&request)?;
    if index.doc_count() == 0 {
        eprintln!(
            "error: the search index in {} is empty; build it with `ferry --config {} index rebuild` (a sync also fills it)",
            config.paths.index.display(),
            config.file.display()
        );
        return Ok(Outcome::Failures);
    }
    match args.format {
        SearchFormat::Table => print!("{}", ferry::index::format_table(&results)),
        SearchFormat::Csv => print!("{}", ferry::index::format_csv(&results)),
        SearchFormat::Json => println!("{}", serde_json::to_string_pretty(&results)?),
    }
    Ok(Outcome::Done)
}

fn index_rebuild(config: &Config) -> Result<Outcome> {
    let store = Store::open(&config.paths.store)?;
    let mut index = ferry::index::SearchIndex::recreate(&config.paths.index)?;
    index.set_mapping(Mapping::load(&config.mapping)?);
    let n = index.update_from_store(&store, None, chrono::Utc::now().date_naive())?;
    println!("indexed {n} assets into {}", config.paths.index.display());
    Ok(Outcome::Done)
}

/// Refreshes the index for what a run touched. Another process updating it (`ferry serve`,
/// another command) is waited for, within `ferry::index::WRITER_WAIT`.
fn refresh_index(config: &Config, mapping: &Mapping, store: &Store, touched: &[i64]) {
    if touched.is_empty() {
        return;
    }
    let result = ferry::index::SearchIndex::update_dir(
        &config.paths.index,
        mapping,
        store,
        Some(touched),
        chrono::Utc::now().date_naive(),
    );
    match result {
        Ok(n) => tracing::info!(documents = n, "search index updated"),
        Err(e) => {
            tracing::warn!(error = %e, "the search index was not updated; run `ferry index rebuild`")
        }
    }
}

fn serve(config: Config, no_schedule: bool) -> Result<Outcome> {
    use std::sync::{Arc, Mutex};
    let mapping = Mapping::load(&config.mapping)?;
    let mut index = ferry::index::SearchIndex::open(&config.paths.index)?;
    index.set_mapping(mapping.clone());
    let index: ferry::server::SharedIndex = Arc::new(Mutex::new(index));
    let schedule = ferry::schedule::Schedule::parse(&config.schedule.nightly)
        .map_err(|e| anyhow::anyhow!("schedule.nightly: {e}"))?;
    let rt = runtime()?;
    let outcome = rt.block_on(async move {
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
        // Listening starts here, before the server says it is up, so an early SIGTERM is
        // not lost to the default action.
        let stop = ferry::server::stop_signal();
        tokio::spawn(async move {
            let signal = stop.await;
            tracing::info!(
                signal,
                "stopping: no new sync starts; a running one may finish"
            );
            let _ = signal_tx.send(signal);
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|v| *v).await;
        };
        let running = ferry::server::start(
            ferry::server::ServerOptions {
                listen: config.server.listen,
                access_token: config.server.access_token.clone(),
                store_path: config.paths.store.clone(),
                index_dir: config.paths.index.clone(),
                reports_dir: config.paths.reports.clone(),
                mapping: mapping.clone(),
                index: Some(index.clone()),
                republisher: ferry::server::Republisher::from_config(&config),
            },
            stopped(stop_rx.clone()),
        )
        .await?;
        println!("ferry web app: {}", running.url());
        let service = if no_schedule {
            None
        } else {
            let clock = ferry::clock::Clock::system();
            let nightly = ferry::schedule::Nightly::new(schedule, clock.now());
            println!(
                "nightly sync: \"{}\" (UTC), next at {}",
                config.schedule.nightly,
                nightly
                    .next()
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| "never".into())
            );
            let config = Arc::new(config);
            let job = {
                let config = config.clone();
                let mapping = mapping.clone();
                move || scheduled_sync(config.clone(), mapping.clone())
            };
            Some(tokio::spawn(ferry::schedule::run_service(
                nightly,
                clock,
                std::time::Duration::from_secs(30),
                ferry::notify::Notifier::new(&config.notify),
                job,
                ferry::schedule::Stop {
                    signal: stopped(stop_rx.clone()),
                    grace: STOP_GRACE,
                },
            )))
        };
        running.wait().await?;
        if let Some(service) = service {
            let _ = service.await;
        }
        let signal = signal_rx.await.unwrap_or("a stop request");
        println!("ferry stopped ({signal})");
        Ok(Outcome::Done)
    });
    // A sync still running past the grace period is not waited for again here: its
    // planned writes stay in the outbox, and the next run finishes them.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    outcome
}

/// How long `ferry serve` lets a running sync finish once asked to stop: under the 30
/// minutes `contrib/ferry.service` gives before systemd kills the process, so ferry ends on
/// its own terms.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(25 * 60);

/// What a sync run needs, from the config: the same for `ferry sync` and scheduled runs.
fn sync_context<'a>(
    config: &Config,
    mapping: &'a Mapping,
    photoshelter: &'a ferry::photoshelter::client::PhotoShelterClient,
    preservica: &'a ferry::preservica::client::PreservicaClient,
    progress: Option<indicatif::MultiProgress>,
) -> ferry::sync::SyncContext<'a> {
    ferry::sync::SyncContext {
        mapping,
        photoshelter,
        preservica,
        max_change_share: config.guard.max_change_share,
        min_assets: config.guard.min_assets,
        concurrency_photoshelter: config.photoshelter.concurrency,
        concurrency_preservica: config.preservica.concurrency,
        reports_dir: config.paths.reports.clone(),
        clock: ferry::clock::Clock::system(),
        progress,
        expiring_days: config.notify.expiring_days,
        rights: config.rights.clone(),
    }
}

/// One scheduled sync inside `ferry serve`: the same run as `ferry sync`, then the index is
/// refreshed for what it touched (the web app's reader follows at its next search).
async fn scheduled_sync(
    config: std::sync::Arc<Config>,
    mapping: Mapping,
) -> ferry::schedule::JobResult {
    use ferry::schedule::JobResult;
    use ferry::sync::{SyncError, SyncOptions, run_sync};
    let setup = (|| -> Result<_> {
        let store = Store::open(&config.paths.store)?;
        let photoshelter =
            ferry::photoshelter::client::PhotoShelterClient::new(&config.photoshelter)?;
        let preservica =
            ferry::preservica::client::PreservicaClient::from_config(&config.preservica)?;
        Ok((store, photoshelter, preservica))
    })();
    let (mut store, photoshelter, preservica) = match setup {
        Ok(s) => s,
        Err(e) => return JobResult::Failed(format!("{e:#}")),
    };
    let ctx = sync_context(&config, &mapping, &photoshelter, &preservica, None);
    let synced = run_sync(&mut store, &ctx, &SyncOptions::default()).await;
    // The nightly archive rules run after a sync that finished: what it pulled decides
    // which media a status field marks ready.
    let archived = match &synced {
        Ok(out) if out.outcome != Outcome::Fatal => {
            nightly_archive(&config, &mapping, &photoshelter, &preservica, &mut store).await
        }
        _ => None,
    };
    if let Some(Err(e)) = &archived {
        tracing::warn!(error = %e, "the nightly archive did not run");
    }
    let mut touched_by_archive = match &archived {
        Some(Ok(a)) => a.touched.clone(),
        _ => Vec::new(),
    };
    match synced {
        Ok(mut out) => {
            out.touched.append(&mut touched_by_archive);
            refresh_index(&config, &mapping, &store, &out.touched);
            let mut notices =
                ferry::notify::notices_for(&out.report, &out.paths.html.display().to_string());
            let mut exit_code = out.outcome.code();
            match &archived {
                Some(Ok(a)) => {
                    if let (Some(report), Some(paths)) = (&a.report, &a.paths) {
                        notices.extend(ferry::notify::notices_for(
                            report,
                            &paths.html.display().to_string(),
                        ));
                    }
                    exit_code = exit_code.max(a.outcome.code());
                }
                Some(Err(e)) => {
                    notices.push(ferry::notify::Notice {
                        kind: "failures",
                        text: format!("the nightly archive did not run: {e}"),
                    });
                    exit_code = exit_code.max(Outcome::Failures.code());
                }
                None => {}
            }
            JobResult::Finished { exit_code, notices }
        }
        Err(e @ SyncError::LockedOut(_)) => JobResult::LockedOut(e.to_string()),
        Err(e @ SyncError::Locked(_)) => JobResult::Locked(e.to_string()),
        Err(e) => JobResult::Failed(e.to_string()),
    }
}

/// The web app's republish settings, when the config can reach both tenants (a missing
/// secret only hides the action; `ferry doctor` says what is wrong).
/// What a transfer command needs, from the config.
fn transfer_context<'a>(
    config: &'a Config,
    mapping: &'a Mapping,
    photoshelter: &'a ferry::photoshelter::client::PhotoShelterClient,
    preservica: &'a ferry::preservica::client::PreservicaClient,
) -> ferry::transfer::TransferContext<'a> {
    ferry::transfer::TransferContext {
        mapping,
        photoshelter,
        preservica,
        archive: &config.archive,
        republish: &config.republish,
        reports_dir: config.paths.reports.clone(),
        index_dir: config.paths.index.clone(),
        clock: ferry::clock::Clock::system(),
        progress: std::io::IsTerminal::is_terminal(&std::io::stderr())
            .then(indicatif::MultiProgress::new),
    }
}

fn archive(config: &Config, args: &ArchiveArgs) -> Result<Outcome> {
    use ferry::transfer::archive::{ArchiveOptions, ArchiveRequest, run_archive};
    let request = ArchiveRequest {
        galleries: args.galleries.clone(),
        media: args.media.clone(),
        by_rules: args.galleries.is_empty() && args.media.is_empty(),
    };
    if request.by_rules
        && config.archive.ready_collection.is_none()
        && config.archive.ready_field.is_none()
    {
        println!(
            "nothing to archive: no --gallery or --media given, and {} sets no archive rule \
             (archive.ready_collection or archive.ready_field)",
            config.file.display()
        );
        return Ok(Outcome::Done);
    }
    let mapping = Mapping::load(&config.mapping)?;
    let mut store = Store::open(&config.paths.store)?;
    let photoshelter = ferry::photoshelter::client::PhotoShelterClient::new(&config.photoshelter)?;
    let preservica = ferry::preservica::client::PreservicaClient::from_config(&config.preservica)?;
    let ctx = transfer_context(config, &mapping, &photoshelter, &preservica);
    let opts = ArchiveOptions {
        dry_run: args.dry_run,
        stop_after: None,
    };
    let out = runtime()?.block_on(run_archive(&mut store, &ctx, &request, &opts))?;
    if out.planned.is_empty() {
        println!("nothing to archive: what was asked for selects no gallery or media");
    }
    ferry::transfer::describe(&out, &mut |line| println!("{line}"));
    refresh_index(config, &mapping, &store, &out.touched);
    Ok(out.outcome)
}

fn republish(config: &Config, args: &RepublishArgs) -> Result<Outcome> {
    use ferry::transfer::republish::{RepublishOptions, RepublishRequest, run_republish};
    let mut set = Vec::new();
    for s in &args.set {
        let (field, value) = s.split_once('=').with_context(|| {
            format!(
                "--set {s:?}: write it as FIELD=VALUE, e.g. --set campaign=\"Anniversary 2027\""
            )
        })?;
        set.push((field.trim().to_string(), value.to_string()));
    }
    anyhow::ensure!(
        !args.refs.is_empty() || args.folder.is_some() || args.query.is_some(),
        "say what to republish: --ref REF, --folder REF or --query \"...\""
    );
    let mapping = Mapping::load(&config.mapping)?;
    let mut store = Store::open(&config.paths.store)?;
    let photoshelter = ferry::photoshelter::client::PhotoShelterClient::new(&config.photoshelter)?;
    let preservica = ferry::preservica::client::PreservicaClient::from_config(&config.preservica)?;
    let ctx = transfer_context(config, &mapping, &photoshelter, &preservica);
    let request = RepublishRequest {
        refs: args.refs.clone(),
        folder: args.folder.clone(),
        query: args.query.clone(),
        limit: args.limit,
        to_gallery: args.to_gallery.clone(),
        set,
        allow_expired: args.allow_expired,
    };
    let opts = RepublishOptions {
        dry_run: args.dry_run,
        stop_after: None,
    };
    let out = runtime()?.block_on(run_republish(&mut store, &ctx, &request, &opts))?;
    ferry::transfer::describe(&out, &mut |line| println!("{line}"));
    refresh_index(config, &mapping, &store, &out.touched);
    Ok(out.outcome)
}

/// The nightly archive: what the `[archive]` rules select, when any rule and the target
/// folder are configured.
async fn nightly_archive(
    config: &Config,
    mapping: &Mapping,
    photoshelter: &ferry::photoshelter::client::PhotoShelterClient,
    preservica: &ferry::preservica::client::PreservicaClient,
    store: &mut Store,
) -> Option<Result<ferry::transfer::TransferOutcome, ferry::transfer::TransferError>> {
    let rules = config.archive.ready_collection.is_some() || config.archive.ready_field.is_some();
    if !rules || config.archive.folder.is_none() {
        return None;
    }
    let mut ctx = transfer_context(config, mapping, photoshelter, preservica);
    ctx.progress = None;
    let request = ferry::transfer::archive::ArchiveRequest {
        by_rules: true,
        ..Default::default()
    };
    Some(ferry::transfer::archive::run_archive(store, &ctx, &request, &Default::default()).await)
}

fn doctor(config: &Config, format: Format) -> Result<Outcome> {
    use ferry::doctor::{Status, check_photoshelter, check_preservica};
    let (ps, pv) = runtime()?.block_on(async {
        tokio::join!(
            check_photoshelter(&config.photoshelter),
            check_preservica(&config.preservica)
        )
    });
    let mut checks: Vec<_> = ps.into_iter().chain(pv).collect();
    let photoshelter_ready = checks
        .iter()
        .all(|c| c.system != ferry::model::System::PhotoShelter || c.status != Status::Fail);
    if photoshelter_ready {
        match Mapping::load(&config.mapping) {
            Ok(mapping) => checks.extend(runtime()?.block_on(
                ferry::doctor::custom::check_custom_fields(&config.photoshelter, &mapping),
            )),
            Err(e) => checks.push(ferry::doctor::Check {
                system: ferry::model::System::PhotoShelter,
                name: "custom field",
                status: Status::Fail,
                detail: format!("the mapping cannot be read: {e}"),
            }),
        }
    }
    let local = [ferry::doctor::local::check_store(&config.paths.store)];
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| format!("{} {}", c.system, c.name))
        .collect();
    let outcome = if failed.is_empty() {
        Outcome::Done
    } else {
        Outcome::Failures
    };
    if format == Format::Json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ferry::doctor::to_json(&checks, &local))?
        );
        return Ok(outcome);
    }
    let rows: Vec<[String; 4]> = checks
        .iter()
        .map(|c| {
            [
                c.system.to_string(),
                c.name.to_string(),
                c.status.label().to_string(),
                c.detail.clone(),
            ]
        })
        .chain(local.iter().map(|c| {
            [
                "ferry".to_string(),
                c.name.to_string(),
                c.status.label().to_string(),
                c.detail.clone(),
            ]
        }))
        .collect();
    print_table(
        &["system", "check", "result", "detail"].map(String::from),
        &rows,
    );
    if failed.is_empty() {
        println!("\nboth tenants are ready for `ferry sync`");
    } else {
        println!("\nnot ready: {}", failed.join(", "));
    }
    Ok(outcome)
}

fn emulate_photoshelter(args: PhotoShelterEmulateArgs) -> Result<Outcome> {
    use ferry::photoshelter::emulator::{self, EmulatorOptions};
    let mut faults = args.faults.options()?;
    faults.exempt_prefixes = vec![
        "/psapi/v4.0/authenticate".into(),
        "/psapi/v3/mem/authenticate".into(),
    ];
    let options = EmulatorOptions {
        seed_media: args.seed,
        seed: args.rng_seed,
        faults,
        capture: false,
        ..EmulatorOptions::default()
    };
    runtime()?.block_on(async {
        let emu = emulator::start(options, args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let o = emu.options();
        println!("PhotoShelter emulator listening on {}", emu.url());
        println!("  base_url    {}", emu.url());
        println!("  api key     {}  (v3: {})", o.api_key_v4, o.api_key_v3);
        println!("  email       {}", o.email);
        println!("  password    {}", o.password);
        println!("  org_id      {}", o.org_id);
        println!(
            "  media       {} in {} galleries",
            emu.media_ids().len(),
            emu.gallery_ids().len()
        );
        println!("Press Ctrl-C to stop.");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
        emu.stop().await;
        Ok(Outcome::Done)
    })
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
    runtime()?.block_on(async {
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
