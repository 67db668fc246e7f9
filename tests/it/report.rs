//! The drift report's three forms: HTML that escapes hostile captions and carries no script,
//! a word diff of text fields, CSV that round-trips and defuses formulas, JSON with the
//! documented keys, and atomic writing of all three.

use ferry::http::RequestCounts;
use ferry::report::render::{CSV_COLUMNS, escape_html, to_csv, to_html, to_json, write_all};
use ferry::report::{
    ConcurrentEdit, Failure, FieldRow, REPORT_SCHEMA_VERSION, RightsProblem, RunReport, Summary,
    TransferRow,
};
use ferry::store::RunStatus;

fn row(asset_id: i64, field: &str, kind: &str, ps: Option<&str>, pv: Option<&str>) -> FieldRow {
    let outcome = if ps == pv {
        "in_sync"
    } else {
        "push_to_preservica"
    };
    FieldRow {
        asset_id,
        photoshelter_id: Some(format!("I0000{asset_id:06}")),
        preservica_ref: Some(format!("0b1c2d3e-0000-4000-8000-{asset_id:012}")),
        label: format!("Asset {asset_id}"),
        field: field.to_string(),
        kind: kind.to_string(),
        photoshelter_value: ps.map(str::to_string),
        preservica_value: pv.map(str::to_string),
        has_baseline: true,
        baseline_value: pv.map(str::to_string),
        outcome: outcome.parse().unwrap(),
        rule: "photoshelter_wins".to_string(),
        reason: "PhotoShelter changed".to_string(),
        decided_value: ps.map(str::to_string),
        write_state: if ps == pv { "" } else { "planned" }.to_string(),
    }
}

fn base_report() -> RunReport {
    RunReport {
        schema_version: REPORT_SCHEMA_VERSION,
        run_id: 42,
        started_at: "2025-03-01T02:00:00Z".to_string(),
        finished_at: "2025-03-01T02:03:10Z".to_string(),
        dry_run: true,
        status: RunStatus::Done,
        exit_code: 0,
        stopped: None,
        summary: Summary {
            assets_photoshelter: 120,
            assets_preservica: 118,
            pairs: 110,
            pairs_unchanged: 0,
            fields_compared: 1100,
            in_sync: 1090,
            drifted: 10,
            pushed_to_photoshelter: 3,
            pushed_to_preservica: 6,
            conflicts_queued: 1,
            conflicts_resolved: 2,
            skipped: 0,
            failures: 1,
            concurrent_edits: 1,
            api_calls_photoshelter: RequestCounts {
                requests: 311,
                retries: 7,
                throttled: 5,
                server_errors: 2,
                concurrency: None,
                by_kind: Default::default(),
            },
            api_calls_preservica: RequestCounts {
                requests: 977,
                retries: 3,
                throttled: 0,
                server_errors: 3,
                concurrency: None,
                by_kind: Default::default(),
            },
            seconds_pull_photoshelter: 41.25,
            seconds_pull_preservica: 97.5,
            seconds_push: 12.0,
            seconds_total: 190.0,
        },
        fields: vec![],
        rights: vec![RightsProblem {
            asset_id: 7,
            photoshelter_id: Some("I0000000007".to_string()),
            preservica_ref: None,
            label: "Harbour <at> dusk".to_string(),
            kind: "expired_licence_visible".to_string(),
            detail: "licence expired 2024-12-31, still visible to everyone".to_string(),
            expires_on: Some("2024-12-31".to_string()),
            photoshelter_expiry: Some("2024-12-31".to_string()),
            preservica_expiry: None,
        }],
        failures: vec![Failure {
            asset_id: None,
            system: "preservica".to_string(),
            item: "entities/updated-since".to_string(),
            error: "503 after 5 attempts <html>".to_string(),
        }],
        transfers: vec![TransferRow {
            kind: "archive".to_string(),
            source: "I0000000009".to_string(),
            target: None,
            state: "failed".to_string(),
            detail: "upload refused".to_string(),
        }],
        concurrent_edits: vec![ConcurrentEdit {
            asset_id: 8,
            system: "preservica".to_string(),
            item: "2e0d5f55-8a1c-4c0e-9d0e-6f4d7c1b2a11".to_string(),
            field: "caption".to_string(),
            value_read: Some("Boats <b>at</b> dawn".to_string()),
            value_written: Some("Boats at dusk".to_string()),
            note: "may have replaced a concurrent edit".to_string(),
            evidence: "Preservica recorded 1 change by <ann>".to_string(),
        }],
    }
}

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";
const RTL_EMOJI: &str = "שלום עולם مرحبا 📷🏳️‍🌈 \u{202e}evil";

fn hostile_report() -> (RunReport, String) {
    let big: String = "x&<y> ".repeat(100 * 1024 / 6);
    let mut r = base_report();
    r.stopped = Some(format!("mass-change guard: {SCRIPT}"));
    r.fields = vec![
        row(1, "caption", "text", Some(SCRIPT), Some("plain caption")),
        row(1, "headline", "text", Some(IMG), None),
        row(
            2,
            "credit",
            "text",
            Some("Tom &amp; Jerry"),
            Some("Tom & Jerry"),
        ),
        row(3, "caption", "text", Some(&big), Some("short")),
        row(4, "title", "text", Some(RTL_EMOJI), Some(RTL_EMOJI)),
        row(5, "keywords", "set", Some("bell\u{7}ring"), Some("x")),
    ];
    r.fields[0].label = format!("{IMG} label");
    (r, big)
}

#[test]
fn html_escapes_hostile_values_and_has_no_script() {
    let (r, big) = hostile_report();
    let html = to_html(&r);

    assert!(!html.contains("<script"), "no script element at all");
    assert!(!html.contains("<img"), "no injected element");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    // A literal `&amp;` in a caption is shown as the five characters it is.
    assert!(html.contains("Tom &amp;amp; Jerry"));
    // The 100 KB value is there in full, escaped.
    assert!(big.len() >= 100 * 1024 - 6);
    assert!(html.contains(&escape_html(&big)));
    assert!(!html.contains("x&<y>"));
    // RTL text and emoji pass through unchanged, isolated from their surroundings.
    assert!(html.contains(RTL_EMOJI));
    assert!(html.contains("dir=\"auto\""));
    // A control character is made visible, never emitted raw.
    assert!(!html.contains('\u{7}'));
    assert!(html.contains("bell\u{2407}ring"));
    // The stop reason is shown, escaped.
    assert!(html.contains("mass-change guard: &lt;script&gt;"));

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<meta charset=\"utf-8\">"));
    assert!(html.contains(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
    ));
    // Self-contained: nothing to fetch.
    for needle in [
        "<link",
        "src=\"",
        "href=\"http",
        "url(",
        "@import",
        "<iframe",
    ] {
        assert!(!html.contains(needle), "found {needle}");
    }
    // None shows as a grey em dash.
    assert!(html.contains("class=\"none\" title=\"no value\""));
    // A write that may have replaced a concurrent edit is marked, with both values, escaped.
    let section = html
        .split("<section id=\"concurrent\">")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .expect("a section for concurrent edits");
    assert!(section.contains("may have replaced a concurrent edit"));
    assert!(section.contains("Boats &lt;b&gt;at&lt;/b&gt; dawn"));
    assert!(section.contains("Boats at dusk"));
    assert!(section.contains("by &lt;ann&gt;"));
}

#[test]
fn escape_html_covers_the_five_characters() {
    assert_eq!(
        escape_html(r#"a&b<c>d"e'f"#),
        "a&amp;b&lt;c&gt;d&quot;e&#39;f"
    );
    assert_eq!(escape_html("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
    assert_eq!(
        escape_html("\u{1b}[31m\u{7f}\u{85}"),
        "\u{241b}[31m\u{2421}\u{fffd}"
    );
    assert_eq!(escape_html("ok ünïcødé 📷"), "ok ünïcødé 📷");
}

#[test]
fn html_sections_summary_and_grouping() {
    let mut r = base_report();
    r.stopped = Some("would change 40% of assets".to_string());
    r.status = RunStatus::Stopped;
    r.fields = vec![
        row(10, "title", "text", Some("Same"), Some("Same")),
        row(11, "title", "text", Some("New title"), Some("Old title")),
        row(
            10,
            "caption",
            "text",
            Some("Changed here"),
            Some("Changed there"),
        ),
        row(12, "date", "date", Some("2020-01-01"), Some("2020-01-01")),
        row(11, "credit", "text", Some("A"), Some("B")),
    ];
    r.fields[3].has_baseline = false;
    let html = to_html(&r);

    for needle in [
        "ferry run 42",
        "Dry run",
        "Status: stopped",
        "Stopped before writing:",
        "would change 40% of assets",
        "2025-03-01T02:00:00Z",
        "2025-03-01T02:03:10Z",
        // Summary numbers, API calls and seconds per system.
        "<td>120</td>",
        "<td>118</td>",
        "<td>1090</td>",
        "<td>311</td><td>977</td>",
        "<td>7</td><td>3</td>",
        "<td>5</td><td>0</td>",
        "<td>2</td><td>3</td>",
        "41.2 s",
        "97.5 s",
        "190.0 s",
        "Throttled (429)",
        "Server errors (5xx)",
        // Rights, failures, transfers.
        "expired licence still visible",
        "Harbour &lt;at&gt; dusk",
        "503 after 5 attempts &lt;html&gt;",
        "upload refused",
        "2 fields in sync",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }

    // Order of the sections, drifted before the collapsed in-sync list.
    let pos = |s: &str| html.find(s).unwrap_or_else(|| panic!("missing {s}"));
    assert!(pos("id=\"summary\"") < pos("id=\"drift\""));
    assert!(pos("id=\"drift\"") < pos("id=\"in-sync\""));
    assert!(pos("id=\"in-sync\"") < pos("id=\"rights\""));
    assert!(pos("id=\"rights\"") < pos("id=\"failures\""));
    assert!(pos("id=\"failures\"") < pos("id=\"transfers\""));
    let details = pos("<details>");
    assert!(details > pos("id=\"in-sync\""));
    assert!(!html.contains("<details open"));

    // Drifted rows are grouped per asset (both rows of asset 11 under one heading), assets in
    // order of first appearance.
    let drift = &html[pos("id=\"drift\"")..details];
    assert!(drift.contains("3 fields on 2 assets"));
    assert_eq!(drift.matches("<h3 class=\"asset\">").count(), 2);
    let (a11, a10) = (
        drift.find("Asset 11").unwrap(),
        drift.find("Asset 10").unwrap(),
    );
    assert!(a11 < a10);
    let credit = drift.find(">credit<").unwrap();
    assert!(drift.find(">title<").unwrap() < credit && credit < a10);
    assert!(drift.contains("I0000000010"));
    assert!(drift.contains("0b1c2d3e-0000-4000-8000-000000000010"));
    assert!(drift.contains("push to Preservica"));
    assert!(!drift.contains("in sync</span>"));
    // In-sync rows sit inside the details.
    let in_sync = &html[details..pos("id=\"rights\"")];
    assert!(in_sync.contains("Asset 12"));
    assert!(in_sync.contains("no baseline"));
}

#[test]
fn word_diff_marks_exactly_the_changed_words() {
    let mut r = base_report();
    r.fields = vec![row(
        1,
        "caption",
        "text",
        Some("The quick brown fox jumps over the lazy dog"),
        Some("The quick red fox jumps over the sleepy old dog"),
    )];
    let html = to_html(&r);
    let start = html.find("<tr class=\"diff\">").expect("a diff row");
    let diff = &html[start..start + html[start..].find("</tr>").unwrap()];
    let dels: Vec<&str> = tags(diff, "del");
    let inss: Vec<&str> = tags(diff, "ins");
    assert_eq!(dels, ["brown", "lazy"]);
    assert_eq!(inss, ["red", "sleepy old"]);
    assert!(diff.contains("The quick <del>brown</del><ins>red</ins> fox jumps over the "));

    // Hostile words are escaped inside the diff too; no diff for non-text or equal values.
    r.fields = vec![
        row(1, "caption", "text", Some("a <b> c"), Some("a <i> c")),
        row(2, "date", "date", Some("2020"), Some("2021")),
        row(3, "caption", "text", Some("same"), Some("same")),
    ];
    let html = to_html(&r);
    assert_eq!(html.matches("<tr class=\"diff\">").count(), 1);
    assert!(html.contains("<del>&lt;b&gt;</del><ins>&lt;i&gt;</ins>"));
}

fn tags<'a>(s: &'a str, tag: &str) -> Vec<&'a str> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut found = vec![];
    let mut rest = s;
    while let Some(i) = rest.find(&open) {
        rest = &rest[i + open.len()..];
        let j = rest.find(&close).unwrap();
        found.push(&rest[..j]);
        rest = &rest[j + close.len()..];
    }
    found
}

/// A minimal RFC 4180 reader: records end in CRLF (or LF), quoted cells may hold anything.
fn parse_csv(s: &str) -> Vec<Vec<String>> {
    let mut records = vec![];
    let mut record = vec![];
    let mut cell = String::new();
    let mut chars = s.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cell.push('"');
                } else {
                    quoted = false;
                }
            } else {
                cell.push(c);
            }
            continue;
        }
        match c {
            '"' if cell.is_empty() => quoted = true,
            ',' => record.push(std::mem::take(&mut cell)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut cell));
                records.push(std::mem::take(&mut record));
            }
            '"' => panic!("stray quote in an unquoted cell"),
            c => cell.push(c),
        }
    }
    assert!(!quoted, "unterminated quote");
    assert!(
        cell.is_empty() && record.is_empty(),
        "last record not terminated"
    );
    records
}

#[test]
fn csv_round_trips_and_defuses_formulas() {
    let mut r = base_report();
    let tricky = "Smith, John said \"hi\"\r\nthen left\nand, \"again\"";
    r.fields = vec![
        row(1, "caption", "text", Some(tricky), Some("plain")),
        row(2, "credit", "text", Some("=cmd|' /C calc'!A0"), None),
        row(3, "caption", "text", Some("+1"), Some("-1, \"x\"")),
        row(4, "caption", "text", Some("@SUM(A1)"), Some("\tTAB")),
        row(5, "caption", "text", Some("\rCR"), Some("a=b is fine")),
    ];
    r.fields[1].has_baseline = false;
    r.fields[1].baseline_value = None;
    let csv = to_csv(&r);
    let records = parse_csv(&csv);

    assert_eq!(records.len(), 1 + r.fields.len());
    assert_eq!(records[0], CSV_COLUMNS);
    assert_eq!(
        records[0],
        [
            "run_id",
            "asset_id",
            "photoshelter_id",
            "preservica_ref",
            "label",
            "field",
            "kind",
            "photoshelter_value",
            "preservica_value",
            "has_baseline",
            "baseline_value",
            "outcome",
            "rule",
            "reason",
            "decided_value",
            "write_state",
        ]
    );
    for rec in &records {
        assert_eq!(rec.len(), 16);
    }
    let first = &records[1];
    assert_eq!(first[0], "42");
    assert_eq!(first[1], "1");
    assert_eq!(first[2], "I0000000001");
    assert_eq!(first[4], "Asset 1");
    assert_eq!(first[7], tricky, "commas, quotes and newlines survive");
    assert_eq!(first[8], "plain");
    assert_eq!(first[9], "true");
    assert_eq!(first[11], "push_to_preservica");
    assert_eq!(first[14], tricky);
    assert_eq!(first[15], "planned");

    let formula = &records[2];
    assert_eq!(formula[7], "'=cmd|' /C calc'!A0");
    assert_eq!(formula[8], "", "None is an empty cell");
    assert_eq!(formula[9], "false");
    assert_eq!(formula[10], "");
    assert!(csv.contains(",'=cmd|' /C calc'!A0,"));
    assert_eq!(records[3][7], "'+1");
    assert_eq!(records[3][8], "'-1, \"x\"");
    assert_eq!(records[4][7], "'@SUM(A1)");
    assert_eq!(records[4][8], "'\tTAB");
    assert_eq!(records[5][7], "'\rCR");
    assert_eq!(records[5][8], "a=b is fine");
    // No data cell starts with a formula character.
    for rec in &records[1..] {
        for cell in rec {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }
    assert!(csv.ends_with("\r\n"));
}

#[test]
fn json_has_the_documented_keys() {
    let (mut r, _) = hostile_report();
    r.schema_version = 0; // whatever the struct says, the JSON carries the schema's version
    let json = to_json(&r);
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut expected = vec![
        "schema_version",
        "run_id",
        "started_at",
        "finished_at",
        "dry_run",
        "status",
        "exit_code",
        "stopped",
        "summary",
        "fields",
        "rights",
        "failures",
        "transfers",
        "concurrent_edits",
    ];
    let mut sorted = keys.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    // Version 2: set values became arrays (see `sets_are_arrays_in_json_and_one_cell_in_csv`).
    assert_eq!(v["schema_version"], 2);
    assert_eq!(REPORT_SCHEMA_VERSION, 2);
    assert_eq!(v["run_id"], 42);
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["summary"]["api_calls_photoshelter"]["throttled"], 5);
    assert_eq!(v["summary"]["api_calls_preservica"]["server_errors"], 3);
    assert_eq!(v["fields"].as_array().unwrap().len(), r.fields.len());
    // Values are carried verbatim (JSON is never escaped for HTML or defused for spreadsheets).
    assert_eq!(v["fields"][0]["photoshelter_value"], SCRIPT);
    assert_eq!(v["fields"][4]["photoshelter_value"], RTL_EMOJI);
    // A missing value is null, not an absent key.
    assert!(v["fields"][1]["preservica_value"].is_null());
    assert!(
        v["fields"][1]
            .as_object()
            .unwrap()
            .contains_key("preservica_value")
    );
    assert!(v["transfers"][0]["target"].is_null());
    assert_eq!(v["rights"][0]["kind"], "expired_licence_visible");
    // Dates are fields of their own, not only in the prose of `detail`.
    assert_eq!(v["rights"][0]["expires_on"], "2024-12-31");
    assert_eq!(v["rights"][0]["photoshelter_expiry"], "2024-12-31");
    assert!(v["rights"][0]["preservica_expiry"].is_null());
    assert!(json.contains("\n  \"run_id\": 42"), "pretty-printed");
}

#[test]
fn sets_are_arrays_in_json_and_one_cell_in_csv() {
    let mut r = base_report();
    // The stored (canonical) form: members sorted.
    let ps = r#"["a; b","harbour","x=1"]"#;
    let pv = r#"["harbour"]"#;
    r.fields = vec![
        row(1, "keywords", "set", Some(ps), Some(pv)),
        row(2, "caption", "text", Some(r#"["not","a set"]"#), None),
    ];
    let json = to_json(&r);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["fields"][0]["photoshelter_value"],
        serde_json::json!(["a; b", "harbour", "x=1"])
    );
    assert_eq!(
        v["fields"][0]["baseline_value"],
        serde_json::json!(["harbour"])
    );
    assert_eq!(
        v["fields"][1]["photoshelter_value"], r#"["not","a set"]"#,
        "text stays text"
    );
    // Read back, the report is the one written (stored forms kept), and a version 1 report
    // whose set values are strings still reads.
    assert_eq!(RunReport::from_json(&json).unwrap(), r);
    let v1 = json.replace("\"schema_version\": 2", "\"schema_version\": 1");
    assert!(RunReport::from_json(&v1).is_ok());

    let records = parse_csv(&to_csv(&r));
    let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    assert_eq!(
        records[1][col("photoshelter_value")],
        "a\\; b; harbour; x=1"
    );
    assert_eq!(
        ferry::csv_out::split_set(&records[1][col("photoshelter_value")]),
        ["a; b", "harbour", "x=1"]
    );
    assert_eq!(records[1][col("preservica_value")], "harbour");
    assert_eq!(records[2][col("photoshelter_value")], r#"["not","a set"]"#);

    // The HTML shows a set's members, not its stored form.
    let html = to_html(&r);
    assert!(html.contains("a; b, harbour, x=1"), "set members shown");
}

#[test]
fn excel_csv_starts_with_a_byte_order_mark() {
    let tmp = tempfile::tempdir().unwrap();
    let mut r = base_report();
    r.fields = vec![row(1, "caption", "text", Some("Café ✓"), None)];
    let style = ferry::csv_out::CsvStyle { excel: true };
    let paths = ferry::report::render::write_all_with(&r, tmp.path(), style).unwrap();
    let bytes = std::fs::read(&paths.csv).unwrap();
    assert_eq!(bytes[..3], [0xEF, 0xBB, 0xBF]);
    assert_eq!(
        &bytes[3..],
        to_csv(&r).as_bytes(),
        "the same CSV after the mark"
    );
    let plain = write_all(&r, tmp.path()).unwrap();
    assert!(!std::fs::read(&plain.csv).unwrap().starts_with(&[0xEF]));
}

#[test]
fn write_all_writes_three_files_and_no_temp_files() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reports").join("nested");
    let (r, _) = hostile_report();
    let paths = write_all(&r, &dir).expect("written");

    assert_eq!(paths.html, dir.join("run-42.html"));
    assert_eq!(paths.json, dir.join("run-42.json"));
    assert_eq!(paths.csv, dir.join("run-42.csv"));
    assert_eq!(std::fs::read_to_string(&paths.html).unwrap(), to_html(&r));
    assert_eq!(std::fs::read_to_string(&paths.json).unwrap(), to_json(&r));
    assert_eq!(std::fs::read_to_string(&paths.csv).unwrap(), to_csv(&r));

    // Rewriting replaces the files in place; nothing else is ever left in the directory.
    let mut r2 = r.clone();
    r2.status = RunStatus::Failed;
    write_all(&r2, &dir).expect("rewritten");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["run-42.csv", "run-42.html", "run-42.json"]);
    assert!(
        std::fs::read_to_string(&paths.json)
            .unwrap()
            .contains("\"failed\"")
    );
}

#[test]
fn renders_a_report_of_two_thousand_fields() {
    let mut r = base_report();
    r.fields = (0..2000)
        .map(|i| {
            let asset = i / 10;
            if i % 4 == 0 {
                row(
                    asset,
                    &format!("field{i}"),
                    "text",
                    Some(&format!(
                        "caption {i} of a photo, taken at the harbour at dusk"
                    )),
                    Some(&format!(
                        "caption {i} of a picture, taken in the harbour at night"
                    )),
                )
            } else {
                row(
                    asset,
                    &format!("field{i}"),
                    "enum",
                    Some("same"),
                    Some("same"),
                )
            }
        })
        .collect();
    let html = to_html(&r);
    assert_eq!(html.matches("<tr class=\"diff\">").count(), 500);
    assert!(html.contains("1500 fields in sync"));
    assert_eq!(parse_csv(&to_csv(&r)).len(), 2001);
    let v: serde_json::Value = serde_json::from_str(&to_json(&r)).unwrap();
    assert_eq!(v["fields"].as_array().unwrap().len(), 2000);
}
