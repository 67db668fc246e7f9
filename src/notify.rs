//! Telling people what needs them: a lockout, failures, conflicts waiting for a decision,
//! licences about to expire. Notices go to a Slack-compatible webhook (`{"text": …}`) and/or
//! a file of JSON lines; both are optional. A notification that cannot be delivered is
//! logged and never stops a run.

use crate::config::{NotifyConfig, Secret};
use crate::report::RunReport;
use crate::store::RunStatus;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// One thing to tell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notice {
    /// `lockout`, `failures`, `conflicts`, `expiring`, `skipped_run`.
    pub kind: &'static str,
    pub text: String,
}

/// Where notices go.
#[derive(Debug, Clone)]
pub struct Notifier {
    webhook: Option<Secret>,
    file: Option<PathBuf>,
    http: reqwest::Client,
}

/// Why a notice could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("the notification webhook answered {0}")]
    Webhook(reqwest::StatusCode),
    #[error("cannot reach the notification webhook: {0}")]
    Send(String),
    #[error("cannot append to {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Notifier {
    pub fn new(config: &NotifyConfig) -> Notifier {
        Notifier {
            webhook: config.webhook_url.clone(),
            file: config.file.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap_or_default(),
        }
    }

    /// A notifier that tells no one.
    pub fn none() -> Notifier {
        Notifier {
            webhook: None,
            file: None,
            http: reqwest::Client::new(),
        }
    }

    pub fn is_configured(&self) -> bool {
        self.webhook.is_some() || self.file.is_some()
    }

    /// Delivers a notice everywhere configured; every destination is tried even when one
    /// fails, and the first failure is returned.
    pub async fn send(&self, notice: &Notice) -> Result<(), NotifyError> {
        let mut first_error = None;
        if let Some(path) = &self.file {
            let line = serde_json::json!({
                "at": chrono::Utc::now().to_rfc3339(),
                "kind": notice.kind,
                "text": notice.text,
            });
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{line}"));
            if let Err(source) = written {
                first_error.get_or_insert(NotifyError::File {
                    path: path.clone(),
                    source,
                });
            }
        }
        if let Some(url) = &self.webhook {
            let body = serde_json::json!({ "text": format!("ferry: {}", notice.text) });
            // The URL is the credential: errors carry no URL.
            match self.http.post(url.expose()).json(&body).send().await {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => {
                    first_error.get_or_insert(NotifyError::Webhook(r.status()));
                }
                Err(e) => {
                    first_error.get_or_insert(NotifyError::Send(e.without_url().to_string()));
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends every notice, logging (never returning) delivery failures.
    pub async fn send_all(&self, notices: &[Notice]) {
        for n in notices {
            if let Err(e) = self.send(n).await {
                tracing::warn!(kind = n.kind, error = %e, "a notification could not be delivered");
            }
        }
    }
}

/// What a finished run should tell people.
pub fn notices_for(report: &RunReport, report_path: &str) -> Vec<Notice> {
    let mut out = Vec::new();
    if report.status == RunStatus::LockedOut {
        out.push(Notice {
            kind: "lockout",
            text: format!(
                "run {} stopped and locked further runs out: {}. Check {report_path}, then run `ferry sync --recover`.",
                report.run_id,
                report.stopped.as_deref().unwrap_or("a critical error")
            ),
        });
    } else if let Some(why) = &report.stopped {
        out.push(Notice {
            kind: "failures",
            text: format!("run {} stopped: {why} ({report_path})", report.run_id),
        });
    }
    if !report.failures.is_empty() {
        out.push(Notice {
            kind: "failures",
            text: format!(
                "run {} had {} failures, e.g. {}: {} ({report_path})",
                report.run_id,
                report.failures.len(),
                report.failures[0].item,
                report.failures[0].error
            ),
        });
    }
    if report.summary.conflicts_queued > 0 {
        out.push(Notice {
            kind: "conflicts",
            text: format!(
                "{} conflicts wait for a person: `ferry conflicts list`",
                report.summary.conflicts_queued
            ),
        });
    }
    let expiring = report
        .rights
        .iter()
        .filter(|r| r.kind == "expiring_soon")
        .count();
    if expiring > 0 {
        out.push(Notice {
            kind: "expiring",
            text: format!("{expiring} licences expire soon ({report_path})"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{Failure, RightsProblem};

    #[test]
    fn a_run_tells_about_lockout_failures_conflicts_and_expiry() {
        let mut r = RunReport {
            run_id: 7,
            status: RunStatus::LockedOut,
            stopped: Some("preservica listed no assets".into()),
            ..RunReport::default()
        };
        r.failures.push(Failure {
            item: "I0001".into(),
            error: "404".into(),
            ..Failure::default()
        });
        r.summary.conflicts_queued = 2;
        r.rights.push(RightsProblem {
            kind: "expiring_soon".into(),
            ..RightsProblem::default()
        });
        let kinds: Vec<&str> = notices_for(&r, "r.html").iter().map(|n| n.kind).collect();
        assert_eq!(kinds, ["lockout", "failures", "conflicts", "expiring"]);
        let quiet = RunReport {
            status: RunStatus::Done,
            ..RunReport::default()
        };
        assert!(notices_for(&quiet, "r.html").is_empty());
    }

    #[tokio::test]
    async fn notices_are_appended_to_the_file_as_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.jsonl");
        let n = Notifier::new(&NotifyConfig {
            webhook_url: None,
            file: Some(path.clone()),
            expiring_days: 30,
        });
        for kind in ["lockout", "conflicts"] {
            n.send(&Notice {
                kind,
                text: "x".into(),
            })
            .await
            .unwrap();
        }
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["kind"], "conflicts");
    }
}
