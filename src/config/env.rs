//! The environment: a snapshot of it, the `FERRY_<SECTION>_<KEY>` override of every non-secret
//! key (derived from the file's structure, see `keys.rs`), and the refusal of any other `FERRY_`
//! name, so that a misspelt variable is never silently ignored.
//!
//! Overrides are laid over the parsed file, each value first typed for its key, before the
//! typed file is read: an overridden value then goes through the same checks as one written in
//! the file, and its errors name the variable instead of a line.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::LazyLock;

use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue};

use super::keys::{Kind, keys};
use super::raw::RawFile;
use super::{ConfigError, ENV_SECRETS, Location};

/// A snapshot of environment variables. Loading takes one explicitly so that tests never touch
/// the process environment.
#[derive(Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The process environment now. Names or values that are not valid Unicode are converted
    /// lossily rather than dropped, so a `FERRY_` variable is never silently ignored.
    pub fn from_process() -> Self {
        Env(std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect())
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Env(pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect())
    }

    pub fn empty() -> Self {
        Env(BTreeMap::new())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// An empty variable counts as unset: `FOO= ferry ...` is how shells clear a value.
    pub(super) fn non_empty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }
}

// The environment holds credentials (ours and other programs'), so only names are shown.
impl fmt::Debug for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Env")
            .field(&self.0.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// An environment variable that overrides a non-secret key of `ferry.toml`.
#[derive(Debug, Clone)]
pub struct EnvOverride {
    pub var: &'static str,
    /// The dotted key it overrides, e.g. `photoshelter.email`.
    pub key: &'static str,
    path: Vec<&'static str>,
    kind: Kind,
}

/// Every override: one per key of `ferry.toml` except the secrets (which have their own
/// variables, [`ENV_SECRETS`]) and the files that hold them.
pub fn env_overrides() -> &'static [EnvOverride] {
    static ALL: LazyLock<Vec<EnvOverride>> = LazyLock::new(|| {
        let keys = keys::<RawFile>().expect("ferry.toml's structure can be probed");
        let refused: BTreeSet<String> = keys
            .iter()
            .filter(|k| k.kind == Kind::Refused)
            .map(|k| format!("{}_file", k.path.join(".")))
            .collect();
        keys.into_iter()
            .filter(|k| k.kind != Kind::Refused && !refused.contains(&k.path.join(".")))
            .map(|k| EnvOverride {
                // Built once for the life of the process, like the static tables they replace.
                var: Box::leak(
                    format!("FERRY_{}", k.path.join("_").to_ascii_uppercase()).into_boxed_str(),
                ),
                key: Box::leak(k.path.join(".").into_boxed_str()),
                path: k.path,
                kind: k.kind,
            })
            .collect()
    });
    &ALL
}

/// The overrides of the keys most setups give (the two tenants' addresses and logins, the
/// paths, the schedule and the guard): the ones README names. Every other non-secret key has
/// its override too, in [`env_overrides`].
pub static ENV_OVERRIDES: LazyLock<Vec<EnvOverride>> = LazyLock::new(|| {
    const MAIN_KEYS: [&str; 17] = [
        "photoshelter.base_url",
        "photoshelter.email",
        "photoshelter.org_id",
        "photoshelter.concurrency",
        "preservica.server",
        "preservica.protocol",
        "preservica.tenant",
        "preservica.username",
        "preservica.concurrency",
        "paths.store",
        "paths.index",
        "paths.reports",
        "mapping",
        "schedule.nightly",
        "schedule.timezone",
        "guard.max_change_share",
        "guard.min_assets",
    ];
    env_overrides()
        .iter()
        .filter(|o| MAIN_KEYS.contains(&o.key))
        .cloned()
        .collect()
});

/// The other `FERRY_` variables ferry reads (outside this module).
pub static ENV_OTHER: &[&str] = &["FERRY_CONFIG", "FERRY_LOG"];

/// The variable that overrides `key`, if it has one.
pub(super) fn override_var(key: &str) -> Option<&'static str> {
    env_overrides().iter().find(|o| o.key == key).map(|o| o.var)
}

/// An override's value, typed for its key.
pub(super) enum Typed {
    Text(String),
    /// A TOML literal: a number or `true`/`false`.
    Literal(String),
    List(Vec<String>),
}

/// Every override `env` sets, with its value typed for its key or the reason it cannot be.
pub(super) fn values(env: &Env) -> Vec<(&'static EnvOverride, Result<Typed, String>)> {
    env_overrides()
        .iter()
        .filter_map(|o| env.get(o.var).map(|v| (o, typed(o.kind, v))))
        .collect()
}

fn typed(kind: Kind, v: &str) -> Result<Typed, String> {
    match kind {
        Kind::Text | Kind::Refused => Ok(Typed::Text(v.to_owned())),
        // TOML integers stop at i64::MAX.
        Kind::Whole { max } => v
            .trim()
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max.min(i64::MAX as u64))
            .map(|n| Typed::Literal(n.to_string()))
            .ok_or_else(|| format!("expected a whole number, got '{v}'")),
        Kind::Number => {
            let n = v
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("expected a number such as 0.10, got '{v}'"))?;
            // Out-of-range shares (NaN among them) are refused later with the file's message.
            Ok(Typed::Literal(match n {
                n if n.is_nan() => "nan".to_owned(),
                n if n.is_infinite() => if n > 0.0 { "inf" } else { "-inf" }.to_owned(),
                n => format!("{n:?}"),
            }))
        }
        Kind::Flag => match v.trim().to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => Ok(Typed::Literal(b.to_owned())),
            _ => Err(format!("expected true or false, got '{v}'")),
        },
        Kind::List => Ok(Typed::List(
            v.split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
        )),
    }
}

/// Keys set by an override, with the variable that set each.
pub(super) type FromEnv = BTreeMap<&'static str, &'static str>;

/// Lays the typed `values` over the file's document. Their span is empty: they have no place
/// in the file, and errors about them look the key up in the returned [`FromEnv`] instead.
pub(super) fn overlay<'v>(
    mut doc: Spanned<DeTable<'v>>,
    values: &'v [(&'static EnvOverride, Result<Typed, String>)],
) -> Result<(Spanned<DeTable<'v>>, FromEnv), ConfigError> {
    let mut from_env = FromEnv::new();
    for (o, value) in values {
        let value = value.as_ref().map_err(|reason| ConfigError::Value {
            at: Location::Env {
                var: o.var.to_owned(),
            },
            key: o.key.to_owned(),
            reason: reason.clone(),
        })?;
        set(doc.get_mut(), &o.path, de_value(value));
        from_env.insert(o.key, o.var);
    }
    Ok((doc, from_env))
}

fn de_value(value: &Typed) -> DeValue<'_> {
    fn text(s: &str) -> DeValue<'_> {
        DeValue::String(Cow::Borrowed(s))
    }
    match value {
        Typed::Text(s) => text(s),
        Typed::Literal(s) => DeValue::parse(s)
            .expect("a literal written by `typed`")
            .into_inner(),
        Typed::List(items) => {
            let mut array = DeArray::new();
            for item in items {
                array.push(Spanned::new(0..0, text(item)));
            }
            DeValue::Array(array)
        }
    }
}

fn set<'v>(doc: &mut DeTable<'v>, path: &[&'static str], value: DeValue<'v>) {
    let name = |n: &'static str| Spanned::new(0..0, Cow::Borrowed(n));
    let table = match path {
        [_] => doc,
        [section, _] => {
            let entry = doc
                .entry(name(section))
                .or_insert_with(|| Spanned::new(0..0, DeValue::Table(DeTable::new())));
            match entry.get_mut() {
                DeValue::Table(table) => table,
                // The file's own error about this section was reported before overrides apply.
                _ => return,
            }
        }
        _ => unreachable!("ferry.toml's keys are one or two deep"),
    };
    let key = path.last().expect("a key has a name");
    table.insert(name(key), Spanned::new(0..0, value));
}

fn known_env_vars() -> impl Iterator<Item = &'static str> {
    env_overrides()
        .iter()
        .map(|o| o.var)
        .chain(ENV_SECRETS.iter().map(|s| s.var))
        .chain(ENV_OTHER.iter().copied())
}

pub(super) fn check_env_names(env: &Env) -> Result<(), ConfigError> {
    let known: BTreeSet<&str> = known_env_vars().collect();
    for name in env.0.keys() {
        if name.starts_with("FERRY_") && !known.contains(name.as_str()) {
            let suggestion = known
                .iter()
                .map(|k| (edit_distance(name, k), *k))
                .filter(|(d, _)| *d <= 3)
                .min()
                .map(|(_, k)| k);
            return Err(ConfigError::UnknownEnvVar {
                var: name.clone(),
                suggestion,
            });
        }
    }
    Ok(())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_variables_are_those_of_the_inline_secret_keys() {
        let refused: BTreeSet<String> = keys::<RawFile>()
            .unwrap()
            .into_iter()
            .filter(|k| k.kind == Kind::Refused)
            .map(|k| k.path.join("."))
            .collect();
        let secrets: BTreeSet<String> = ENV_SECRETS.iter().map(|s| s.key.to_owned()).collect();
        assert_eq!(refused, secrets);
        for o in env_overrides() {
            assert!(!o.key.ends_with("_file"), "{} names a secret's file", o.key);
        }
    }

    #[test]
    fn the_main_overrides_are_among_all() {
        assert_eq!(ENV_OVERRIDES.len(), 17);
        for o in ENV_OVERRIDES.iter() {
            assert!(env_overrides().iter().any(|a| a.var == o.var));
        }
    }
}
