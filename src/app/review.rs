//! Deciding a conflict that waits for a person: which side (or which value) wins, checked
//! against the mapping's field kind and recorded under the run lock, so it never races a run
//! that is pushing. The next sync writes the decision to both systems.

use crate::config::Config;
use crate::exit::InputError;
use crate::mapping::Mapping;
use crate::model::System;
use crate::store::{Decider, Store};
use anyhow::Result;
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

/// The one check every typed decision passes, from the command line or the web app: the value
/// must read as `field`'s kind, be one of its values when it is an enum, and fit every system
/// the field is written to (`max_bytes`), since the next sync writes it to both. Returns the
/// value in canonical form (`None`: no value); `Err` is a message naming what was wrong.
pub fn check_typed_value(
    mapping: &Mapping,
    field: &str,
    raw: &str,
) -> Result<Option<String>, String> {
    let spec = mapping.field(field).ok_or_else(|| {
        format!(
            "the mapping ({}) no longer has field {field}",
            mapping.file.display()
        )
    })?;
    let Some(value) = crate::mapping::parse_for(spec, raw).map_err(|e| format!("{field}: {e}"))?
    else {
        return Ok(None);
    };
    for system in [System::PhotoShelter, System::Preservica] {
        if !spec.is_in(system) {
            continue;
        }
        if let (Err(_), Some(limit)) = (
            crate::mapping::check_limit(spec, system, &value),
            spec.max_bytes(system),
        ) {
            let len = match &value {
                crate::model::FieldValue::Set(items) => items.iter().map(String::len).max(),
                other => Some(other.to_canonical_string().len()),
            };
            let system = match system {
                System::PhotoShelter => "PhotoShelter",
                System::Preservica => "Preservica",
            };
            return Err(format!(
                "{field} is too long for {system}: {} bytes where {system} keeps at most {limit} \
                 (max_bytes of {field} in the mapping); shorten it",
                len.unwrap_or(0)
            ));
        }
    }
    Ok(Some(value.to_canonical_string()))
}

/// The person at the command line: the OS user from `USER` (or `LOGNAME`), else "unknown".
pub fn os_user() -> String {
    ["USER", "LOGNAME"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Records the decision on open conflict `id`, made by `who`; returns the conflict's field.
pub fn resolve_conflict(
    config: &Config,
    store: &mut Store,
    id: i64,
    take: &Take,
    who: &Decider,
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
            let value = check_typed_value(&mapping, &item.field, raw)
                .map_err(|e| InputError::new(format!("--take for conflict #{id} refused: {e}")))?;
            ("value".to_string(), value)
        }
    };
    let recorded = crate::sync::lock::while_no_run(store, chrono::Utc::now(), |s| {
        s.resolve_review_by(id, &how, value.as_deref(), Some(who), chrono::Utc::now())
    })?;
    anyhow::ensure!(
        recorded,
        "conflict #{id} was decided meanwhile; `ferry conflicts list --all` shows how"
    );
    Ok(item.field)
}
