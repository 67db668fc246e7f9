//! What the client's operations return.

use crate::clock::Clock;
use crate::photoshelter::wire::{self, IdKind, MediaKind, OrgInfo, Visibility};
use chrono::{DateTime, Utc};

// ---------------------------------------------------------------------------------------------
// Public data

/// Tuning of the client; `Default` suits production.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `per_page` asked for on every listing.
    pub page_size: usize,
    /// How far before the cursor an incremental query starts (the server filters by day at
    /// best and its time zone is unknown); hits are then filtered exactly by the client.
    pub overlap: chrono::Duration,
    /// How far server and ferry clocks may disagree; the next cursor never passes the start
    /// of the listing minus this, so a change made during a listing is listed next time.
    pub clock_skew: chrono::Duration,
    pub clock: Clock,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            page_size: wire::DEFAULT_PER_PAGE,
            overlap: chrono::Duration::days(1),
            clock_skew: chrono::Duration::minutes(10),
            clock: Clock::system(),
        }
    }
}

/// How the client authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// Email and password login for a session token, renewed on expiry.
    Password,
    /// A configured OAuth access token, sent as a Bearer token; ferry cannot renew it.
    OAuth,
}

/// Who the client is logged in as.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LoginInfo {
    pub auth: AuthMethod,
    /// `v4.0` or `v3`.
    pub api: &'static str,
    pub user_id: Option<String>,
    pub email: Option<String>,
    /// The organisations the user belongs to, when the server says.
    pub orgs: Vec<OrgInfo>,
    /// The organisation selected for this session.
    pub org_id: Option<String>,
}

/// What to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything in the account's (or selected organisation's) library.
    Account,
    /// These collections, with everything under them.
    Collections(Vec<String>),
    /// These galleries.
    Galleries(Vec<String>),
}

/// A media item as a listing names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MediaSummary {
    pub id: String,
    pub kind: MediaKind,
    pub file_name: Option<String>,
    pub modified_at: Option<DateTime<Utc>>,
    /// The listed galleries holding it (full listings only).
    pub galleries: Vec<String>,
}

/// A complete listing: it either covers the whole scope or the call fails.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Each media item once, in the order first met.
    pub media: Vec<MediaSummary>,
    pub galleries: Vec<String>,
    pub collections: Vec<String>,
}

/// How an incremental listing found the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeMethod {
    /// Media search with `modify_start`.
    ModifyFilter,
    /// The tenant does not filter by modification time: galleries sorted by modification
    /// time, newest first, read until the cursor.
    SortedFallback,
}

/// Media modified at or after a cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedListing {
    pub media: Vec<MediaSummary>,
    /// Where the next incremental listing starts.
    pub next_cursor: DateTime<Utc>,
    pub method: ChangeMethod,
}

/// One page of media search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPage {
    pub page: u32,
    pub media: Vec<MediaSummary>,
    pub total: Option<u64>,
}

/// Galleries or collections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerKind {
    Gallery,
    Collection,
}

impl ContainerKind {
    pub(super) fn v3_name(self) -> &'static str {
        match self {
            ContainerKind::Gallery => "gallery",
            ContainerKind::Collection => "collection",
        }
    }
    pub(super) fn id_kind(self) -> IdKind {
        match self {
            ContainerKind::Gallery => IdKind::Gallery,
            ContainerKind::Collection => IdKind::Collection,
        }
    }
}

/// A gallery or collection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Container {
    pub id: String,
    pub kind: ContainerKind,
    pub name: Option<String>,
    pub description: Option<String>,
    pub mode: Option<Visibility>,
    pub listed: Option<bool>,
    pub modified_at: Option<DateTime<Utc>>,
}

/// A new media item, verified by reading it back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UploadedMedia {
    pub media_id: String,
    pub file_name: String,
    pub file_size: u64,
}

/// The outcome of the write probe.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteProbe {
    pub media_id: String,
    pub field: String,
    pub original: Option<String>,
    /// The probe value was written and read back, then the original restored and read back.
    pub restored: bool,
}
