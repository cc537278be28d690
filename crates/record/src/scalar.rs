//! One field value as the input spelled it, before any schema rule.
//!
//! Every input value deserializes into a [`Scalar`], whatever its type, so a
//! wrong type never aborts the surrounding array or line: it becomes a
//! validation error that names the field, with a reason we word ourselves.

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

#[derive(Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An array, object or binary blob: only its kind is kept.
    Other(&'static str),
}

/// Longest value quoted back in an error reason; inputs can be huge.
const SHOWN_CHARS: usize = 40;

impl Scalar<'_> {
    /// The JSON-ish type name, for "expected X, got <kind>" of secret fields.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "boolean",
            Scalar::U64(_) | Scalar::I64(_) => "integer",
            Scalar::F64(_) => "number",
            Scalar::Str(_) => "string",
            Scalar::Other(kind) => kind,
        }
    }

    /// The value quoted back for an error reason, shortened.
    pub(crate) fn shown(&self) -> String {
        match self {
            Scalar::Null => "null".to_owned(),
            Scalar::Bool(b) => b.to_string(),
            Scalar::U64(n) => n.to_string(),
            Scalar::I64(n) => n.to_string(),
            Scalar::F64(x) => x.to_string(),
            Scalar::Str(s) => quote_shortened(s),
            Scalar::Other(kind) => format!("an {kind}"),
        }
    }

    /// The value as a float, when it is any number.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::U64(n) => Some(n as f64),
            Scalar::I64(n) => Some(n as f64),
            Scalar::F64(x) => Some(x),
            _ => None,
        }
    }

    /// The value as an integer, when it is one. Floats with no fractional part
    /// count: some MessagePack encoders (JavaScript's) write large integers as
    /// float64.
    pub(crate) fn as_i128(&self) -> Option<i128> {
        match *self {
            Scalar::U64(n) => Some(i128::from(n)),
            Scalar::I64(n) => Some(i128::from(n)),
            Scalar::F64(x) if x.is_finite() && x.fract() == 0.0 && x.abs() < 9.2e18 => {
                Some(x as i128)
            }
            _ => None,
        }
    }
}

pub(crate) fn quote_shortened(s: &str) -> String {
    let mut shown = String::with_capacity(s.len().min(SHOWN_CHARS) + 5);
    shown.push('"');
    let mut chars = s.chars();
    for c in chars.by_ref().take(SHOWN_CHARS) {
        shown.extend(c.escape_debug());
    }
    if chars.next().is_some() {
        shown.push('…');
    }
    shown.push('"');
    shown
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor)
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::U64(v))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Self::Value, E> {
        Ok(i64::try_from(v)
            .map(Scalar::I64)
            .unwrap_or(Scalar::F64(v as f64)))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Self::Value, E> {
        Ok(u64::try_from(v)
            .map(Scalar::U64)
            .unwrap_or(Scalar::F64(v as f64)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::F64(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    // MessagePack writers that predate the str8 type send strings as binary.
    fn visit_borrowed_bytes<E>(self, v: &'de [u8]) -> Result<Self::Value, E> {
        Ok(match std::str::from_utf8(v) {
            Ok(s) => Scalar::Str(Cow::Borrowed(s)),
            Err(_) => Scalar::Other("binary value"),
        })
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Self::Value, E> {
        Ok(match std::str::from_utf8(v) {
            Ok(s) => Scalar::Str(Cow::Owned(s.to_owned())),
            Err(_) => Scalar::Other("binary value"),
        })
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Other("object"))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        IgnoredAny::deserialize(d)?;
        Ok(Scalar::Other("extension value"))
    }
}
