//! The issue's bad-input list: every case gives a clear error naming the line
//! (and field when one is to blame), and the good lines around it survive.

use apiwarden_record::{
    open_input, parse_bytes, Fingerprinter, InputFormat, RecordError, RecordReader,
    MAX_RECORD_BYTES,
};
use std::io::{BufRead, BufReader, Read, Write};

fn fp() -> Fingerprinter {
    Fingerprinter::new([3; 32])
}

fn good_line(n: usize) -> String {
    format!(
        r#"{{"id":"r{n}","ts":{},"method":"GET","path":"/items/{n}","status":200,"latency_ms":3.5,"request_bytes":100,"response_bytes":900,"client_ip":"192.0.2.{}"}}"#,
        1_700_000_000_000_i64 + n as i64,
        n % 250
    )
}

fn read_all(reader: impl BufRead) -> Vec<Result<apiwarden_record::AccessRecord, RecordError>> {
    RecordReader::new(reader, InputFormat::Ndjson, fp()).collect()
}

fn ids(results: &[Result<apiwarden_record::AccessRecord, RecordError>]) -> Vec<String> {
    results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .filter_map(|r| r.id.clone())
        .collect()
}

#[test]
fn the_issue_list_in_one_file() {
    let mut input = Vec::new();
    input.extend_from_slice(good_line(1).as_bytes());
    input.push(b'\n');
    input.extend_from_slice(b"{\"ts\":1,\"path\":\"\xff\xfe\"}\n"); // 2: not UTF-8
    input.extend_from_slice(
        good_line(3)
            .replace("\"status\":200", "\"status\":\"ok\"")
            .as_bytes(),
    ); // 3
    input.push(b'\n');
    input.extend_from_slice(good_line(4).replace("\"method\":\"GET\",", "").as_bytes()); // 4
    input.push(b'\n');
    input.extend_from_slice(
        good_line(5)
            .replace("\"status\":200", "\"status\":700")
            .as_bytes(),
    ); // 5
    input.push(b'\n');
    input.extend_from_slice(&vec![b'x'; 10 * 1024 * 1024]); // 6: 10 MB
    input.push(b'\n');
    input.extend_from_slice(good_line(7).as_bytes());
    input.push(b'\n');

    let results = read_all(&input[..]);
    assert_eq!(results.len(), 7);
    assert_eq!(ids(&results), ["r1", "r7"]);
    let errors: Vec<&RecordError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    let summary: Vec<(usize, Option<&str>)> = errors
        .iter()
        .map(|e| (e.line, e.field.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (2, None),
            (3, Some("status")),
            (4, Some("method")),
            (5, Some("status")),
            (6, None)
        ]
    );
    assert!(
        errors[0].reason.contains("not valid UTF-8"),
        "{}",
        errors[0]
    );
    assert!(errors[1].reason.contains("got \"ok\""), "{}", errors[1]);
    assert_eq!(errors[2].reason, "missing required field");
    assert_eq!(errors[3].reason, "expected integer 100..=599, got 700");
    assert_eq!(
        errors[4].reason,
        "record is 10485760 bytes, over the 1048576-byte limit"
    );
    assert_eq!(
        errors[3].to_string(),
        "line 5, field `status`: expected integer 100..=599, got 700"
    );
    // The whole-body parser agrees with the streaming one.
    assert_eq!(parse_bytes(&input, InputFormat::Ndjson, &fp()), results);
}

/// A reader that produces a huge line without it ever existing in memory.
struct Endless {
    remaining: u64,
    tail: std::io::Cursor<Vec<u8>>,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.remaining == 0 {
            return self.tail.read(buf);
        }
        let n = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        buf[..n].fill(b'a');
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[test]
fn a_huge_line_is_skipped_in_bounded_memory_and_reading_resumes() {
    // 512 MB: holding it would be noticed; skipping it takes well under a second in release.
    let huge = 512u64 << 20;
    let tail = format!("\n{}\n", good_line(2)).into_bytes();
    let reader = BufReader::new(Endless {
        remaining: huge,
        tail: std::io::Cursor::new(tail),
    });
    let results = read_all(reader);
    assert_eq!(results.len(), 2);
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.line, 1);
    assert!(err.reason.starts_with("record is 536870912 bytes"), "{err}");
    assert_eq!(ids(&results), ["r2"]);
}

#[test]
fn a_line_of_exactly_the_limit_is_read() {
    let mut line = good_line(1);
    line.pop();
    let padding = MAX_RECORD_BYTES - line.len() - r#","pad":"""#.len() - 1;
    line.push_str(&format!(r#","pad":"{}"}}"#, "p".repeat(padding)));
    assert_eq!(line.len(), MAX_RECORD_BYTES);
    let body = format!("{line}\r\n{line}x\n");
    let results = read_all(body.as_bytes());
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(results[1]
        .as_ref()
        .unwrap_err()
        .reason
        .contains("1048577 bytes"));
}

#[test]
fn truncated_gzip_gives_one_read_error_after_the_good_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.ndjson.gz");
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for n in 1..=2000 {
        writeln!(encoder, "{}", good_line(n)).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    std::fs::write(&path, &compressed[..compressed.len() / 2]).unwrap();

    let results = read_all(open_input(path.to_str().unwrap()).unwrap());
    let (errors, records): (Vec<_>, Vec<_>) = results.iter().partition(|r| r.is_err());
    assert_eq!(errors.len(), 1, "one error, then the iterator ends");
    let err = results.last().unwrap().as_ref().unwrap_err();
    assert_eq!(err.field, None);
    assert!(err.reason.starts_with("read error:"), "{err}");
    assert!(
        err.reason.contains("unexpected end of gzip stream"),
        "{err}"
    );
    assert!(
        records.len() > 100,
        "lines before the cut are kept: {}",
        records.len()
    );
    assert_eq!(err.line, records.len() + 1);
}

#[test]
fn gzip_concatenated_members_and_plain_files() {
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("two-members.gz");
    let mut bytes = Vec::new();
    for n in [1, 2] {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        writeln!(encoder, "{}", good_line(n)).unwrap();
        bytes.extend(encoder.finish().unwrap());
    }
    std::fs::write(&gz, bytes).unwrap();
    assert_eq!(
        ids(&read_all(open_input(gz.to_str().unwrap()).unwrap())),
        ["r1", "r2"]
    );

    let plain = dir.path().join("plain.ndjson");
    std::fs::write(&plain, format!("{}\n{}", good_line(1), good_line(2))).unwrap();
    assert_eq!(
        ids(&read_all(open_input(plain.to_str().unwrap()).unwrap())),
        ["r1", "r2"]
    );
}

#[test]
fn unopenable_inputs_name_the_path() {
    let err = open_input("/nonexistent/dir/records.ndjson").err().unwrap();
    assert!(
        err.to_string().contains("/nonexistent/dir/records.ndjson"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let err = open_input(dir.path().to_str().unwrap()).err().unwrap();
    assert!(err.to_string().contains("directory"), "{err}");
}

/// A reader that fails after some good bytes.
struct FailingAfter(std::io::Cursor<Vec<u8>>);

impl Read for FailingAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("disk on fire")),
            n => Ok(n),
        }
    }
}

#[test]
fn io_error_ends_the_iteration_with_one_error() {
    let data = format!("{}\n{}\n", good_line(1), good_line(2)).into_bytes();
    let results = read_all(BufReader::new(FailingAfter(std::io::Cursor::new(data))));
    assert_eq!(results.len(), 3);
    let err = results[2].as_ref().unwrap_err();
    assert_eq!((err.line, err.field.as_ref()), (3, None));
    assert_eq!(err.reason, "read error: disk on fire");
}

#[test]
fn a_msgpack_stream_is_refused_once() {
    let body = rmp_serde::to_vec_named(&vec![good_line(1)]).unwrap();
    let results: Vec<_> = RecordReader::new(&body[..], InputFormat::MsgPack, fp()).collect();
    assert_eq!(results.len(), 1);
    assert!(results[0]
        .as_ref()
        .unwrap_err()
        .reason
        .contains("parse_bytes"));
}

/// A reader whose one failure is followed by more data: the failure must not be lost.
struct FailsOnce {
    parts: Vec<std::io::Result<Vec<u8>>>,
}

impl Read for FailsOnce {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.parts.is_empty() {
            return Ok(0);
        }
        let part = self.parts.remove(0)?;
        buf[..part.len()].copy_from_slice(&part);
        Ok(part.len())
    }
}

#[test]
fn a_transient_read_error_is_reported_not_skipped() {
    let reader = FailsOnce {
        parts: vec![
            Ok(format!("{}\n", good_line(1)).into_bytes()),
            Err(std::io::Error::other("network blip")),
            Ok(format!("{}\n", good_line(3)).into_bytes()),
        ],
    };
    let results = read_all(BufReader::new(reader));
    assert_eq!(results.len(), 2);
    assert_eq!(
        results[1].as_ref().unwrap_err().reason,
        "read error: network blip"
    );
    assert_eq!(results[1].as_ref().unwrap_err().line, 2);
}

/// nginx passes header bytes >= 0x80 through unescaped: such a line must still
/// become a record (lossily decoded), or one bad User-Agent byte would hide a
/// request from detection.
#[test]
fn gateway_log_lines_with_raw_non_utf8_header_bytes_are_kept() {
    let mut nginx = br#"{"time_iso8601":"2026-12-04T21:03:15+00:00","remote_addr":"198.51.100.4","request_method":"GET","request_uri":"/v1/accounts/7","status":200,"request_time":0.004,"request_length":120,"bytes_sent":900,"http_user_agent":"evil"#.to_vec();
    nginx.extend_from_slice(b"\xff\xfe");
    nginx.extend_from_slice(br#"agent","http_authorization":"Bearer T0KEN","request_id":"n1"}"#);
    nginx.push(b'\n');
    let results: Vec<_> = RecordReader::new(&nginx[..], InputFormat::NginxJson, fp()).collect();
    assert_eq!(results.len(), 1);
    let rec = results[0]
        .as_ref()
        .expect("nginx line with raw bytes is kept");
    assert_eq!(rec.id.as_deref(), Some("n1"));
    assert_eq!(rec.user_agent.as_deref(), Some("evil\u{fffd}\u{fffd}agent"));
    assert!(rec.token.is_some());

    let combined = b"198.51.100.4 - - [04/Dec/2026:21:03:15 +0000] \"GET /x HTTP/1.1\" 200 12 \"-\" \"ua\xff\"\n".to_vec();
    let results: Vec<_> = RecordReader::new(&combined[..], InputFormat::Combined, fp()).collect();
    assert!(results[0].is_ok(), "{:?}", results[0]);
}
