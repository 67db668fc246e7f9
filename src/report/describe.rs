//! A run told in a few lines of text, for the terminal: the short form of its report.

use super::RunReport;
use std::path::Path;

/// A finished sync run in a few lines: what `ferry sync` prints after its first line, and
/// what the demo tells of each sync. `html` is where its report was written.
pub fn describe_sync(report: &RunReport, html: &Path, say: &mut dyn FnMut(String)) {
    let s = &report.summary;
    say(format!(
        "  assets: {} in PhotoShelter, {} in Preservica, {} pairs",
        s.assets_photoshelter, s.assets_preservica, s.pairs
    ));
    if s.pairs_unchanged > 0 {
        say(format!(
            "  {} pairs unchanged since an earlier run found them agreed: not compared again",
            s.pairs_unchanged
        ));
    }
    say(format!(
        "  fields: {} compared, {} in sync, {} drifted; pushed {} to PhotoShelter, {} to Preservica",
        s.fields_compared, s.in_sync, s.drifted, s.pushed_to_photoshelter, s.pushed_to_preservica
    ));
    say(format!(
        "  conflicts: {} waiting for a person, {} resolved by rule; {} skipped, {} failures",
        s.conflicts_queued, s.conflicts_resolved, s.skipped, s.failures
    ));
    if !report.rights.is_empty() {
        say(format!(
            "  rights: {} licence problems listed",
            report.rights.len()
        ));
    }
    say(format!(
        "  API calls: PhotoShelter {}, Preservica {}; {:.1} s",
        s.api_calls_photoshelter.requests, s.api_calls_preservica.requests, s.seconds_total
    ));
    if let (Some(a), Some(b)) = (
        s.api_calls_photoshelter.concurrency,
        s.api_calls_preservica.concurrency,
    ) {
        say(format!(
            "  requests in flight: PhotoShelter {a}, Preservica {b}"
        ));
    }
    if let Some(why) = &report.stopped {
        say(format!("  stopped: {why}"));
    }
    say(format!("  report: {}", html.display()));
}

/// A stored run's report in one or two lines, for `ferry report`: a sync's numbers, or a
/// transfer run's transfers by state (`is_sync` says which kind of run wrote it).
pub fn describe_stored(report: &RunReport, is_sync: bool, say: &mut dyn FnMut(String)) {
    let s = &report.summary;
    if is_sync {
        say(format!(
            "pairs {} ({} unchanged, not compared again), fields compared {}, in sync {}, drifted {}, pushed to PhotoShelter {}, to Preservica {}, conflicts waiting {}, failures {}",
            s.pairs,
            s.pairs_unchanged,
            s.fields_compared,
            s.in_sync,
            s.drifted,
            s.pushed_to_photoshelter,
            s.pushed_to_preservica,
            s.conflicts_queued,
            s.failures
        ));
    } else {
        let count = |state: &str| report.transfers.iter().filter(|t| t.state == state).count();
        say(format!(
            "transfers {}: done {}, failed {}, unfinished {}; failures {}",
            report.transfers.len(),
            count("done"),
            count("failed"),
            count("planned") + count("in_progress"),
            s.failures
        ));
    }
    if let Some(why) = &report.stopped {
        say(format!("stopped: {why}"));
    }
}
