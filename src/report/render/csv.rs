//! The report's field rows as CSV (columns in the module docs of `report::render`), written by
//! [`crate::csv_out`] so that quoting, the formula guard, sets and the byte-order mark are the
//! same as in every other CSV ferry writes.

use crate::csv_out::{CsvStyle, CsvTable, set_cell};
use crate::report::RunReport;

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 16] = [
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
];

/// The field decisions as CSV, without a byte-order mark.
pub fn to_csv(report: &RunReport) -> String {
    to_csv_with(report, CsvStyle::default())
}

/// The field decisions as CSV in `style`: a header row then one row per field row.
pub fn to_csv_with(report: &RunReport, style: CsvStyle) -> String {
    let mut table = CsvTable::new(&CSV_COLUMNS, style);
    let run_id = report.run_id.to_string();
    for row in &report.fields {
        let asset_id = row.asset_id.to_string();
        let value = |v: &Option<String>| {
            v.as_deref()
                .map(|v| set_cell(&row.kind, v).into_owned())
                .unwrap_or_default()
        };
        let (ps, pv) = (value(&row.photoshelter_value), value(&row.preservica_value));
        let (baseline, decided) = (value(&row.baseline_value), value(&row.decided_value));
        table.row([
            run_id.as_str(),
            &asset_id,
            row.photoshelter_id.as_deref().unwrap_or(""),
            row.preservica_ref.as_deref().unwrap_or(""),
            &row.label,
            &row.field,
            &row.kind,
            &ps,
            &pv,
            if row.has_baseline { "true" } else { "false" },
            &baseline,
            row.outcome.as_str(),
            &row.rule,
            &row.reason,
            &decided,
            &row.write_state,
        ]);
    }
    table.finish()
}
