//! The closed sets of words the schema keeps in TEXT columns — a write's state, a run's kind
//! and status, a field decision's outcome — as enums. Each value is stored, serialised and
//! parsed by the very name the schema's CHECK lists, so existing databases and reports stay
//! valid without a migration, and a misspelt state is a compile error rather than a row SQLite
//! refuses at run time.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// A stored name that is not one of its set's: a database or report written by something
/// other than this ferry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{found}' is not a {set} this ferry knows")]
pub struct UnknownName {
    pub set: &'static str,
    pub found: String,
}

/// An enum whose variants are stored by name: `as_str`, `FromStr`, `Display`, SQLite and
/// serde conversions, and comparison with a name (`state == "done"`), all from one table of
/// variant = name.
macro_rules! stored_by_name {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// The name stored in the database and written in reports.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::UnknownName;
            fn from_str(s: &str) -> Result<Self, $crate::store::UnknownName> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::store::UnknownName {
                        set: stringify!($name),
                        found: s.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let name = String::deserialize(d)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

stored_by_name! {
    /// Where a planned write stands (`outbox.state`): planned → written → verified (read
    /// back) → done; or stale (the target changed since the snapshot) or failed.
    pub enum OutboxState {
        Planned = "planned",
        Written = "written",
        Verified = "verified",
        Done = "done",
        Stale = "stale",
        Failed = "failed",
    }
}

impl OutboxState {
    /// The states of a write not yet finished, as an SQL list: `state IN (...)`. The schema's
    /// index `outbox_one_pending` uses the same list.
    pub const PENDING_SQL: &'static str = "('planned', 'written', 'verified')";

    /// Whether a write in this state is not finished yet (one of [`Self::PENDING_SQL`]).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            OutboxState::Planned | OutboxState::Written | OutboxState::Verified
        )
    }

    /// Whether a move to this state counts as an attempt to write.
    pub fn is_attempt(self) -> bool {
        matches!(self, OutboxState::Written | OutboxState::Failed)
    }
}

stored_by_name! {
    /// What a run did (`runs.kind`).
    pub enum RunKind {
        Sync = "sync",
        Archive = "archive",
        Republish = "republish",
        /// A small cycle of `ferry serve`'s live mode over what changed since the last one.
        Live = "live",
    }
}

stored_by_name! {
    /// How a run stands or ended (`runs.status`, and a report's `status`).
    #[derive(Default)]
    pub enum RunStatus {
        #[default]
        Running = "running",
        Done = "done",
        Failed = "failed",
        /// Finished without writing (mass-change guard, bad listing). Reports say so; the
        /// store records the run as `done`, which is what the schema knows it as.
        Stopped = "stopped",
        LockedOut = "locked_out",
        /// Found still `running` by a later run whose owner had died.
        Interrupted = "interrupted",
    }
}

impl RunStatus {
    /// The status the `runs` table records for a run that ended so.
    pub fn stored(self) -> RunStatus {
        match self {
            RunStatus::Stopped => RunStatus::Done,
            other => other,
        }
    }
}

stored_by_name! {
    /// What a field decision came to (`decisions.outcome`, and a report row's `outcome`).
    #[derive(Default)]
    pub enum FieldOutcome {
        #[default]
        InSync = "in_sync",
        PushToPreservica = "push_to_preservica",
        PushToPhotoShelter = "push_to_photoshelter",
        ConflictResolved = "conflict_resolved",
        QueuedForReview = "queued_for_review",
        Skipped = "skipped",
    }
}

/// A system is stored by its name (`photoshelter`, `preservica`) wherever it appears.
impl ToSql for crate::model::System {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.name()))
    }
}

impl FromSql for crate::model::System {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        use crate::model::System;
        match value.as_str()? {
            "photoshelter" => Ok(System::PhotoShelter),
            "preservica" => Ok(System::Preservica),
            other => Err(FromSqlError::Other(Box::new(UnknownName {
                set: "System",
                found: other.to_string(),
            }))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_sql_and_json() {
        for s in [
            OutboxState::Planned,
            OutboxState::Written,
            OutboxState::Verified,
            OutboxState::Done,
            OutboxState::Stale,
            OutboxState::Failed,
        ] {
            assert_eq!(s.as_str().parse::<OutboxState>(), Ok(s));
            assert!(OutboxState::PENDING_SQL.contains(&format!("'{s}'")) == s.is_pending());
        }
        assert_eq!(
            serde_json::to_string(&RunStatus::LockedOut).unwrap(),
            "\"locked_out\""
        );
        assert_eq!(
            serde_json::from_str::<FieldOutcome>("\"push_to_photoshelter\"").unwrap(),
            FieldOutcome::PushToPhotoShelter
        );
        assert!("finished".parse::<RunStatus>().is_err());
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let back: RunKind = conn
            .query_row("SELECT ?1", [RunKind::Republish], |r| r.get(0))
            .unwrap();
        assert_eq!(back, RunKind::Republish);
        assert_eq!(RunStatus::Stopped.stored(), RunStatus::Done);
    }
}
