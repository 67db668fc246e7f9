//! The HTML section listing writes that may have replaced a concurrent edit.

use super::push_value;
use crate::report::RunReport;
use std::fmt::Write as _;

pub(super) fn render_concurrent_edits(out: &mut String, report: &RunReport) {
    out.push_str(
        "<section id=\"concurrent\">\n<h2>Writes that may have replaced a concurrent edit</h2>\n",
    );
    if report.concurrent_edits.is_empty() {
        out.push_str("<p class=\"empty-note\">None seen.</p>\n</section>\n");
        return;
    }
    out.push_str(
        "<p>Written and verified, but someone changed the record between ferry's re-read and \
         its write: their edit may be lost. Each field waits in the review queue with the \
         value ferry read and the value it wrote.</p>\n",
    );
    out.push_str(
        "<table class=\"list\">\n<thead><tr><th scope=\"col\">Asset</th><th scope=\"col\">System</th>\
         <th scope=\"col\">Item</th><th scope=\"col\">Field</th><th scope=\"col\">Read</th>\
         <th scope=\"col\">Written</th><th scope=\"col\">Why</th></tr></thead>\n<tbody>\n",
    );
    for c in &report.concurrent_edits {
        let _ = write!(out, "<tr><td>{}</td><td>", c.asset_id);
        push_value(out, Some(&c.system));
        out.push_str("</td><td>");
        push_value(out, Some(&c.item));
        out.push_str("</td><td>");
        push_value(out, Some(&c.field));
        out.push_str("</td><td>");
        push_value(out, c.value_read.as_deref());
        out.push_str("</td><td>");
        push_value(out, c.value_written.as_deref());
        out.push_str("</td><td><span class=\"badge bad\">");
        push_value(out, Some(&c.note));
        out.push_str("</span> ");
        push_value(out, Some(&c.evidence));
        out.push_str("</td></tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}
