//! Writing a report's three forms to disk, each file atomically (a reader sees the previous
//! file or the whole new one, never half of one).

use super::{to_csv_with, to_html, to_json};
use crate::csv_out::CsvStyle;
use crate::report::RunReport;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where [`write_all`] put the three forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportPaths {
    pub html: PathBuf,
    pub json: PathBuf,
    pub csv: PathBuf,
}

/// A report file (or its directory) that could not be written, by path.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot write the run report {}: {source}; make paths.reports a directory ferry can write to",
    path.display()
)]
pub struct ReportWriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes `run-<id>.html`, `run-<id>.json` and `run-<id>.csv` into `dir`, creating it. Each
/// file is written to a temporary file in `dir`, flushed to disk, then renamed over its final
/// name, so a reader sees either the previous file or the whole new one, never half of one.
/// Reports follow the umask (people share them), unlike ferry's own files. The CSV has no
/// byte-order mark ([`write_all_with`] chooses).
pub fn write_all(report: &RunReport, dir: &Path) -> Result<ReportPaths, ReportWriteError> {
    write_all_with(report, dir, CsvStyle::default())
}

/// [`write_all`], with the CSV written in `csv` (`[output] excel`).
pub fn write_all_with(
    report: &RunReport,
    dir: &Path,
    csv: CsvStyle,
) -> Result<ReportPaths, ReportWriteError> {
    let at = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportWriteError { path, source }
    };
    fs::create_dir_all(dir).map_err(at(dir))?;
    let base = format!("run-{}", report.run_id);
    let paths = ReportPaths {
        html: dir.join(format!("{base}.html")),
        json: dir.join(format!("{base}.json")),
        csv: dir.join(format!("{base}.csv")),
    };
    write_atomic(&paths.json, to_json(report).as_bytes()).map_err(at(&paths.json))?;
    write_atomic(&paths.csv, to_csv_with(report, csv).as_bytes()).map_err(at(&paths.csv))?;
    write_atomic(&paths.html, to_html(report).as_bytes()).map_err(at(&paths.html))?;
    #[cfg(unix)]
    {
        // Make the renames durable; a directory that cannot be synced is not an error.
        if let Ok(d) = fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(paths)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let tmp = dir.join(format!(
        ".{name}.{}.{}.{nanos}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
