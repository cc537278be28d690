//! Property tests: valid records survive every wire format unchanged, and no
//! input whatsoever makes a parser panic or lose the lines around it.

use apiwarden_record::{
    format_ts_ms, parse_bytes, AccessRecord, Fingerprinter, GeoPoint, InputFormat, InputRecord,
    InputTs, RecordReader,
};
use proptest::prelude::*;
use std::net::IpAddr;

fn fp() -> Fingerprinter {
    Fingerprinter::new([42; 32])
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("\\PC{1,20}")
}

prop_compose! {
    fn valid_record()(
        id in proptest::option::of("[a-z0-9-]{1,12}"),
        ts_ms in 0i64..4_000_000_000_000,
        ts_as_text in any::<bool>(),
        api in opt_text(),
        host in opt_text(),
        method in "[A-Za-z]{1,8}",
        path in "/\\PC{0,40}",
        status in 100u16..=599,
        latency_ms in 0.0f64..1e6,
        request_bytes in any::<u64>(),
        response_bytes in any::<u64>(),
        client_ip in any::<IpAddr>(),
        country in proptest::option::of("[A-Za-z]{2}"),
        geo in proptest::option::of((-90.0f64..=90.0, -180.0f64..=180.0)),
        user in opt_text(),
        api_key in opt_text(),
        token in opt_text(),
        user_agent in opt_text(),
    ) -> (InputRecord, AccessRecord) {
        let fp = fp();
        let input = InputRecord {
            id: id.clone(),
            ts: if ts_as_text { InputTs::Rfc3339(format_ts_ms(ts_ms)) } else { InputTs::EpochMs(ts_ms) },
            api: api.clone(),
            host: host.clone(),
            method: method.clone(),
            path: path.clone(),
            status,
            latency_ms,
            request_bytes,
            response_bytes,
            client_ip: client_ip.to_string(),
            country: country.clone(),
            lat: geo.map(|g| g.0),
            lon: geo.map(|g| g.1),
            user: user.clone(),
            api_key: api_key.clone(),
            token: token.clone(),
            user_agent: user_agent.clone(),
        };
        let expected = AccessRecord {
            id,
            ts_ms,
            api,
            host,
            method: method.to_ascii_uppercase(),
            path,
            status,
            latency_ms,
            request_bytes,
            response_bytes,
            client_ip,
            country: country.map(|c| c.to_ascii_uppercase()),
            geo: geo.map(|(lat, lon)| GeoPoint { lat, lon }),
            user,
            api_key: api_key.map(|k| fp.fingerprint(&k)),
            token: token.map(|t| fp.fingerprint(&t)),
            user_agent,
        };
        (input, expected)
    }
}

fn oks(results: Vec<Result<AccessRecord, apiwarden_record::RecordError>>) -> Vec<AccessRecord> {
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("rejected: {e}")))
        .collect()
}

/// serde_json (without its slower `float_roundtrip` feature) may parse a float
/// one unit in the last place off; everything else must be identical.
fn same(got: &[AccessRecord], expected: &[AccessRecord]) -> Result<(), TestCaseError> {
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    let without_floats = |r: &AccessRecord| AccessRecord {
        latency_ms: 0.0,
        geo: r.geo.map(|_| GeoPoint { lat: 0.0, lon: 0.0 }),
        ..r.clone()
    };
    prop_assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        prop_assert_eq!(without_floats(g), without_floats(e));
        prop_assert!(
            close(g.latency_ms, e.latency_ms),
            "{} vs {}",
            g.latency_ms,
            e.latency_ms
        );
        if let (Some(gg), Some(eg)) = (g.geo, e.geo) {
            prop_assert!(
                close(gg.lat, eg.lat) && close(gg.lon, eg.lon),
                "{:?} vs {:?}",
                gg,
                eg
            );
        }
    }
    Ok(())
}

const LINE_FORMATS: [InputFormat; 3] = [
    InputFormat::Ndjson,
    InputFormat::NginxJson,
    InputFormat::Combined,
];

fn non_blank_lines(bytes: &[u8]) -> usize {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return 0;
    }
    body.split(|&b| b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace))
        .count()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn valid_records_round_trip_every_format(pairs in proptest::collection::vec(valid_record(), 1..8)) {
        let (inputs, expected): (Vec<InputRecord>, Vec<AccessRecord>) = pairs.into_iter().unzip();
        let fp = fp();

        let json = serde_json::to_vec(&inputs).unwrap();
        same(&oks(parse_bytes(&json, InputFormat::Json, &fp)), &expected)?;

        let mut ndjson = Vec::new();
        for input in &inputs {
            serde_json::to_writer(&mut ndjson, input).unwrap();
            ndjson.push(b'\n');
        }
        same(&oks(parse_bytes(&ndjson, InputFormat::Ndjson, &fp)), &expected)?;
        let streamed = RecordReader::new(&ndjson[..], InputFormat::Ndjson, fp.clone()).collect();
        same(&oks(streamed), &expected)?;

        let msgpack = rmp_serde::to_vec_named(&inputs).unwrap();
        // MessagePack carries f64 bits: exact.
        prop_assert_eq!(&oks(parse_bytes(&msgpack, InputFormat::MsgPack, &fp)), &expected);

        let single = serde_json::to_vec(&inputs[0]).unwrap();
        same(&oks(parse_bytes(&single, InputFormat::Json, &fp)), &expected[..1])?;
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_give_one_result_per_line(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let fp = fp();
        for format in LINE_FORMATS {
            let results = parse_bytes(&bytes, format, &fp);
            prop_assert_eq!(results.len(), non_blank_lines(&bytes));
            let streamed: Vec<_> = RecordReader::new(&bytes[..], format, fp.clone()).collect();
            prop_assert_eq!(streamed, results);
        }
        let _ = parse_bytes(&bytes, InputFormat::Json, &fp);
        let _ = parse_bytes(&bytes, InputFormat::MsgPack, &fp);
    }

    #[test]
    fn arbitrary_text_lines_never_panic(text in "(\\PC{0,30}[\"{}\\[\\]:, \\-0-9]{0,10}\n?){0,10}") {
        let fp = fp();
        for format in LINE_FORMATS {
            let results = parse_bytes(text.as_bytes(), format, &fp);
            prop_assert_eq!(results.len(), non_blank_lines(text.as_bytes()));
        }
    }

    #[test]
    fn good_lines_around_garbage_survive(
        lines in proptest::collection::vec(
            prop_oneof![valid_record().prop_map(Ok), "[^\n]{0,60}".prop_map(Err)],
            0..12,
        )
    ) {
        let fp = fp();
        let mut body = Vec::new();
        let mut expected_ok = Vec::new();
        let mut expected_err_lines = Vec::new();
        for (index, line) in lines.iter().enumerate() {
            match line {
                Ok((input, record)) => {
                    serde_json::to_writer(&mut body, input).unwrap();
                    expected_ok.push(record.clone());
                }
                Err(garbage) => {
                    body.extend_from_slice(garbage.as_bytes());
                    if !garbage.bytes().all(|b| b.is_ascii_whitespace()) {
                        expected_err_lines.push(index + 1);
                    }
                }
            }
            body.push(b'\n');
        }
        let results: Vec<_> = RecordReader::new(&body[..], InputFormat::Ndjson, fp.clone()).collect();
        let got_ok: Vec<AccessRecord> = results.iter().filter_map(|r| r.as_ref().ok().cloned()).collect();
        let got_err_lines: Vec<usize> = results.iter().filter_map(|r| r.as_ref().err().map(|e| e.line)).collect();
        same(&got_ok, &expected_ok)?;
        prop_assert_eq!(got_err_lines, expected_err_lines);
    }
}
