//! `ferry status`: what needs attention, for people or as JSON.

use super::Format;
use crate::config::Config;
use crate::exit::Outcome;
use crate::store::Store;
use anyhow::Result;

pub(super) fn status(config: &Config, format: Format) -> Result<Outcome> {
    let store = Store::open(&config.paths.store)?;
    let report = crate::status::gather(config, &store, chrono::Utc::now())?;
    match format {
        Format::Text => print!("{}", report.to_text()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    Ok(Outcome::Done)
}
