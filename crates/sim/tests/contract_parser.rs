//! The project's own parser accepts every simulated record as the contract
//! defines it, and reads back what was meant.

use apiwarden_record::{Fingerprinter, InputFormat, RecordReader};
use apiwarden_sim::{generate, write_records, SimConfig};

#[test]
fn every_simulated_record_parses_and_round_trips() {
    let sim = generate(&SimConfig {
        seed: 21,
        scale: 0.02,
    });
    let records: Vec<_> = sim.train.iter().chain(&sim.test).cloned().collect();
    let mut ndjson = Vec::new();
    write_records(&records, &mut ndjson).unwrap();
    let reader = RecordReader::new(
        &ndjson[..],
        InputFormat::Ndjson,
        Fingerprinter::new([7; 32]),
    );
    let mut parsed = 0;
    for (item, original) in reader.zip(&records) {
        let rec = item.unwrap_or_else(|e| panic!("rejected {}: {e}", original.to_json()));
        assert_eq!(rec.id.as_deref(), Some(original.id.as_str()));
        assert_eq!(
            rec.ts_ms, original.ts_ms,
            "both ts forms mean the same instant"
        );
        assert_eq!(rec.status, original.status);
        assert_eq!(rec.path, original.path);
        assert_eq!(rec.api.as_deref(), original.api);
        assert_eq!(rec.geo.map(|g| (g.lat, g.lon)), original.geo);
        assert_eq!(
            rec.client_ip.to_string().parse::<std::net::IpAddr>().ok(),
            original.client_ip.parse().ok()
        );
        if let Some(token) = &original.token {
            let fp = rec
                .token
                .as_ref()
                .map(|f| f.as_str().to_string())
                .unwrap_or_default();
            assert!(
                fp.starts_with("fp:") && !fp.contains(&**token),
                "tokens are fingerprinted"
            );
        }
        parsed += 1;
    }
    assert_eq!(parsed, records.len());
}
