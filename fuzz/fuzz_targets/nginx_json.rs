//! Line-based nginx_json input: never panics, one result per non-blank line, and the
//! streaming reader agrees with the whole-body parser.
#![no_main]

use apiwarden_record::{parse_bytes, Fingerprinter, InputFormat, RecordReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fp = Fingerprinter::new([1; 32]);
    let whole = parse_bytes(data, InputFormat::NginxJson, &fp);
    let streamed: Vec<_> = RecordReader::new(data, InputFormat::NginxJson, fp).collect();
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
        let line = |r: &Result<_, apiwarden_record::RecordError>| r.as_ref().err().map(|e| e.line);
        if let (Some(a), Some(b)) = (line(previous), line(result)) {
            assert!(a < b, "line numbers increase");
        }
    }
});
