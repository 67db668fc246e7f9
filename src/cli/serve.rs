//! `ferry serve`: the web app and the nightly job until a stop signal.

use crate::config::Config;
use crate::exit::Outcome;
use anyhow::Result;

pub(super) fn serve(config: Config, no_schedule: bool) -> Result<Outcome> {
    let rt = super::runtime()?;
    let stopped = rt.block_on(crate::server::service::serve(
        config,
        no_schedule,
        &mut |line| println!("{line}"),
    ));
    let outcome = stopped.map(|signal| {
        println!("ferry stopped ({signal})");
        Outcome::Done
    });
    // A sync still running past the grace period is not waited for again here: its planned
    // writes stay in the outbox, and the next run finishes them.
    rt.shutdown_timeout(std::time::Duration::from_secs(5));
    Ok(outcome?)
}
