//! `ferry sync`: one run now, told in a few lines.

use crate::app::Ferry;
use crate::config::Config;
use crate::exit::Outcome;
use crate::notify::Notifier;
use crate::report::describe_sync;
use crate::sync::SyncOptions;
use anyhow::Result;

#[derive(clap::Args)]
pub(super) struct SyncArgs {
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
    /// Make no thumbnails of assets whose file changed (they are made when first viewed)
    #[arg(long)]
    no_thumbnails: bool,
}

pub(super) fn sync(config: &Config, args: &SyncArgs) -> Result<Outcome> {
    let mut ferry = Ferry::open(config)?;
    if args.no_thumbnails {
        ferry.settings.thumbnails.on_sync = false;
    }
    let mut store = ferry.open_store()?;
    let opts = SyncOptions {
        dry_run: args.dry_run,
        full: args.full,
        allow_mass_change: args.allow_mass_change,
        recover: args.recover,
    };
    let notifier = Notifier::new(&config.notify);
    let out = super::runtime()?.block_on(ferry.sync(
        &mut store,
        &opts,
        &notifier,
        crate::app::terminal_progress(),
    ))?;
    let dry = if args.dry_run {
        " (dry run: nothing written)"
    } else {
        ""
    };
    println!("run {}{dry}: {}", out.run_id, out.report.status);
    describe_sync(&out.report, &out.paths.html, &mut |line| println!("{line}"));
    Ok(out.outcome)
}
