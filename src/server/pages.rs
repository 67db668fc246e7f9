//! The HTML pages: search, asset, runs and reports, conflicts, login, not found.

use super::html::{self, Chrome, Nav, render, status_tone, value_text};
use super::view::{self, ConflictView, RunView};
use super::{AppState, PageError, Shared, WebError, parse_id, with_store};
use crate::html::Layout;
use crate::mapping::Mapping;
use crate::model::FieldKind;
use crate::report::RunReport;
use crate::report::render::to_app_html;
use crate::store::{DecidedConflict, Decider, Store};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

mod asset;
mod rights;
mod search;

pub use asset::asset;
pub use rights::rights;
pub use search::search;

/// The banner and counts every page shows.
fn chrome(store: &Store) -> Result<Chrome, WebError> {
    Ok(Chrome {
        lockout: store.lockout()?,
        open_conflicts: store.open_conflict_count()?,
    })
}

// ---- runs ----

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage<'a> {
    layout: Layout,
    /// Drift, corrections, conflicts and failures per run over time: SVG made by
    /// `server::charts`, which escapes its own text.
    chart: Option<String>,
    runs: Vec<RunRow<'a>>,
    /// Live runs of the last 24 hours, counted per hour (one row each would drown the list).
    live_hours: Vec<crate::store::LiveHour>,
}

struct RunRow<'a> {
    r: &'a RunView,
    status_tone: &'static str,
    /// Drifted, pushed (both ways), conflicts queued, failures; `None` where the run's summary
    /// does not say (a run still going, or a transfer run).
    numbers: [Option<u64>; 4],
}

fn run_row(r: &RunView) -> RunRow<'_> {
    let n = |key: &str| {
        r.summary
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_u64())
    };
    let pushed = match (n("pushed_to_photoshelter"), n("pushed_to_preservica")) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    RunRow {
        status_tone: status_tone(r.status.as_str()),
        numbers: [n("drifted"), pushed, n("conflicts_queued"), n("failures")],
        r,
    }
}

/// `/runs`: the latest runs.
pub async fn runs(State(state): State<Shared>) -> Result<Html<String>, PageError> {
    let (chrome, runs, live_hours) = with_store(&state, |store, state| {
        let runs: Vec<RunView> = store
            .runs_except_live(200)?
            .into_iter()
            .map(|d| view::run_view(d, &state.reports_dir))
            .collect();
        let day_ago = chrono::Utc::now() - chrono::Duration::hours(24);
        let live_hours = store.live_runs_per_hour(day_ago)?;
        Ok((chrome(store)?, runs, live_hours))
    })
    .await?;
    let chart = (!runs.is_empty()).then(|| super::figures::runs_charts(&runs));
    Ok(render(&RunsPage {
        layout: Layout::app("Runs", Nav::Runs, &chrome),
        chart,
        runs: runs.iter().map(run_row).collect(),
        live_hours,
    }))
}

/// The report file `run-<id>.<format>` of run `id`. Only that name directly inside the
/// reports directory is ever read (a symbolic link out of it is not followed).
fn read_report(state: &AppState, id: i64, format: &str) -> Result<Vec<u8>, WebError> {
    let missing = || {
        WebError::NotFound(format!(
            "run {id} has no {format} report in the reports directory"
        ))
    };
    let dir = state.reports_dir.canonicalize().map_err(|_| missing())?;
    let path = dir
        .join(format!("run-{id}.{format}"))
        .canonicalize()
        .map_err(|_| missing())?;
    if path.parent() != Some(dir.as_path()) || !path.is_file() {
        return Err(missing());
    }
    std::fs::read(&path).map_err(|_| missing())
}

/// The report file of a run the store knows, in `format` (`html`, `json`, `csv`), as the run
/// wrote it.
async fn report_file(state: &Shared, raw: &str, format: &str) -> Result<Response, PageError> {
    let content_type = match format {
        "html" => "text/html; charset=utf-8",
        "json" => "application/json",
        "csv" => "text/csv; charset=utf-8",
        _ => {
            return Err(WebError::NotFound(format!("no report form '{format}'")).into());
        }
    };
    let id = parse_id(raw, "run")?;
    let format = format.to_string();
    let bytes = with_store(state, move |store, state| {
        if store.run(id)?.is_none() {
            return Err(WebError::NotFound(format!("ferry knows no run {id}")));
        }
        read_report(state, id, &format)
    })
    .await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// `/runs/{id}`: the run's drift report inside the app (its navigation, links to assets and
/// conflicts), made from the report's JSON; the HTML file the run wrote when there is no JSON
/// (or it cannot be read).
pub async fn run_report(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&raw, "run")?;
    let page = with_store(&state, move |store, state| {
        let Some(run) = store.run(id)? else {
            return Err(WebError::NotFound(format!("ferry knows no run {id}")));
        };
        let report = read_report(state, id, "json").ok().and_then(|bytes| {
            RunReport::from_json(&String::from_utf8_lossy(&bytes))
                .inspect_err(|e| tracing::warn!(run = id, error = %e, "unreadable report JSON; serving the HTML file"))
                .ok()
        });
        match report {
            Some(report) => Ok(to_app_html(&report, run.kind, &chrome(store)?).into_bytes()),
            None => read_report(state, id, "html"),
        }
    })
    .await?;
    let mut resp = page.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(resp)
}

/// `/runs/{id}/json` and `/runs/{id}/csv`.
pub async fn run_report_data(
    State(state): State<Shared>,
    Path((raw, format)): Path<(String, String)>,
) -> Result<Response, PageError> {
    if format == "html" {
        return Err(WebError::NotFound("the HTML report is at /runs/{id}".into()).into());
    }
    report_file(&state, &raw, &format).await
}

// ---- conflicts ----

#[derive(Debug, Deserialize)]
pub struct ConflictsParams {
    resolved: Option<i64>,
}

/// `/conflicts`: the open conflicts, each with forms to decide it, and the latest decisions.
pub async fn conflicts(
    State(state): State<Shared>,
    Query(params): Query<ConflictsParams>,
) -> Result<Html<String>, PageError> {
    conflicts_page(&state, params.resolved, None).await
}

/// A decision the app refused: the conflict, what was wrong, and what the person had typed.
struct Refusal {
    id: i64,
    message: String,
    form: ResolveForm,
}

/// The conflicts page, after a decision (`resolved`) or with a refused one shown at its form.
async fn conflicts_page(
    state: &Shared,
    resolved: Option<i64>,
    refusal: Option<&Refusal>,
) -> Result<Html<String>, PageError> {
    let (chrome, open, decided) = with_store(state, |store, state| {
        let open = view::open_conflicts(store, &state.mapping)?;
        let decided = store.decided_conflicts(20)?;
        Ok((chrome(store)?, open, decided))
    })
    .await?;
    let decided: Vec<DecidedRow> = decided.iter().map(decided_row).collect();
    let page = ConflictsPage {
        layout: Layout::app("Conflicts", Nav::Conflicts, &chrome),
        resolved: resolved.and_then(|id| decided.iter().find(|d| d.d.id == id)),
        open: open
            .iter()
            .map(|c| card(c, refusal.filter(|r| r.id == c.id)))
            .collect(),
        csrf: state.auth.csrf_token(),
        decided: &decided,
    };
    Ok(render(&page))
}

#[derive(Template)]
#[template(path = "conflicts.html")]
struct ConflictsPage<'a> {
    layout: Layout,
    /// The decision just made, for the notice at the top.
    resolved: Option<&'a DecidedRow<'a>>,
    open: Vec<Card<'a>>,
    csrf: &'a str,
    decided: &'a [DecidedRow<'a>],
}

/// An open conflict with its forms.
struct Card<'a> {
    c: &'a ConflictView,
    photoshelter: Option<String>,
    preservica: Option<String>,
    /// What each side's enum code means (`MR-NAP` → "model release: not applicable").
    meanings: [Option<&'a str>; 2],
    input: ValueInput,
    /// Why the last decision on it was refused; `name` and `note` then refill the form.
    refused: Option<&'a str>,
    name: &'a str,
    note: &'a str,
}

/// How a person gives the value both systems should hold.
enum ValueInput {
    /// One of the values the field may take: (value, what is shown for it).
    Choose(Vec<(String, String)>),
    Type {
        placeholder: &'static str,
        prefill: String,
    },
}

struct DecidedRow<'a> {
    d: &'a DecidedConflict,
    /// The decision in words.
    words: String,
}

fn decided_row(d: &DecidedConflict) -> DecidedRow<'_> {
    DecidedRow {
        words: resolution_words(&d.resolution, d.resolution_value.as_deref()),
        d,
    }
}

fn card<'a>(c: &'a ConflictView, refused: Option<&'a Refusal>) -> Card<'a> {
    let input = match c.kind {
        Some(FieldKind::Enum) if !c.values.is_empty() => ValueInput::Choose(
            c.values
                .iter()
                .map(|v| {
                    let shown = match c.meanings.get(v) {
                        Some(m) => format!("{v} ({m})"),
                        None => v.clone(),
                    };
                    (v.clone(), shown)
                })
                .collect(),
        ),
        Some(FieldKind::Bool) => ValueInput::Choose(
            ["true", "false"]
                .map(|v| (v.to_string(), v.to_string()))
                .to_vec(),
        ),
        Some(FieldKind::Date) => ValueInput::Type {
            placeholder: "YYYY-MM-DD",
            prefill: String::new(),
        },
        Some(FieldKind::Set) => ValueInput::Type {
            placeholder: "comma, separated, values",
            prefill: value_text(c.kind, c.photoshelter_value.as_deref()).unwrap_or_default(),
        },
        _ => ValueInput::Type {
            placeholder: "type the value both systems should hold",
            prefill: String::new(),
        },
    };
    Card {
        photoshelter: value_text(c.kind, c.photoshelter_value.as_deref()),
        preservica: value_text(c.kind, c.preservica_value.as_deref()),
        meanings: [&c.photoshelter_value, &c.preservica_value].map(|v| {
            v.as_ref()
                .and_then(|v| c.meanings.get(v))
                .map(String::as_str)
        }),
        input,
        refused: refused.map(|r| r.message.as_str()),
        name: refused.map(|r| r.form.name.as_str()).unwrap_or(""),
        note: refused.map(|r| r.form.note.as_str()).unwrap_or(""),
        c,
    }
}

fn resolution_words(resolution: &str, value: Option<&str>) -> String {
    match resolution {
        "photoshelter" => "take PhotoShelter's value".to_string(),
        "preservica" => "take Preservica's value".to_string(),
        _ => match value {
            Some(v) => format!("use “{v}”"),
            None => "no value".to_string(),
        },
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    take: String,
    value: Option<String>,
    /// Who decides: kept with the decision (the app has no user accounts to know it from).
    #[serde(default)]
    name: String,
    #[serde(default)]
    note: String,
}

/// Recorded as the decider when the form's name is left empty: says where it came from
/// rather than inventing a person.
const UNNAMED: &str = "web app (no name given)";

/// The longest name or note kept with a decision, in characters.
const MAX_DECIDER_CHARS: usize = 200;

impl ResolveForm {
    fn decider(&self) -> Result<Decider, String> {
        let name = self.name.trim();
        let note = self.note.trim();
        if name.chars().count() > MAX_DECIDER_CHARS || note.chars().count() > MAX_DECIDER_CHARS {
            return Err(format!(
                "a name or note is kept up to {MAX_DECIDER_CHARS} characters; shorten it"
            ));
        }
        Ok(Decider {
            name: if name.is_empty() { UNNAMED } else { name }.to_string(),
            note: (!note.is_empty()).then(|| note.to_string()),
        })
    }

    /// What to record, checked as `ferry conflicts resolve` checks it: (`photoshelter` |
    /// `preservica` | `value`, the value). `Err` is the refusal to show at the form.
    fn decision(&self, mapping: &Mapping, field: &str) -> Result<(String, Option<String>), String> {
        match self.take.as_str() {
            "photoshelter" | "preservica" => Ok((self.take.clone(), None)),
            "value" => {
                let raw = self.value.as_deref().unwrap_or_default();
                if raw.trim().is_empty() {
                    return Err("type a value, or take one system's value".into());
                }
                let value = crate::app::review::check_typed_value(mapping, field, raw)?
                    .ok_or("type a value, or take one system's value")?;
                Ok(("value".to_string(), Some(value)))
            }
            _ => Err("choose PhotoShelter's value, Preservica's, or type one".into()),
        }
    }
}

/// `POST /conflicts/{id}`: a person decides a conflict. The form token must be this process's
/// (the Origin check ran before, in the guard). A value the systems cannot hold is refused
/// with the page shown again (400), nothing recorded.
pub async fn resolve_conflict(
    State(state): State<Shared>,
    Path(raw): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, PageError> {
    if !state.auth.csrf_ok(&form.csrf) {
        return Err(WebError::Forbidden(
            "the form is out of date or was not sent by this app: reload the page and try again"
                .into(),
        )
        .into());
    }
    let id = parse_id(&raw, "conflict")?;
    let submitted = form.clone();
    let refused = with_store(&state, move |store, state| {
        let item = store
            .review_items(true)?
            .into_iter()
            .find(|i| i.id == id)
            .ok_or_else(|| {
                WebError::Conflict(format!(
                    "conflict #{id} is not open: someone decided it already, or it does not exist"
                ))
            })?;
        let checked = form
            .decider()
            .and_then(|who| Ok((who, form.decision(&state.mapping, &item.field)?)));
        let (who, (how, value)) = match checked {
            Ok(ok) => ok,
            Err(message) => return Ok(Some(message)),
        };
        // Never raced with a run that is pushing: refused while one holds the lock.
        let recorded = crate::sync::lock::while_no_run(store, chrono::Utc::now(), |s| {
            s.resolve_review_by(id, &how, value.as_deref(), Some(&who), chrono::Utc::now())
        })
        .map_err(|e| match e {
            crate::sync::lock::DecisionError::Store(e) => WebError::from(e),
            running => WebError::Conflict(running.to_string()),
        })?;
        if !recorded {
            return Err(WebError::Conflict(format!(
                "conflict #{id} was decided by someone else meanwhile"
            )));
        }
        tracing::info!(conflict = id, field = %item.field, take = %how, by = %who.name, "conflict decided in the web app");
        Ok(None)
    })
    .await?;
    if let Some(message) = refused {
        let refusal = Refusal {
            id,
            message,
            form: submitted,
        };
        let page = conflicts_page(&state, None, Some(&refusal)).await?;
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    Ok(Redirect::to(&format!("/conflicts?resolved={id}")).into_response())
}

// ---- login and fallbacks ----

#[derive(Debug, Deserialize)]
pub struct LoginParams {
    token: Option<String>,
}

/// `/login?token=…`: sets the session cookie and goes to search. Without a token configured
/// there is nothing to log in to.
pub async fn login(State(state): State<Shared>, Query(params): Query<LoginParams>) -> Response {
    let auth = &state.auth;
    if !auth.token_required() {
        return Redirect::to("/").into_response();
    }
    match params.token {
        None => html::login_page(false).into_response(),
        Some(t) if auth.token_ok(&t) => {
            let mut resp = Redirect::to("/").into_response();
            if let Some(cookie) = auth.session_cookie()
                && let Ok(v) = HeaderValue::from_str(&cookie)
            {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Some(_) => (StatusCode::UNAUTHORIZED, html::login_page(true)).into_response(),
    }
}

/// Any other path.
pub async fn not_found() -> PageError {
    PageError(WebError::NotFound(
        "there is no page here: try the search".into(),
    ))
}
