//! `ferry archive` and `ferry republish`: transfers between the systems.

use crate::app::{Ferry, terminal_progress};
use crate::config::Config;
use crate::exit::Outcome;
use crate::transfer::archive::{ArchiveOptions, ArchiveRequest};
use crate::transfer::republish::{RepublishOptions, RepublishRequest};
use anyhow::{Context, Result};

#[derive(clap::Args)]
#[command(
    after_help = "Without --gallery or --media, archives what the [archive] rules in \
ferry.toml select (galleries in archive.ready_collection, media whose archive.ready_field says \
ready). Nothing is deleted; a stopped archive resumes where it stopped on the next run."
)]
pub(super) struct ArchiveArgs {
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
pub(super) struct RepublishArgs {
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
    #[arg(long, default_value_t = crate::transfer::republish::DEFAULT_QUERY_LIMIT)]
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

pub(super) fn archive(config: &Config, args: &ArchiveArgs) -> Result<Outcome> {
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
    let ferry = Ferry::open(config)?;
    let mut store = ferry.open_store()?;
    let opts = ArchiveOptions {
        dry_run: args.dry_run,
        stop_after: None,
    };
    let out = super::runtime()?.block_on(ferry.archive(
        &mut store,
        &request,
        &opts,
        terminal_progress(),
    ))?;
    if out.planned.is_empty() {
        println!("nothing to archive: what was asked for selects no gallery or media");
    }
    crate::transfer::describe(&out, &mut |line| println!("{line}"));
    Ok(out.outcome)
}

pub(super) fn republish(config: &Config, args: &RepublishArgs) -> Result<Outcome> {
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
    let ferry = Ferry::open(config)?;
    let mut store = ferry.open_store()?;
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
    let out = super::runtime()?.block_on(ferry.republish(
        &mut store,
        &request,
        &opts,
        terminal_progress(),
    ))?;
    crate::transfer::describe(&out, &mut |line| println!("{line}"));
    Ok(out.outcome)
}
