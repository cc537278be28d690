//! What users of the simulator rely on: determinism, labels that line up,
//! contract-valid records, every attack type present, benign surprises.

use apiwarden_sim::{generate, write_dir, AttackType, SimConfig, Simulation};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

const SMALL: SimConfig = SimConfig {
    seed: 7,
    scale: 0.05,
};

fn small() -> &'static Simulation {
    static SIM: OnceLock<Simulation> = OnceLock::new();
    SIM.get_or_init(|| generate(&SMALL))
}

fn read_dir_files(dir: &std::path::Path) -> Vec<Vec<u8>> {
    ["train.ndjson", "test.ndjson", "labels.ndjson"]
        .iter()
        .map(|f| std::fs::read(dir.join(f)).expect("written file"))
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = SimConfig {
        seed: 3,
        scale: 0.02,
    };
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    let summary = write_dir(a.path(), &cfg).unwrap();
    write_dir(b.path(), &cfg).unwrap();
    write_dir(c.path(), &SimConfig { seed: 4, ..cfg }).unwrap();
    let (fa, fb, fc) = (
        read_dir_files(a.path()),
        read_dir_files(b.path()),
        read_dir_files(c.path()),
    );
    assert_eq!(fa, fb, "same seed and scale must give identical files");
    for (x, y) in fa.iter().zip(&fc) {
        assert_ne!(x, y, "another seed must give other traffic");
    }
    let lines = |bytes: &[u8]| bytes.iter().filter(|&&b| b == b'\n').count();
    assert_eq!(lines(&fa[0]), summary.train_records);
    assert_eq!(lines(&fa[1]), summary.test_records);
    assert_eq!(lines(&fa[2]), summary.test_records);
}

#[test]
fn rejects_a_bad_scale() {
    let dir = tempfile::tempdir().unwrap();
    for scale in [0.0, -1.0, f64::NAN, 1e9] {
        assert!(
            write_dir(dir.path(), &SimConfig { seed: 1, scale }).is_err(),
            "{scale}"
        );
    }
}

#[test]
fn every_attack_type_has_loud_and_subtle_episodes_at_small_scale() {
    let sim = small();
    let summary = sim.summary();
    for kind in AttackType::ALL {
        let n = summary.episodes.get(kind.as_str()).copied().unwrap_or(0);
        assert!(n >= 2, "{}: {n} episodes", kind.as_str());
    }
    // Episode ids are E1..En, each with one type.
    let mut types: BTreeMap<u32, BTreeSet<AttackType>> = BTreeMap::new();
    for l in &sim.labels {
        if let (Some(kind), Some(n)) = (l.attack, l.episode) {
            types.entry(n).or_default().insert(kind);
        }
        assert_eq!(l.attack.is_some(), l.episode.is_some());
    }
    let numbers: Vec<u32> = types.keys().copied().collect();
    assert_eq!(numbers, (1..=numbers.len() as u32).collect::<Vec<_>>());
    assert!(types.values().all(|t| t.len() == 1));
}

#[test]
fn labels_line_up_with_test_records_and_train_is_benign() {
    let sim = small();
    assert_eq!(sim.labels.len(), sim.test.len());
    for (label, record) in sim.labels.iter().zip(&sim.test) {
        assert_eq!(label.id, record.id);
        assert_eq!(label.attack, record.truth.attack);
        assert_eq!(label.ts_ms, record.ts_ms);
    }
    assert!(sim.train.iter().all(|r| r.truth.attack.is_none()));
    let benign = sim.labels.iter().filter(|l| l.attack.is_none()).count();
    assert!(
        benign * 10 > sim.labels.len() * 7,
        "test must stay mostly benign: {benign}/{}",
        sim.labels.len()
    );
}

#[test]
fn ids_are_unique_and_time_only_moves_forward() {
    let sim = small();
    let mut ids = BTreeSet::new();
    for r in sim.train.iter().chain(&sim.test) {
        assert!(ids.insert(r.id.as_str()), "duplicate id {}", r.id);
    }
    for part in [&sim.train, &sim.test] {
        assert!(part.windows(2).all(|w| w[0].ts_ms <= w[1].ts_ms));
    }
    let last_train = sim.train.last().map(|r| r.ts_ms).unwrap();
    let first_test = sim.test.first().map(|r| r.ts_ms).unwrap();
    assert!(last_train < first_test, "train must end before test begins");
}

fn contract_violation(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let str_field = |k: &str| obj.get(k).and_then(Value::as_str);
    match obj.get("ts") {
        Some(Value::Number(n)) if n.is_i64() => {}
        Some(Value::String(s)) if s.len() == 24 && s.ends_with('Z') && s.as_bytes()[10] == b'T' => {
        }
        other => return Some(format!("ts {other:?}")),
    }
    if str_field("method").is_none_or(str::is_empty) {
        return Some("method".into());
    }
    if !str_field("path").is_some_and(|p| p.starts_with('/')) {
        return Some("path".into());
    }
    if !obj
        .get("status")
        .and_then(Value::as_u64)
        .is_some_and(|s| (100..=599).contains(&s))
    {
        return Some("status".into());
    }
    if !obj
        .get("latency_ms")
        .and_then(Value::as_f64)
        .is_some_and(|l| l.is_finite() && l >= 0.0)
    {
        return Some("latency_ms".into());
    }
    for k in ["request_bytes", "response_bytes"] {
        obj.get(k).and_then(Value::as_u64)?;
    }
    if str_field("client_ip")
        .and_then(|ip| ip.parse::<IpAddr>().ok())
        .is_none()
    {
        return Some("client_ip".into());
    }
    if let Some(c) = obj.get("country") {
        if !c
            .as_str()
            .is_some_and(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Some("country".into());
        }
    }
    if obj.contains_key("lat") != obj.contains_key("lon") {
        return Some("lat/lon must come together".into());
    }
    if obj.get("api").is_none() && obj.get("host").is_none() {
        return Some("no api and no host".into());
    }
    None
}

#[test]
fn every_record_keeps_the_contract_and_both_json_forms_agree() {
    let sim = small();
    let mut buf = Vec::new();
    let mut rfc3339 = 0;
    let mut epoch = 0;
    let mut ipv6 = 0;
    for r in sim.train.iter().chain(&sim.test) {
        buf.clear();
        r.write_json(&mut buf);
        let fast: Value = serde_json::from_slice(&buf).expect("hand-written JSON parses");
        let via_serde = serde_json::to_value(r).unwrap();
        assert_eq!(fast, via_serde, "both serializations agree");
        if let Some(why) = contract_violation(&fast) {
            panic!("{why}: {}", String::from_utf8_lossy(&buf));
        }
        match fast["ts"] {
            Value::String(_) => rfc3339 += 1,
            _ => epoch += 1,
        }
        if r.client_ip.contains(':') {
            ipv6 += 1;
        }
        if r.host == Some("shop.example.com") {
            assert!(
                r.api.is_none(),
                "the shop API is only discoverable from its host"
            );
        }
    }
    assert!(
        rfc3339 > 1000 && epoch > 1000,
        "both ts forms: {rfc3339} / {epoch}"
    );
    assert!(ipv6 > 100, "some IPv6 clients: {ipv6}");
    let secrets = sim
        .test
        .iter()
        .filter(|r| r.token.is_some() || r.api_key.is_some())
        .count();
    assert!(
        secrets > sim.test.len() / 3,
        "secrets are sent in clear as a gateway sees them"
    );
}

#[test]
fn test_day_has_its_benign_surprises() {
    let sim = small();
    let benign = || sim.test.iter().filter(|r| r.truth.attack.is_none());
    // The outage: a burst of 503s on one endpoint.
    let outage = benign()
        .filter(|r| r.status == 503 && r.path.starts_with("/products/"))
        .count();
    assert!(outage >= 20, "outage 503s: {outage}");
    // The new app release: a UA never seen in training.
    let train_uas: BTreeSet<&str> = sim
        .train
        .iter()
        .filter_map(|r| r.user_agent.as_deref())
        .collect();
    assert!(benign().any(|r| r
        .user_agent
        .as_deref()
        .is_some_and(|ua| ua.starts_with("ShopApp/5.") && !train_uas.contains(ua))));
    // New users who exist only in the test period.
    let train_users: BTreeSet<&str> = sim.train.iter().filter_map(|r| r.user.as_deref()).collect();
    let new_users: BTreeSet<&str> = benign()
        .filter(|r| r.status < 400)
        .filter_map(|r| r.user.as_deref())
        .filter(|u| !train_users.contains(u))
        .collect();
    assert!(!new_users.is_empty());
    // The traveler: one benign user first in France, later in the US.
    let mut countries: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in benign() {
        if let (Some(user), Some(country)) = (r.user.as_deref(), r.country) {
            let seen = countries.entry(user).or_default();
            if seen.last() != Some(&country) {
                seen.push(country);
            }
        }
    }
    assert!(
        countries.values().any(|c| c == &["FR", "US"]),
        "a Paris -> New York traveler"
    );
}

#[test]
fn subtle_credential_stuffing_spreads_over_many_addresses() {
    let sim = small();
    let mut per_episode: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    for r in &sim.test {
        if r.truth.attack == Some(AttackType::CredentialStuffing) {
            let e = r.truth.episode.unwrap();
            *per_episode
                .entry(e)
                .or_default()
                .entry(&*r.client_ip)
                .or_default() += 1;
        }
    }
    let loud = per_episode.values().filter(|ips| ips.len() <= 3).count();
    let botnets = per_episode
        .values()
        .filter(|ips| ips.len() >= 100 && ips.values().all(|&n| n <= 3))
        .count();
    assert!(loud >= 1 && botnets >= 1, "loud {loud}, botnets {botnets}");
}

#[test]
fn in_memory_ndjson_matches_the_written_files() {
    let sim = small();
    let mut bytes = Vec::new();
    apiwarden_sim::write_records(&sim.test[..100], &mut bytes).unwrap();
    let lines: Vec<&str> = std::str::from_utf8(&bytes).unwrap().lines().collect();
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[7], sim.test[7].to_json());
}
