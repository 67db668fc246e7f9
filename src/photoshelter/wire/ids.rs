//! Ids: what an id names and the prefixes of each kind (contract §4).

/// What an id names; each kind has its own prefixes (contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdKind {
    Media,
    Gallery,
    Collection,
    Organization,
    User,
}

impl IdKind {
    pub fn name(self) -> &'static str {
        match self {
            IdKind::Media => "media id",
            IdKind::Gallery => "gallery id",
            IdKind::Collection => "collection id",
            IdKind::Organization => "organisation id",
            IdKind::User => "user id",
        }
    }

    /// Letter prefixes (before the zero padding) ids of this kind start with.
    pub fn prefixes(self) -> &'static [&'static str] {
        match self {
            IdKind::Media => &["I", "VD", "AD", "DO"],
            IdKind::Gallery => &["G"],
            IdKind::Collection => &["C"],
            IdKind::Organization => &["O"],
            IdKind::User => &["U"],
        }
    }
}

pub use crate::ids::check as check_id;

/// Why `id` does not have the shape every documented id of `kind` has (16 characters: a
/// letter prefix padded with zeros to 5, then 11 from `[A-Za-z0-9._]`), or `None` if it has.
pub fn odd_shape(kind: IdKind, id: &str) -> Option<String> {
    if id.len() != 16 || !id.is_ascii() {
        return Some(format!(
            "expected 16 ASCII characters, got {}",
            id.chars().count()
        ));
    }
    let (head, tail) = id.split_at(5);
    let letters = head.trim_end_matches('0');
    if letters.is_empty() || !letters.bytes().all(|b| b.is_ascii_uppercase()) {
        return Some("expected a letter prefix padded with zeros to 5 characters".into());
    }
    if !kind.prefixes().contains(&letters) {
        return Some(format!(
            "prefix '{letters}' is not one of {}",
            kind.prefixes().join(", ")
        ));
    }
    tail.chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || *c == '_'))
        .map(|bad| format!("character '{bad}' is not one of [A-Za-z0-9._]"))
}

/// The kind of media, from `type` or, failing that, from the id's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
}

impl MediaKind {
    /// The v4 `type` value.
    pub fn type_name(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
        }
    }

    pub fn from_type(t: &str) -> Option<MediaKind> {
        match t.to_ascii_lowercase().as_str() {
            "image" => Some(MediaKind::Image),
            "video" => Some(MediaKind::Video),
            "audio" => Some(MediaKind::Audio),
            "document" | "doc" => Some(MediaKind::Document),
            _ => None,
        }
    }

    pub fn id_prefix(self) -> &'static str {
        match self {
            MediaKind::Image => "I",
            MediaKind::Video => "VD",
            MediaKind::Audio => "AD",
            MediaKind::Document => "DO",
        }
    }

    pub fn from_id(id: &str) -> Option<MediaKind> {
        let letters = id.get(..5)?.trim_end_matches('0');
        [
            MediaKind::Image,
            MediaKind::Video,
            MediaKind::Audio,
            MediaKind::Document,
        ]
        .into_iter()
        .find(|k| k.id_prefix() == letters)
    }
}

/// Visibility of a gallery or collection (Confirmed enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Everyone,
    Permission,
    Private,
}

impl Visibility {
    pub fn name(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Permission => "permission",
            Visibility::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Visibility> {
        match s.trim().to_ascii_lowercase().as_str() {
            "everyone" => Some(Visibility::Everyone),
            "permission" => Some(Visibility::Permission),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

impl std::fmt::Display for Visibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
