//! Edits a person makes in Preservica while ferry works: test hooks (`set_title`,
//! `set_fragment`, [`crate::emulate::EditDuring`]) that change an asset as an archivist would,
//! recorded in the entity's events under the archivist's name rather than the API user's, so
//! that a client can tell someone else's change from its own.

use super::events::Change;
use super::{Data, StoredFragment};

/// The user an edit made by a test "in Preservica" is recorded under: a person, not ferry.
pub const ARCHIVIST: &str = "archivist@ferry.local";

/// An edit an archivist makes on an asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchivistEdit {
    /// A new Title.
    Title { reference: String, title: String },
    /// The fragment of `schema` replaced (or added) whole.
    Fragment {
        reference: String,
        schema: String,
        xml: String,
    },
}

impl Data {
    /// Makes an archivist's edit and records it as theirs.
    pub(crate) fn apply_archivist_edit(&mut self, edit: &ArchivistEdit) {
        let (reference, change) = match edit {
            ArchivistEdit::Title { reference, title } => {
                let Some(e) = self.entities.get_mut(reference) else {
                    return;
                };
                e.title = title.clone();
                (reference, Change::Updated)
            }
            ArchivistEdit::Fragment {
                reference,
                schema,
                xml,
            } => {
                let id = self.next_id("frag-");
                let Some(e) = self.entities.get_mut(reference) else {
                    return;
                };
                match e.fragments.iter_mut().find(|f| f.schema == *schema) {
                    Some(f) => {
                        f.xml = xml.clone();
                        (reference, Change::MetadataUpdated)
                    }
                    None => {
                        e.fragments.push(StoredFragment {
                            id,
                            schema: schema.clone(),
                            xml: xml.clone(),
                        });
                        (reference, Change::MetadataAdded)
                    }
                }
            }
        };
        self.changed_by(reference, change, Some(ARCHIVIST));
    }
}
