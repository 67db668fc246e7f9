//! The HTML pages: search, asset, runs and reports, conflicts, login, not found.

use super::html::{self, Chrome, Nav, badge, esc, page, status_tone, value_html, value_text};
use super::view::{self, ConflictView, RunView};
use super::{PageError, Shared, WebError, parse_id, with_store};
use crate::mapping::Mapping;
use crate::model::FieldKind;
use crate::store::Decider;
use crate::store::Store;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::fmt::Write as _;

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

/// `/runs`: the latest runs.
pub async fn runs(State(state): State<Shared>) -> Result<Html<String>, PageError> {
    let (chrome, runs) = with_store(&state, |store, state| {
        let runs: Vec<RunView> = store
            .run_details(200)?
            .into_iter()
            .map(|d| view::run_view(d, &state.reports_dir))
            .collect();
        Ok((chrome(store)?, runs))
    })
    .await?;
    let mut b = String::from("<h1>Runs</h1>\n");
    if runs.is_empty() {
        b.push_str("<p class=\"muted\">No runs yet: <code>ferry sync</code> makes the first.</p>");
        return Ok(page("Runs", Nav::Runs, &chrome, &b));
    }
    // H3 charts: one insertion (server::figures), to be ported into the runs template.
    b.push_str(&super::figures::runs_charts(&runs));
    b.push_str(
        "<table class=\"runs\"><thead><tr><th>Run</th><th>Kind</th><th>Started</th><th>Finished</th><th>Status</th>\
         <th>Drifted</th><th>Pushed</th><th>Conflicts</th><th>Failures</th><th>Report</th></tr></thead><tbody>\n",
    );
    for r in &runs {
        let n = |key: &str| {
            r.summary
                .as_ref()
                .and_then(|s| s.get(key))
                .and_then(|v| v.as_u64())
        };
        let num = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "–".into());
        let pushed = match (n("pushed_to_photoshelter"), n("pushed_to_preservica")) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        let mut status = badge(r.status.as_str(), status_tone(r.status.as_str()));
        if r.dry_run {
            status.push(' ');
            status.push_str(&badge("dry run", ""));
        }
        if let Some(code) = r.exit_code {
            let _ = write!(status, " <small class=\"loc\">exit {code}</small>");
        }
        if let Some(e) = &r.error {
            let _ = write!(status, "<small class=\"loc\"><bdi>{}</bdi></small>", esc(e));
        }
        let report = if r.has_report {
            format!(
                "<a href=\"/runs/{id}\">report</a> · <a href=\"/runs/{id}/json\">json</a> · <a href=\"/runs/{id}/csv\">csv</a>",
                id = r.id
            )
        } else {
            "<span class=\"absent\">none</span>".to_string()
        };
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{status}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{report}</td></tr>",
            r.id,
            esc(r.kind.as_str()),
            esc(&r.started_at),
            esc(r.finished_at.as_deref().unwrap_or("running")),
            num(n("drifted")),
            num(pushed),
            num(n("conflicts_queued")),
            num(n("failures")),
        );
    }
    b.push_str("</tbody></table>\n");
    Ok(page("Runs", Nav::Runs, &chrome, &b))
}

/// The report file of a run the store knows, in `format` (`html`, `json`, `csv`). Only
/// `run-<id>.<format>` directly inside the reports directory is ever read.
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
        // A symbolic link out of the directory is not followed.
        if path.parent() != Some(dir.as_path()) || !path.is_file() {
            return Err(missing());
        }
        std::fs::read(&path).map_err(|_| missing())
    })
    .await?;
    let mut resp = bytes.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok(resp)
}

/// `/runs/{id}`: the run's drift report as the run wrote it.
pub async fn run_report(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    report_file(&state, &raw, "html").await
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

/// A conflict's value, with what an enum code means under it (H3).
fn with_meaning(c: &ConflictView, value: Option<&str>) -> String {
    let mut html = value_html(c.kind, value);
    if let Some(m) = value.and_then(|v| c.meanings.get(v)) {
        let _ = write!(html, "<small class=\"meaning\">{}</small>", esc(m));
    }
    html
}

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
    let csrf = state.auth.csrf_token();
    let mut b = String::from("<h1>Conflicts</h1>\n");
    if let Some(id) = resolved
        && let Some(d) = decided.iter().find(|d| d.id == id)
    {
        let _ = writeln!(
            b,
            "<p class=\"notice\" role=\"status\" id=\"resolved\">Conflict #{} ({}) decided: {}. The next sync writes it to both systems.</p>",
            d.id,
            esc(&d.field),
            esc(&resolution_words(
                &d.resolution,
                d.resolution_value.as_deref()
            ))
        );
    }
    if open.is_empty() {
        b.push_str("<p class=\"muted\" id=\"none-open\">No conflicts wait for a person.</p>\n");
    } else {
        let _ = writeln!(
            b,
            "<p>{} {} for a person. Choose a value: the next sync writes it to both systems.</p>",
            open.len(),
            if open.len() == 1 {
                "conflict waits"
            } else {
                "conflicts wait"
            }
        );
    }
    for c in &open {
        render_conflict(&mut b, c, csrf, refusal.filter(|r| r.id == c.id));
    }
    if !decided.is_empty() {
        b.push_str(
            "<h2>Recently decided</h2>\n<table><thead><tr><th>#</th><th>Asset</th><th>Field</th><th>Decision</th><th>By</th><th>When</th><th>Carried out</th></tr></thead><tbody>\n",
        );
        for d in &decided {
            let _ = writeln!(
                b,
                "<tr id=\"decided-{}\"><td>{}</td><td><a href=\"/assets/{}\">{}</a></td><td>{}</td><td><bdi>{}</bdi></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                d.id,
                d.id,
                d.asset_id,
                d.asset_id,
                esc(&d.field),
                esc(&resolution_words(
                    &d.resolution,
                    d.resolution_value.as_deref()
                )),
                decider_html(d.decided_by.as_deref(), d.decision_note.as_deref()),
                esc(&d.resolved_at),
                esc(d
                    .carried_out_by
                    .as_deref()
                    .unwrap_or("waiting for the next sync"))
            );
        }
        b.push_str("</tbody></table>\n");
    }
    Ok(page("Conflicts", Nav::Conflicts, &chrome, &b))
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

/// Who decided and their note, for tables (decisions made before names were kept show a dash).
pub(crate) fn decider_html(by: Option<&str>, note: Option<&str>) -> String {
    let mut s = format!("<bdi>{}</bdi>", esc(by.unwrap_or("-")));
    if let Some(n) = note {
        let _ = write!(s, "<small class=\"loc\"><bdi>{}</bdi></small>", esc(n));
    }
    s
}

/// The name and note inputs every decision form carries, refilled after a refusal.
fn decider_inputs(refused: Option<&Refusal>) -> String {
    let (name, note) = refused
        .map(|r| (r.form.name.as_str(), r.form.note.as_str()))
        .unwrap_or(("", ""));
    format!(
        "<input type=\"text\" name=\"name\" aria-label=\"your name\" placeholder=\"your name\" value=\"{}\">\
         <input type=\"text\" name=\"note\" aria-label=\"note\" placeholder=\"note (optional)\" value=\"{}\">",
        esc(name),
        esc(note)
    )
}

fn render_conflict(b: &mut String, c: &ConflictView, csrf: &str, refused: Option<&Refusal>) {
    let _ = write!(
        b,
        "<section class=\"conflict\" id=\"c{id}\" data-conflict=\"{id}\">\n<h3>#{id} · <a href=\"/assets/{asset}\"><bdi>{label}</bdi></a> · {field}</h3>\n",
        id = c.id,
        asset = c.asset_id,
        label = esc(&c.label),
        field = esc(&c.field),
    );
    let _ = writeln!(
        b,
        "<p class=\"muted\"><bdi>{}</bdi>{}</p>",
        esc(&c.reason),
        c.rule
            .as_ref()
            .map(|r| format!(" · rule {}", esc(r)))
            .unwrap_or_default()
    );
    let _ = writeln!(
        b,
        "<div class=\"sides\"><div><strong>PhotoShelter</strong><div class=\"side\">{}</div></div>\
         <div><strong>Preservica</strong><div class=\"side\">{}</div></div></div>",
        with_meaning(c, c.photoshelter_value.as_deref()),
        with_meaning(c, c.preservica_value.as_deref())
    );
    let action = format!("/conflicts/{}", c.id);
    let hidden = format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    );
    if let Some(r) = refused {
        let _ = writeln!(
            b,
            "<p class=\"error\" role=\"alert\" id=\"refused\">Not accepted: <bdi>{}</bdi></p>",
            esc(&r.message)
        );
    }
    let who = decider_inputs(refused);
    // Two forms: pressing Enter in the typed value must never submit "take PhotoShelter's".
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"{action}\" class=\"take\">{hidden}{who}\
         <button type=\"submit\" name=\"take\" value=\"photoshelter\">Take PhotoShelter's</button>\
         <button type=\"submit\" name=\"take\" value=\"preservica\">Take Preservica's</button></form>"
    );
    let input = match c.kind {
        Some(FieldKind::Enum) if !c.values.is_empty() => {
            let mut s = String::from("<select name=\"value\" aria-label=\"value\">");
            for v in &c.values {
                let shown = match c.meanings.get(v) {
                    Some(m) => format!("{v} ({m})"),
                    None => v.clone(),
                };
                let _ = write!(s, "<option value=\"{}\">{}</option>", esc(v), esc(&shown));
            }
            s.push_str("</select>");
            s
        }
        Some(FieldKind::Bool) => {
            "<select name=\"value\" aria-label=\"value\"><option>true</option><option>false</option></select>".to_string()
        }
        kind => {
            let (placeholder, prefill) = match kind {
                Some(FieldKind::Date) => ("YYYY-MM-DD", None),
                Some(FieldKind::Set) => (
                    "comma, separated, values",
                    value_text(kind, c.photoshelter_value.as_deref()),
                ),
                _ => ("type the value both systems should hold", None),
            };
            format!(
                "<input type=\"text\" name=\"value\" aria-label=\"value\" placeholder=\"{}\" value=\"{}\" required>",
                esc(placeholder),
                esc(prefill.as_deref().unwrap_or(""))
            )
        }
    };
    let _ = writeln!(
        b,
        "<form method=\"post\" action=\"{action}\" class=\"typed\">{hidden}\
         <input type=\"hidden\" name=\"take\" value=\"value\">{input}{who}\
         <button type=\"submit\">Use this value</button></form>\n</section>"
    );
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
