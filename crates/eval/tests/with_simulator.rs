//! The simulator's labels and an oracle's scores: the evaluation must find
//! a perfect detector perfect and a blind one blind.

use apiwarden_eval::{evaluate, TimeUnit};
use apiwarden_sim::{write_dir, AttackType, SimConfig};
use std::io::Write;

#[test]
fn oracle_and_blind_detectors_on_simulated_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let summary = write_dir(
        dir.path(),
        &SimConfig {
            seed: 9,
            scale: 0.02,
        },
    )
    .unwrap();
    let labels_path = dir.path().join("labels.ndjson");
    let labels: Vec<serde_json::Value> = std::fs::read_to_string(&labels_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let write_scores = |name: &str, oracle: bool| {
        let path = dir.path().join(name);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for (i, l) in labels.iter().enumerate() {
            let attack = l["label"].as_str().filter(|&t| t != "benign" && oracle);
            let line = serde_json::json!({
                "line": i + 1, "id": l["id"], "api": "x",
                "score": if attack.is_some() { 0.9 } else { 0.1 }, "attack": attack,
            });
            writeln!(out, "{line}").unwrap();
        }
        out.flush().unwrap();
        path
    };

    let oracle = evaluate(&labels_path, &write_scores("oracle.ndjson", true), None).unwrap();
    assert_eq!(oracle.records, summary.test_records);
    assert_eq!(
        oracle.time_unit,
        TimeUnit::Milliseconds,
        "simulator labels carry ts"
    );
    assert_eq!(oracle.per_type.len(), AttackType::ALL.len());
    for t in &oracle.per_type {
        assert_eq!(t.roc_auc, Some(1.0), "{}", t.attack);
        assert_eq!(t.episode_recall, Some(1.0), "{}", t.attack);
        assert_eq!(t.episodes_typed_right, t.episodes);
        assert_eq!(Some(&t.episodes), summary.episodes.get(&t.attack));
        assert_eq!(t.median_time_to_detect, Some(0.0));
    }
    assert_eq!(oracle.false_alerts, 0);

    let blind = evaluate(&labels_path, &write_scores("blind.ndjson", false), None).unwrap();
    assert_eq!(blind.overall.episode_recall, Some(0.0));
    assert_eq!(blind.overall.missed_episodes.len(), oracle.overall.episodes);
}
