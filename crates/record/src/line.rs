//! One line of a line-based format (NDJSON, nginx JSON, combined log) to a record.

use crate::fields::RecordSeed;
use crate::validate::Invalid;
use crate::{combined, contract, nginx};
use crate::{AccessRecord, Fingerprinter, InputFormat, RecordError};
use serde::de::DeserializeSeed;

/// Longest accepted record (one line, or one element of a body), in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

pub(crate) fn too_long(line: usize, len: usize) -> RecordError {
    RecordError {
        line,
        field: None,
        reason: format!("record is {len} bytes, over the {MAX_RECORD_BYTES}-byte limit"),
    }
}

/// `None` for a blank line; `line` is 1-based. A trailing `\r` is ignored.
pub(crate) fn parse_line(
    bytes: &[u8],
    line: usize,
    format: InputFormat,
    fp: &Fingerprinter,
) -> Option<Result<AccessRecord, RecordError>> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.len() > MAX_RECORD_BYTES {
        return Some(Err(too_long(line, bytes.len())));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return None;
    }
    let text: std::borrow::Cow<'_, str> = match std::str::from_utf8(bytes) {
        Ok(text) => text.into(),
        // Gateways log raw header bytes (nginx's escape=json passes bytes >= 0x80
        // through): refusing the line would let a client hide a request behind one
        // bad User-Agent byte, so log formats are decoded lossily.
        Err(_) if matches!(format, InputFormat::NginxJson | InputFormat::Combined) => {
            String::from_utf8_lossy(bytes)
        }
        Err(e) => {
            return Some(Err(Invalid::record(format!(
                "line is not valid UTF-8 (bad byte at offset {})",
                e.valid_up_to()
            ))
            .at_line(line)))
        }
    };
    let text = text.as_ref();
    let parsed = match format {
        InputFormat::Ndjson | InputFormat::Json => json_line(text, |de| {
            RecordSeed {
                schema: &contract::SCHEMA,
                fp,
            }
            .deserialize(de)
        }),
        InputFormat::NginxJson => json_line(text, |de| {
            RecordSeed {
                schema: &nginx::SCHEMA,
                fp,
            }
            .deserialize(de)
        }),
        InputFormat::Combined => combined::parse_line(text),
        InputFormat::MsgPack => Err(Invalid::record(
            "MessagePack is not a line-based format; send it as one body",
        )),
    };
    Some(parsed.map_err(|invalid| invalid.at_line(line)))
}

type JsonDe<'a> = serde_json::Deserializer<serde_json::de::StrRead<'a>>;

/// Parse one JSON document that must fill the whole line.
fn json_line<'a>(
    text: &'a str,
    read: impl FnOnce(&mut JsonDe<'a>) -> serde_json::Result<Result<AccessRecord, Invalid>>,
) -> Result<AccessRecord, Invalid> {
    let mut de = serde_json::Deserializer::from_str(text);
    let record = read(&mut de).map_err(|e| syntax_error("invalid JSON", &e))?;
    de.end()
        .map_err(|e| syntax_error("invalid JSON after the record", &e))?;
    record
}

/// serde_json says "at line 1 column 7", which reads oddly next to the
/// record's own line number: keep only the column.
fn syntax_error(what: &str, e: &serde_json::Error) -> Invalid {
    let message = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    match message.strip_suffix(&position) {
        Some(bare) => Invalid::record(format!("{what} at column {}: {bare}", e.column())),
        None => Invalid::record(format!("{what}: {message}")),
    }
}
