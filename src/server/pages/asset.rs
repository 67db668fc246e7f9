//! The asset page: what ferry knows of one asset, its fields in both systems, its writes
//! and its history.

use super::chrome;
use crate::model::FieldKind;
use crate::server::html::{self, Nav, badge, esc, outcome_tone, page, value_html};
use crate::server::view::{self, AssetView, FieldView};
use crate::server::{PageError, Shared, WebError, parse_id, with_store};
use axum::extract::{Path, State};
use axum::response::Html;
use std::fmt::Write as _;

/// `/assets/{id}`.
pub async fn asset(
    State(state): State<Shared>,
    Path(raw): Path<String>,
) -> Result<Html<String>, PageError> {
    let id = parse_id(&raw, "asset")?;
    let (chrome, mut asset) = with_store(&state, move |store, state| {
        let asset = view::asset_view(store, &state.mapping, id)?
            .ok_or_else(|| WebError::NotFound(format!("ferry knows no asset {id}")))?;
        Ok((chrome(store)?, asset))
    })
    .await?;
    // A preview when the app can reach the systems and either holds a picture a browser shows.
    let showable = [&asset.snapshots.photoshelter, &asset.snapshots.preservica]
        .into_iter()
        .flatten()
        .any(|s| {
            s.file_name
                .as_deref()
                .and_then(crate::server::preview::web_image_type)
                .is_some()
        });
    if state.republisher.is_some() && showable {
        asset.preview_url = Some(format!("/assets/{id}/preview"));
    }
    Ok(page(
        &asset.label,
        Nav::None,
        &chrome,
        &render_asset(&asset),
    ))
}

fn dd(out: &mut String, label: &str, value: Option<&str>) {
    let _ = write!(out, "<dt>{}</dt><dd>", esc(label));
    match value {
        Some(v) => {
            let _ = write!(out, "<bdi>{}</bdi>", esc(v));
        }
        None => out.push_str("<span class=\"absent\">(none)</span>"),
    }
    out.push_str("</dd>");
}

fn render_asset(a: &AssetView) -> String {
    let mut b = String::with_capacity(16 * 1024);
    let _ = writeln!(b, "<h1><bdi>{}</bdi></h1>", esc(&a.label));
    render_head(&mut b, a);
    if !a.open_conflicts.is_empty() {
        let _ = writeln!(
            b,
            "<p class=\"error\">{} {} for a person: <a href=\"/conflicts\">decide</a>.</p>",
            a.open_conflicts.len(),
            if a.open_conflicts.len() == 1 {
                "conflict on this asset waits"
            } else {
                "conflicts on this asset wait"
            }
        );
    }
    render_fields(&mut b, a);
    render_writes(&mut b, a);
    render_history(&mut b, a);
    render_decided(&mut b, a);
    let _ = write!(
        b,
        "<p class=\"muted\"><a href=\"/api/assets/{}\">This asset as JSON</a></p>",
        a.id
    );
    b
}

/// The preview and the facts: ids, pairing, and the version of each copy ferry last read.
fn render_head(b: &mut String, a: &AssetView) {
    b.push_str("<div class=\"asset-head\">\n");
    match &a.preview_url {
        Some(url) => {
            let _ = write!(
                b,
                "<img class=\"preview\" src=\"{}\" alt=\"preview of {}\" loading=\"lazy\">",
                esc(url),
                esc(&a.label)
            );
        }
        None => b.push_str(html::NO_PREVIEW),
    }
    b.push_str("\n<dl class=\"facts\">");
    dd(b, "ferry id", Some(&a.id.to_string()));
    dd(b, "PhotoShelter media", a.photoshelter_id.as_deref());
    dd(b, "Preservation reference", a.preservica_ref.as_deref());
    dd(b, "Authoritative copy", Some(&a.authoritative_copy));
    let paired = a
        .paired_by
        .as_ref()
        .map(|by| format!("by {by} on {}", a.paired_at.as_deref().unwrap_or("?")));
    dd(b, "Paired", paired.as_deref());
    for (name, snap) in [
        ("PhotoShelter", &a.snapshots.photoshelter),
        ("Preservica", &a.snapshots.preservica),
    ] {
        let text = snap.as_ref().map(|s| {
            // A re-read that finds the copy unchanged keeps its row: this is when ferry first
            // saw this version.
            let mut t = format!("this version read {} (run {})", s.captured_at, s.run_id);
            if let Some(m) = &s.system_modified_at {
                let _ = write!(t, ", modified there {m}");
            }
            if let Some(f) = &s.file_name {
                let _ = write!(t, ", file {f}");
            }
            if let Some(n) = s.file_size {
                let _ = write!(t, " ({n} bytes)");
            }
            if let Some(c) = &s.checksum {
                let _ = write!(t, ", {c}");
            }
            t
        });
        dd(b, &format!("In {name}"), text.as_deref());
    }
    b.push_str("</dl>\n</div>\n");
}

/// Each field: who wins, its value in each system, the agreed value and the last decision.
fn render_fields(b: &mut String, a: &AssetView) {
    b.push_str(
        "<h2>Fields</h2>\n<table class=\"fields\"><thead><tr><th>Field</th><th>Who wins</th>\
         <th>PhotoShelter</th><th>Preservica</th><th>Agreed value</th><th>Last decision</th></tr></thead>\n<tbody>\n",
    );
    for f in &a.fields {
        render_field(b, f);
    }
    b.push_str("</tbody></table>\n");
}

fn render_field(b: &mut String, f: &FieldView) {
    let class = if f.differs { " class=\"differs\"" } else { "" };
    let _ = write!(
        b,
        "<tr{class} data-field=\"{}\"><th scope=\"row\">{}",
        esc(&f.field),
        esc(&f.field)
    );
    if let Some(k) = f.kind {
        let _ = write!(b, "<small class=\"loc\">{}</small>", k.name());
    }
    let _ = write!(b, "</th><td>{}", esc(&f.authority));
    if let Some(r) = &f.rule {
        let _ = write!(b, "<small class=\"loc\">rule {}</small>", esc(r));
    }
    b.push_str("</td>");
    for (value, location, meaning) in [
        (
            &f.photoshelter,
            &f.photoshelter_location,
            &f.photoshelter_meaning,
        ),
        (&f.preservica, &f.preservica_location, &f.preservica_meaning),
    ] {
        match location {
            None if f.kind.is_some() => {
                b.push_str("<td class=\"value\"><span class=\"absent\">not kept there</span></td>")
            }
            _ => {
                let _ = write!(
                    b,
                    "<td class=\"value\">{}",
                    value_html(f.kind, value.as_deref())
                );
                // H3: an enum code's meaning under it (`MR-NAP` → "model release: …").
                if let Some(m) = meaning {
                    let _ = write!(b, "<small class=\"meaning\">{}</small>", esc(m));
                }
                if let Some(l) = location {
                    let _ = write!(b, "<small class=\"loc\">{}</small>", esc(l));
                }
                b.push_str("</td>");
            }
        }
    }
    match &f.baseline {
        None => b.push_str("<td class=\"value\"><span class=\"absent\">never agreed</span></td>"),
        Some(v) => {
            let _ = write!(
                b,
                "<td class=\"value\">{}</td>",
                value_html(f.kind, v.as_deref())
            );
        }
    }
    match &f.decision {
        None => b.push_str("<td><span class=\"absent\">no decision yet</span></td>"),
        Some(d) => {
            let _ = write!(
                b,
                "<td>{} <span class=\"reason\"><bdi>{}</bdi></span><small class=\"loc\"><a href=\"/runs/{}\">run {}</a> · {}</small></td>",
                badge(&d.outcome.replace('_', " "), outcome_tone(&d.outcome)),
                esc(&d.reason),
                d.run_id,
                d.run_id,
                esc(&d.decided_at)
            );
        }
    }
    b.push_str("</tr>\n");
}

/// The kind of `field`, for showing its values.
fn kind_of(a: &AssetView, field: &str) -> Option<FieldKind> {
    a.fields
        .iter()
        .find(|f| f.field == field)
        .and_then(|f| f.kind)
}

/// What ferry wrote to this asset.
fn render_writes(b: &mut String, a: &AssetView) {
    b.push_str("<h2>Writes</h2>\n");
    if a.writes.is_empty() {
        b.push_str("<p class=\"muted\">ferry has not written to this asset.</p>\n");
        return;
    }
    b.push_str(
        "<table><thead><tr><th>Run</th><th>To</th><th>Field</th><th>Value</th><th>State</th><th>When</th></tr></thead><tbody>\n",
    );
    for w in &a.writes {
        let state = match &w.last_error {
            Some(e) => format!("{} ({e})", w.state),
            None => w.state.clone(),
        };
        let _ = writeln!(
            b,
            "<tr><td><a href=\"/runs/{}\">{}</a></td><td>{}</td><td>{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td></tr>",
            w.run_id,
            w.run_id,
            esc(&w.system),
            esc(&w.field),
            value_html(kind_of(a, &w.field), w.new_value.as_deref()),
            esc(&state),
            esc(&w.updated_at)
        );
    }
    b.push_str("</tbody></table>\n");
}

/// The values of this asset that were superseded, and why.
fn render_history(b: &mut String, a: &AssetView) {
    b.push_str("<h2>Field history</h2>\n");
    if a.history.is_empty() {
        b.push_str("<p class=\"muted\">No value of this asset has been superseded yet.</p>\n");
        return;
    }
    b.push_str(
        "<table class=\"history\"><thead><tr><th>When</th><th>Field</th><th>In</th><th>Was</th><th>Became</th><th>Why</th></tr></thead><tbody>\n",
    );
    for h in &a.history {
        let kind = kind_of(a, &h.field);
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"value\">{}</td><td class=\"value\">{}</td><td><bdi>{}</bdi></td></tr>",
            esc(&h.recorded_at),
            esc(&h.field),
            esc(&h.system),
            value_html(kind, h.old_value.as_deref()),
            value_html(kind, h.new_value.as_deref()),
            esc(&h.reason)
        );
    }
    b.push_str("</tbody></table>\n");
}

/// The conflicts on this asset people decided: what they chose, who, and their note.
fn render_decided(b: &mut String, a: &AssetView) {
    if a.decided.is_empty() {
        return;
    }
    b.push_str(
        "<h3>Decided by people</h3>\n<table class=\"decided\"><thead><tr><th>When</th><th>Field</th><th>Decision</th><th>By</th><th>Carried out</th></tr></thead><tbody>\n",
    );
    for d in &a.decided {
        let decision = match d.resolution.as_str() {
            "value" => value_html(kind_of(a, &d.field), d.resolution_value.as_deref()),
            side => format!("take {}&#39;s value", esc(side)),
        };
        let _ = writeln!(
            b,
            "<tr id=\"decided-{}\"><td>{}</td><td>{}</td><td class=\"value\">{}</td><td>{}</td><td>{}</td></tr>",
            d.id,
            esc(&d.resolved_at),
            esc(&d.field),
            decision,
            super::decider_html(d.decided_by.as_deref(), d.decision_note.as_deref()),
            esc(d
                .carried_out_by
                .as_deref()
                .unwrap_or("waiting for the next sync"))
        );
    }
    b.push_str("</tbody></table>\n");
}
