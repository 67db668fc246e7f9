//! Field history: the `field_history` table, every value ferry saw replaced in a system, by
//! ferry or by someone else. No value is ever lost, only superseded.

use super::{AssetId, Store, StoreError};

/// One superseded value of a field: no value is lost, only superseded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub field: String,
    pub system: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    pub reason: String,
    pub recorded_at: String,
}

/// Records one replaced value: (asset, field, system, old value, new value, run, reason,
/// recorded at).
pub(super) const INSERT_HISTORY_SQL: &str = "INSERT INTO field_history (asset_id, field, system, old_value, new_value, run_id, reason, recorded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

impl Store {
    /// Field history of an asset, oldest first.
    pub fn field_history(&self, asset: AssetId) -> Result<Vec<HistoryEntry>, StoreError> {
        self.query_rows(
            "SELECT field, system, old_value, new_value, reason, recorded_at FROM field_history WHERE asset_id = ?1 ORDER BY id",
            [asset],
            |r| {
                Ok(from_columns!(r, HistoryEntry {
                    field, system, old_value, new_value, reason, recorded_at,
                }))
            },
        )
    }
}
