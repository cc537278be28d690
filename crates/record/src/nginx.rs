//! The `NginxJson` preset: one JSON object per line, keyed by nginx variable names.
//!
//! Recommended nginx configuration (`http` block); every variable is optional
//! except those that give a required record field (time, address, method,
//! URI, status, sizes):
//!
//! ```nginx
//! log_format apiwarden escape=json '{"time_iso8601":"$time_iso8601",'
//!     '"remote_addr":"$remote_addr","request_method":"$request_method",'
//!     '"request_uri":"$request_uri","status":$status,'
//!     '"request_time":$request_time,"request_length":$request_length,'
//!     '"bytes_sent":$bytes_sent,"http_host":"$host",'
//!     '"http_user_agent":"$http_user_agent","remote_user":"$remote_user",'
//!     '"http_authorization":"$http_authorization",'
//!     '"http_x_api_key":"$http_x_api_key","request_id":"$request_id"}';
//! access_log /var/log/nginx/apiwarden.log apiwarden;
//! ```
//!
//! With nginx's geoip (or geoip2) module loaded, add
//! `"geoip_country_code":"$geoip_country_code"` for the client's country; a
//! stock nginx refuses to start on that variable without the module, so the
//! recommended format leaves it out.
//!
//! Mapping to the record:
//!
//! | record | nginx keys, first present wins |
//! |---|---|
//! | `ts` | `time_iso8601` (RFC 3339), `msec` (epoch seconds with millis) |
//! | `client_ip` | `remote_addr` |
//! | `method`, `path` | `request_method` + `request_uri`, else split from `request` (`GET /x HTTP/1.1`) |
//! | `status` | `status` |
//! | `latency_ms` | `request_time` (seconds), else the sum of `upstream_response_time` (seconds, `, `/` : `-separated), else 0 |
//! | `request_bytes` | `request_length`, else 0 |
//! | `response_bytes` | `bytes_sent`, `body_bytes_sent`, else 0 |
//! | `host` | `http_host`, `host`, `server_name` |
//! | `id` | `request_id`, `http_x_request_id` |
//! | `user` | `remote_user` |
//! | `token` | fingerprint of the credentials in `http_authorization` (`Bearer X` → `X`; other schemes: the whole value) |
//! | `api_key` | fingerprint of `http_x_api_key` |
//! | `country` | `geoip_country_code`, `geoip2_country_code` |
//! | `lat`, `lon` | `geoip_latitude`, `geoip_longitude` |
//! | `api`, `user_agent` | `api`, `http_user_agent` |
//!
//! nginx writes `-` or an empty string for a value it does not have; both mean
//! "absent", and numbers written as strings are accepted.

/// The recommended nginx `log_format` for the `nginx_json` input format.
pub const NGINX_LOG_FORMAT: &str = r#"log_format apiwarden escape=json '{"time_iso8601":"$time_iso8601","remote_addr":"$remote_addr","request_method":"$request_method","request_uri":"$request_uri","status":$status,"request_time":$request_time,"request_length":$request_length,"bytes_sent":$bytes_sent,"http_host":"$host","http_user_agent":"$http_user_agent","remote_user":"$remote_user","http_authorization":"$http_authorization","http_x_api_key":"$http_x_api_key","request_id":"$request_id"}';"#;

use crate::fields::{RawFields, Schema};
use crate::scalar::Scalar;
use crate::validate::{self as v, Checked, Invalid};
use crate::{AccessRecord, Fingerprinter};

const FIELDS: [&str; 26] = [
    "time_iso8601",           // 0
    "msec",                   // 1
    "remote_addr",            // 2
    "request_method",         // 3
    "request_uri",            // 4
    "request",                // 5
    "status",                 // 6
    "request_time",           // 7
    "upstream_response_time", // 8
    "request_length",         // 9
    "bytes_sent",             // 10
    "body_bytes_sent",        // 11
    "http_host",              // 12
    "host",                   // 13
    "server_name",            // 14
    "http_user_agent",        // 15
    "remote_user",            // 16
    "http_authorization",     // 17
    "http_x_api_key",         // 18
    "request_id",             // 19
    "http_x_request_id",      // 20
    "geoip_country_code",     // 21
    "geoip2_country_code",    // 22
    "geoip_latitude",         // 23
    "geoip_longitude",        // 24
    "api",                    // 25: not nginx's, so custom formats can name the API
];
const N: usize = FIELDS.len();

pub(crate) static SCHEMA: Schema<N> = Schema {
    names: FIELDS,
    lookup,
    validate,
    element: "an nginx JSON log object",
};

/// `FIELDS` position of a key; a test checks it against the list.
fn lookup(key: &[u8]) -> Option<usize> {
    Some(match key {
        b"time_iso8601" => 0,
        b"msec" => 1,
        b"remote_addr" => 2,
        b"request_method" => 3,
        b"request_uri" => 4,
        b"request" => 5,
        b"status" => 6,
        b"request_time" => 7,
        b"upstream_response_time" => 8,
        b"request_length" => 9,
        b"bytes_sent" => 10,
        b"body_bytes_sent" => 11,
        b"http_host" => 12,
        b"host" => 13,
        b"server_name" => 14,
        b"http_user_agent" => 15,
        b"remote_user" => 16,
        b"http_authorization" => 17,
        b"http_x_api_key" => 18,
        b"request_id" => 19,
        b"http_x_request_id" => 20,
        b"geoip_country_code" => 21,
        b"geoip2_country_code" => 22,
        b"geoip_latitude" => 23,
        b"geoip_longitude" => 24,
        b"api" => 25,
        _ => return None,
    })
}

/// First present of several slots, with its name for error messages.
fn first_of<'a>(
    f: &mut RawFields<'a, N>,
    slots: &[usize],
    normalize: fn(Option<Scalar<'a>>) -> Option<Scalar<'a>>,
) -> Option<(&'static str, Scalar<'a>)> {
    slots.iter().find_map(|&slot| {
        let value = normalize(f.take(slot))?;
        Some((FIELDS.get(slot).copied().unwrap_or("?"), value))
    })
}

fn validate(mut f: RawFields<'_, N>, fp: &Fingerprinter) -> Checked<AccessRecord> {
    if let Some(name) = f.duplicate {
        return Err(Invalid::field(name, "field appears more than once"));
    }
    let ts_ms = match first_of(&mut f, &[0], v::log_text) {
        Some((name, value)) => v::timestamp(name, &value)?,
        None => match v::log_value(f.take(1)) {
            Some(value) => msec(&value)?,
            None => {
                return Err(Invalid::field(
                    "time_iso8601",
                    "missing required field (or `msec`)",
                ))
            }
        },
    };
    let client_ip = v::client_ip(
        "remote_addr",
        &v::required("remote_addr", v::log_text(f.take(2)))?,
    )?;
    let (method, path) = method_and_path(&mut f)?;
    let status = v::status("status", &v::required("status", v::log_value(f.take(6)))?)?;
    let latency_ms = match v::log_value(f.take(7)) {
        Some(value) => seconds_to_ms("request_time", &value)?,
        None => match v::log_text(f.take(8)) {
            Some(value) => upstream_ms(&value)?,
            None => 0.0,
        },
    };
    let request_bytes = match v::log_value(f.take(9)) {
        Some(value) => v::byte_count("request_length", &value)?,
        None => 0,
    };
    let response_bytes = match first_of(&mut f, &[10, 11], v::log_value) {
        Some((name, value)) => v::byte_count(name, &value)?,
        None => 0,
    };
    let host = match first_of(&mut f, &[12, 13, 14], v::log_text) {
        Some((name, value)) => v::text(name, Some(value))?,
        None => None,
    };
    let user_agent = v::text("http_user_agent", v::log_text(f.take(15)))?;
    let user = v::text("remote_user", v::log_text(f.take(16)))?;
    let token = match v::log_text(f.take(17)) {
        Some(Scalar::Str(header)) => Some(fp.fingerprint(bearer_credentials(&header))),
        Some(other) => v::secret("http_authorization", Some(other), fp)?,
        None => None,
    };
    let api_key = v::secret("http_x_api_key", v::log_text(f.take(18)), fp)?;
    let id = match first_of(&mut f, &[19, 20], v::log_text) {
        Some((name, value)) => v::text(name, Some(value))?,
        None => None,
    };
    let country = match first_of(&mut f, &[21, 22], v::log_text) {
        Some((name, value)) => v::country(name, Some(value))?,
        None => None,
    };
    let geo = v::geo(
        ("geoip_latitude", v::log_value(f.take(23))),
        ("geoip_longitude", v::log_value(f.take(24))),
    )?;
    let api = v::text("api", v::log_text(f.take(25)))?;
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

fn method_and_path(f: &mut RawFields<'_, N>) -> Checked<(String, String)> {
    let method = v::log_text(f.take(3));
    let uri = v::log_text(f.take(4));
    let request = v::log_text(f.take(5));
    match (method, uri, request) {
        (Some(method), Some(uri), _) => Ok((
            v::method("request_method", &method)?,
            v::path("request_uri", uri)?,
        )),
        (_, _, Some(Scalar::Str(line))) => {
            let (method, path) = crate::combined::split_request_line(&line)
                .ok_or_else(|| Invalid::field("request", "expected `METHOD /path [PROTOCOL]`"))?;
            Ok((
                v::method("request", &Scalar::Str(method.into()))?,
                v::path("request", Scalar::Str(path.into()))?,
            ))
        }
        (None, _, _) => Err(Invalid::field(
            "request_method",
            "missing required field (or `request`)",
        )),
        (Some(_), None, _) => Err(Invalid::field(
            "request_uri",
            "missing required field (or `request`)",
        )),
    }
}

fn msec(value: &Scalar<'_>) -> Checked<i64> {
    match value.as_f64() {
        Some(seconds) if seconds.is_finite() => {
            let ms = (seconds * 1000.0).round();
            v::epoch_ms("msec", &Scalar::F64(ms))
        }
        _ => Err(Invalid::field(
            "msec",
            format!(
                "expected epoch seconds like 1733342595.123, got {}",
                value.shown()
            ),
        )),
    }
}

fn seconds_to_ms(field: &'static str, value: &Scalar<'_>) -> Checked<f64> {
    match value.as_f64() {
        Some(seconds) if seconds.is_finite() && seconds >= 0.0 => Ok(seconds * 1000.0),
        _ => Err(Invalid::field(
            field,
            format!("expected seconds >= 0, got {}", value.shown()),
        )),
    }
}

/// `upstream_response_time` lists one time per upstream tried: "0.012, 0.340 : 0.001".
fn upstream_ms(value: &Scalar<'_>) -> Checked<f64> {
    const FIELD: &str = "upstream_response_time";
    if value.as_f64().is_some() {
        return seconds_to_ms(FIELD, value);
    }
    let Some(text) = v::as_str(value) else {
        return seconds_to_ms(FIELD, value);
    };
    let mut total = 0.0;
    for part in text.split([',', ':']).map(str::trim) {
        if part.is_empty() || part == "-" {
            continue;
        }
        match part.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => total += seconds * 1000.0,
            _ => return seconds_to_ms(FIELD, value),
        }
    }
    Ok(total)
}

/// The credential of an `Authorization` header: the token of `Bearer X`, else the whole value.
fn bearer_credentials(header: &str) -> &str {
    let header = header.trim();
    match header.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        _ => header,
    }
}

#[cfg(test)]
mod tests {
    use super::bearer_credentials;

    #[test]
    fn lookup_agrees_with_the_field_list() {
        for (index, name) in super::FIELDS.iter().enumerate() {
            assert_eq!(super::lookup(name.as_bytes()), Some(index), "{name}");
        }
        assert_eq!(super::lookup(b"time_local"), None);
    }

    #[test]
    fn bearer_token_is_extracted() {
        assert_eq!(bearer_credentials("Bearer abc.def"), "abc.def");
        assert_eq!(bearer_credentials("bearer  abc "), "abc");
        assert_eq!(
            bearer_credentials("Basic dXNlcjpwdw=="),
            "Basic dXNlcjpwdw=="
        );
    }
}
