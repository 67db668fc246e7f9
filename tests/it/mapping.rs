//! Mapping files: the default mapping, every kind of invalid file, and translation of both
//! systems' records to canonical records and back.

use crate::helpers::repo_file;
use ferry::mapping::photoshelter::{self as ps, PhotoShelterRecord};
use ferry::mapping::preservica::{self as pv, Fragment, PreservicaRecord};
use ferry::mapping::{FieldChange, Mapping, ProblemKind, Rule};
use ferry::model::{DateValue, FieldKind, FieldValue, System};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

const DC: &str = "http://www.openarchives.org/OAI/2.0/oai_dc/";
const FERRY: &str = "urn:ferry:schema:rights:1";

fn default_mapping() -> Mapping {
    Mapping::load(&repo_file("mappings/default.toml")).expect("the default mapping is valid")
}

#[test]
fn default_mapping_covers_every_seed_field_with_the_intended_rules() {
    let m = default_mapping();
    let expect = [
        ("title", FieldKind::Text, Rule::Newest),
        ("headline", FieldKind::Text, Rule::PhotoShelter),
        ("caption", FieldKind::Text, Rule::PhotoShelter),
        ("creator", FieldKind::Text, Rule::Newest),
        ("credit", FieldKind::Text, Rule::Newest),
        ("copyright_notice", FieldKind::Text, Rule::Manual),
        ("date_created", FieldKind::Date, Rule::Preservica),
        ("campaign", FieldKind::Text, Rule::PhotoShelter),
        ("keywords", FieldKind::Set, Rule::Union),
        ("city", FieldKind::Text, Rule::Newest),
        ("state", FieldKind::Text, Rule::Newest),
        ("country", FieldKind::Text, Rule::Newest),
        ("usage_terms", FieldKind::Text, Rule::Manual),
        ("license_expiry", FieldKind::Date, Rule::MostRestrictive),
        ("model_release", FieldKind::Enum, Rule::MostRestrictive),
        ("property_release", FieldKind::Enum, Rule::MostRestrictive),
        ("license_reference", FieldKind::Text, Rule::PhotoShelter),
        ("distribution_history", FieldKind::Set, Rule::Preservica),
        ("archive_status", FieldKind::Enum, Rule::PhotoShelter),
        ("preservation_reference", FieldKind::Text, Rule::Preservica),
    ];
    for (name, kind, rule) in expect {
        let f = m.field(name).unwrap_or_else(|| panic!("{name} is mapped"));
        assert_eq!((f.kind, f.rule), (kind, rule), "{name}");
    }
    assert_eq!(m.fields.len(), expect.len());
    // Rights that Dublin Core cannot hold go to the ferry fragment, not oai_dc.
    for name in [
        "license_expiry",
        "model_release",
        "property_release",
        "license_reference",
        "distribution_history",
    ] {
        let loc = m
            .field(name)
            .unwrap()
            .describe_location(System::Preservica, &m);
        assert!(loc.starts_with("ferry:"), "{name} is in {loc}");
    }
    assert_eq!(m.fragment("ferry").unwrap().schema, FERRY);
    assert_eq!(m.fragment("oai_dc").unwrap().schema, DC);
    // Every entry says why: a comment line right above each [[field]].
    let text = std::fs::read_to_string(repo_file("mappings/default.toml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if *l == "[[field]]" {
            assert!(
                lines[i - 1].starts_with('#'),
                "line {} has no comment",
                i + 1
            );
        }
    }
}

const HEADER: &str = r#"version = 1
[fragments.oai_dc]
schema = "http://www.openarchives.org/OAI/2.0/oai_dc/"
root = "dc"
root_namespace = "http://www.openarchives.org/OAI/2.0/oai_dc/"
root_prefix = "oai_dc"
element_namespace = "http://purl.org/dc/elements/1.1/"
element_prefix = "dc"
"#;

/// The error text for a mapping made of HEADER (8 lines) plus `fields`.
fn mapping_error(fields: &str) -> String {
    let text = format!("{HEADER}{fields}");
    Mapping::parse(&text, Path::new("m.toml"))
        .expect_err("the mapping is invalid")
        .to_string()
}

#[test]
fn unknown_rule_is_named_with_its_line() {
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "text"
rule = "oldest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:12: field 'title': unknown rule 'oldest' (expected one of: photoshelter, \
         preservica, newest, union, most_restrictive, manual)"
    );
}

#[test]
fn unknown_kind_is_named_with_its_line() {
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "string"
rule = "newest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:11: field 'title': unknown kind 'string' (expected one of: text, date, set, enum, bool)"
    );
}

#[test]
fn a_kind_the_target_cannot_hold_is_refused() {
    let e = mapping_error(
        r#"[[field]]
name = "keywords"
kind = "set"
rule = "union"
photoshelter = { custom = "Keywords" }
preservica = { entity = "title" }
[[field]]
name = "released"
kind = "bool"
rule = "newest"
photoshelter = { iptc = "urgency" }
preservica = { fragment = "oai_dc", element = "type" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:13: field 'keywords': PhotoShelter custom metadata field 'Keywords' cannot hold a set value\n\
         m.toml:14: field 'keywords': the Preservica entity's own fields hold text, not a set value; use a fragment element\n\
         m.toml:19: field 'released': PhotoShelter IPTC field 'urgency' cannot hold a bool value"
    );
}

#[test]
fn duplicate_field_names_the_first_definition() {
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "text"
rule = "newest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }

[[field]]
name = "title"
kind = "text"
rule = "newest"
photoshelter = { iptc = "headline" }
preservica = { entity = "description" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:16: duplicate field 'title' (first defined on line 9)"
    );
}

#[test]
fn unknown_key_is_refused_with_its_line() {
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "text"
rul = "newest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }
"#,
    );
    assert!(
        e.starts_with("m.toml:12: unknown key `rul`, expected one of"),
        "{e}"
    );
}

#[test]
fn toml_syntax_error_names_the_line() {
    let e = mapping_error("[[field]]\nname = \"title\nkind = \"text\"\n");
    assert!(e.starts_with("m.toml:10: "), "{e}");
}

#[test]
fn rules_must_fit_the_kind_and_the_sides() {
    let e = mapping_error(
        r#"[[field]]
name = "caption"
kind = "text"
rule = "union"
photoshelter = { iptc = "caption" }
preservica = { entity = "description" }
[[field]]
name = "usage_terms"
kind = "text"
rule = "most_restrictive"
photoshelter = { iptc = "rights" }
preservica = { fragment = "oai_dc", element = "rights" }
[[field]]
name = "history"
kind = "set"
rule = "newest"
preservica = { fragment = "oai_dc", element = "relation" }
[[field]]
name = "reference"
kind = "text"
rule = "photoshelter"
photoshelter = { iptc = "instructions" }
preservica = { entity = "ref" }
[[field]]
name = "release"
kind = "enum"
rule = "photoshelter"
photoshelter = { custom = "Release" }
preservica = { fragment = "rights", element = "Release" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:12: field 'caption': rule union merges sets, but the field is text\n\
         m.toml:18: field 'usage_terms': rule most_restrictive cannot rank text values (it ranks dates and enums); use manual or an owner rule\n\
         m.toml:24: field 'history' lives only in Preservica, so its rule must be preservica\n\
         m.toml:29: field 'reference': the entity Ref is read-only in Preservica, so the rule must be preservica\n\
         m.toml:32: field 'release': an enum field needs values = [...] (its closed vocabulary, most restrictive first)\n\
         m.toml:37: field 'release': unknown fragment 'rights' (define it under [fragments.rights])"
    );
}

#[test]
fn two_fields_in_one_place_are_refused() {
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "text"
rule = "newest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }
[[field]]
name = "headline"
kind = "text"
rule = "newest"
photoshelter = { iptc = "title" }
preservica = { entity = "title" }
"#,
    );
    assert_eq!(
        e,
        "m.toml:19: field 'headline' uses the same PhotoShelter location as 'title'\n\
         m.toml:20: field 'headline' uses the same Preservica location as 'title'"
    );
}

#[test]
fn element_names_that_are_not_xml_names_are_refused_with_their_line() {
    // Each of these would make every fragment ferry writes malformed (or inject markup).
    for element in [
        "Head line<>",
        "dc:title",
        "1st",
        "title\"><script>alert(1)</script>",
        "a&b",
        " title",
        "",
    ] {
        let e = mapping_error(&format!(
            r#"[[field]]
name = "headline"
kind = "text"
rule = "preservica"
preservica = {{ fragment = "oai_dc", element = {element:?} }}
"#
        ));
        assert!(
            e.starts_with(&format!(
                "m.toml:13: field 'headline': element '{element}' is not an XML name"
            )),
            "{element:?}: {e}"
        );
    }
    // Names XML allows, beyond ASCII, are kept.
    let text = format!(
        "{HEADER}[[field]]\nname = \"headline\"\nkind = \"text\"\nrule = \"preservica\"\npreservica = {{ fragment = \"oai_dc\", element = \"Überschrift-1.a\" }}\n"
    );
    Mapping::parse(&text, Path::new("m.toml")).expect("an XML name with non-ASCII letters");
}

#[test]
fn fragment_roots_and_prefixes_must_be_xml_names() {
    let text = r#"version = 1
[fragments.bad]
schema = "urn:x"
root = "Rights Record"
root_namespace = "urn:x"
root_prefix = "xmlns"
element_namespace = "urn:x"
element_prefix = "r<"

[[field]]
name = "title"
kind = "text"
rule = "preservica"
preservica = { fragment = "bad", element = "title" }
"#;
    let e = Mapping::parse(text, Path::new("m.toml"))
        .expect_err("the fragment is refused")
        .to_string();
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0].starts_with("m.toml:2: fragment 'bad': root 'Rights Record' is not an XML name"),
        "{e}"
    );
    assert!(
        lines[1].starts_with("m.toml:2: fragment 'bad': root_prefix 'xmlns' is reserved by XML"),
        "{e}"
    );
    assert!(
        lines[2].starts_with("m.toml:2: fragment 'bad': element_prefix 'r<' is not an XML name"),
        "{e}"
    );
}

#[test]
fn iptc_names_photoshelter_does_not_have_are_refused_with_their_line() {
    for (iptc, hint) in [
        ("Headline", "did you mean 'headline'?"),
        ("captionwriter", "did you mean 'caption_writer'?"),
        ("object_name", "the IPTC fields are: title, "),
        (
            "caption\"><img src=x onerror=alert(1)>",
            "the IPTC fields are: ",
        ),
    ] {
        let e = mapping_error(&format!(
            r#"[[field]]
name = "headline"
kind = "text"
rule = "photoshelter"
photoshelter = {{ iptc = {iptc:?} }}
"#
        ));
        assert!(
            e.starts_with("m.toml:13: field 'headline': unknown PhotoShelter IPTC field '"),
            "{iptc}: {e}"
        );
        assert!(e.contains(hint), "{iptc}: {e}");
    }
    // Every IPTC name the default mapping uses is one PhotoShelter has.
    default_mapping();
}

#[test]
fn a_mapping_file_that_is_not_utf8_or_missing_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, b"version = 1\n# caf\xe9\n").unwrap();
    let e = Mapping::load(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        format!("{}:2: the file is not valid UTF-8", bad.display())
    );
    let missing = dir.path().join("none.toml");
    let e = Mapping::load(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}: cannot read the mapping file:",
            missing.display()
        )),
        "{e}"
    );
}

fn text(s: &str) -> Option<FieldValue> {
    FieldValue::text(s)
}

#[test]
fn photoshelter_json_is_read_leniently_into_canonical_fields() {
    let m = default_mapping();
    let rec = PhotoShelterRecord {
        media_id: "I0000AbCdEfGhIjK".into(),
        attributes: json!({"file_size": "1800"}).as_object().unwrap().clone(),
        license: json!({"expiration_date": "2027-01-31 00:00:00 GMT"})
            .as_object()
            .unwrap()
            .clone(),
        iptc: json!({
            "title": "  Regatta\r\n",
            "caption": "<b>Boats</b> & \"crews\"",
            "keywords": "harbour, regatta,1962 , harbour",
            "author": 1962,
            "date_created": "1962-07-14",
            "instructions": ""
        })
        .as_object()
        .unwrap()
        .clone(),
        custom: BTreeMap::from([("Model Release Status".to_string(), "MR-UMR".to_string())]),
        ..Default::default()
    };
    let t = ps::read_record(&m, &rec);
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let f = &t.record.fields;
    assert_eq!(f["title"], text("Regatta").unwrap());
    assert_eq!(f["caption"], text("<b>Boats</b> & \"crews\"").unwrap());
    assert_eq!(
        f["keywords"],
        FieldValue::set(["1962", "harbour", "regatta"]).unwrap()
    );
    assert_eq!(f["creator"], text("1962").unwrap());
    assert_eq!(f["license_expiry"].to_canonical_string(), "2027-01-31");
    assert_eq!(f["model_release"], FieldValue::Enum("MR-UMR".into()));
    assert!(
        !f.contains_key("preservation_reference"),
        "empty is no value"
    );
}

#[test]
fn unreadable_photoshelter_values_are_reported_not_dropped_silently() {
    let m = default_mapping();
    let rec = PhotoShelterRecord {
        iptc: json!({"date_created": "July 1962", "title": {"nested": true}})
            .as_object()
            .unwrap()
            .clone(),
        custom: BTreeMap::from([("Model Release Status".to_string(), "maybe".to_string())]),
        ..Default::default()
    };
    let t = ps::read_record(&m, &rec);
    let mut got: Vec<String> = t.problems.iter().map(|p| p.to_string()).collect();
    got.sort();
    assert_eq!(
        got,
        [
            "date_created in photoshelter: unreadable: 'July 1962' is not a valid date: expected a date like 2024-05-01, 2024-05-01 12:00:00 GMT, 2024-05-01T12:00:00Z, 20240501 or 2024:05:01",
            "model_release in photoshelter: unreadable: 'maybe' is not one of the values of model_release (MR-NON, MR-LMR, MR-NAP, MR-UMR)",
            "title in photoshelter: unreadable: an object where a value was expected",
        ]
    );
    assert!(t.record.fields.is_empty());
}

#[test]
fn values_over_a_photoshelter_limit_are_reported_and_not_written() {
    let m = default_mapping();
    let long_creator = "Ólafur Þórðarson-Ísleifsdóttir & Associates"; // 48 bytes
    let changes = vec![
        FieldChange {
            field: "creator".into(),
            value: text(long_creator),
        },
        FieldChange {
            field: "keywords".into(),
            value: FieldValue::set(["harbour", "boats, sails"]),
        },
        FieldChange {
            field: "caption".into(),
            value: text("fine"),
        },
    ];
    let w = ps::plan_write(&m, &Default::default(), &changes);
    assert_eq!(w.iptc, *json!({"caption": "fine"}).as_object().unwrap());
    let problems: Vec<String> = w.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(
        problems,
        [
            format!(
                "creator in photoshelter: truncation risk: {} bytes where photoshelter keeps 32; starts \"Ólafur Þórðarson-Ísleifsdóttir & Associa…\"",
                long_creator.len()
            ),
            "keywords in photoshelter: cannot write: \"boats, sails\" contains a comma, which PhotoShelter's comma-separated list would split".to_string(),
        ]
    );
    assert_eq!(w.problems[0].kind, ProblemKind::TruncationRisk);
}

const OAI_DC_WITH_EXTRAS: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:x="urn:other">
  <dc:title>Minutes 1901</dc:title>
  <dc:creator xml:lang="en">Harbour Board</dc:creator>
  <!-- catalogued 1998 -->
  <dc:publisher>Port Authority &amp; Co</dc:publisher>
  <x:note>keep <x:b>this</x:b></x:note>
  <dc:subject>harbour</dc:subject>
  <dc:subject>regatta</dc:subject>
</oai_dc:dc>"#;

fn asset_with_dc() -> PreservicaRecord {
    PreservicaRecord {
        reference: "2e0d5f55-8a1c-4c0e-9d0e-6f4d7c1b2a11".into(),
        title: Some("Regatta".into()),
        description: Some("Boats".into()),
        fragments: vec![Fragment {
            schema: DC.into(),
            xml: OAI_DC_WITH_EXTRAS.into(),
        }],
        ..Default::default()
    }
}

#[test]
fn preservica_asset_is_read_into_canonical_fields() {
    let m = default_mapping();
    let t = pv::read_record(&m, &asset_with_dc());
    assert!(t.problems.is_empty(), "{:?}", t.problems);
    let f = &t.record.fields;
    assert_eq!(f["title"], text("Regatta").unwrap());
    assert_eq!(f["caption"], text("Boats").unwrap());
    assert_eq!(f["creator"], text("Harbour Board").unwrap());
    assert_eq!(
        f["keywords"],
        FieldValue::set(["harbour", "regatta"]).unwrap()
    );
    assert_eq!(
        f["preservation_reference"],
        text("2e0d5f55-8a1c-4c0e-9d0e-6f4d7c1b2a11").unwrap()
    );
}

#[test]
fn writing_one_dc_element_leaves_the_rest_of_the_fragment_byte_for_byte() {
    let m = default_mapping();
    let rec = asset_with_dc();
    let w = pv::plan_write(
        &m,
        &rec,
        &[FieldChange {
            field: "creator".into(),
            value: text("Royal <Harbour> Board"),
        }],
    );
    assert!(w.problems.is_empty());
    assert_eq!(w.title, None);
    assert_eq!(w.fragments.len(), 1);
    assert!(w.fragments[0].exists);
    assert_eq!(
        w.fragments[0].xml,
        OAI_DC_WITH_EXTRAS.replace(
            "<dc:creator xml:lang=\"en\">Harbour Board</dc:creator>",
            "<dc:creator xml:lang=\"en\">Royal &lt;Harbour&gt; Board</dc:creator>"
        )
    );
}

#[test]
fn writing_a_set_replaces_all_its_elements_and_clearing_removes_them() {
    let m = default_mapping();
    let rec = asset_with_dc();
    let w = pv::plan_write(
        &m,
        &rec,
        &[FieldChange {
            field: "keywords".into(),
            value: FieldValue::set(["boats", "harbour", "sails"]),
        }],
    );
    let expected = OAI_DC_WITH_EXTRAS.replace(
        "<dc:subject>harbour</dc:subject>\n  <dc:subject>regatta</dc:subject>",
        "<dc:subject>boats</dc:subject>\n  <dc:subject>harbour</dc:subject>\n  <dc:subject>sails</dc:subject>",
    );
    assert_eq!(w.fragments[0].xml, expected);

    let w = pv::plan_write(
        &m,
        &rec,
        &[FieldChange {
            field: "keywords".into(),
            value: None,
        }],
    );
    let expected = OAI_DC_WITH_EXTRAS.replace(
        "\n  <dc:subject>harbour</dc:subject>\n  <dc:subject>regatta</dc:subject>",
        "",
    );
    assert_eq!(w.fragments[0].xml, expected);
}

#[test]
fn a_missing_fragment_is_created_and_an_absent_element_appended() {
    let m = default_mapping();
    let mut rec = asset_with_dc();
    let w = pv::plan_write(
        &m,
        &rec,
        &[
            FieldChange {
                field: "date_created".into(),
                value: FieldValue::parse(FieldKind::Date, "1962-07-14").unwrap(),
            },
            FieldChange {
                field: "license_expiry".into(),
                value: FieldValue::parse(FieldKind::Date, "2027-01-31").unwrap(),
            },
        ],
    );
    assert!(w.problems.is_empty(), "{:?}", w.problems);
    let by_schema: BTreeMap<&str, &pv::FragmentWrite> =
        w.fragments.iter().map(|f| (f.schema.as_str(), f)).collect();
    assert_eq!(
        by_schema[DC].xml,
        OAI_DC_WITH_EXTRAS.replace(
            "</oai_dc:dc>",
            "  <dc:date>1962-07-14</dc:date>\n</oai_dc:dc>"
        )
    );
    assert!(!by_schema[FERRY].exists);
    assert_eq!(
        by_schema[FERRY].xml,
        "<FerryRights xmlns=\"urn:ferry:schema:rights:1\">\n  <LicenseExpiry>2027-01-31</LicenseExpiry>\n</FerryRights>"
    );
    rec.apply(&w);
    let t = pv::read_record(&m, &rec);
    assert_eq!(
        t.record.fields["license_expiry"].to_canonical_string(),
        "2027-01-31"
    );
    assert_eq!(
        t.record.fields["date_created"].to_canonical_string(),
        "1962-07-14"
    );
}

#[test]
fn hostile_fragments_are_refused_with_a_reason() {
    let m = default_mapping();
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol2;</dc:title></oai_dc:dc>"#;
    let undeclared = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>&xxe;</dc:creator></oai_dc:dc>"#;
    let deep = format!(
        r#"<oai_dc:dc xmlns:oai_dc="{DC}" xmlns:dc="http://purl.org/dc/elements/1.1/">{}{}</oai_dc:dc>"#,
        "<dc:x>".repeat(100),
        "</dc:x>".repeat(100)
    );
    let twice = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>A</dc:creator><dc:creator>B</dc:creator></oai_dc:dc>"#;
    let cases = [
        (bomb.to_string(), "DOCTYPE is not allowed in metadata"),
        (undeclared.to_string(), "undeclared entity &xxe;"),
        (deep, "elements nested deeper than 64"),
        (
            twice.to_string(),
            "2 values for a single-valued field; merge them in Preservica",
        ),
    ];
    for (xml, expected) in cases {
        let mut rec = asset_with_dc();
        rec.fragments[0].xml = xml;
        let t = pv::read_record(&m, &rec);
        assert!(
            t.problems.iter().any(|p| p.kind == ProblemKind::Unreadable
                && p.system == System::Preservica
                && p.detail.contains(expected)),
            "expected '{expected}' in {:?}",
            t.problems
        );
        // A field whose fragment cannot be read is left out, never read as empty.
        assert!(!t.record.fields.contains_key("creator"));
        // Nor is the fragment rewritten from a document ferry could not read.
        let w = pv::plan_write(
            &m,
            &rec,
            &[FieldChange {
                field: "creator".into(),
                value: text("X"),
            }],
        );
        assert!(w.fragments.is_empty() || expected.starts_with('2'));
    }
}

#[test]
fn values_xml_cannot_hold_are_not_written() {
    let m = default_mapping();
    let w = pv::plan_write(
        &m,
        &asset_with_dc(),
        &[FieldChange {
            field: "creator".into(),
            value: text("bell\u{7}"),
        }],
    );
    assert!(w.fragments.is_empty());
    assert_eq!(
        w.problems[0].to_string(),
        "creator in preservica: cannot write: contains U+0007, which Preservica's XML cannot hold"
    );
}

// ---- property tests: round trips through both systems ----

fn text_value(max_chars: usize) -> impl Strategy<Value = Option<FieldValue>> {
    // Printable ASCII (including the characters HTML and XML care about), Latin letters with
    // diacritics, newlines: what captions really hold.
    proptest::string::string_regex(&format!("[ -~À-ÿ\\n]{{0,{max_chars}}}"))
        .unwrap()
        .prop_map(|s| FieldValue::text(&s))
}

fn date_value() -> impl Strategy<Value = Option<FieldValue>> {
    prop_oneof![
        Just(None),
        (1850i32..2100, 1u32..13, 1u32..29).prop_map(|(y, m, d)| Some(FieldValue::Date(
            DateValue::new(chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap())
        ))),
    ]
}

fn set_value() -> impl Strategy<Value = Option<FieldValue>> {
    proptest::collection::vec("[a-zA-Z0-9 éü&<>]{0,12}", 0..6).prop_map(FieldValue::set)
}

/// A canonical record over `fields` of the default mapping, within each field's limits.
fn record_strategy(
    m: &Mapping,
    system: System,
) -> impl Strategy<Value = BTreeMap<String, Option<FieldValue>>> + use<> {
    let strategies: Vec<BoxedStrategy<(String, Option<FieldValue>)>> = m
        .fields
        .iter()
        .filter(|f| f.is_in(system) && f.name != "preservation_reference")
        .map(|f| {
            let name = f.name.clone();
            // Two bytes per character at most in the alphabets above.
            let chars = f.max_bytes(system).map_or(60, |b| b / 2);
            let value: BoxedStrategy<Option<FieldValue>> = match f.kind {
                FieldKind::Text => text_value(chars).boxed(),
                FieldKind::Date => date_value().boxed(),
                FieldKind::Set => set_value().boxed(),
                FieldKind::Enum => {
                    let values = f.values.clone();
                    proptest::option::of(proptest::sample::select(values))
                        .prop_map(|v| v.map(FieldValue::Enum))
                        .boxed()
                }
                FieldKind::Bool => proptest::option::of(any::<bool>())
                    .prop_map(|b| b.map(FieldValue::Bool))
                    .boxed(),
            };
            value.prop_map(move |v| (name.clone(), v)).boxed()
        })
        .collect();
    strategies.prop_map(|pairs| pairs.into_iter().collect())
}

fn changes_of(values: &BTreeMap<String, Option<FieldValue>>) -> Vec<FieldChange> {
    values
        .iter()
        .map(|(k, v)| FieldChange {
            field: k.clone(),
            value: v.clone(),
        })
        .collect()
}

fn present(values: &BTreeMap<String, Option<FieldValue>>) -> BTreeMap<String, FieldValue> {
    values
        .iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn photoshelter_round_trip(values in record_strategy(&default_mapping(), System::PhotoShelter)) {
        let m = default_mapping();
        let w = ps::plan_write(&m, &Default::default(), &changes_of(&values));
        prop_assert!(w.problems.is_empty(), "{:?}", w.problems);
        let mut rec = PhotoShelterRecord::default();
        rec.apply(&w);
        let t = ps::read_record(&m, &rec);
        prop_assert!(t.problems.is_empty(), "{:?}", t.problems);
        prop_assert_eq!(t.record.fields, present(&values));
    }

    #[test]
    fn preservica_round_trip_keeps_unmapped_elements(
        values in record_strategy(&default_mapping(), System::Preservica),
        start_empty in any::<bool>(),
    ) {
        let m = default_mapping();
        let mut rec = if start_empty {
            PreservicaRecord { reference: "ref-1".into(), ..Default::default() }
        } else {
            asset_with_dc()
        };
        let w = pv::plan_write(&m, &rec, &changes_of(&values));
        prop_assert!(w.problems.is_empty(), "{:?}", w.problems);
        rec.apply(&w);
        let t = pv::read_record(&m, &rec);
        prop_assert!(t.problems.is_empty(), "{:?}", t.problems);
        let mut expected = present(&values);
        expected.insert("preservation_reference".into(), FieldValue::text(&rec.reference).unwrap());
        prop_assert_eq!(t.record.fields, expected);
        if !start_empty {
            let dc = &rec.fragment(DC).unwrap().xml;
            prop_assert!(dc.contains("<dc:publisher>Port Authority &amp; Co</dc:publisher>"));
            prop_assert!(dc.contains("<x:note>keep <x:b>this</x:b></x:note>"));
            prop_assert!(dc.contains("<!-- catalogued 1998 -->"));
        }
    }
}

#[test]
fn enum_labels_say_what_codes_mean_and_must_name_known_values() {
    let release = r#"[[field]]
name = "model_release"
kind = "enum"
rule = "photoshelter"
values = ["MR-NON", "MR-NAP"]
LABELS
photoshelter = { custom = "Model Release Status" }
"#;
    let with = |labels: &str| format!("{HEADER}{}", release.replace("LABELS", labels));
    let m = Mapping::parse(
        &with(r#"labels = { "MR-NON" = "no release on file" }"#),
        Path::new("m.toml"),
    )
    .unwrap();
    assert_eq!(
        m.label_of("model_release", "MR-NON").as_deref(),
        Some("no release on file"),
        "the mapping's label wins"
    );
    assert_eq!(
        m.label_of("model_release", "MR-NAP").as_deref(),
        Some("model release: not applicable"),
        "else ferry's built-in meaning"
    );
    assert_eq!(m.label_of("model_release", "MR-XYZ"), None);
    assert_eq!(
        default_mapping().label_of("title", "MR-NAP"),
        None,
        "not an enum"
    );

    let e = Mapping::parse(
        &with(r#"labels = { "MR-UMR" = "unlimited" }"#),
        Path::new("m.toml"),
    )
    .expect_err("a label of no value")
    .to_string();
    assert!(
        e.starts_with("m.toml:14: field 'model_release': labels names 'MR-UMR'"),
        "{e}"
    );
    let e = mapping_error(
        r#"[[field]]
name = "title"
kind = "text"
rule = "photoshelter"
labels = { "a" = "b" }
photoshelter = { iptc = "title" }
"#,
    );
    assert!(e.contains("labels is only for enum fields"), "{e}");
}
