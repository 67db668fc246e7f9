//! `ferry init` and `ferry mappings check`: a commented config to start from, and what a
//! mapping file says.

use crate::exit::Outcome;
use crate::mapping::Mapping;
use crate::model::System;
use anyhow::Result;
use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub(super) enum MappingsCommand {
    /// Validate a mapping file and print its fields, locations and rules
    Check {
        /// The mapping file [default: the one ferry.toml names]
        file: Option<PathBuf>,
    },
}

pub(super) fn init(dir: &Path) -> Result<Outcome> {
    let written = crate::config::write_init(dir, Mapping::default_text())?;
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

pub(super) fn mappings_check(file: &Path) -> Result<Outcome> {
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
    super::table::print_table(&header, &rows);
    println!(
        "\n{}: {} fields ({} reconciled in both systems), {} Preservica fragments: ok",
        file.display(),
        mapping.fields.len(),
        mapping.paired_fields().count(),
        mapping.fragments.len()
    );
    Ok(Outcome::Done)
}
