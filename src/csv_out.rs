//! Every CSV ferry writes (search results, the drift report's field rows) goes through
//! [`CsvTable`]: the `csv` crate's writer (RFC 4180 quoting: a cell with a comma, quote, CR or
//! LF is quoted and its quotes doubled; CRLF record ends), with ferry's conventions on top:
//!
//! - **Sets** (keywords, galleries, a set field's value) are one cell, members joined with
//!   [`SET_SEPARATOR`] (`"; "`). A member's own `;` is written `\;` and its `\` as `\\`, so
//!   [`split_set`] gives the members back exactly. JSON outputs write sets as arrays.
//! - **Formula guard.** A cell beginning with `=`, `+`, `-`, `@`, tab or CR gets a leading `'`,
//!   so that a spreadsheet shows it as text rather than evaluating it (a caption
//!   `=cmd|' /C calc'!A0` must not run anything). Always on: a CSV is opened in a spreadsheet
//!   more often than not. The `'` is not part of the value; the JSON forms are never altered.
//! - **Excel.** With [`CsvStyle::excel`] (`--excel`, or `[output] excel = true`), the file
//!   starts with a UTF-8 byte-order mark, which spreadsheet programs need to read UTF-8
//!   rather than the system code page.
//!
//! Invariant: the output is valid UTF-8 (cells are `&str`; nothing else is written), every
//! record has the header's number of cells.

use std::borrow::Cow;

/// Between the members of a set in one cell.
pub const SET_SEPARATOR: &str = "; ";
/// The byte-order mark `excel` puts first.
pub const BOM: char = '\u{feff}';

/// How a CSV is written beyond RFC 4180.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvStyle {
    /// Start with a UTF-8 byte-order mark (for spreadsheet programs).
    pub excel: bool,
}

/// A CSV being written into memory: a header, then rows of the same width.
pub struct CsvTable {
    writer: csv::Writer<Vec<u8>>,
    width: usize,
}

impl CsvTable {
    pub fn new(header: &[&str], style: CsvStyle) -> CsvTable {
        let mut start = Vec::with_capacity(4096);
        if style.excel {
            let mut buf = [0u8; 4];
            start.extend_from_slice(BOM.encode_utf8(&mut buf).as_bytes());
        }
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(start);
        let mut table = CsvTable {
            writer,
            width: header.len(),
        };
        table.write(header.iter().map(|h| Cow::Borrowed(*h)));
        table
    }

    /// One row; cells beyond the header's width are dropped and missing ones are empty, so the
    /// file stays rectangular whatever a caller passes.
    pub fn row<'a, I>(&mut self, cells: I)
    where
        I: IntoIterator<Item = &'a str>,
    {
        let guarded = cells.into_iter().map(guard);
        self.write(guarded);
    }

    fn write<'a>(&mut self, cells: impl Iterator<Item = Cow<'a, str>>) {
        let mut record: Vec<Cow<'a, str>> = cells.take(self.width).collect();
        record.resize(self.width, Cow::Borrowed(""));
        // Writing into a Vec cannot fail: the only errors are I/O ones.
        self.writer
            .write_record(record.iter().map(|c| c.as_bytes()))
            .expect("writing CSV into memory");
    }

    /// The whole CSV.
    pub fn finish(self) -> String {
        // Flushing into a Vec cannot fail either.
        let bytes = self
            .writer
            .into_inner()
            .map_err(|e| e.to_string())
            .expect("flushing CSV into memory");
        // Only `&str` cells and ASCII punctuation were written.
        String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
    }
}

/// A cell as written: with the formula guard applied.
fn guard(cell: &str) -> Cow<'_, str> {
    if matches!(
        cell.chars().next(),
        Some('=' | '+' | '-' | '@' | '\t' | '\r')
    ) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The members of a set as one cell (see the module docs).
pub fn join_set<I, S>(members: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::new();
    for (i, m) in members.into_iter().enumerate() {
        if i > 0 {
            out.push_str(SET_SEPARATOR);
        }
        for c in m.as_ref().chars() {
            if matches!(c, ';' | '\\') {
                out.push('\\');
            }
            out.push(c);
        }
    }
    out
}

/// The members of a cell [`join_set`] wrote.
pub fn split_set(cell: &str) -> Vec<String> {
    if cell.is_empty() {
        return Vec::new();
    }
    let mut members = vec![String::new()];
    let mut chars = cell.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    members.last_mut().expect("never empty").push(next);
                }
            }
            ';' => {
                // The separator's space belongs to it, not to the next member.
                if chars.peek() == Some(&' ') {
                    chars.next();
                }
                members.push(String::new());
            }
            c => members.last_mut().expect("never empty").push(c),
        }
    }
    members
}

/// A stored set value (its canonical JSON-array form) as a cell; any other value as it is.
pub fn set_cell<'v>(kind: &str, value: &'v str) -> Cow<'v, str> {
    if kind == "set"
        && let Ok(members) = serde_json::from_str::<Vec<String>>(value)
    {
        return Cow::Owned(join_set(members));
    }
    Cow::Borrowed(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(csv: &str) -> Vec<Vec<String>> {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(csv.trim_start_matches(BOM).as_bytes());
        r.records()
            .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn hostile_cells_are_quoted_and_read_back() {
        let mut t = CsvTable::new(&["a", "b", "c"], CsvStyle::default());
        t.row([
            "comma, inside",
            "quote \" inside",
            "line\nbreak\r\nand CRLF",
        ]);
        t.row(["only one"]);
        let csv = t.finish();
        assert!(csv.starts_with("a,b,c\r\n"));
        assert!(csv.contains("\"comma, inside\",\"quote \"\" inside\""));
        let rows = read(&csv);
        assert_eq!(
            rows[1],
            [
                "comma, inside",
                "quote \" inside",
                "line\nbreak\r\nand CRLF"
            ]
        );
        assert_eq!(rows[2], ["only one", "", ""], "rows stay rectangular");
    }

    #[test]
    fn formula_cells_are_neutralised() {
        let mut t = CsvTable::new(&["v"], CsvStyle::default());
        for cell in ["=cmd|' /C calc'!A0", "+1", "-5", "@SUM(A1)", "\tx", "ok=1"] {
            t.row([cell]);
        }
        let rows = read(&t.finish());
        let cells: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            cells,
            [
                "'=cmd|' /C calc'!A0",
                "'+1",
                "'-5",
                "'@SUM(A1)",
                "'\tx",
                "ok=1"
            ]
        );
    }

    #[test]
    fn excel_puts_a_byte_order_mark_first_and_only_then() {
        let plain = CsvTable::new(&["h"], CsvStyle::default()).finish();
        assert!(!plain.starts_with(BOM));
        let excel = CsvTable::new(&["h"], CsvStyle { excel: true }).finish();
        assert_eq!(excel.as_bytes()[..3], [0xEF, 0xBB, 0xBF]);
        assert_eq!(excel.matches(BOM).count(), 1);
    }

    #[test]
    fn sets_join_one_way_and_split_back_exactly() {
        let members = ["harbour", "a; b", "back\\slash", "semi;colon", "trailing;"];
        let cell = join_set(members);
        assert_eq!(&cell[..18], "harbour; a\\; b; ba");
        assert_eq!(split_set(&cell), members);
        assert_eq!(split_set(""), Vec::<String>::new());
        assert_eq!(split_set(&join_set(["x"])), ["x"]);
        assert_eq!(
            set_cell("set", r#"["harbour","regatta"]"#),
            "harbour; regatta"
        );
        assert_eq!(set_cell("text", r#"["harbour"]"#), r#"["harbour"]"#);
    }

    #[test]
    fn invalid_utf8_never_reaches_the_output() {
        let lossy = String::from_utf8_lossy(b"bad \xff\xfe bytes").into_owned();
        let mut t = CsvTable::new(&["v"], CsvStyle { excel: true });
        t.row([lossy.as_str()]);
        let csv = t.finish();
        assert!(std::str::from_utf8(csv.as_bytes()).is_ok());
        assert!(csv.contains("bad \u{fffd}\u{fffd} bytes"));
    }
}
