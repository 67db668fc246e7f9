//! The keys of `ferry.toml` and the shape of each value, read off the `Raw*` structs themselves:
//! their `Deserialize` impls are driven by a probe that answers every question with an empty
//! value and writes down which field asked for what. The environment overrides are derived from
//! this list, so a key added to a section gets its `FERRY_<SECTION>_<KEY>` with nothing else to
//! keep in step.

use std::cell::RefCell;

use serde::de::value::{BorrowedStrDeserializer, Error as ProbeError, SeqDeserializer};
use serde::de::{DeserializeOwned, DeserializeSeed, Deserializer, Error as _, MapAccess, Visitor};

/// What a key's value is, as far as an environment variable needs to know to type it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string or a path.
    Text,
    /// A whole number from 0 to `max`.
    Whole { max: u64 },
    /// A number, possibly with a fraction.
    Number,
    /// `true` or `false`.
    Flag,
    /// A list of strings.
    List,
    /// An inline secret: accepted by the file's parser only to be refused with its own message.
    Refused,
}

/// One key: its path (`["photoshelter", "email"]`, or `["mapping"]` at the top level) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub path: Vec<&'static str>,
    pub kind: Kind,
}

/// Every key `T` reads, in the order its fields are declared.
pub fn keys<T: DeserializeOwned>() -> Result<Vec<Key>, String> {
    let found = RefCell::new(Vec::new());
    let probe = Probe {
        found: &found,
        path: Vec::new(),
        in_key: false,
    };
    T::deserialize(probe).map_err(|e| e.to_string())?;
    Ok(found.into_inner())
}

struct Probe<'a> {
    found: &'a RefCell<Vec<Key>>,
    path: Vec<&'static str>,
    /// Below an `Option`: the value of one key, whatever wraps it (`Spanned` is a struct of its
    /// span's ends and the value).
    in_key: bool,
}

impl Probe<'_> {
    // A `Spanned` value asks for its span's ends first and its value last, so the last answer
    // for a path is the key's own kind.
    fn record(&self, kind: Kind) {
        let mut found = self.found.borrow_mut();
        match found.last_mut() {
            Some(last) if last.path == self.path => last.kind = kind,
            _ => found.push(Key {
                path: self.path.clone(),
                kind,
            }),
        }
    }

    fn child(&self, field: &'static str) -> Self {
        let mut path = self.path.clone();
        if !self.in_key {
            path.push(field);
        }
        Probe {
            found: self.found,
            path,
            in_key: self.in_key,
        }
    }
}

macro_rules! whole {
    ($($method:ident $visit:ident $t:ty),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
            self.record(Kind::Whole { max: <$t>::MAX.into() });
            visitor.$visit(0)
        }
    )*};
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = ProbeError;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, ProbeError> {
        Err(ProbeError::custom(format!(
            "{}: a value of a shape the environment cannot give",
            self.path.join(".")
        )))
    }

    whole!(deserialize_u8 visit_u8 u8, deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32, deserialize_u64 visit_u64 u64);

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Kind::Flag);
        visitor.visit_bool(false)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Kind::Number);
        visitor.visit_f64(0.0)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Kind::Text);
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Kind::List);
        visitor.visit_seq(SeqDeserializer::<_, ProbeError>::new(std::iter::empty::<
            String,
        >()))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        visitor.visit_some(Probe {
            in_key: true,
            ..self
        })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ProbeError> {
        self.record(Kind::Refused);
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ProbeError> {
        visitor.visit_map(Fields {
            probe: self,
            fields,
            next: 0,
        })
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u128 f32 char bytes byte_buf unit unit_struct tuple
        tuple_struct map enum identifier
    }
}

/// Every field of a struct, once each, in declaration order.
struct Fields<'a> {
    probe: Probe<'a>,
    fields: &'static [&'static str],
    next: usize,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = ProbeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ProbeError> {
        match self.fields.get(self.next) {
            Some(field) => seed
                .deserialize(BorrowedStrDeserializer::<ProbeError>::new(field))
                .map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, ProbeError> {
        let field = self.fields[self.next];
        self.next += 1;
        seed.deserialize(self.probe.child(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Section {
        name: Option<toml::Spanned<String>>,
        count: Option<toml::Spanned<u32>>,
        share: Option<toml::Spanned<f64>>,
        on: Option<toml::Spanned<bool>>,
        list: Option<toml::Spanned<Vec<String>>>,
        path: Option<toml::Spanned<std::path::PathBuf>>,
        secret: Option<toml::Spanned<serde::de::IgnoredAny>>,
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct File {
        top: Option<toml::Spanned<u64>>,
        section: Section,
    }

    #[test]
    fn the_probe_reads_every_key_and_its_kind_in_order() {
        let key = |path: &[&'static str], kind| Key {
            path: path.to_vec(),
            kind,
        };
        assert_eq!(
            keys::<File>().unwrap(),
            vec![
                key(&["top"], Kind::Whole { max: u64::MAX }),
                key(&["section", "name"], Kind::Text),
                key(&["section", "count"], Kind::Whole { max: 4_294_967_295 }),
                key(&["section", "share"], Kind::Number),
                key(&["section", "on"], Kind::Flag),
                key(&["section", "list"], Kind::List),
                key(&["section", "path"], Kind::Text),
                key(&["section", "secret"], Kind::Refused),
            ]
        );
    }
}
