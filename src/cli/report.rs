//! `ferry report`: a stored run's summary and where its files are.

use crate::config::Config;
use crate::exit::{InputError, Outcome};
use crate::report::{RunReport, describe_stored};
use crate::store::Store;
use anyhow::{Context, Result};

pub(super) fn report(config: &Config, run: Option<i64>, open: bool) -> Result<Outcome> {
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
    let html = crate::report::stored_path(&stored, &config.paths.reports);
    let json = html.with_extension("json");
    if let Ok(text) = std::fs::read_to_string(&json)
        && let Ok(stored) = RunReport::from_json(&text)
    {
        describe_stored(&stored, row.kind == "sync", &mut |line| println!("{line}"));
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
