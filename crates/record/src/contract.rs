//! CONTRACT §1: the access record's input schema, JSON or MessagePack.

use crate::fields::{RawFields, Schema};
use crate::validate::{self as v, Checked, Invalid};
use crate::{AccessRecord, Fingerprinter};

const FIELDS: [&str; 18] = [
    "id",
    "ts",
    "api",
    "host",
    "method",
    "path",
    "status",
    "latency_ms",
    "request_bytes",
    "response_bytes",
    "client_ip",
    "country",
    "lat",
    "lon",
    "user",
    "api_key",
    "token",
    "user_agent",
];
const N: usize = FIELDS.len();

pub(crate) static SCHEMA: Schema<N> = Schema {
    names: FIELDS,
    lookup,
    validate,
    element: "a record object",
};

/// `FIELDS` position of a key; a test checks it against the list.
fn lookup(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"id" => 0,
        b"ts" => 1,
        b"api" => 2,
        b"host" => 3,
        b"method" => 4,
        b"path" => 5,
        b"status" => 6,
        b"latency_ms" => 7,
        b"request_bytes" => 8,
        b"response_bytes" => 9,
        b"client_ip" => 10,
        b"country" => 11,
        b"lat" => 12,
        b"lon" => 13,
        b"user" => 14,
        b"api_key" => 15,
        b"token" => 16,
        b"user_agent" => 17,
        _ => return None,
    })
}

/// Rules are checked in schema order; the first broken one is reported.
fn validate(mut f: RawFields<'_, N>, fp: &Fingerprinter) -> Checked<AccessRecord> {
    if let Some(name) = f.duplicate {
        return Err(Invalid::field(name, "field appears more than once"));
    }
    let id = v::text("id", f.take(0))?;
    let ts_ms = v::timestamp("ts", &v::required("ts", f.take(1))?)?;
    let api = v::text("api", f.take(2))?;
    let host = v::text("host", f.take(3))?;
    let method = v::method("method", &v::required("method", f.take(4))?)?;
    let path = v::path("path", v::required("path", f.take(5))?)?;
    let status = v::status("status", &v::required("status", f.take(6))?)?;
    let latency_ms = v::latency_ms("latency_ms", &v::required("latency_ms", f.take(7))?)?;
    let request_bytes = v::byte_count("request_bytes", &v::required("request_bytes", f.take(8))?)?;
    let response_bytes =
        v::byte_count("response_bytes", &v::required("response_bytes", f.take(9))?)?;
    let client_ip = v::client_ip("client_ip", &v::required("client_ip", f.take(10))?)?;
    let country = v::country("country", f.take(11))?;
    let geo = v::geo(("lat", f.take(12)), ("lon", f.take(13)))?;
    let user = v::text("user", f.take(14))?;
    let api_key = v::secret("api_key", f.take(15), fp)?;
    let token = v::secret("token", f.take(16), fp)?;
    let user_agent = v::text("user_agent", f.take(17))?;
    Ok(AccessRecord {
        id,
        ts_ms,
        api,
        host,
        method,
        path,
        status,
        latency_ms,
        request_bytes,
        response_bytes,
        client_ip,
        country,
        geo,
        user,
        api_key,
        token,
        user_agent,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn lookup_agrees_with_the_field_list() {
        for (index, name) in super::FIELDS.iter().enumerate() {
            assert_eq!(super::lookup(name.as_bytes()), Some(index), "{name}");
        }
        assert_eq!(super::lookup(b"unknown"), None);
    }
}
