//! The rules of CONTRACT §1, one small function per kind of field.
//!
//! Each takes the field's name as the input spelled it (so the gateway
//! presets report their own names) and returns the value or an [`Invalid`].

use crate::scalar::Scalar;
use crate::timestamp::{rfc3339_ms, MAX_ABS_EPOCH_MS};
use crate::{Fingerprint, Fingerprinter, GeoPoint, RecordError};
use std::net::IpAddr;

/// One broken rule: which field and why, before the line is known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Invalid {
    pub(crate) field: Option<&'static str>,
    pub(crate) reason: String,
}

impl Invalid {
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            reason: reason.into(),
        }
    }

    pub(crate) fn record(reason: impl Into<String>) -> Self {
        Self {
            field: None,
            reason: reason.into(),
        }
    }

    pub(crate) fn at_line(self, line: usize) -> RecordError {
        RecordError {
            line,
            field: self.field.map(str::to_owned),
            reason: self.reason,
        }
    }
}

pub(crate) type Checked<T> = Result<T, Invalid>;

fn expected(field: &'static str, what: &str, got: &Scalar<'_>) -> Invalid {
    Invalid::field(field, format!("expected {what}, got {}", got.shown()))
}

pub(crate) fn required<'a>(field: &'static str, value: Option<Scalar<'a>>) -> Checked<Scalar<'a>> {
    match value {
        Some(v) => Ok(v),
        None => Err(Invalid::field(field, "missing required field")),
    }
}

/// `None` for absent, JSON null and the empty string: all mean "not given".
pub(crate) fn present(value: Option<Scalar<'_>>) -> Option<Scalar<'_>> {
    match value {
        None | Some(Scalar::Null) => None,
        Some(Scalar::Str(s)) if s.is_empty() => None,
        Some(v) => Some(v),
    }
}

const TS_EXPECTED: &str = "RFC 3339 timestamp or integer epoch milliseconds";

pub(crate) fn timestamp(field: &'static str, value: &Scalar<'_>) -> Checked<i64> {
    match value {
        Scalar::Str(s) => rfc3339_ms(s).ok_or_else(|| {
            if rfc3339_ms(&format!("{s}Z")).is_some() {
                expected(
                    field,
                    "RFC 3339 timestamp with a UTC offset (Z or +hh:mm)",
                    value,
                )
            } else {
                expected(field, TS_EXPECTED, value)
            }
        }),
        other => epoch_ms(field, other),
    }
}

pub(crate) fn epoch_ms(field: &'static str, value: &Scalar<'_>) -> Checked<i64> {
    match value.as_i128() {
        Some(ms) if ms.abs() <= i128::from(MAX_ABS_EPOCH_MS) => {
            i64::try_from(ms).map_err(|_| expected(field, TS_EXPECTED, value))
        }
        Some(_) => Err(Invalid::field(
            field,
            format!(
                "epoch milliseconds {} out of range (years 0000..=9999)",
                value.shown()
            ),
        )),
        None => Err(expected(field, TS_EXPECTED, value)),
    }
}

pub(crate) fn status(field: &'static str, value: &Scalar<'_>) -> Checked<u16> {
    match value.as_i128() {
        Some(code @ 100..=599) => u16::try_from(code).map_err(|_| expected(field, "", value)),
        _ => Err(expected(field, "integer 100..=599", value)),
    }
}

pub(crate) fn latency_ms(field: &'static str, value: &Scalar<'_>) -> Checked<f64> {
    match value.as_f64() {
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(ms),
        _ => Err(expected(field, "number >= 0", value)),
    }
}

pub(crate) fn byte_count(field: &'static str, value: &Scalar<'_>) -> Checked<u64> {
    match value.as_i128().map(u64::try_from) {
        Some(Ok(n)) => Ok(n),
        _ => Err(expected(field, "integer >= 0", value)),
    }
}

pub(crate) fn client_ip(field: &'static str, value: &Scalar<'_>) -> Checked<IpAddr> {
    match value {
        Scalar::Str(s) => s
            .parse()
            .map_err(|_| expected(field, "IPv4 or IPv6 address", value)),
        other => Err(expected(field, "IPv4 or IPv6 address string", other)),
    }
}

pub(crate) fn country(field: &'static str, value: Option<Scalar<'_>>) -> Checked<Option<String>> {
    match present(value) {
        None => Ok(None),
        Some(Scalar::Str(s)) if s.len() == 2 && s.bytes().all(|c| c.is_ascii_alphabetic()) => {
            Ok(Some(s.to_ascii_uppercase()))
        }
        Some(other) => Err(expected(field, "ISO 3166-1 alpha-2 country code", &other)),
    }
}

pub(crate) fn geo(
    (lat_field, lat): (&'static str, Option<Scalar<'_>>),
    (lon_field, lon): (&'static str, Option<Scalar<'_>>),
) -> Checked<Option<GeoPoint>> {
    let coordinate = |field, value: &Scalar<'_>, limit: f64| match value.as_f64() {
        Some(x) if x.is_finite() && x.abs() <= limit => Ok(x),
        _ => Err(expected(
            field,
            &format!("number -{limit}..={limit}"),
            value,
        )),
    };
    match (present(lat), present(lon)) {
        (None, None) => Ok(None),
        (Some(lat), Some(lon)) => Ok(Some(GeoPoint {
            lat: coordinate(lat_field, &lat, 90.0)?,
            lon: coordinate(lon_field, &lon, 180.0)?,
        })),
        (Some(_), None) => Err(Invalid::field(
            lon_field,
            format!("missing: `{lat_field}` and `{lon_field}` come together"),
        )),
        (None, Some(_)) => Err(Invalid::field(
            lat_field,
            format!("missing: `{lat_field}` and `{lon_field}` come together"),
        )),
    }
}

/// RFC 9110 token characters.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

pub(crate) fn method(field: &'static str, value: &Scalar<'_>) -> Checked<String> {
    match value {
        Scalar::Str(s) if !s.is_empty() && s.bytes().all(is_tchar) => {
            Ok(if s.bytes().any(|c| c.is_ascii_lowercase()) {
                s.to_ascii_uppercase()
            } else {
                s.as_ref().to_owned()
            })
        }
        other => Err(expected(field, "HTTP method token", other)),
    }
}

pub(crate) fn path(field: &'static str, value: Scalar<'_>) -> Checked<String> {
    match value {
        Scalar::Str(s) if !s.is_empty() => Ok(s.into_owned()),
        other => Err(expected(field, "non-empty string", &other)),
    }
}

/// An optional free-text field; empty means absent.
pub(crate) fn text(field: &'static str, value: Option<Scalar<'_>>) -> Checked<Option<String>> {
    match present(value) {
        None => Ok(None),
        Some(Scalar::Str(s)) => Ok(Some(s.into_owned())),
        Some(other) => Err(expected(field, "string", &other)),
    }
}

/// A secret, fingerprinted at once. Errors show only the value's type, never the value.
pub(crate) fn secret(
    field: &'static str,
    value: Option<Scalar<'_>>,
    fp: &Fingerprinter,
) -> Checked<Option<Fingerprint>> {
    match present(value) {
        None => Ok(None),
        Some(Scalar::Str(s)) => Ok(Some(fp.fingerprint(&s))),
        Some(other) => Err(Invalid::field(
            field,
            format!(
                "expected string, got {} (value not shown: secret)",
                other.kind()
            ),
        )),
    }
}

/// Gateway logs write numbers as strings at times (`"status":"200"`) and use
/// `-` or `""` for "none": normalize both before the typed rules.
pub(crate) fn log_value(value: Option<Scalar<'_>>) -> Option<Scalar<'_>> {
    match value {
        Some(Scalar::Str(s)) => {
            let trimmed = s.trim();
            if trimmed.is_empty() || trimmed == "-" {
                None
            } else if let Some(number) = numeric(trimmed) {
                Some(number)
            } else {
                Some(Scalar::Str(s))
            }
        }
        Some(Scalar::Null) => None,
        other => other,
    }
}

/// Like [`log_value`] for a text field: keeps strings as strings.
pub(crate) fn log_text(value: Option<Scalar<'_>>) -> Option<Scalar<'_>> {
    match value {
        Some(Scalar::Str(s)) if s.trim().is_empty() || s.trim() == "-" => None,
        Some(Scalar::Null) => None,
        other => other,
    }
}

fn numeric(s: &str) -> Option<Scalar<'static>> {
    if !s
        .bytes()
        .all(|c| c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return None;
    }
    if let Ok(n) = s.parse::<u64>() {
        return Some(Scalar::U64(n));
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(Scalar::I64(n));
    }
    s.parse::<f64>().ok().map(Scalar::F64)
}

/// Borrowed text of a string scalar.
pub(crate) fn as_str<'s>(value: &'s Scalar<'_>) -> Option<&'s str> {
    match value {
        Scalar::Str(s) => Some(s.as_ref()),
        _ => None,
    }
}
