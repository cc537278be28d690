//! An input object read as "field name → [`Scalar`]" for one fixed set of names.
//!
//! The same reader serves the contract schema and the gateway presets: each
//! supplies its list of names, and fields not in the list are skipped without
//! being materialized.

use crate::scalar::Scalar;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The named fields of one input object; `values[i]` belongs to `names[i]`.
pub(crate) struct RawFields<'a, const N: usize> {
    pub(crate) values: [Option<Scalar<'a>>; N],
    /// A field that appeared twice (ambiguous input, refused rather than guessed).
    pub(crate) duplicate: Option<&'static str>,
}

impl<'a, const N: usize> RawFields<'a, N> {
    fn new() -> Self {
        Self {
            values: std::array::from_fn(|_| None),
            duplicate: None,
        }
    }

    /// Take the value at `index`; `None` when absent. Out-of-range is absent too.
    pub(crate) fn take(&mut self, index: usize) -> Option<Scalar<'a>> {
        self.values.get_mut(index).and_then(Option::take)
    }
}

/// One element of the input: an object, or something else (named by kind).
pub(crate) enum Element<'a, const N: usize> {
    Object(RawFields<'a, N>),
    NotObject(&'static str),
}

/// Reads one element whatever its type, keeping only the fields in `names`.
#[derive(Clone, Copy)]
pub(crate) struct ElementSeed<const N: usize> {
    pub(crate) names: &'static [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for ElementSeed<N> {
    type Value = Element<'de, N>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(ElementVisitor { names: self.names })
    }
}

struct ElementVisitor<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> Visitor<'de> for ElementVisitor<N> {
    type Value = Element<'de, N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_fields(self.names, map).map(Element::Object)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::NotObject("an array"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(Element::NotObject("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(Element::NotObject("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(Element::NotObject("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(Element::NotObject("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Element::NotObject("a string"))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(Element::NotObject("binary data"))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Element::NotObject("null"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Element::NotObject("null"))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        serde::Deserialize::deserialize(d)
            .map(|IgnoredAny| Element::NotObject("an extension value"))
    }
}

/// Fill the named fields from a map, skipping unknown keys.
pub(crate) fn read_fields<'de, A: MapAccess<'de>, const N: usize>(
    names: &'static [&'static str; N],
    mut map: A,
) -> Result<RawFields<'de, N>, A::Error> {
    let mut fields = RawFields::new();
    while let Some(key) = map.next_key_seed(KeySeed { names })? {
        match key {
            Some(index) => {
                let value: Scalar<'de> = map.next_value()?;
                if let Some(slot) = fields.values.get_mut(index) {
                    if slot.is_some() && fields.duplicate.is_none() {
                        fields.duplicate = names.get(index).copied();
                    }
                    *slot = Some(value);
                }
            }
            None => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(fields)
}

/// Resolves a key to its index in `names` (`None`: not a field we read).
struct KeySeed<const N: usize> {
    names: &'static [&'static str; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for KeySeed<N> {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for KeySeed<N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|name| *name == v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(self.names.iter().position(|name| name.as_bytes() == v))
    }
    // Non-string keys (MessagePack allows them) can never name a field.
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}
