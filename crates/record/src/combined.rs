//! The `Combined` preset: Apache / nginx "combined" access log lines.
//!
//! ```text
//! 192.0.2.7 - alice [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326 "referer" "UA" 0.123
//! ```
//!
//! Referer, user agent and the trailing request time are optional (so the
//! Common Log Format parses too). The request time is seconds when written
//! with a dot (nginx `$request_time`) and microseconds when an integer (Apache
//! `%D`); without it the latency is 0. A `-` size is 0; the request size is
//! not in this format and is 0. A line wrapped in one extra pair of double
//! quotes (as some exports do) is unwrapped. Quoted fields are unescaped the
//! way Apache escapes them (`\"`, `\\`, `\xHH`).

use crate::scalar::{quote_shortened, Scalar};
use crate::timestamp::clf_ms;
use crate::validate::{self as v, Checked, Invalid};
use crate::AccessRecord;
use std::borrow::Cow;

pub(crate) fn parse_line(line: &str) -> Checked<AccessRecord> {
    let mut cursor = Cursor::new(unwrap_quotes(line));
    let ip_text = cursor.word();
    let client_ip = v::client_ip("client_ip", &Scalar::Str(ip_text.into()))?;
    let _ident = cursor.word();
    let user_text = cursor.word();
    let timestamp = cursor
        .bracketed()
        .ok_or_else(|| Invalid::field("ts", "expected `[10/Oct/2000:13:55:36 -0700]`"))?;
    let ts_ms = clf_ms(timestamp).ok_or_else(|| {
        Invalid::field(
            "ts",
            format!(
                "expected time like 10/Oct/2000:13:55:36 -0700, got {}",
                quote_shortened(timestamp)
            ),
        )
    })?;
    let request = cursor
        .quoted()
        .ok_or_else(|| Invalid::field("request", "expected a quoted request line"))?;
    let (method, path) = split_request_line(&request).ok_or_else(|| {
        Invalid::field(
            "request",
            format!(
                "expected `METHOD /path PROTOCOL`, got {}",
                quote_shortened(&request)
            ),
        )
    })?;
    let method = v::method("method", &Scalar::Str(method.into()))?;
    let path = path.to_owned();
    let status = v::status("status", &number_word("status", cursor.word())?)?;
    let size = cursor.word();
    let response_bytes = if size == "-" {
        0
    } else {
        v::byte_count("response_bytes", &number_word("response_bytes", size)?)?
    };
    let _referer = cursor.quoted();
    let user_agent = cursor
        .quoted()
        .filter(|ua| !ua.is_empty() && ua != "-")
        .map(Cow::into_owned);
    let latency_ms = request_time_ms(cursor.word());
    let user = (!user_text.is_empty() && user_text != "-").then(|| user_text.to_owned());
    Ok(AccessRecord {
        id: None,
        ts_ms,
        api: None,
        host: None,
        method,
        path,
        status,
        latency_ms,
        request_bytes: 0,
        response_bytes,
        client_ip,
        country: None,
        geo: None,
        user,
        api_key: None,
        token: None,
        user_agent,
    })
}

/// `"…"` around a whole line (with the last field's own quote inside) is an export artifact.
fn unwrap_quotes(line: &str) -> &str {
    match line.strip_prefix('"') {
        Some(inner) => inner.strip_suffix('"').unwrap_or(inner),
        None => line,
    }
}

fn number_word(field: &'static str, word: &str) -> Checked<Scalar<'static>> {
    if let Ok(n) = word.parse::<u64>() {
        Ok(Scalar::U64(n))
    } else {
        Err(Invalid::field(
            field,
            format!("expected an integer, got {}", quote_shortened(word)),
        ))
    }
}

/// Seconds with a dot (`0.123`), or integer microseconds (Apache `%D`); anything else: unknown (0).
fn request_time_ms(word: &str) -> f64 {
    if word.contains('.') {
        match word.parse::<f64>() {
            Ok(seconds) if seconds.is_finite() && seconds >= 0.0 => seconds * 1000.0,
            _ => 0.0,
        }
    } else {
        word.parse::<u64>()
            .map_or(0.0, |micros| micros as f64 / 1000.0)
    }
}

/// `GET /path HTTP/1.1` → (`GET`, `/path`). The protocol is optional (HTTP/0.9),
/// and a path containing spaces keeps them.
pub(crate) fn split_request_line(request: &str) -> Option<(&str, &str)> {
    let (method, rest) = request.trim().split_once(' ')?;
    let rest = rest.trim();
    let path = match rest.rsplit_once(' ') {
        Some((path, protocol)) if protocol.starts_with("HTTP/") => path.trim_end(),
        // `GET  HTTP/1.1`: a protocol but no path.
        None if rest.starts_with("HTTP/") => return None,
        _ => rest,
    };
    (!method.is_empty() && !path.is_empty()).then_some((method, path))
}

struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { rest: text }
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    /// The next space-separated word ("" at the end).
    fn word(&mut self) -> &'a str {
        self.skip_spaces();
        let end = self.rest.find([' ', '\t']).unwrap_or(self.rest.len());
        let (word, rest) = self.rest.split_at(end);
        self.rest = rest;
        word
    }

    /// `[...]`, without the brackets.
    fn bracketed(&mut self) -> Option<&'a str> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('[')?;
        let (content, rest) = inner.split_once(']')?;
        self.rest = rest;
        Some(content)
    }

    /// A `"..."` field, unescaped. `None` if there is no quoted field here.
    fn quoted(&mut self) -> Option<Cow<'a, str>> {
        self.skip_spaces();
        let inner = self.rest.strip_prefix('"')?;
        let bytes = inner.as_bytes();
        let mut i = 0;
        let mut escaped = false;
        while let Some(&c) = bytes.get(i) {
            match c {
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                b'"' => break,
                _ => i += 1,
            }
        }
        // An unterminated quote takes the rest of the line.
        let end = i.min(inner.len());
        let raw = inner.get(..end)?;
        self.rest = inner.get(end + 1..).unwrap_or("");
        Some(if escaped {
            Cow::Owned(unescape(raw))
        } else {
            Cow::Borrowed(raw)
        })
    }
}

/// Undo Apache's log escaping: `\"`, `\\`, `\n`, `\t`, `\r`, `\xHH` (bytes, then lossy UTF-8).
fn unescape(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'x') => {
                let hex = bytes
                    .get(i + 2..i + 4)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 4;
                    continue;
                }
                out.extend_from_slice(b"\\x");
            }
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
        i += 2;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_combined_line_with_request_time() {
        let r = parse_line(
            r#"192.0.2.7 - alice [10/Oct/2000:13:55:36 -0700] "get /a?b=1 HTTP/1.1" 200 2326 "http://x/" "curl/8.0" 0.123"#,
        )
        .unwrap();
        assert_eq!(r.client_ip.to_string(), "192.0.2.7");
        assert_eq!(r.user.as_deref(), Some("alice"));
        assert_eq!(r.ts_ms, 971_211_336_000);
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/a?b=1");
        assert_eq!(r.status, 200);
        assert_eq!(r.response_bytes, 2326);
        assert_eq!(r.user_agent.as_deref(), Some("curl/8.0"));
        assert!((r.latency_ms - 123.0).abs() < 1e-9);
    }

    #[test]
    fn microseconds_dash_size_and_common_format() {
        let r = parse_line(
            r#"::1 - - [10/Oct/2000:13:55:36 +0000] "DELETE /x HTTP/1.0" 204 - "-" "-" 1500"#,
        )
        .unwrap();
        assert_eq!(r.response_bytes, 0);
        assert!((r.latency_ms - 1.5).abs() < 1e-9);
        assert_eq!(r.user, None);
        assert_eq!(r.user_agent, None);
        let clf =
            parse_line(r#"10.0.0.1 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 404 12"#)
                .unwrap();
        assert_eq!(
            (clf.status, clf.latency_ms, clf.user_agent),
            (404, 0.0, None)
        );
    }

    #[test]
    fn wrapped_line_with_escaped_quotes_in_the_request() {
        let line = r#""192.168.4.25 - - [22/Dec/2016:16:34:00 +0300] "GET /s?q=12345'\"\\'\\\");|]*%00\xf0\x9f\x92\xa9&w= HTTP/1.1" 200 3104 "http://192.168.4.161/DVWA" "Mozilla/5.0 (X)"""#;
        let r = parse_line(line).unwrap();
        assert_eq!(r.path, "/s?q=12345'\"\\'\\\");|]*%00\u{1F4A9}&w=");
        assert_eq!(r.status, 200);
        assert_eq!(r.user_agent.as_deref(), Some("Mozilla/5.0 (X)"));
    }

    #[test]
    fn errors_name_the_field() {
        let bad_ip = parse_line(r#"nope - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 200 1"#);
        assert_eq!(bad_ip.unwrap_err().field, Some("client_ip"));
        let bad_status =
            parse_line(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET / HTTP/1.1" 999 1"#);
        let err = bad_status.unwrap_err();
        assert_eq!(err.field, Some("status"));
        assert!(err.reason.contains("100..=599"), "{}", err.reason);
        let no_request = parse_line(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "-" 400 0"#);
        assert_eq!(no_request.unwrap_err().field, Some("request"));
        let no_path =
            parse_line(r#"1.2.3.4 - - [10/Oct/2000:13:55:36 +0000] "GET  HTTP/1.1" 400 0"#);
        assert_eq!(no_path.unwrap_err().field, Some("request"));
        let bad_time = parse_line(r#"1.2.3.4 - - [yesterday] "GET / HTTP/1.1" 200 1"#);
        assert_eq!(bad_time.unwrap_err().field, Some("ts"));
    }
}
