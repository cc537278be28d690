//! The real scanner access logs (Apache combined, quote-wrapped lines) parse.

use apiwarden_record::{open_input, Fingerprinter, InputFormat, RecordReader};
use std::collections::BTreeMap;
use std::path::Path;

const DIR: &str = "/work/shared/datasets/scanner_access_logs";

#[test]
fn all_three_scanner_logs_parse() {
    if !Path::new(DIR).exists() {
        eprintln!("skipping: {DIR} not present");
        return;
    }
    // (file, lines per SOURCE.md, scanner IP)
    let files = [
        ("acunetix.txt.gz", 6_538, "192.168.4.25"),
        ("netsparker.txt.gz", 7_313, "192.168.4.164"),
        ("w3af.txt.gz", 3_995, "192.168.4.163"),
    ];
    for (file, expected_lines, scanner_ip) in files {
        let path = format!("{DIR}/{file}");
        let reader = RecordReader::new(
            open_input(&path).unwrap(),
            InputFormat::Combined,
            Fingerprinter::new([0; 32]),
        );
        let mut records = Vec::new();
        let mut errors = Vec::new();
        for result in reader {
            match result {
                Ok(record) => records.push(record),
                Err(e) => errors.push(e),
            }
        }
        // Only requests with no path at all (`"GET  HTTP/1.1"`, status 400) may be refused.
        assert!(
            errors.len() <= 2,
            "{file}: {:?}",
            &errors[..errors.len().min(5)]
        );
        for e in &errors {
            assert_eq!(e.field.as_deref(), Some("request"), "{file}: {e}");
        }
        let total = records.len() + errors.len();
        assert!(
            total.abs_diff(expected_lines) <= 1,
            "{file}: {total} lines, expected {expected_lines}"
        );
        let from_scanner = records
            .iter()
            .filter(|r| r.client_ip.to_string() == scanner_ip)
            .count();
        assert!(
            from_scanner * 100 >= records.len() * 95,
            "{file}: {from_scanner}"
        );
        let mut statuses = BTreeMap::new();
        for r in &records {
            *statuses.entry(r.status).or_insert(0usize) += 1;
            assert!(
                r.path.starts_with('/') || r.path.starts_with("http"),
                "{file}: {}",
                r.path
            );
            assert!(
                r.ts_ms > 1_482_300_000_000 && r.ts_ms < 1_482_500_000_000,
                "{file}: {}",
                r.ts_ms
            );
        }
        eprintln!("{file}: {} records, statuses {statuses:?}", records.len());
        if file == "acunetix.txt.gz" {
            assert_eq!(statuses.get(&303), Some(&3_407));
            assert_eq!(statuses.get(&500), Some(&706));
        }
    }
}
