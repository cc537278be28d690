//! JSON bodies (array of records or one record): never panic; every error
//! names a position within the body.
#![no_main]

use apiwarden_record::{parse_bytes, Fingerprinter, InputFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let fp = Fingerprinter::new([1; 32]);
    let results = parse_bytes(data, InputFormat::Json, &fp);
    for (index, result) in results.iter().enumerate() {
        if let Err(e) = result {
            assert_eq!(e.line, index + 1, "positions are 1-based and in order");
        }
    }
});
