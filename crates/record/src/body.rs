//! Whole request bodies (HTTP ingest): JSON arrays, MessagePack arrays, or lines.

use crate::fields::{read_fields, RecordSeed};
use crate::line::parse_line;
use crate::validate::Invalid;
use crate::{contract, AccessRecord, Fingerprinter, InputFormat, RecordError};
use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use std::fmt;

type Outcome = Result<AccessRecord, RecordError>;

/// Parse a whole body. JSON: an array of record objects, or one object (or
/// several values back to back, such as NDJSON sent as `application/json`).
/// MessagePack: an array of maps, or one map. Line-based formats: one record
/// per line (blank lines skipped).
///
/// Results keep input order; `line` is the element position (1-based) for
/// arrays and the line number for line-based formats. A syntax error ends the
/// body: the elements before it are kept and one error names the position.
pub fn parse_bytes(
    bytes: &[u8],
    format: InputFormat,
    fp: &Fingerprinter,
) -> Vec<Result<AccessRecord, RecordError>> {
    match format {
        InputFormat::Json => parse_json(bytes, fp),
        InputFormat::MsgPack => parse_msgpack(bytes, fp),
        InputFormat::Ndjson | InputFormat::NginxJson | InputFormat::Combined => {
            parse_lines(bytes, format, fp)
        }
    }
}

fn parse_lines(bytes: &[u8], format: InputFormat, fp: &Fingerprinter) -> Vec<Outcome> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Vec::new();
    }
    // Sized up front: growing a vector of large results costs more than counting lines.
    let mut out = Vec::with_capacity(memchr::memchr_iter(b'\n', body).count() + 1);
    out.extend(
        body.split(|&b| b == b'\n')
            .enumerate()
            .filter_map(|(index, line)| parse_line(line, index + 1, format, fp)),
    );
    out
}

/// One array, one object, or several values one after another (NDJSON sent
/// as `application/json`, pretty-printed objects back to back).
fn parse_json(bytes: &[u8], fp: &Fingerprinter) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(bytes);
    loop {
        if let Err(e) = (BodySeed { out: &mut out, fp }).deserialize(&mut de) {
            let position = out.len() + 1;
            out.push(Err(
                Invalid::record(format!("invalid JSON: {e}")).at_line(position)
            ));
            break;
        }
        // `end` only peeks: when it finds more than whitespace, the next value starts there.
        if de.end().is_ok() {
            break;
        }
    }
    out
}

fn parse_msgpack(bytes: &[u8], fp: &Fingerprinter) -> Vec<Outcome> {
    let mut out = Vec::new();
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    let parsed = BodySeed { out: &mut out, fp }.deserialize(&mut de);
    let failure = match parsed {
        Err(e) => Some(format!("invalid MessagePack: {e}")),
        // The body must be one value: reading another must hit the end.
        Ok(()) => match IgnoredAny::deserialize(&mut de) {
            Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
                if e.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                None
            }
            _ => Some("invalid MessagePack: data after the body's array".to_owned()),
        },
    };
    if let Some(reason) = failure {
        let position = out.len() + 1;
        out.push(Err(Invalid::record(reason).at_line(position)));
    }
    out
}

/// Reads the top-level value, pushing one outcome per element as it goes, so
/// a syntax error late in the body keeps the records before it.
struct BodySeed<'o> {
    out: &'o mut Vec<Outcome>,
    fp: &'o Fingerprinter,
}

impl<'de> DeserializeSeed<'de> for BodySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for BodySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of records or one record")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let seed = RecordSeed {
            schema: &contract::SCHEMA,
            fp: self.fp,
        };
        while let Some(checked) = seq.next_element_seed(seed)? {
            let line = self.out.len() + 1;
            self.out
                .push(checked.map_err(|invalid| invalid.at_line(line)));
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let fields = read_fields(&contract::SCHEMA, map)?;
        let line = self.out.len() + 1;
        self.out.push(
            (contract::SCHEMA.validate)(fields, self.fp).map_err(|invalid| invalid.at_line(line)),
        );
        Ok(())
    }
}
