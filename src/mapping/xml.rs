//! Reading and surgically editing Preservica metadata fragments.
//!
//! A fragment belongs to the archive: ferry may own one element of it, but every other
//! element, attribute, comment and namespace declaration must come back exactly as it was. So
//! an edit streams the document through unchanged and replaces only the occurrences of the one
//! element being written. Input from the network is hostile: it is read through
//! [`crate::xml::Reader`], which refuses what every reader of outside XML refuses.

use crate::xml::Reader;
pub use crate::xml::XmlError;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::{Namespace, PrefixDeclaration};
use quick_xml::writer::Writer;
use std::borrow::Cow;
use std::sync::Arc;

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

/// The next event with the namespace of its element (an undeclared prefix reads as none).
fn next_event<'i>(r: &mut Reader<'i>) -> Result<(Option<Arc<str>>, Event<'i>), XmlError> {
    let (ns, ev) = r.next()?;
    Ok((ns.bound(), ev))
}

/// Reads a fragment document (the element inside `xip:Content`).
pub fn parse_fragment(xml: &str) -> Result<ParsedFragment, XmlError> {
    let mut r = Reader::new(xml)?;
    let mut root: Option<(Option<Arc<str>>, String)> = None;
    let mut children = Vec::new();
    let mut depth = 0usize;
    // The child being read: its index and whether it turned out to hold elements.
    let mut current: Option<(usize, String, bool)> = None;
    loop {
        let (ns, ev) = next_event(&mut r)?;
        match ev {
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
                    return Err(r.err("text outside the root element"));
                }
            }
            Event::CData(t) => {
                if let Some(c) = current.as_mut() {
                    c.1.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let resolved = crate::xml::resolve_reference(&g).map_err(|m| r.err(m))?;
                if let Some(c) = current.as_mut() {
                    c.1.push(resolved);
                }
            }
            Event::Eof => break,
            // Comments, declarations, processing instructions: nothing to read.
            _ => {}
        }
    }
    if depth != 0 {
        return Err(r.err("document ends inside an element"));
    }
    let (root_namespace, root_local) = root.ok_or_else(|| r.err("no root element"))?;
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
    r: &Reader<'_>,
) -> Result<(), XmlError> {
    if root.is_some() {
        return Err(r.err("more than one root element"));
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
    let mut r = Reader::new(xml)?;
    let mut edit = Edit {
        namespace,
        local,
        values,
        w: Writer::new(Vec::with_capacity(xml.len() + 64)),
        depth: 0,
        skipping: None,
        written: false,
        pending_ws: None,
        indent: None,
        template: None,
    };
    loop {
        let (ns, ev) = next_event(&mut r)?;
        if edit.skipping.is_some() {
            edit.skip(&r, &ev)?;
            continue;
        }
        if matches!(ev, Event::Eof) {
            break;
        }
        edit.step(&r, ns.as_deref(), ev)?;
    }
    if edit.depth != 0 {
        return Err(r.err("document ends inside an element"));
    }
    String::from_utf8(edit.w.into_inner()).map_err(|_| XmlError {
        message: "edited document is not UTF-8".into(),
        position: 0,
    })
}

/// A stream edit of one element in progress (see [`set_element`]).
struct Edit<'a> {
    namespace: &'a str,
    local: &'a str,
    values: &'a [String],
    w: Writer<Vec<u8>>,
    depth: usize,
    /// Depth at which an element being replaced started; its whole subtree is dropped.
    skipping: Option<usize>,
    written: bool,
    /// Whitespace between root-level elements is held back so that it can be dropped together
    /// with an element that is removed, instead of leaving blank lines behind.
    pending_ws: Option<Event<'static>>,
    indent: Option<String>,
    template: Option<BytesStart<'static>>,
}

impl Edit<'_> {
    fn write(&mut self, r: &Reader<'_>, ev: Event<'_>) -> Result<(), XmlError> {
        self.w
            .write_event(ev)
            .map_err(|e| r.err(format!("cannot write XML: {e}")))
    }

    /// Writes the whitespace held back, if any.
    fn flush_ws(&mut self, r: &Reader<'_>) -> Result<(), XmlError> {
        match self.pending_ws.take() {
            Some(ws) => self.write(r, ws),
            None => Ok(()),
        }
    }

    /// Drops the subtree of a replaced element, unread (the reader still bounds its depth).
    fn skip(&mut self, r: &Reader<'_>, ev: &Event<'_>) -> Result<(), XmlError> {
        match ev {
            Event::Start(_) => self.depth += 1,
            Event::End(_) => {
                self.depth -= 1;
                if Some(self.depth) == self.skipping {
                    self.skipping = None;
                }
            }
            Event::Eof => return Err(r.err("document ends inside an element")),
            _ => {}
        }
        Ok(())
    }

    fn step(&mut self, r: &Reader<'_>, ns: Option<&str>, ev: Event<'_>) -> Result<(), XmlError> {
        let is_target = |e: &BytesStart<'_>| {
            self.depth == 1 && ns == Some(self.namespace) && e.local_name().as_ref() == self.local
        };
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) if is_target(e) => {
                let start = matches!(ev, Event::Start(_));
                self.on_target(r, e, start)?;
            }
            Event::Start(e) => {
                if self.depth == 0 {
                    self.template = Some(fresh_tag(r, self.namespace, self.local));
                }
                if self.depth == 1 {
                    learn_indent(&mut self.indent, self.pending_ws.as_ref());
                }
                self.flush_ws(r)?;
                self.write(r, Event::Start(e))?;
                self.depth += 1;
            }
            Event::Empty(e) if self.depth == 0 => self.on_empty_root(r, e)?,
            Event::End(e) => self.on_end(r, e)?,
            Event::Text(t) if self.depth == 1 && t.trim().is_empty() => {
                self.flush_ws(r)?;
                self.pending_ws = Some(Event::Text(t.into_owned()));
            }
            other => {
                if self.depth == 1 && matches!(other, Event::Empty(_)) {
                    learn_indent(&mut self.indent, self.pending_ws.as_ref());
                }
                self.flush_ws(r)?;
                self.write(r, other)?;
            }
        }
        Ok(())
    }

    /// An occurrence of the element being written: the first is replaced by the new values,
    /// every one is dropped.
    fn on_target(
        &mut self,
        r: &Reader<'_>,
        e: &BytesStart<'_>,
        start: bool,
    ) -> Result<(), XmlError> {
        let ws = self.pending_ws.take();
        learn_indent(&mut self.indent, ws.as_ref());
        // Removing: the element goes together with the whitespace that led to it.
        if !self.written && !self.values.is_empty() {
            if let Some(ws) = ws {
                self.write(r, ws)?;
            }
            let tag = e.to_owned();
            write_values(
                &mut self.w,
                &tag,
                self.values,
                self.indent.as_deref(),
                false,
                r,
            )?;
            self.template = Some(tag);
            self.written = true;
        }
        if start {
            self.skipping = Some(self.depth);
            self.depth += 1;
        }
        Ok(())
    }

    /// An empty root (`<oai_dc:dc .../>`): opened so the new elements fit inside.
    fn on_empty_root(&mut self, r: &Reader<'_>, e: BytesStart<'_>) -> Result<(), XmlError> {
        if self.values.is_empty() {
            return self.write(r, Event::Empty(e));
        }
        let tag = fresh_tag_with_root(&e, r, self.namespace, self.local);
        let root = e.to_owned();
        let end = BytesEnd::new(root.name().as_ref().to_string());
        self.write(r, Event::Start(root))?;
        write_values(&mut self.w, &tag, self.values, Some("\n  "), true, r)?;
        self.write(r, Event::Text(BytesText::from_escaped("\n")))?;
        self.write(r, Event::End(end))?;
        self.written = true;
        Ok(())
    }

    /// An end tag; at the root's, the values go in if no occurrence took them.
    fn on_end(&mut self, r: &Reader<'_>, e: BytesEnd<'_>) -> Result<(), XmlError> {
        self.depth -= 1;
        if self.depth == 0 && !self.written {
            let tag = self
                .template
                .take()
                .unwrap_or_else(|| BytesStart::new(self.local.to_string()));
            // A document laid out on lines but with no child to copy the indent from gets
            // the customary two spaces.
            let multiline = matches!(&self.pending_ws, Some(Event::Text(t)) if t.contains('\n'));
            let indent = self
                .indent
                .clone()
                .or_else(|| multiline.then(|| "\n  ".to_string()));
            write_values(&mut self.w, &tag, self.values, indent.as_deref(), true, r)?;
            self.written = true;
        }
        self.flush_ws(r)?;
        self.write(r, Event::End(e))
    }
}

/// Remembers the whitespace that leads to a root-level element, to lay out new ones alike.
fn learn_indent(indent: &mut Option<String>, ws: Option<&Event<'_>>) {
    if let Some(Event::Text(t)) = ws {
        *indent = Some(t.to_string());
    }
}

/// A start tag for a new element when the document has none to copy: a prefix bound to the
/// namespace on the root, or a default-namespace declaration on the element itself.
fn fresh_tag(r: &Reader<'_>, namespace: &str, local: &str) -> BytesStart<'static> {
    let mut prefix: Option<Option<String>> = None;
    for (decl, Namespace(ns)) in r.inner().resolver().bindings() {
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
    r: &Reader<'_>,
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
    r: &Reader<'_>,
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
                .map_err(|e| r.err(format!("cannot write XML: {e}")))?;
        }
    }
    Ok(())
}
