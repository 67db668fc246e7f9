//! The names a mapping gives to places in either system, checked when the mapping is loaded:
//! a name that cannot be what it claims to be is refused at `ferry mappings check`, not found
//! out on every write. XML element, root and prefix names must be XML names without a colon
//! (NCName, Namespaces in XML 1.0), or every fragment ferry writes is malformed; IPTC names
//! must be fields PhotoShelter has. Custom metadata fields are the account's own, so only
//! `ferry doctor` can check those (against a probe media item).

use crate::photoshelter::wire::IPTC_FIELDS;

/// Whether `c` may start an XML name (XML 1.0 fifth edition, `NameStartChar`, without `:`).
fn is_name_start(c: char) -> bool {
    matches!(c,
        'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// Whether `c` may follow the first character of an XML name (`NameChar`, without `:`).
fn is_name_char(c: char) -> bool {
    is_name_start(c)
        || matches!(c,
            '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// Whether `name` is an XML name without a colon: what an element's local name or a
/// namespace prefix must be.
pub fn is_ncname(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start) && chars.all(is_name_char)
}

/// Why `name` cannot be the `what` of an XML fragment (an element, a root, a prefix), or
/// `None` when it can.
pub fn xml_name_problem(what: &str, name: &str) -> Option<String> {
    if is_ncname(name) {
        // `xml` is bound to the XML namespace and `xmlns` declares namespaces: neither can
        // be declared as a fragment's prefix.
        let reserved = what.ends_with("prefix")
            && (name.eq_ignore_ascii_case("xml") || name.eq_ignore_ascii_case("xmlns"));
        return reserved.then(|| format!("{what} '{name}' is reserved by XML; choose another"));
    }
    let hint = if name.contains(':') {
        "a local name has no prefix (set the fragment's element_prefix instead)"
    } else {
        "an XML name starts with a letter or _ and holds only letters, digits, '-', '.' and _ \
         (no spaces, no '<', '>', '&' or quotes)"
    };
    Some(format!("{what} '{name}' is not an XML name: {hint}"))
}

/// Why `name` is not one of PhotoShelter's IPTC fields, or `None` when it is.
pub fn iptc_name_problem(name: &str) -> Option<String> {
    if IPTC_FIELDS.contains(&name) {
        return None;
    }
    let close = IPTC_FIELDS
        .iter()
        .find(|f| f.eq_ignore_ascii_case(name.trim()) || f.replace('_', "") == name.to_lowercase())
        .map(|f| format!(" (did you mean '{f}'?)"))
        .unwrap_or_default();
    Some(format!(
        "unknown PhotoShelter IPTC field '{name}'{close}; the IPTC fields are: {}",
        IPTC_FIELDS.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_names_follow_the_ncname_production() {
        for good in [
            "dc",
            "Headline",
            "_x",
            "date-created",
            "a.b",
            "été",
            "標題",
            "x1",
        ] {
            assert!(is_ncname(good), "{good}");
        }
        for bad in [
            "",
            "Head line<>",
            "1st",
            "-x",
            ".x",
            "dc:title",
            "a b",
            "a&b",
            "a\"b",
            "a'b",
            "tab\t",
            "x\u{0}",
            "x>",
        ] {
            assert!(!is_ncname(bad), "{bad:?}");
        }
    }

    #[test]
    fn problems_say_what_is_wrong_and_reserved_prefixes_are_refused() {
        assert_eq!(xml_name_problem("element", "title"), None);
        let p = xml_name_problem("element", "dc:title").unwrap();
        assert!(p.contains("element_prefix"), "{p}");
        let p = xml_name_problem("element", "Head line<>").unwrap();
        assert!(
            p.starts_with("element 'Head line<>' is not an XML name"),
            "{p}"
        );
        assert!(xml_name_problem("root_prefix", "xmlns").is_some());
        assert!(xml_name_problem("root", "xml").is_none());
        assert_eq!(iptc_name_problem("caption"), None);
        let p = iptc_name_problem("Caption").unwrap();
        assert!(p.contains("did you mean 'caption'"), "{p}");
        let p = iptc_name_problem("captionwriter").unwrap();
        assert!(p.contains("did you mean 'caption_writer'"), "{p}");
    }
}
