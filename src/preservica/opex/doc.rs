//! One `.opex` document read into what it says (title, identifiers, manifest, fixities,
//! descriptive metadata fragments made standalone); `read` checks it against its package.

use super::xml::{
    check_fragment, declarations, escape_attr, lookup, next_event, note_used_prefixes,
    resolve_reference,
};
use super::{OPEX_NAMESPACE, OPEX_NAMESPACES};
use crate::xml::Reader;
use quick_xml::events::{BytesStart, Event};
use std::collections::BTreeSet;

/// How many bytes of inherited namespace declarations the fragments of one `.opex` may copy
/// beyond the document's own size (each fragment is made standalone with its own copy).
const INHERITED_DECLARATIONS_SLACK: usize = 64 << 10;

pub(super) struct Fixity {
    pub(super) algorithm: String,
    pub(super) value: String,
    pub(super) path: Option<String>,
}

/// What one `.opex` says.
#[derive(Default)]
pub(super) struct OpexDoc {
    pub(super) source_id: Option<String>,
    pub(super) original_filename: Option<String>,
    /// Manifest files: (name, type, size).
    pub(super) files: Vec<(String, Option<String>, Option<u64>)>,
    pub(super) folders: Vec<String>,
    pub(super) fixities: Vec<Fixity>,
    pub(super) title: Option<String>,
    pub(super) description: Option<String>,
    pub(super) security: Option<String>,
    pub(super) identifiers: Vec<(String, String)>,
    pub(super) relationships: Vec<(String, String)>,
    pub(super) fragments: Vec<(String, String)>,
}

/// A descriptive metadata element being read.
struct FragmentCapture {
    start: usize,
    depth: usize,
    /// Prefixes the element's subtree uses.
    used: BTreeSet<String>,
    /// Prefixes the element declares itself.
    own: BTreeSet<String>,
}

/// Parses one `.opex` document. OPEX elements are matched by local name in an OPEX
/// namespace or in none (some tools write unprefixed children under a prefixed root).
pub(super) fn parse_opex(text: &str) -> Result<OpexDoc, String> {
    let mut r = Reader::new(text).map_err(|e| e.to_string())?;
    let mut walk = OpexWalk {
        text: r.source(),
        doc: OpexDoc::default(),
        path: Vec::new(),
        scopes: Vec::new(),
        text_buf: String::new(),
        attrs: Vec::new(),
        relationship: (None, None),
        fragment: None,
        // A few fragments relying on the root's declarations stay far below this.
        inherit_budget: r.source().len() + INHERITED_DECLARATIONS_SLACK,
        seen_root: false,
    };
    loop {
        let before = r.position();
        let (ns, ev) = next_event(&mut r)?;
        if walk.fragment.is_some() {
            walk.in_fragment(&ev, r.position())?;
            continue;
        }
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(ev, Event::Empty(_));
                walk.open(ns.as_deref(), e, empty, (before, r.position()))?;
            }
            Event::End(_) => walk.close()?,
            Event::Text(t) => {
                if walk.path.is_empty() {
                    if !t.trim().is_empty() {
                        return Err("text outside the root element".to_string());
                    }
                } else {
                    walk.text_buf.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if walk.path.is_empty() {
                    return Err("text outside the root element".to_string());
                }
                walk.text_buf.push_str(&t.xml10_content());
            }
            Event::GeneralRef(g) => {
                let c = resolve_reference(&g)?;
                if walk.path.is_empty() {
                    return Err("text outside the root element".to_string());
                }
                walk.text_buf.push(c);
            }
            Event::Eof => break,
            // Comments, declarations, processing instructions.
            _ => {}
        }
    }
    if !walk.path.is_empty() {
        return Err("document ends inside an element".to_string());
    }
    if !walk.seen_root {
        return Err("no root element".to_string());
    }
    Ok(walk.doc)
}

/// A `.opex` document being read.
struct OpexWalk<'t> {
    text: &'t str,
    doc: OpexDoc,
    /// Local names of the open OPEX elements; `None` for foreign ones (ignored).
    path: Vec<Option<String>>,
    /// Namespace declarations of the open elements, for fragments that rely on them.
    scopes: Vec<Vec<(String, String)>>,
    text_buf: String,
    attrs: Vec<(String, String)>,
    relationship: (Option<String>, Option<String>),
    fragment: Option<FragmentCapture>,
    /// Bytes of ancestors' namespace declarations the fragments may still copy (see
    /// `finish_fragment`).
    inherit_budget: usize,
    seen_root: bool,
}

impl OpexWalk<'_> {
    /// An event inside a descriptive metadata element: only the prefixes it uses and where
    /// it ends matter; `end` is the position after the event.
    fn in_fragment(&mut self, ev: &Event<'_>, end: usize) -> Result<(), String> {
        let cap = self.fragment.as_mut().expect("capturing");
        match ev {
            Event::Start(e) => {
                note_used_prefixes(e, &mut cap.used)?;
                cap.depth += 1;
            }
            Event::Empty(e) => note_used_prefixes(e, &mut cap.used)?,
            Event::End(_) => {
                cap.depth -= 1;
                if cap.depth == 0 {
                    let cap = self.fragment.take().expect("capturing");
                    self.push_fragment(&cap, end)?;
                }
            }
            Event::Eof => return Err("document ends inside an element".to_string()),
            _ => {}
        }
        Ok(())
    }

    fn push_fragment(&mut self, cap: &FragmentCapture, end: usize) -> Result<(), String> {
        let fragment =
            finish_fragment(self.text, cap, end, &self.scopes, &mut self.inherit_budget)?;
        self.doc.fragments.push(fragment);
        Ok(())
    }

    /// A start (or empty) tag spanning `span`.
    fn open(
        &mut self,
        ns: Option<&str>,
        e: &BytesStart<'_>,
        empty: bool,
        span: (usize, usize),
    ) -> Result<(), String> {
        let local = e.local_name().as_ref().to_string();
        if self.path.is_empty() {
            self.check_root(ns, &local)?;
        }
        if names(&self.path) == ["OPEXMetadata", "DescriptiveMetadata"] {
            let mut cap = FragmentCapture {
                start: span.0,
                depth: 1,
                used: BTreeSet::new(),
                own: declarations(e)?.into_iter().map(|(p, _)| p).collect(),
            };
            note_used_prefixes(e, &mut cap.used)?;
            if empty {
                self.push_fragment(&cap, span.1)?;
            } else {
                self.fragment = Some(cap);
            }
            return Ok(());
        }
        let is_opex = ns.is_none_or(|n| OPEX_NAMESPACES.contains(&n));
        self.scopes.push(declarations(e)?);
        self.path.push(is_opex.then_some(local));
        self.text_buf.clear();
        self.attrs = super::xml::attributes(e)?;
        on_start(
            &mut self.doc,
            &names(&self.path),
            &self.attrs,
            &mut self.relationship,
        )?;
        if empty {
            on_end(
                &mut self.doc,
                &names(&self.path),
                "",
                &self.attrs,
                &mut self.relationship,
            )?;
            self.path.pop();
            self.scopes.pop();
        }
        Ok(())
    }

    fn check_root(&mut self, ns: Option<&str>, local: &str) -> Result<(), String> {
        if self.seen_root {
            return Err("more than one root element".to_string());
        }
        self.seen_root = true;
        if local != "OPEXMetadata" || !ns.is_some_and(|n| OPEX_NAMESPACES.contains(&n)) {
            return Err(format!(
                "root element is {local} in namespace {}, not OPEXMetadata in {OPEX_NAMESPACE} (or v1.0/v1.1)",
                ns.unwrap_or("(none)")
            ));
        }
        Ok(())
    }

    fn close(&mut self) -> Result<(), String> {
        let value = std::mem::take(&mut self.text_buf);
        on_end(
            &mut self.doc,
            &names(&self.path),
            &value,
            &self.attrs,
            &mut self.relationship,
        )?;
        self.path.pop();
        self.scopes.pop();
        Ok(())
    }
}

/// The open elements' local names, with foreign elements as "" so they match nothing.
fn names(path: &[Option<String>]) -> Vec<&str> {
    path.iter().map(|p| p.as_deref().unwrap_or("")).collect()
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn on_start(
    doc: &mut OpexDoc,
    path: &[&str],
    attrs: &[(String, String)],
    relationship: &mut (Option<String>, Option<String>),
) -> Result<(), String> {
    match path {
        // Older examples put Fixities inside Manifest; both are read.
        ["OPEXMetadata", "Transfer", "Fixities", "Fixity"]
        | ["OPEXMetadata", "Transfer", "Manifest", "Fixities", "Fixity"] => {
            let (Some(algorithm), Some(value)) = (attr(attrs, "type"), attr(attrs, "value")) else {
                return Err("Fixity without type and value attributes".to_string());
            };
            doc.fixities.push(Fixity {
                algorithm: algorithm.trim().to_string(),
                value: value.trim().to_string(),
                path: attr(attrs, "path").map(|p| p.trim().to_string()),
            });
        }
        ["OPEXMetadata", "Relationships", "Relationship"] => *relationship = (None, None),
        _ => {}
    }
    Ok(())
}

fn on_end(
    doc: &mut OpexDoc,
    path: &[&str],
    value: &str,
    attrs: &[(String, String)],
    relationship: &mut (Option<String>, Option<String>),
) -> Result<(), String> {
    let trimmed = || value.trim().to_string();
    match path {
        ["OPEXMetadata", "Transfer", "SourceID"] => doc.source_id = Some(trimmed()),
        ["OPEXMetadata", "Transfer", "OriginalFilename"] => {
            doc.original_filename = Some(value.to_string())
        }
        ["OPEXMetadata", "Transfer", "Manifest", "Files", "File"] => {
            let size = match attr(attrs, "size") {
                Some(s) => Some(
                    s.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("File {value:?} has size {s:?}, not a number"))?,
                ),
                None => None,
            };
            doc.files
                .push((trimmed(), attr(attrs, "type").map(str::to_string), size));
        }
        ["OPEXMetadata", "Transfer", "Manifest", "Folders", "Folder"] => {
            doc.folders.push(trimmed())
        }
        ["OPEXMetadata", "Properties", "Title"] => doc.title = Some(value.to_string()),
        ["OPEXMetadata", "Properties", "Description"] => doc.description = Some(value.to_string()),
        ["OPEXMetadata", "Properties", "SecurityDescriptor"] => doc.security = Some(trimmed()),
        ["OPEXMetadata", "Properties", "Identifiers", "Identifier"] => {
            let kind = attr(attrs, "type")
                .ok_or_else(|| format!("Identifier {value:?} has no type attribute"))?;
            doc.identifiers.push((kind.trim().to_string(), trimmed()));
        }
        ["OPEXMetadata", "Relationships", "Relationship", "Type"] => {
            relationship.0 = Some(trimmed())
        }
        ["OPEXMetadata", "Relationships", "Relationship", "Object"] => {
            relationship.1 = Some(trimmed())
        }
        ["OPEXMetadata", "Relationships", "Relationship"] => {
            let (kind, object) = std::mem::take(relationship);
            doc.relationships
                .push((kind.unwrap_or_default(), object.unwrap_or_default()));
        }
        _ => {}
    }
    Ok(())
}

/// Cuts a metadata element out of its `.opex` as a standalone document: its exact source
/// text, plus declarations of the namespaces it uses from its ancestors.
fn finish_fragment(
    text: &str,
    cap: &FragmentCapture,
    end: usize,
    scopes: &[Vec<(String, String)>],
    inherit_budget: &mut usize,
) -> Result<(String, String), String> {
    let span = text
        .get(cap.start..end)
        .ok_or_else(|| "metadata fragment position is not on a character boundary".to_string())?;
    let mut inherited = String::new();
    for prefix in &cap.used {
        if cap.own.contains(prefix) || prefix == "xml" || prefix == "xmlns" {
            continue;
        }
        if let Some(uri) = lookup(scopes, prefix) {
            if prefix.is_empty() {
                inherited.push_str(&format!(" xmlns=\"{}\"", escape_attr(uri)));
            } else {
                inherited.push_str(&format!(" xmlns:{prefix}=\"{}\"", escape_attr(uri)));
            }
        }
    }
    // Every fragment gets its own copy of what it inherits, so many small fragments relying
    // on long declarations made once could otherwise outgrow the document many times over.
    *inherit_budget = inherit_budget.checked_sub(inherited.len()).ok_or_else(|| {
        format!(
            "descriptive metadata fragments inherit more namespace declarations than allowed \
             (the document's size plus {INHERITED_DECLARATIONS_SLACK} bytes); declare the \
             namespaces on the fragments themselves"
        )
    })?;
    let name_end = span
        .char_indices()
        .skip(1)
        .find(|(_, c)| c.is_whitespace() || *c == '/' || *c == '>')
        .map_or(span.len(), |(i, _)| i);
    let standalone = format!("{}{inherited}{}", &span[..name_end], &span[name_end..]);
    let checked = check_fragment(&standalone)
        .map_err(|problem| format!("descriptive metadata fragment {problem}"))?;
    if OPEX_NAMESPACES.contains(&checked.schema.as_str()) {
        return Err("descriptive metadata fragment is in the OPEX namespace".to_string());
    }
    let schema = checked.schema;
    Ok((schema, standalone))
}
