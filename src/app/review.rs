//! Deciding a conflict that waits for a person: which side (or which value) wins, checked
//! against the mapping's field kind and recorded under the run lock, so it never races a run
//! that is pushing. The next sync writes the decision to both systems.

use crate::config::Config;
use crate::exit::InputError;
use crate::mapping::Mapping;
use crate::store::Store;
use anyhow::{Context, Result};
use std::fmt;
use std::str::FromStr;

/// What `ferry conflicts resolve --take` chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    PhotoShelter,
    Preservica,
    /// A value typed by the person, in the field's canonical form.
    Value(String),
}

impl FromStr for Take {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Take, Self::Err> {
        Ok(match s {
            "photoshelter" => Take::PhotoShelter,
            "preservica" => Take::Preservica,
            other => Take::Value(other.to_string()),
        })
    }
}

impl fmt::Display for Take {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Take::PhotoShelter => f.write_str("photoshelter"),
            Take::Preservica => f.write_str("preservica"),
            Take::Value(v) => f.write_str(v),
        }
    }
}

/// Records the decision on open conflict `id`; returns the conflict's field.
pub fn resolve_conflict(
    config: &Config,
    store: &mut Store,
    id: i64,
    take: &Take,
) -> Result<String> {
    let item = store
        .review_items(true)?
        .into_iter()
        .find(|i| i.id == id)
        .ok_or_else(|| {
            InputError::new(format!(
                "conflict #{id} is not open; `ferry conflicts list` shows the open ones"
            ))
        })?;
    let (how, value) = match take {
        Take::PhotoShelter | Take::Preservica => (take.to_string(), None),
        Take::Value(raw) => {
            let mapping = Mapping::load(&config.mapping)?;
            let spec = mapping
                .field(&item.field)
                .with_context(|| format!("the mapping no longer has field {}", item.field))?;
            let value = crate::model::FieldValue::parse(spec.kind, raw)
                .map_err(|e| InputError::new(format!("--take for {}: {e}", item.field)))?
                .map(|v| v.to_canonical_string());
            ("value".to_string(), value)
        }
    };
    let recorded = crate::sync::lock::while_no_run(store, chrono::Utc::now(), |s| {
        s.resolve_review(id, &how, value.as_deref(), chrono::Utc::now())
    })?;
    anyhow::ensure!(
        recorded,
        "conflict #{id} was decided meanwhile; `ferry conflicts list --all` shows how"
    );
    Ok(item.field)
}
