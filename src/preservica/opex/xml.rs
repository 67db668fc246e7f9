//! The XML pieces OPEX needs that quick-xml leaves to the caller: escaping values so they
//! read back exactly, reading through the one hardened reader ([`crate::xml::Reader`]) with
//! namespace well-formedness on top, and checking descriptive metadata fragments before they
//! are pasted into (or after they are cut out of) a `.opex`.

use crate::xml::{Reader, Resolved};
use quick_xml::events::{BytesStart, Event};
use std::sync::Arc;

pub(super) use crate::xml::is_xml_char;

/// Why `value` cannot be written into XML, if it cannot.
pub(super) fn unwritable(value: &str) -> Option<String> {
    crate::xml::first_non_xml_char(value)
        .map(|c| format!("contains U+{:04X}, which XML cannot hold", c as u32))
}

/// Escapes element text. `\r` becomes a character reference, or a parser would turn it into
/// `\n` and the value would not read back as written.
pub(super) fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes an attribute value (double-quoted). Tabs and newlines become references because
/// attribute normalisation would turn them into spaces.
pub(super) fn escape_attr(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\n' => out.push_str("&#10;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) use crate::xml::resolve_reference;

/// The next event with the namespace of its element; an undeclared prefix is an error (the
/// document would not be namespace-well-formed).
pub(super) fn next_event<'i>(r: &mut Reader<'i>) -> Result<(Option<Arc<str>>, Event<'i>), String> {
    let (ns, ev) = r.next().map_err(|e| e.to_string())?;
    match ns {
        Resolved::Undeclared(p) => Err(format!("namespace prefix {p:?} is not declared")),
        ns => Ok((ns.bound(), ev)),
    }
}

/// Namespace declarations on one tag: (prefix, or "" for the default namespace; URI).
pub(super) fn declarations(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("bad attribute: {err}"))?;
        let key: &str = attr.key.as_ref();
        let prefix = if key == "xmlns" {
            ""
        } else if let Some(p) = key.strip_prefix("xmlns:") {
            p
        } else {
            continue;
        };
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("bad namespace declaration {key}: {err}"))?;
        out.push((prefix.to_string(), value.into_owned()));
    }
    Ok(out)
}

/// Ordinary attributes of a tag with their values unescaped: (qualified name, value).
pub(super) fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("bad attribute: {err}"))?;
        let key: &str = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| format!("bad value of attribute {key}: {err}"))?;
        out.push((key.to_string(), value.into_owned()));
    }
    Ok(out)
}

/// Prefixes a subtree relies on: those of element and attribute names ("" for an unprefixed
/// element), and those that look like QName values (`xsi:type="dc:SimpleLiteral"`).
pub(super) fn note_used_prefixes(
    e: &BytesStart<'_>,
    used: &mut std::collections::BTreeSet<String>,
) -> Result<(), String> {
    let qname = e.name();
    let name: &str = qname.as_ref();
    used.insert(name.split_once(':').map_or("", |(p, _)| p).to_string());
    for (key, value) in attributes(e)? {
        if let Some((p, _)) = key.split_once(':') {
            used.insert(p.to_string());
        }
        if let Some((p, local)) = value.split_once(':')
            && is_ncname(p)
            && is_ncname(local)
        {
            used.insert(p.to_string());
        }
    }
    Ok(())
}

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A descriptive metadata fragment found well-formed and standalone.
pub(super) struct CheckedFragment<'a> {
    /// Namespace of the root element: the schema Preservica files the fragment under.
    pub schema: String,
    /// The root element's exact source text, without XML declaration, comments or
    /// whitespace around it.
    pub element: &'a str,
}

/// Checks that `xml` is one well-formed, namespace-well-formed element in a namespace, with
/// no DOCTYPE and no undeclared entities, and returns its schema and its element text.
pub(super) fn check_fragment(xml: &str) -> Result<CheckedFragment<'_>, String> {
    let mut r = Reader::new(xml).map_err(|e| e.to_string())?;
    let text = r.source();
    // Declarations seen on open elements, innermost last, to check attribute prefixes.
    let mut scopes: Vec<Vec<(String, String)>> = Vec::new();
    let mut root: Option<(usize, Option<String>)> = None;
    let mut span: Option<(usize, usize)> = None;
    loop {
        let before = r.position();
        let (ns, ev) = next_event(&mut r)?;
        let depth = scopes.len();
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if depth == 0 {
                    if root.is_some() {
                        return Err("has more than one root element".to_string());
                    }
                    root = Some((before, ns.map(|n| n.to_string())));
                }
                scopes.push(declarations(e)?);
                check_attribute_prefixes(e, &scopes)?;
                if matches!(ev, Event::Empty(_)) {
                    scopes.pop();
                }
                if scopes.is_empty() {
                    span = Some((before, r.position()));
                }
            }
            Event::End(_) => {
                scopes.pop();
                if scopes.is_empty() {
                    span = Some((root.as_ref().map_or(0, |r| r.0), r.position()));
                }
            }
            Event::Text(t) if depth == 0 && !t.trim().is_empty() => {
                return Err("has text outside its root element".to_string());
            }
            Event::GeneralRef(_) | Event::CData(_) if depth == 0 => {
                return Err("has text outside its root element".to_string());
            }
            Event::Eof => break,
            // Text inside the root, comments, declarations, processing instructions.
            _ => {}
        }
    }
    if !scopes.is_empty() {
        return Err("ends inside an element".to_string());
    }
    let (Some((_, ns)), Some((start, end))) = (root, span) else {
        return Err("has no root element".to_string());
    };
    let schema = ns.ok_or_else(|| {
        "has a root element in no namespace (Preservica files fragments by namespace)".to_string()
    })?;
    Ok(CheckedFragment {
        schema,
        element: &text[start..end],
    })
}

fn check_attribute_prefixes(
    e: &BytesStart<'_>,
    scopes: &[Vec<(String, String)>],
) -> Result<(), String> {
    for (key, _) in attributes(e)? {
        if let Some((p, _)) = key.split_once(':')
            && p != "xml"
            && lookup(scopes, p).is_none()
        {
            return Err(format!(
                "uses namespace prefix {p:?} in attribute {key} without declaring it"
            ));
        }
    }
    Ok(())
}

/// The URI bound to `prefix` in the innermost scope that binds it; `None` when unbound or
/// un-declared with `xmlns:p=""`.
pub(super) fn lookup<'a>(scopes: &'a [Vec<(String, String)>], prefix: &str) -> Option<&'a str> {
    scopes
        .iter()
        .rev()
        .flat_map(|s| s.iter().rev())
        .find(|(p, _)| p == prefix)
        .map(|(_, uri)| uri.as_str())
        .filter(|uri| !uri.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_check_returns_root_span() {
        let xml = "<?xml version=\"1.0\"?>\n<!-- c -->\n<a:x xmlns:a=\"urn:a\"><a:y b=\"1\"/>t&amp;</a:x>\n";
        let f = check_fragment(xml).unwrap();
        assert_eq!(f.schema, "urn:a");
        assert_eq!(
            f.element,
            "<a:x xmlns:a=\"urn:a\"><a:y b=\"1\"/>t&amp;</a:x>"
        );
        let empty = check_fragment("<x xmlns=\"urn:e\"/>").unwrap();
        assert_eq!(empty.element, "<x xmlns=\"urn:e\"/>");
    }

    #[test]
    fn fragment_check_refuses_bad_documents() {
        for bad in [
            "<!DOCTYPE x [<!ENTITY e \"e\">]><x xmlns=\"urn:x\">&e;</x>",
            "<x xmlns=\"urn:x\">&e;</x>",
            "<x>no namespace</x>",
            "<p:x>unbound</p:x>",
            "<x xmlns=\"urn:x\" q:a=\"1\"/>",
            "<x xmlns=\"urn:x\"/><y xmlns=\"urn:x\"/>",
            "<x xmlns=\"urn:x\">",
            "text<x xmlns=\"urn:x\"/>",
            "",
        ] {
            assert!(check_fragment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn escaping_round_trips_awkward_characters() {
        assert_eq!(escape_text("a&b<c>\r"), "a&amp;b&lt;c&gt;&#13;");
        assert_eq!(escape_attr("\"'\t\n"), "&quot;&apos;&#9;&#10;");
    }
}
