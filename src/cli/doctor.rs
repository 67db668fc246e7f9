//! `ferry doctor`: both tenants checked, as a table or JSON.

use super::Format;
use crate::config::Config;
use crate::doctor::Status;
use crate::exit::Outcome;
use anyhow::Result;

pub(super) fn doctor(config: &Config, format: Format) -> Result<Outcome> {
    let (checks, local) = super::runtime()?.block_on(crate::doctor::check_all(config));
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
            serde_json::to_string_pretty(&crate::doctor::to_json(&checks, &local))?
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
    super::table::print_table(
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
