//! Cursors: the `cursors` table, where the next incremental pull starts in each system (a
//! modified-since time or a token).

use super::{Store, StoreError, ts};
use crate::model::System;
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Store {
    pub fn cursor(&self, system: System) -> Result<Option<String>, StoreError> {
        self.query_opt(
            "SELECT value FROM cursors WHERE system = ?1",
            [system],
            |r| r.get(0),
        )
    }

    pub fn set_cursor(
        &mut self,
        system: System,
        value: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT OR REPLACE INTO cursors (system, value, updated_at) VALUES (?1, ?2, ?3)",
            params![system, value, ts(now)],
        )?;
        Ok(())
    }
}
