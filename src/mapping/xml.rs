//! Reading and surgically editing Preservica metadata fragments.
//!
//! A fragment belongs to the archive: ferry may own one element of it, but every other
//! element, attribute, comment and namespace declaration must come back exactly as it was. So
//! an edit streams the document through unchanged and replaces only the occurrences of the one
//! element being written. Input from the network is hostile: a DOCTYPE (where entity
//! expansion bombs live) is refused, undeclared entities are errors, and nesting and namespace
//! name length are bounded.

use crate::xml::Namespaces;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, PrefixDeclaration};
use quick_xml::reader::NsReader;
use quick_xml::writer::Writer;
use std::borrow::Cow;
use std::sync::Arc;

/// Deeper than any real descriptive-metadata fragment; deep-nesting bodies stop here.
const MAX_DEPTH: usize = 64;

/// Why an XML document could not be read or edited.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {position})")]
pub struct XmlError {
    pub message: String,
    pub position: u64,
}

/// One element directly under the root of a fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildElement {
    /// Shared with the fragment's other elements in the same namespace.
    pub namespace: Option<Arc<str>>,
    pub local: String,
    /// Its text, or `None` when it has element children of its own (ferry does not read
    /// structured elements as field values).
    pub text: Option<String>,
}

/// The parts of a fragment ferry reads: the root's name and the root's child elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFragment {
    pub root_namespace: Option<Arc<str>>,
    pub root_local: String,
    pub children: Vec<ChildElement>,
}

impl ParsedFragment {
    /// Every child in `namespace` named `local`, in document order.
    pub fn values(&self, namespace: &str, local: &str) -> Vec<&ChildElement> {
        self.children
            .iter()
            .filter(|c| c.namespace.as_deref() == Some(namespace) && c.local == local)
            .collect()
    }
}

fn reader(xml: &str) -> NsReader<&[u8]> {
    let mut r = NsReader::from_reader(xml.as_bytes());
    let c = r.config_mut();
    c.trim_text(false);
    c.expand_empty_elements = false;
    c.check_end_names = true;
    r
}

fn err_at(r: &NsReader<&[u8]>, message: impl Into<String>) -> XmlError {
    XmlError {
        message: message.into(),
        position: r.buffer_position(),
    }
}

fn check_depth(r: &NsReader<&[u8]>, depth: usize) -> Result<(), XmlError> {
    if depth > MAX_DEPTH {
        return Err(err_at(
            r,
            format!("elements nested deeper than {MAX_DEPTH}"),
        ));
    }
    Ok(())
}

fn resolve(r: &NsReader<&[u8]>, name: &str) -> Result<String, XmlError> {
    crate::xml::resolve_reference(name)
        .map(String::from)
        .map_err(|m| err_at(r, m))
}

/// The next event with the namespace of its element resolved to an owned name, so the
/// reader is free again for position lookups and namespace bindings.
fn next_event<'i>(
    r: &mut NsReader<&'i [u8]>,
    namespaces: &mut Namespaces,
) -> Result<(Option<Arc<str>>, Event<'i>), XmlError> {
    let step = r
        .read_resolved_event()
        .map(|(res, ev)| (namespaces.get(&res), ev));
    let (ns, ev) = step.map_err(|e| err_at(r, format!("malformed XML: {e}")))?;
    Ok((ns.map_err(|m| err_at(r, m))?, ev))
}

/// Reads a fragment document (the element inside `xip:Content`).
pub fn parse_fragment(xml: &str) -> Result<ParsedFragment, XmlError> {
    let mut r = reader(xml);
    let mut namespaces = Namespaces::default();
    let mut root: Option<(Option<Arc<str>>, String)> = None;
    let mut children = Vec::new();
    let mut depth = 0usize;
    // The child being read: its index and whether it turned out to hold elements.
    let mut current: Option<(usize, String, bool)> = None;
    loop {
        let (ns, ev) = next_event(&mut r, &mut namespaces)?;
        match ev {
            Event::DocType(_) => {
                return Err(err_at(
                    &r,
                    "DOCTYPE is not allowed in metadata (entity declarations can expand without bound)",
                ));
            }
            Event::Start(e) if depth == 0 => {
                set_root(&mut root, &ns, &e, &r)?;
                depth = 1;
            }
            Event::Empty(e) if depth == 0 => set_root(&mut root, &ns, &e, &r)?,
            Event::Start(e) => {
                if depth == 1 {
                    children.push(ChildElement {
                        namespace: ns.clone(),
                        local: e.local_name().as_ref().to_string(),
                        text: None,
                    });
                    current = Some((children.len() - 1, String::new(), false));
                } else if let Some(c) = current.as_mut() {
                    c.2 = true;
                }
                depth += 1;
                check_depth(&r, depth)?;
            }
            Event::Empty(e) => {
                if depth == 1 {
                    children.push(ChildElement {
                        namespace: ns.clone(),
                        local: e.local_name().as_ref().to_string(),
                        text: Some(String::new()),
                    });
                } else if let Some(c) = current.as_mut() {
                    c.2 = true;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth == 1
                    && let Some((i, text, nested)) = current.take()
                {
                    children[i].text = (!nested).then_some(text);
                }
            }
            Event::Text(t) => {
                if let Some(c) = current.as_mut() {
                    c.1.push_str(&t.xml10_content());
                } else if depth == 0 && !t.trim().is_empty() {
                    return Err(err_at(&r, "text outside the root element"));
                }
            }
            Event::CData(t) => {
                if let Some(c) = current.as_mut() {
                    c.1.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let resolved = resolve(&r, &g)?;
                if let Some(c) = current.as_mut() {
                    c.1.push_str(&resolved);
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if depth != 0 {
        return Err(err_at(&r, "document ends inside an element"));
    }
    let (root_namespace, root_local) = root.ok_or_else(|| err_at(&r, "no root element"))?;
    Ok(ParsedFragment {
        root_namespace,
        root_local,
        children,
    })
}

fn set_root(
    root: &mut Option<(Option<Arc<str>>, String)>,
    ns: &Option<Arc<str>>,
    e: &BytesStart<'_>,
    r: &NsReader<&[u8]>,
) -> Result<(), XmlError> {
    if root.is_some() {
        return Err(err_at(r, "more than one root element"));
    }
    *root = Some((ns.clone(), e.local_name().as_ref().to_string()));
    Ok(())
}

pub use crate::xml::first_non_xml_char;

/// A new, empty fragment document with the given root and namespace declarations.
pub fn empty_fragment(
    root: &str,
    root_namespace: &str,
    root_prefix: Option<&str>,
    element_namespace: &str,
    element_prefix: Option<&str>,
) -> String {
    let qname = match root_prefix {
        Some(p) => format!("{p}:{root}"),
        None => root.to_string(),
    };
    let mut decls = vec![match root_prefix {
        Some(p) => format!("xmlns:{p}=\"{}\"", attr_escape(root_namespace)),
        None => format!("xmlns=\"{}\"", attr_escape(root_namespace)),
    }];
    if element_namespace != root_namespace || element_prefix != root_prefix {
        decls.push(match element_prefix {
            Some(p) => format!("xmlns:{p}=\"{}\"", attr_escape(element_namespace)),
            None => format!("xmlns=\"{}\"", attr_escape(element_namespace)),
        });
    }
    format!("<{qname} {}>\n</{qname}>", decls.join(" "))
}

fn attr_escape(s: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(s)
}

/// Rewrites every root-level element `{namespace}local` of `xml` to carry `values` (one
/// element per value; none removes the element), leaving every other byte of the document
/// as it was. New elements take the tag (prefix and attributes) of the first existing
/// occurrence, or else a prefix already bound to `namespace` on the root, or else declare
/// the namespace themselves.
pub fn set_element(
    xml: &str,
    namespace: &str,
    local: &str,
    values: &[String],
) -> Result<String, XmlError> {
    if let Some(c) = values.iter().find_map(|v| first_non_xml_char(v)) {
        return Err(XmlError {
            message: format!("value contains U+{:04X}, which XML cannot hold", c as u32),
            position: 0,
        });
    }
    let mut r = reader(xml);
    let mut namespaces = Namespaces::default();
    let mut w = Writer::new(Vec::with_capacity(xml.len() + 64));
    let mut depth = 0usize;
    // Depth at which an element being replaced started; its whole subtree is dropped.
    let mut skipping: Option<usize> = None;
    let mut written = false;
    // Whitespace between root-level elements is held back so that it can be dropped together
    // with an element that is removed, instead of leaving blank lines behind.
    let mut pending_ws: Option<Event<'static>> = None;
    let mut indent: Option<String> = None;
    let mut template: Option<BytesStart<'static>> = None;
    let write = |w: &mut Writer<Vec<u8>>, ev: Event<'_>, r: &NsReader<&[u8]>| {
        w.write_event(ev)
            .map_err(|e| err_at(r, format!("cannot write XML: {e}")))
    };
    loop {
        let (ns, ev) = next_event(&mut r, &mut namespaces)?;
        if let Event::DocType(_) = ev {
            return Err(err_at(
                &r,
                "DOCTYPE is not allowed in metadata (entity declarations can expand without bound)",
            ));
        }
        if let Event::GeneralRef(g) = &ev {
            resolve(&r, g)?;
        }
        if let Some(start) = skipping {
            match ev {
                // A replaced element is dropped unread, but not without bound.
                Event::Start(_) => {
                    depth += 1;
                    check_depth(&r, depth)?;
                }
                Event::End(_) => {
                    depth -= 1;
                    if depth == start {
                        skipping = None;
                    }
                }
                Event::Eof => return Err(err_at(&r, "document ends inside an element")),
                _ => {}
            }
            continue;
        }
        let is_target = |e: &BytesStart<'_>| {
            depth == 1 && ns.as_deref() == Some(namespace) && e.local_name().as_ref() == local
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) if is_target(e) => {
                let ws = pending_ws.take();
                learn_indent(&mut indent, ws.as_ref());
                // Removing: the element goes together with the whitespace that led to it.
                if !written && !values.is_empty() {
                    if let Some(ws) = ws {
                        write(&mut w, ws, &r)?;
                    }
                    let tag = e.to_owned();
                    write_values(&mut w, &tag, values, indent.as_deref(), false, &r)?;
                    template = Some(tag);
                    written = true;
                }
                if let Event::Start(_) = ev {
                    skipping = Some(depth);
                    depth += 1;
                }
            }
            Event::Start(e) => {
                if depth == 0 {
                    template = Some(fresh_tag(&r, namespace, local));
                }
                if depth == 1 {
                    learn_indent(&mut indent, pending_ws.as_ref());
                }
                if let Some(ws) = pending_ws.take() {
                    write(&mut w, ws, &r)?;
                }
                write(&mut w, Event::Start(e), &r)?;
                depth += 1;
                check_depth(&r, depth)?;
            }
            Event::Empty(e) if depth == 0 => {
                // An empty root (`<oai_dc:dc .../>`): open it so the new elements fit inside.
                if values.is_empty() {
                    write(&mut w, Event::Empty(e), &r)?;
                } else {
                    let tag = fresh_tag_with_root(&e, &r, namespace, local);
                    let root = e.to_owned();
                    let end = BytesEnd::new(root.name().as_ref().to_string());
                    write(&mut w, Event::Start(root), &r)?;
                    write_values(&mut w, &tag, values, Some("\n  "), true, &r)?;
                    write(&mut w, Event::Text(BytesText::from_escaped("\n")), &r)?;
                    write(&mut w, Event::End(end), &r)?;
                    written = true;
                }
            }
            Event::End(e) => {
                depth -= 1;
                if depth == 0 && !written {
                    let tag = template
                        .take()
                        .unwrap_or_else(|| BytesStart::new(local.to_string()));
                    // A document laid out on lines but with no child to copy the indent
                    // from gets the customary two spaces.
                    let multiline = matches!(&pending_ws, Some(Event::Text(t)) if t.contains('\n'));
                    let indent = indent
                        .clone()
                        .or_else(|| multiline.then(|| "\n  ".to_string()));
                    write_values(&mut w, &tag, values, indent.as_deref(), true, &r)?;
                    written = true;
                }
                if let Some(ws) = pending_ws.take() {
                    write(&mut w, ws, &r)?;
                }
                write(&mut w, Event::End(e), &r)?;
            }
            Event::Text(t) if depth == 1 && t.trim().is_empty() => {
                if let Some(prev) = pending_ws.take() {
                    write(&mut w, prev, &r)?;
                }
                pending_ws = Some(Event::Text(t.into_owned()));
            }
            Event::Eof => break,
            other => {
                if depth == 1 && matches!(other, Event::Empty(_)) {
                    learn_indent(&mut indent, pending_ws.as_ref());
                }
                if let Some(ws) = pending_ws.take() {
                    write(&mut w, ws, &r)?;
                }
                write(&mut w, other, &r)?;
            }
        }
    }
    if depth != 0 {
        return Err(err_at(&r, "document ends inside an element"));
    }
    String::from_utf8(w.into_inner()).map_err(|_| XmlError {
        message: "edited document is not UTF-8".into(),
        position: 0,
    })
}

/// Remembers the whitespace that leads to a root-level element, to lay out new ones alike.
fn learn_indent(indent: &mut Option<String>, ws: Option<&Event<'_>>) {
    if let Some(Event::Text(t)) = ws {
        *indent = Some(t.to_string());
    }
}

/// A start tag for a new element when the document has none to copy: a prefix bound to the
/// namespace on the root, or a default-namespace declaration on the element itself.
fn fresh_tag(r: &NsReader<&[u8]>, namespace: &str, local: &str) -> BytesStart<'static> {
    let mut prefix: Option<Option<String>> = None;
    for (decl, Namespace(ns)) in r.resolver().bindings() {
        if ns == namespace {
            prefix = Some(match decl {
                PrefixDeclaration::Default => None,
                PrefixDeclaration::Named(p) => Some(p.to_string()),
            });
        }
    }
    match prefix {
        Some(Some(p)) => BytesStart::new(format!("{p}:{local}")),
        Some(None) => BytesStart::new(local.to_string()),
        None => {
            let mut tag = BytesStart::new(local.to_string());
            tag.push_attribute(("xmlns", namespace));
            tag
        }
    }
}

fn fresh_tag_with_root(
    root: &BytesStart<'_>,
    r: &NsReader<&[u8]>,
    namespace: &str,
    local: &str,
) -> BytesStart<'static> {
    // For an empty root the resolver has already left its scope, so read its declarations
    // from the tag itself.
    for attr in root.attributes().flatten() {
        let key = attr.key.as_ref();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .unwrap_or_default();
        if value == namespace {
            if key == "xmlns" {
                return BytesStart::new(local.to_string());
            }
            if let Some(p) = key.strip_prefix("xmlns:") {
                return BytesStart::new(format!("{p}:{local}"));
            }
        }
    }
    fresh_tag(r, namespace, local)
}

fn write_values(
    w: &mut Writer<Vec<u8>>,
    tag: &BytesStart<'_>,
    values: &[String],
    indent: Option<&str>,
    indent_first: bool,
    r: &NsReader<&[u8]>,
) -> Result<(), XmlError> {
    let name = tag.name().as_ref().to_string();
    for (i, v) in values.iter().enumerate() {
        let lead = (i > 0 || indent_first)
            .then_some(indent)
            .flatten()
            .map(|ind| Event::Text(BytesText::from_escaped(ind.to_string())));
        let events = [
            lead,
            Some(Event::Start(tag.borrow())),
            Some(Event::Text(BytesText::new(v))),
            Some(Event::End(BytesEnd::new(name.clone()))),
        ];
        for ev in events.into_iter().flatten() {
            w.write_event(ev)
                .map_err(|e| err_at(r, format!("cannot write XML: {e}")))?;
        }
    }
    Ok(())
}
