//! What ferry can see, after a write, of an edit someone else made between its re-read of
//! the record and the write. Neither API has a conditional write, so such an edit can be
//! overwritten; ferry keeps the window short (nothing awaited between the re-read and the
//! write that need not be) and afterwards looks at what each API shows. A write it has
//! reason to doubt is marked "may have replaced a concurrent edit" in the report, and the
//! field goes to the review queue with the value ferry read and the value it wrote.
//!
//! * **Preservica** records every change as an event action naming its user. A change
//!   listed after ferry's re-read and before ferry's own last change, by a user other than
//!   the one ferry logs in as, is someone else's edit in the window. (An edit made with
//!   ferry's own account, or on a server that names no users, cannot be told apart.)
//! * **PhotoShelter** shows only the record and its `modified_at`, which ferry's own write
//!   moves past any edit in the window, so an edit of exactly the fields ferry wrote cannot
//!   be seen. What can be seen: a field of a part ferry wrote (IPTC, custom metadata) that
//!   ferry did not write and that changed between the re-read and the read-back — someone
//!   was editing the record then, and may have edited the written field too.

use crate::mapping::photoshelter::{PhotoShelterRecord, PhotoShelterWrite};
use crate::photoshelter::wire::lenient_text;
use crate::preservica::wire::EventAction;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// How the report and the review queue call such a write.
pub const MAY_HAVE_REPLACED: &str = "may have replaced a concurrent edit";

/// Someone else's changes among an asset's events since ferry's re-read, or `None`.
pub fn preservica_evidence(events: &[EventAction], own_user: &str) -> Option<String> {
    let own = |e: &EventAction| {
        e.user
            .as_deref()
            .is_some_and(|u| u.trim().eq_ignore_ascii_case(own_user.trim()))
    };
    // A change after ferry's own last one was not overwritten by it.
    let end = events.iter().rposition(own).map_or(events.len(), |i| i + 1);
    let others: Vec<&EventAction> = events[..end]
        .iter()
        .filter(|e| !own(e) && e.user.is_some())
        .collect();
    if others.is_empty() {
        return None;
    }
    let users: BTreeSet<&str> = others.iter().filter_map(|e| e.user.as_deref()).collect();
    let when: Vec<String> = others
        .iter()
        .filter_map(|e| e.date.map(|d| d.format("%H:%M:%S%.3f").to_string()))
        .collect();
    Some(format!(
        "Preservica recorded {} change{} by {} between ferry's re-read and its write{}",
        others.len(),
        if others.len() == 1 { "" } else { "s" },
        users.into_iter().collect::<Vec<_>>().join(", "),
        if when.is_empty() {
            String::new()
        } else {
            format!(" (at {} UTC)", when.join(", "))
        }
    ))
}

/// The names of `before`'s and `after`'s fields, other than `written`, whose text differs.
fn changed_besides<'a>(
    before: impl Fn(&str) -> Option<String>,
    after: impl Fn(&str) -> Option<String>,
    names: impl Iterator<Item = &'a String>,
    written: impl Fn(&str) -> bool,
) -> Vec<String> {
    let names: BTreeSet<&String> = names.collect();
    names
        .into_iter()
        .filter(|n| !written(n) && before(n) != after(n))
        .cloned()
        .collect()
}

fn text_of(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(lenient_text)
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Fields of the parts ferry wrote that someone else changed between its re-read (`before`)
/// and its read-back (`after`), or `None`.
pub fn photoshelter_evidence(
    before: &PhotoShelterRecord,
    after: &PhotoShelterRecord,
    write: &PhotoShelterWrite,
) -> Option<String> {
    let mut changed = Vec::new();
    if !write.iptc.is_empty() {
        let found = changed_besides(
            |k| text_of(&before.iptc, k),
            |k| text_of(&after.iptc, k),
            before.iptc.keys().chain(after.iptc.keys()),
            |k| write.iptc.contains_key(k),
        );
        changed.extend(found.into_iter().map(|k| format!("IPTC {k}")));
    }
    if !write.custom.is_empty() {
        let tag = |r: &PhotoShelterRecord, k: &str| {
            r.custom
                .get(k)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let found = changed_besides(
            |k| tag(before, k),
            |k| tag(after, k),
            before.custom.keys().chain(after.custom.keys()),
            |k| write.custom.contains_key(k),
        );
        changed.extend(found.into_iter().map(|k| format!("custom field {k}")));
    }
    (!changed.is_empty()).then(|| {
        format!(
            "someone else changed {} of this PhotoShelter media between ferry's re-read and its read-back",
            changed.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(user: Option<&str>) -> EventAction {
        EventAction {
            command_type: "UpdateMetadata".into(),
            event_type: "Modified".into(),
            date: None,
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn only_other_users_changes_before_ferrys_last_one_count() {
        let me = "ferry@museum.org";
        assert_eq!(preservica_evidence(&[], me), None);
        assert_eq!(
            preservica_evidence(&[event(Some("FERRY@museum.org ")), event(Some(me))], me),
            None
        );
        // After ferry's last change: ferry's write did not replace it.
        assert_eq!(
            preservica_evidence(&[event(Some(me)), event(Some("ann@museum.org"))], me),
            None
        );
        let e = preservica_evidence(
            &[
                event(Some("ann@museum.org")),
                event(None),
                event(Some(me)),
                event(Some("bob@museum.org")),
            ],
            me,
        )
        .unwrap();
        assert_eq!(
            e,
            "Preservica recorded 1 change by ann@museum.org between ferry's re-read and its write"
        );
        // No change of ferry's listed at all: every other user's change is in the window.
        assert!(preservica_evidence(&[event(Some("ann@museum.org"))], me).is_some());
    }

    #[test]
    fn a_changed_field_ferry_did_not_write_is_evidence_and_its_own_are_not() {
        let mut before = PhotoShelterRecord::default();
        before.iptc.insert("caption".into(), json!("Old"));
        before.iptc.insert("headline".into(), json!("Boats"));
        let mut write = PhotoShelterWrite::default();
        write.iptc.insert("caption".into(), json!("New"));
        let mut after = before.clone();
        after.iptc.insert("caption".into(), json!("New"));
        after.iptc.insert("headline".into(), json!(" Boats "));
        assert_eq!(photoshelter_evidence(&before, &after, &write), None);
        after.iptc.insert("headline".into(), json!("Ships"));
        after.iptc.insert("city".into(), json!("Hull"));
        let e = photoshelter_evidence(&before, &after, &write).unwrap();
        assert!(e.contains("IPTC city, IPTC headline"), "{e}");
        // A part ferry did not write is not compared (it was not read back).
        let mut custom_only = PhotoShelterWrite::default();
        custom_only
            .custom
            .insert("Campaign".into(), Some("X".into()));
        assert_eq!(photoshelter_evidence(&before, &after, &custom_only), None);
    }
}
