//! Search results for people (a table) and for spreadsheets (CSV). JSON is `serde_json` over
//! [`SearchResults`] directly.
//!
//! CSV is written by `crate::csv_out` (RFC 4180, sets joined with `; `, the formula guard, an
//! optional byte-order mark): captions come from outside and must not become commands in an
//! editor's spreadsheet.

use super::{Hit, SearchResults};
use crate::csv_out::{CsvStyle, CsvTable, join_set};

const CSV_COLUMNS: [&str; 22] = [
    "asset_id",
    "photoshelter_id",
    "preservica_ref",
    "lives_in",
    "authoritative",
    "label",
    "title",
    "file_name",
    "headline",
    "caption",
    "creator",
    "keywords",
    "campaign",
    "location",
    "date_created",
    "license_expiry",
    "rights_status",
    "model_release",
    "model_release_meaning",
    "archive_status",
    "archive_status_meaning",
    "score",
];

/// The hits as CSV: a header row, then one row per hit; keywords are one cell joined the way
/// every ferry CSV joins a set (`crate::csv_out`), and enum codes have their meaning beside them.
pub fn format_csv(results: &SearchResults, style: CsvStyle) -> String {
    let mut table = CsvTable::new(&CSV_COLUMNS, style);
    for hit in &results.hits {
        let keywords = join_set(&hit.keywords);
        let asset_id = hit.asset_id.to_string();
        let score = format!("{:.3}", hit.score);
        table.row([
            asset_id.as_str(),
            opt(&hit.photoshelter_id),
            opt(&hit.preservica_ref),
            &hit.lives_in,
            &hit.authoritative,
            &hit.label,
            opt(&hit.title),
            opt(&hit.file_name),
            opt(&hit.headline),
            opt(&hit.caption),
            opt(&hit.creator),
            &keywords,
            opt(&hit.campaign),
            opt(&hit.location),
            opt(&hit.date_created),
            opt(&hit.license_expiry),
            &hit.rights_status,
            opt(&hit.model_release),
            opt(&hit.model_release_meaning),
            opt(&hit.archive_status),
            opt(&hit.archive_status_meaning),
            &score,
        ]);
    }
    table.finish()
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The hits as a plain-text table, then the facet counts when there are any.
pub fn format_table(results: &SearchResults) -> String {
    let mut out = String::new();
    let shown = results.hits.len();
    out.push_str(&format!(
        "{} matching asset{}{}\n",
        results.total,
        if results.total == 1 { "" } else { "s" },
        if shown < results.total {
            format!(", {shown} shown")
        } else {
            String::new()
        }
    ));
    if !results.hits.is_empty() {
        let header = [
            "asset", "lives in", "date", "creator", "title", "rights", "expires",
        ];
        let rows: Vec<[String; 7]> = results.hits.iter().map(row).collect();
        let mut widths = header.map(|h| h.chars().count());
        for r in &rows {
            for (w, cell) in widths.iter_mut().zip(r) {
                *w = (*w).max(cell.chars().count());
            }
        }
        push_row(&mut out, &header.map(str::to_string), &widths);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        out.push_str(rule.join("  ").trim_end());
        out.push('\n');
        for r in &rows {
            push_row(&mut out, r, &widths);
        }
    }
    for (name, values) in &results.facets {
        if values.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{name}:\n"));
        for (value, count) in values {
            out.push_str(&format!("  {count:>7}  {}\n", clean(value, 60)));
        }
    }
    out
}

fn row(hit: &Hit) -> [String; 7] {
    let title = hit
        .title
        .as_deref()
        .or(hit.file_name.as_deref())
        .or(hit.headline.as_deref())
        .or(hit.caption.as_deref())
        .unwrap_or("");
    [
        hit.asset_id.to_string(),
        hit.lives_in.clone(),
        hit.date_created
            .as_deref()
            .map(|d| d.chars().take(10).collect())
            .unwrap_or_default(),
        clean(hit.creator.as_deref().unwrap_or(""), 24),
        clean(title, 48),
        hit.rights_status.clone(),
        hit.license_expiry
            .as_deref()
            .map(|d| d.chars().take(10).collect())
            .unwrap_or_default(),
    ]
}

fn push_row(out: &mut String, cells: &[String; 7], widths: &[usize; 7]) {
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        if i > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        let pad = w.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// One line, control characters replaced, at most `max` characters (with an ellipsis).
fn clean(s: &str, max: usize) -> String {
    let one_line: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > max {
        let mut cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn hit(title: &str) -> Hit {
        Hit {
            asset_id: 7,
            photoshelter_id: Some("I0001".into()),
            preservica_ref: None,
            title: Some(title.into()),
            file_name: None,
            label: title.into(),
            headline: None,
            caption: Some("a \"quoted\", caption\nwith a line".into()),
            creator: Some("Mary Ellis".into()),
            keywords: vec!["harbour".into(), "regatta".into()],
            campaign: None,
            location: None,
            date_created: Some("1962-07-14".into()),
            license_expiry: None,
            rights_status: "unknown".into(),
            model_release: Some("MR-NAP".into()),
            model_release_meaning: Some("model release: not applicable".into()),
            archive_status: None,
            archive_status_meaning: None,
            lives_in: "photoshelter".into(),
            authoritative: "photoshelter".into(),
            score: 1.5,
        }
    }

    #[test]
    fn csv_quotes_and_guards_formulas() {
        let results = SearchResults {
            total: 1,
            hits: vec![hit("=HYPERLINK(\"http://x\")")],
            facets: BTreeMap::new(),
        };
        let csv = format_csv(&results, CsvStyle::default());
        let line = csv.lines().nth(1).unwrap();
        assert!(
            line.contains(",\"'=HYPERLINK(\"\"http://x\"\")\","),
            "{line}"
        );
        assert!(csv.contains("\"a \"\"quoted\"\", caption\nwith a line\""));
        assert!(csv.contains(",harbour; regatta,"));
    }

    #[test]
    fn the_table_lists_hits_and_facets() {
        let mut facets = BTreeMap::new();
        facets.insert("creator".to_string(), vec![("Mary Ellis".to_string(), 3)]);
        let results = SearchResults {
            total: 3,
            hits: vec![hit("Harbour regatta")],
            facets,
        };
        let table = format_table(&results);
        assert!(table.starts_with("3 matching assets, 1 shown\n"), "{table}");
        assert!(table.contains("Harbour regatta"));
        assert!(table.contains("creator:\n        3  Mary Ellis"));
    }
}
