//! `ferry conflicts` and `ferry pairs`: what waits for a person, and deciding it.

use super::Format;
use crate::config::Config;
use crate::exit::Outcome;
use crate::store::{Decider, Store};
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub(super) enum ConflictsCommand {
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
        take: crate::app::review::Take,
        /// Why you decided so; kept with the decision and shown in its history
        #[arg(long, value_name = "TEXT")]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub(super) enum PairsCommand {
    /// List suggested pairs
    Suggest,
    /// Confirm a suggested pair
    Accept {
        /// The suggestion id (from `ferry pairs suggest`)
        id: i64,
    },
}

pub(super) fn conflicts(config: &Config, command: ConflictsCommand) -> Result<Outcome> {
    let mut store = Store::open(&config.paths.store)?;
    match command {
        ConflictsCommand::List { all, format } => {
            let items = store.review_items(!all)?;
            // Only for saying what enum codes mean: a mapping that does not load (its own
            // commands say why) leaves the codes as they are.
            let mapping = crate::mapping::Mapping::load(&config.mapping).ok();
            if format == Format::Json {
                let json: Vec<_> = items
                    .iter()
                    .map(|i| crate::status::conflict_json(i, mapping.as_ref()))
                    .collect();
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
                        Some(r) => decided_words(r, &i),
                        None => i.status.clone(),
                    },
                    shown(mapping.as_ref(), &i.field, i.photoshelter_value.as_deref()),
                    shown(mapping.as_ref(), &i.field, i.preservica_value.as_deref()),
                    i.reason
                );
            }
            println!(
                "\nDecide one with: ferry conflicts resolve ID --take photoshelter|preservica|VALUE"
            );
            Ok(Outcome::Done)
        }
        ConflictsCommand::Resolve { id, take, note } => {
            let who = Decider {
                name: crate::app::review::os_user(),
                note: note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty()),
            };
            let field = crate::app::review::resolve_conflict(config, &mut store, id, &take, &who)?;
            println!(
                "conflict #{id} ({field}) resolved: take {take}; the next sync writes it to both systems"
            );
            Ok(Outcome::Done)
        }
    }
}

/// A value for the text list: an enum code with its meaning (`MR-NAP (model release: not
/// applicable)`).
fn shown(mapping: Option<&crate::mapping::Mapping>, field: &str, value: Option<&str>) -> String {
    match value {
        None => "(no value)".to_string(),
        Some(v) => match mapping.and_then(|m| m.label_of(field, v)) {
            Some(meaning) => format!("{v} ({meaning})"),
            None => v.to_string(),
        },
    }
}

/// "resolved: take X by WHO (note)" for the text list.
fn decided_words(resolution: &str, item: &crate::store::ReviewItem) -> String {
    let mut s = format!("resolved: take {resolution}");
    if let Some(by) = &item.decided_by {
        s.push_str(&format!(" by {by}"));
    }
    if let Some(note) = &item.decision_note {
        s.push_str(&format!(" ({note})"));
    }
    s
}

pub(super) fn pairs(config: &Config, command: PairsCommand) -> Result<Outcome> {
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
