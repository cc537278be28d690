//! An input object read as "field name → [`Scalar`]" for one fixed set of names.
//!
//! The same reader serves the contract schema and the gateway presets: each
//! supplies its list of names, and fields not in the list are skipped without
//! being materialized.

use crate::scalar::Scalar;
use crate::validate::{Checked, Invalid};
use crate::{AccessRecord, Fingerprinter};
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
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

/// Index of a field name in a schema's list of names.
pub(crate) type Lookup = fn(&[u8]) -> Option<usize>;

/// A set of field names and the rules that turn them into a record.
pub(crate) struct Schema<const N: usize> {
    pub(crate) names: [&'static str; N],
    /// Must agree with `names`; a `match` is much faster than scanning them.
    pub(crate) lookup: Lookup,
    pub(crate) validate: for<'a> fn(RawFields<'a, N>, &Fingerprinter) -> Checked<AccessRecord>,
    /// What an element must be, for "expected …, got an array".
    pub(crate) element: &'static str,
}

/// Reads one element whatever its type and validates it in place (the raw
/// fields are large; moving them around costs more than parsing a number).
pub(crate) struct RecordSeed<'s, const N: usize> {
    pub(crate) schema: &'static Schema<N>,
    pub(crate) fp: &'s Fingerprinter,
}

impl<const N: usize> Clone for RecordSeed<'_, N> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<const N: usize> Copy for RecordSeed<'_, N> {}

impl<'de, const N: usize> DeserializeSeed<'de> for RecordSeed<'_, N> {
    type Value = Checked<AccessRecord>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<const N: usize> RecordSeed<'_, N> {
    fn not_object(&self, kind: &str) -> Checked<AccessRecord> {
        Err(Invalid::record(format!(
            "expected {}, got {kind}",
            self.schema.element
        )))
    }
}

impl<'de, const N: usize> Visitor<'de> for RecordSeed<'_, N> {
    type Value = Checked<AccessRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.schema.element)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let fields = read_fields(self.schema, map)?;
        Ok((self.schema.validate)(fields, self.fp))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(self.not_object("an array"))
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(self.not_object("a boolean"))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(self.not_object("a number"))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(self.not_object("a number"))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(self.not_object("a number"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(self.not_object("a string"))
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Self::Value, E> {
        Ok(self.not_object("binary data"))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(self.not_object("null"))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.not_object("null"))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(self.not_object("an extension value"))
    }
}

/// Fill the named fields from a map, skipping unknown keys.
pub(crate) fn read_fields<'de, A: MapAccess<'de>, const N: usize>(
    schema: &Schema<N>,
    mut map: A,
) -> Result<RawFields<'de, N>, A::Error> {
    let mut fields = RawFields::new();
    let names = &schema.names;
    while let Some(key) = map.next_key_seed(KeySeed {
        lookup: schema.lookup,
    })? {
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

/// Resolves a key to its field index (`None`: not a field we read).
struct KeySeed {
    lookup: Lookup,
}

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok((self.lookup)(v.as_bytes()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok((self.lookup)(v))
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
