//! Defensive XML for everything ferry reads from outside: a small tree for Preservica's API
//! documents, and the rules every XML reader in ferry shares (entity references, the
//! characters XML can carry).
//!
//! Responses are read by local name, like the most robust existing clients do, so a server
//! that moves to a new namespace version is still understood; each element remembers its
//! namespace for callers that must check it. Every element also keeps its byte span in the
//! source, so an embedded document (a metadata fragment inside `xip:Content`) can be cut out
//! exactly as sent, with the namespace declarations it relies on carried along.
//!
//! Input is hostile: a DOCTYPE is refused (that is where entity-expansion bombs live), only
//! the predefined entities and character references are resolved, and size, depth, element
//! count, attributes per element and namespace name length are bounded. What a document costs
//! to hold stays proportional to its size: a namespace name or declaration is kept once,
//! however many elements use it.
//!
//! [`Reader`] is the one hardened reader: the tree here, the metadata fragment reader and
//! editor in `mapping` and the OPEX reader all read through it, so the refusals and limits
//! above are made in one place, alike for every document ferry reads.

use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use quick_xml::reader::NsReader;
use std::collections::HashSet;
use std::sync::Arc;

/// Deepest nesting read. Real API documents, metadata fragments and `.opex` documents stay
/// within a dozen levels; one limit for all, because a fragment received in an OPEX package is
/// later read and edited as metadata, and must not be accepted by one reader only to be
/// refused by the other.
pub const MAX_DEPTH: usize = 64;
/// Most elements in one document.
pub const MAX_ELEMENTS: usize = 2_000_000;
/// Most attributes on one element (namespace declarations included).
pub const MAX_ATTRIBUTES: usize = 256;
/// Largest document read: far above any API answer, metadata fragment or `.opex`.
pub const MAX_DOCUMENT_BYTES: usize = 64 << 20;

/// Why a DOCTYPE is refused, wherever it appears.
pub const DOCTYPE_REFUSED: &str = "DOCTYPE is not allowed in metadata or API documents (entity declarations can expand without bound)";

/// Longest namespace name accepted. Real ones are URIs well under 100 bytes; every element
/// name is resolved to its namespace, so an enormous one would cost time on every element.
pub const MAX_NAMESPACE_BYTES: usize = 1024;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} (at byte {position})")]
pub struct XmlError {
    pub message: String,
    pub position: u64,
}

/// One element: name, attributes, text, children, and where it stands in the source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// Shared with every other element in the same namespace.
    pub namespace: Option<Arc<str>>,
    pub local: String,
    /// The qualified name as written (`xip:Ref`), for prefix bookkeeping.
    pub qname: String,
    /// Attributes by qualified name as written, values unescaped.
    pub attrs: Vec<(String, String)>,
    /// The element's own text (all text and CDATA directly inside it, concatenated).
    pub text: String,
    pub children: Vec<Element>,
    /// Byte span of the whole element in the source.
    pub span: (usize, usize),
}

impl Element {
    /// The first child with this local name.
    pub fn child(&self, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.local == local)
    }

    pub fn children_named<'a>(&'a self, local: &'a str) -> impl Iterator<Item = &'a Element> {
        self.children.iter().filter(move |c| c.local == local)
    }

    /// Follows a path of local names from this element.
    pub fn path(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The trimmed text of the child with this local name.
    pub fn child_text(&self, local: &str) -> Option<String> {
        self.child(local).map(|c| c.text.trim().to_string())
    }

    /// An attribute by local name (prefix ignored).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == local || k.rsplit(':').next() == Some(local))
            .map(|(_, v)| v.as_str())
    }

    /// Every element below this one, depth first.
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(e) = stack.pop() {
            out.push(e);
            stack.extend(e.children.iter().rev());
        }
        out
    }

    /// The first element child: for containers that hold exactly one document.
    pub fn first_child(&self) -> Option<&Element> {
        self.children.first()
    }
}

/// A parsed document: the root, plus the namespace declarations in scope at every element
/// (needed to cut embedded documents out).
#[derive(Debug, Clone)]
pub struct Document {
    pub root: Element,
    source: String,
    /// Every namespace declaration in the document, once.
    decls: Vec<Declaration>,
    /// (element span start, the innermost declaration in scope there).
    scopes: Vec<(usize, Option<usize>)>,
}

/// One `xmlns` attribute. Declarations in scope form a chain from the innermost outwards,
/// so an element refers to its whole scope with one index instead of a copy of it.
#[derive(Debug, Clone)]
struct Declaration {
    /// The prefix, or "" for the default namespace.
    prefix: String,
    uri: String,
    /// The declaration in scope before this one.
    outer: Option<usize>,
}

impl Document {
    /// The source text of `element` as a standalone document: the exact bytes the sender wrote,
    /// plus declarations of any prefix it uses that an ancestor declared.
    pub fn extract(&self, element: &Element) -> String {
        let (start, end) = element.span;
        let text = &self.source[start..end];
        let scope = self
            .scopes
            .iter()
            .find(|(s, _)| *s == start)
            .and_then(|(_, d)| *d);
        let own: Vec<&str> = element
            .attrs
            .iter()
            .filter_map(|(k, _)| {
                if k == "xmlns" {
                    Some("")
                } else {
                    k.strip_prefix("xmlns:")
                }
            })
            .collect();
        let mut used: Vec<String> = std::iter::once(element)
            .chain(element.descendants())
            .flat_map(|e| {
                let mut prefixes = vec![prefix_of(&e.qname).to_string()];
                prefixes.extend(
                    e.attrs
                        .iter()
                        .filter(|(k, _)| k.contains(':') && !k.starts_with("xmlns:"))
                        .map(|(k, _)| prefix_of(k).to_string()),
                );
                prefixes
            })
            .filter(|p| p != "xml")
            .collect();
        used.sort();
        used.dedup();
        let missing: Vec<String> = used
            .iter()
            .filter(|p| !own.contains(&p.as_str()))
            .filter_map(|p| {
                // Undeclaring the default namespace (`xmlns=""`) is a no-op at the top of a
                // standalone document.
                let uri = self
                    .declared(scope, p)
                    .filter(|u| !(p.is_empty() && u.is_empty()));
                uri.map(|uri| {
                    let uri = quick_xml::escape::escape(uri);
                    if p.is_empty() {
                        format!(" xmlns=\"{uri}\"")
                    } else {
                        format!(" xmlns:{p}=\"{uri}\"")
                    }
                })
            })
            .collect();
        if missing.is_empty() {
            return text.to_string();
        }
        let name_end = 1 + element.qname.len();
        format!(
            "{}{}{}",
            &text[..name_end],
            missing.join(""),
            &text[name_end..]
        )
    }

    /// The URI `prefix` is bound to in the scope whose innermost declaration is `scope`.
    fn declared(&self, scope: Option<usize>, prefix: &str) -> Option<&str> {
        let mut at = scope;
        while let Some(i) = at {
            let d = &self.decls[i];
            if d.prefix == prefix {
                return Some(&d.uri);
            }
            at = d.outer;
        }
        None
    }
}

/// Where an element's name resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// No namespace, or an event that is not an element.
    None,
    Bound(Arc<str>),
    /// A prefix no declaration in scope binds.
    Undeclared(String),
}

impl Resolved {
    /// The namespace, with an undeclared prefix read as none (as lenient readers do).
    pub(crate) fn bound(self) -> Option<Arc<str>> {
        match self {
            Resolved::Bound(ns) => Some(ns),
            Resolved::None | Resolved::Undeclared(_) => None,
        }
    }
}

/// The namespace names of one document, each held once.
#[derive(Default)]
struct Namespaces(HashSet<Arc<str>>);

impl Namespaces {
    /// The namespace an element name resolved to; an overlong name is refused (see
    /// [`MAX_NAMESPACE_BYTES`]).
    fn get(&mut self, res: &ResolveResult<'_>) -> Result<Resolved, String> {
        let ns = match res {
            ResolveResult::Bound(Namespace(ns)) => *ns,
            ResolveResult::Unbound => return Ok(Resolved::None),
            ResolveResult::Unknown(p) => {
                return Ok(Resolved::Undeclared(p.clone()));
            }
        };
        check_namespace(ns)?;
        if let Some(known) = self.0.get(ns) {
            return Ok(Resolved::Bound(known.clone()));
        }
        let new: Arc<str> = Arc::from(ns);
        self.0.insert(new.clone());
        Ok(Resolved::Bound(new))
    }
}

/// The one hardened XML reader: a namespace-aware event reader that refuses what the module
/// docs say before any caller sees it. Callers keep their own structure (a tree, a stream
/// edit, an OPEX walk) and read every event through [`Reader::next`].
pub(crate) struct Reader<'i> {
    inner: NsReader<&'i [u8]>,
    source: &'i str,
    namespaces: Namespaces,
    depth: usize,
    elements: usize,
}

impl<'i> Reader<'i> {
    /// A reader of `source` (a byte order mark is dropped), or why it is refused unread.
    pub(crate) fn new(source: &'i str) -> Result<Self, XmlError> {
        // The reader skips a byte order mark without counting it, so spans would point three
        // bytes early into a source that kept it.
        let source = source.strip_prefix('\u{FEFF}').unwrap_or(source);
        let mut inner = NsReader::from_reader(source.as_bytes());
        let c = inner.config_mut();
        c.trim_text(false);
        c.expand_empty_elements = false;
        c.check_end_names = true;
        if source.len() > MAX_DOCUMENT_BYTES {
            return Err(XmlError {
                message: format!(
                    "the document is {} bytes; at most {MAX_DOCUMENT_BYTES} are read",
                    source.len()
                ),
                position: 0,
            });
        }
        Ok(Reader {
            inner,
            source,
            namespaces: Namespaces::default(),
            depth: 0,
            elements: 0,
        })
    }

    /// The next event with its element's namespace resolved, after the checks every document
    /// passes: no DOCTYPE, only known entities, bounded depth, elements and attributes.
    pub(crate) fn next(&mut self) -> Result<(Resolved, Event<'i>), XmlError> {
        let namespaces = &mut self.namespaces;
        let step = self
            .inner
            .read_resolved_event()
            .map(|(res, ev)| (namespaces.get(&res), ev));
        let (ns, ev) = step.map_err(|e| self.err(format!("malformed XML: {e}")))?;
        let ns = ns.map_err(|m| self.err(m))?;
        match &ev {
            Event::DocType(_) => return Err(self.err(DOCTYPE_REFUSED)),
            Event::Start(e) | Event::Empty(e) => {
                self.elements += 1;
                if self.elements > MAX_ELEMENTS {
                    return Err(self.err("too many elements"));
                }
                if e.attributes().count() > MAX_ATTRIBUTES {
                    return Err(self.err(format!(
                        "an element has more than {MAX_ATTRIBUTES} attributes"
                    )));
                }
                if matches!(ev, Event::Start(_)) {
                    self.depth += 1;
                    if self.depth > MAX_DEPTH {
                        return Err(self.err(format!("elements nested deeper than {MAX_DEPTH}")));
                    }
                }
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            Event::GeneralRef(g) => {
                resolve_reference(g).map_err(|m| self.err(m))?;
            }
            _ => {}
        }
        Ok((ns, ev))
    }

    /// Byte offset in [`Reader::source`] after the last event.
    pub(crate) fn position(&self) -> usize {
        self.inner.buffer_position() as usize
    }

    /// The text read, without a byte order mark.
    pub(crate) fn source(&self) -> &'i str {
        self.source
    }

    /// The underlying reader, for the namespace bindings in scope.
    pub(crate) fn inner(&self) -> &NsReader<&'i [u8]> {
        &self.inner
    }

    /// An error at the current position.
    pub(crate) fn err(&self, message: impl Into<String>) -> XmlError {
        XmlError {
            message: message.into(),
            position: self.inner.buffer_position(),
        }
    }
}

/// Refuses a namespace name longer than [`MAX_NAMESPACE_BYTES`].
pub(crate) fn check_namespace(ns: &str) -> Result<(), String> {
    if ns.len() > MAX_NAMESPACE_BYTES {
        return Err(format!(
            "a namespace name is {} bytes long; at most {MAX_NAMESPACE_BYTES} are accepted",
            ns.len()
        ));
    }
    Ok(())
}

fn prefix_of(qname: &str) -> &str {
    match qname.split_once(':') {
        Some((p, _)) => p,
        None => "",
    }
}

/// Resolves `&name;`: without a DTD only the five predefined entities and character
/// references exist; anything else is an error rather than a silently empty string.
pub fn resolve_reference(name: &str) -> Result<char, String> {
    Ok(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        n if n.starts_with('#') => {
            let num = &n[1..];
            let code = match num.strip_prefix('x') {
                Some(hex) => u32::from_str_radix(hex, 16),
                None => num.parse::<u32>(),
            };
            code.ok()
                .and_then(char::from_u32)
                .filter(|c| is_xml_char(*c))
                .ok_or_else(|| format!("invalid character reference &{n};"))?
        }
        other => return Err(format!("undeclared entity &{other};")),
    })
}

/// Characters XML 1.0 can carry: a value with any other cannot be written into a document.
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The first character of `value` XML cannot hold, if any.
pub fn first_non_xml_char(value: &str) -> Option<char> {
    value.chars().find(|c| !is_xml_char(*c))
}

/// Parses a document; see the module docs for what is refused.
pub fn parse(source: &str) -> Result<Document, XmlError> {
    let mut r = Reader::new(source)?;
    let mut tree = Tree::default();
    loop {
        let start = r.position();
        let (ns, ev) = r.next()?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if tree.root.is_some() {
                    return Err(r.err("content after the root element"));
                }
                let el = tree.open(&r, ns.bound(), e, start)?;
                if matches!(ev, Event::Start(_)) {
                    tree.stack.push(el);
                } else {
                    tree.scope_stack.pop();
                    attach(&mut tree.stack, &mut tree.root, el);
                }
            }
            Event::End(_) => {
                let mut el = tree
                    .stack
                    .pop()
                    .ok_or_else(|| r.err("unexpected end tag"))?;
                tree.scope_stack.pop();
                el.span.1 = r.position();
                attach(&mut tree.stack, &mut tree.root, el);
            }
            Event::Text(t) => match tree.stack.last_mut() {
                Some(el) => el.text.push_str(&t.xml10_content()),
                None if t.trim().is_empty() => {}
                None => return Err(r.err("text outside the root element")),
            },
            Event::CData(t) => {
                if let Some(el) = tree.stack.last_mut() {
                    el.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                let c = resolve_reference(&g).map_err(|m| r.err(m))?;
                if let Some(el) = tree.stack.last_mut() {
                    el.text.push(c);
                }
            }
            Event::Eof => break,
            // Comments, declarations, processing instructions: nothing to keep.
            _ => {}
        }
    }
    if !tree.stack.is_empty() {
        return Err(r.err("the document ends inside an element"));
    }
    let root = tree.root.ok_or_else(|| r.err("the document is empty"))?;
    Ok(Document {
        root,
        source: r.source().to_string(),
        decls: tree.decls,
        scopes: tree.scopes,
    })
}

/// A document tree being built.
struct Tree {
    stack: Vec<Element>,
    root: Option<Element>,
    decls: Vec<Declaration>,
    /// The innermost declaration in scope inside each open element (outermost first).
    scope_stack: Vec<Option<usize>>,
    scopes: Vec<(usize, Option<usize>)>,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            stack: Vec::new(),
            root: None,
            decls: Vec::new(),
            scope_stack: vec![None],
            scopes: Vec::new(),
        }
    }
}

impl Tree {
    /// A new element from its start tag, with its namespace declarations in scope (pushed on
    /// `scope_stack`; the caller pops them for an empty element).
    fn open(
        &mut self,
        r: &Reader<'_>,
        namespace: Option<Arc<str>>,
        e: &quick_xml::events::BytesStart<'_>,
        start: usize,
    ) -> Result<Element, XmlError> {
        let mut attrs = Vec::new();
        let mut scope = self.scope_stack.last().copied().flatten();
        for a in e.attributes() {
            let a = a.map_err(|x| r.err(format!("malformed attribute: {x}")))?;
            let key = a.key.as_ref().to_string();
            let value = a
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|x| r.err(format!("malformed attribute {key}: {x}")))?
                .into_owned();
            let prefix = if key == "xmlns" {
                Some("")
            } else {
                key.strip_prefix("xmlns:")
            };
            if let Some(prefix) = prefix {
                self.decls.push(Declaration {
                    prefix: prefix.to_string(),
                    uri: value.clone(),
                    outer: scope,
                });
                scope = Some(self.decls.len() - 1);
            }
            attrs.push((key, value));
        }
        self.scopes.push((start, scope));
        self.scope_stack.push(scope);
        Ok(Element {
            namespace,
            local: e.local_name().as_ref().to_string(),
            qname: e.name().as_ref().to_string(),
            attrs,
            text: String::new(),
            children: Vec::new(),
            span: (start, r.position()),
        })
    }
}

fn attach(stack: &mut [Element], root: &mut Option<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// Escapes text for element content and attribute values.
pub fn esc(s: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_documents_are_cut_out_with_inherited_declarations() {
        let src = r#"<xip:MetadataContainer xmlns:ns0="http://example.com/schema" schemaUri="http://example.com/schema" xmlns:xip="http://preservica.com/XIP/v7.7"><xip:Entity>e1</xip:Entity><xip:Content><ns0:doc a="1"><ns0:a>1 &amp; 2</ns0:a></ns0:doc></xip:Content></xip:MetadataContainer >"#;
        let doc = parse(src).unwrap();
        assert_eq!(doc.root.local, "MetadataContainer");
        let content = doc.root.child("Content").unwrap().first_child().unwrap();
        let extracted = doc.extract(content);
        assert_eq!(
            extracted,
            r#"<ns0:doc xmlns:ns0="http://example.com/schema" a="1"><ns0:a>1 &amp; 2</ns0:a></ns0:doc>"#
        );
        let again = parse(&extracted).unwrap();
        assert_eq!(
            again.root.namespace.as_deref(),
            Some("http://example.com/schema")
        );
        assert_eq!(again.root.child_text("a").unwrap(), "1 & 2");
    }

    #[test]
    fn hostile_documents_are_refused() {
        let bomb = r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>"#;
        assert!(parse(bomb).unwrap_err().message.starts_with("DOCTYPE"));
        assert!(
            parse("<x>&ext;</x>")
                .unwrap_err()
                .message
                .contains("undeclared entity")
        );
        let deep = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("").is_err());
    }
}
