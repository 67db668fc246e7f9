//! The one table printer of the command line: columns padded to their widest cell.

pub(super) fn print_table<const N: usize>(header: &[String; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = std::array::from_fn(|i| header[i].chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; N]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header);
    line(&widths.map(|w| "-".repeat(w)));
    for row in rows {
        line(row);
    }
}
