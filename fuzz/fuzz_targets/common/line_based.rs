//! The properties every line-based format shares, checked on arbitrary bytes:
//! parsing never panics, there is one result per non-blank line, error line
//! numbers increase, and the streaming reader agrees with the whole-body parser.

use apiwarden_record::{parse_bytes, Fingerprinter, InputFormat, RecordError, RecordReader};

pub fn check(data: &[u8], format: InputFormat) {
    let fp = Fingerprinter::new([1; 32]);
    let whole = parse_bytes(data, format, &fp);
    let streamed: Vec<_> = RecordReader::new(data, format, fp).collect();
    assert_eq!(whole, streamed);
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let lines = if body.is_empty() {
        0
    } else {
        body.split(|&b| b == b'\n')
            .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
            .count()
    };
    assert_eq!(whole.len(), lines);
    for (result, previous) in whole.iter().skip(1).zip(&whole) {
        let line = |r: &Result<_, RecordError>| r.as_ref().err().map(|e| e.line);
        if let (Some(a), Some(b)) = (line(previous), line(result)) {
            assert!(a < b, "line numbers increase");
        }
    }
}
