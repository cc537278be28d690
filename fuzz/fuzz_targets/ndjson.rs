//! Line-based ndjson input: the shared line-format properties (common/line_based.rs).
#![no_main]

#[path = "common/line_based.rs"]
mod line_based;

use apiwarden_record::InputFormat;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| line_based::check(data, InputFormat::Ndjson));
