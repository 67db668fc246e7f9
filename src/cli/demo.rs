//! `ferry demo`: the demo into a directory, then what to try next.

use crate::exit::Outcome;
use anyhow::{Context, Result};
use std::path::PathBuf;

pub(super) fn demo(dir: Option<PathBuf>, media: usize, serve: bool) -> Result<Outcome> {
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
        let rt = super::runtime()?;
        rt.block_on(async {
            let (result, world) = crate::demo::run_demo_kept(&dir, media, &mut say).await?;
            // Listening starts before the URLs are printed, so no early Ctrl-C is lost.
            let stop = crate::server::stop_signal();
            crate::demo::serve_demo(world, &result, stop, &mut say).await
        })?;
        rt.shutdown_timeout(std::time::Duration::from_secs(5));
        return Ok(Outcome::Done);
    }
    let result = super::runtime()?.block_on(crate::demo::run_demo(&dir, media, &mut say))?;
    println!(
        "\nThe store, index and reports stay in {dir}. Look around with:\n  ferry --config {cfg} report\n  ferry --config {cfg} conflicts list\n  ferry --config {cfg} search harbour regatta --facets\n  ferry --config {cfg} serve --no-schedule      (the web app, http://127.0.0.1:8080)\n\n`ferry demo --serve` keeps both emulators and the web app running after the demo, so sync, archive, republish and previews can be tried too.\n\nWith live tenants, the transfers above are:\n  ferry archive                  (what the [archive] rules select; or --gallery ID / --media ID)\n  ferry republish --query \"regatta 1962\" --to-gallery \"Anniversary 2027\" --set campaign=\"Anniversary 2027\"",
        dir = result.dir.display(),
        cfg = result.config.display(),
    );
    Ok(Outcome::Done)
}
