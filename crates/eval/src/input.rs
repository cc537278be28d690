//! Reading the three evaluation inputs, line by line, with errors that name
//! the file, the line and the field.

use crate::EvalError;
use serde_json::{Map, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One line of the labels file.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelLine {
    pub id: String,
    /// `None` for `"benign"`, else the attack type.
    pub attack: Option<String>,
    pub episode: Option<String>,
    /// Extension: epoch ms of the record (the simulator writes it).
    pub ts_ms: Option<i64>,
    /// Extension: `"loud"` or `"subtle"` for attack records (the simulator
    /// writes it), so times to detect can be reported for loud episodes.
    pub variant: Option<String>,
}

/// One line of the scores file (`apiwarden score --out`).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreLine {
    pub id: Option<String>,
    /// 0 for a rejected record.
    pub score: f64,
    pub attack: Option<String>,
    /// The scorer rejected the input record (`"score": null`, an extension
    /// of `apiwarden score` that keeps output lines aligned with input lines).
    pub rejected: bool,
}

/// The fields of an alert (CONTRACT §4) the evaluation needs.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertLine {
    pub id: String,
    pub attack: String,
    pub request_ids: Vec<String>,
    pub first_seen_ms: i64,
    /// Monitoring alerts (API health, an extension) are not attack claims.
    pub monitoring: bool,
}

struct LineCtx<'a> {
    path: &'a Path,
    line: usize,
}

impl LineCtx<'_> {
    fn err(&self, field: Option<&str>, reason: impl Into<String>) -> EvalError {
        EvalError::Malformed {
            path: self.path.to_path_buf(),
            line: self.line,
            field: field.map(str::to_string),
            reason: reason.into(),
        }
    }

    fn string(&self, obj: &Map<String, Value>, field: &str) -> Result<String, EvalError> {
        match obj.get(field) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(other) => Err(self.err(
                Some(field),
                format!("expected a string, found {}", kind(other)),
            )),
            None => Err(self.err(Some(field), "missing")),
        }
    }

    fn optional_string(
        &self,
        obj: &Map<String, Value>,
        field: &str,
    ) -> Result<Option<String>, EvalError> {
        match obj.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(self.err(
                Some(field),
                format!("expected a string or null, found {}", kind(other)),
            )),
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Calls `each` with every non-blank line parsed as a JSON object.
fn for_each_object(
    path: &Path,
    mut each: impl FnMut(&LineCtx<'_>, &Map<String, Value>) -> Result<(), EvalError>,
) -> Result<(), EvalError> {
    let file = std::fs::File::open(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let reader = BufReader::with_capacity(1 << 20, file);
    for (index, line) in reader.lines().enumerate() {
        let ctx = LineCtx {
            path,
            line: index + 1,
        };
        let line = line.map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| ctx.err(None, format!("not JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(ctx.err(
                None,
                format!("expected a JSON object, found {}", kind(&value)),
            ));
        };
        each(&ctx, &obj)?;
    }
    Ok(())
}

pub fn read_labels(path: &Path) -> Result<Vec<LabelLine>, EvalError> {
    let mut out = Vec::new();
    for_each_object(path, |ctx, obj| {
        let id = ctx.string(obj, "id")?;
        let label = ctx.string(obj, "label")?;
        if label.is_empty() {
            return Err(ctx.err(Some("label"), "empty"));
        }
        let episode = ctx.optional_string(obj, "episode")?;
        let variant = ctx.optional_string(obj, "variant")?;
        let ts_ms = match obj.get("ts") {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_i64().ok_or_else(|| {
                ctx.err(
                    Some("ts"),
                    format!("expected integer epoch ms, found {}", kind(v)),
                )
            })?),
        };
        out.push(LabelLine {
            id,
            attack: (label != "benign").then_some(label),
            episode,
            ts_ms,
            variant,
        });
        Ok(())
    })?;
    Ok(out)
}

pub fn read_scores(path: &Path) -> Result<Vec<ScoreLine>, EvalError> {
    let mut out = Vec::new();
    for_each_object(path, |ctx, obj| {
        let id = ctx.optional_string(obj, "id")?;
        let score = match obj.get("score") {
            Some(Value::Null) => None,
            Some(v) => Some(v.as_f64().filter(|s| s.is_finite()).ok_or_else(|| {
                ctx.err(
                    Some("score"),
                    format!("expected a finite number or null, found {}", kind(v)),
                )
            })?),
            None => return Err(ctx.err(Some("score"), "missing")),
        };
        let attack = ctx.optional_string(obj, "attack")?;
        out.push(ScoreLine {
            id,
            score: score.unwrap_or(0.0),
            attack,
            rejected: score.is_none(),
        });
        Ok(())
    })?;
    Ok(out)
}

pub fn read_alerts(path: &Path) -> Result<Vec<AlertLine>, EvalError> {
    let mut out = Vec::new();
    for_each_object(path, |ctx, obj| {
        let id = ctx.string(obj, "id")?;
        let monitoring = ctx.optional_string(obj, "family")?.as_deref() == Some("monitoring");
        // A monitoring alert claims no attack: its `attack` is null.
        let attack = if monitoring {
            ctx.optional_string(obj, "attack")?.unwrap_or_default()
        } else {
            ctx.string(obj, "attack")?
        };
        let request_ids = match obj.get("request_ids") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_string).ok_or_else(|| {
                        ctx.err(
                            Some("request_ids"),
                            format!("expected strings, found {}", kind(v)),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(ctx.err(
                    Some("request_ids"),
                    format!("expected an array, found {}", kind(other)),
                ))
            }
            None => return Err(ctx.err(Some("request_ids"), "missing")),
        };
        let first_seen = ctx.string(obj, "first_seen")?;
        let first_seen_ms = parse_rfc3339_ms(&first_seen).ok_or_else(|| {
            ctx.err(
                Some("first_seen"),
                format!("not an RFC 3339 time: {first_seen:?}"),
            )
        })?;
        out.push(AlertLine {
            id,
            attack,
            request_ids,
            first_seen_ms,
            monitoring,
        });
        Ok(())
    })?;
    Ok(out)
}

fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets_and_fractions() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn monitoring_alerts_may_have_a_null_attack_but_attack_alerts_may_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("alerts.ndjson");
        let monitoring = r#"{"id":"m1","attack":null,"family":"monitoring","monitor":"latency_regression","request_ids":["r1"],"first_seen":"2026-12-01T00:00:00Z"}"#;
        std::fs::write(&path, format!("{monitoring}\n")).expect("write");
        let alerts = read_alerts(&path).expect("a monitoring alert reads");
        assert_eq!(alerts.len(), 1);
        assert!(alerts.iter().all(|a| a.monitoring));

        let attack =
            r#"{"id":"a1","attack":null,"request_ids":["r1"],"first_seen":"2026-12-01T00:00:00Z"}"#;
        std::fs::write(&path, format!("{attack}\n")).expect("write");
        assert!(
            read_alerts(&path).is_err(),
            "an attack alert needs its attack"
        );
    }
}
