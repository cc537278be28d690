//! Known answers on small hand-made label / score / alert files.

use apiwarden_eval::{evaluate, EvalError, Report, TimeUnit};
use std::path::{Path, PathBuf};

/// (id, label, episode, ts): 5 benign, an exfiltration episode of two
/// records, and two probing episodes.
const RECORDS: [(&str, &str, Option<&str>, i64); 10] = [
    ("r0", "benign", None, 1_000),
    ("r1", "benign", None, 2_000),
    ("r2", "data_exfiltration", Some("E1"), 3_000),
    ("r3", "data_exfiltration", Some("E1"), 4_000),
    ("r4", "benign", None, 5_000),
    ("r5", "probing", Some("E2"), 6_000),
    ("r6", "probing", Some("E2"), 7_000),
    ("r7", "benign", None, 8_000),
    ("r8", "probing", Some("E3"), 9_000),
    ("r9", "benign", None, 10_000),
];

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Files {
        Files {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, lines: &[String]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    fn labels(&self, with_ts: bool) -> PathBuf {
        let lines: Vec<String> = RECORDS
            .iter()
            .map(|(id, label, episode, ts)| {
                let episode = episode.map_or("null".to_string(), |e| format!("\"{e}\""));
                let ts = if with_ts {
                    format!(",\"ts\":{ts}")
                } else {
                    String::new()
                };
                format!("{{\"id\":\"{id}\",\"label\":\"{label}\",\"episode\":{episode}{ts}}}")
            })
            .collect();
        self.write("labels.ndjson", &lines)
    }

    /// `verdict(i) -> (score, attack)`.
    fn scores(&self, verdict: impl Fn(usize) -> (f64, Option<&'static str>)) -> PathBuf {
        let lines: Vec<String> = RECORDS
            .iter()
            .enumerate()
            .map(|(i, (id, ..))| {
                let (score, attack) = verdict(i);
                let attack = attack.map_or("null".to_string(), |a| format!("\"{a}\""));
                format!("{{\"line\":{},\"id\":\"{id}\",\"api\":\"shop\",\"score\":{score},\"attack\":{attack}}}", i + 1)
            })
            .collect();
        self.write("scores.ndjson", &lines)
    }
}

fn alert(id: &str, attack: &str, ids: &[&str], first_seen: &str, family: Option<&str>) -> String {
    let ids: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    let family = family.map_or(String::new(), |f| format!(",\"family\":\"{f}\""));
    format!(
        "{{\"id\":\"{id}\",\"attack\":\"{attack}\",\"severity\":\"high\",\"api\":\"shop\",\
         \"entity\":{{\"kind\":\"ip\",\"value\":\"1.2.3.4\"}},\"score\":0.9,\"threshold\":0.6,\
         \"first_seen\":\"{first_seen}\",\"last_seen\":\"{first_seen}\",\"request_ids\":[{}],\"evidence\":[]{family}}}",
        ids.join(",")
    )
}

fn is_attack(i: usize) -> Option<&'static str> {
    match RECORDS[i].1 {
        "benign" => None,
        other => Some(if other == "probing" {
            "probing"
        } else {
            "data_exfiltration"
        }),
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

#[test]
fn perfect_detector_scores_one_everywhere() {
    let f = Files::new();
    let report = evaluate(
        &f.labels(true),
        &f.scores(|i| match is_attack(i) {
            Some(a) => (0.9, Some(a)),
            None => (0.1, None),
        }),
        None,
    )
    .unwrap();
    assert_eq!(
        (report.records, report.benign_records, report.attack_records),
        (10, 5, 5)
    );
    assert_eq!(report.detection_source, "scores");
    for t in report.per_type.iter().chain([&report.overall]) {
        assert!(
            close(t.roc_auc, 1.0) && close(t.average_precision, 1.0),
            "{t:?}"
        );
        assert!(close(t.episode_recall, 1.0));
        assert_eq!(t.episodes_typed_right, t.episodes);
        assert!(close(t.median_time_to_detect, 0.0) && close(t.max_time_to_detect, 0.0));
        assert!(t.missed_episodes.is_empty());
    }
    assert_eq!(
        report
            .type_report("probing")
            .map(|t| (t.records, t.episodes)),
        Some((3, 2))
    );
    assert_eq!(report.false_alerts, 0);
    assert_eq!(report.false_alerts_per_million_benign, 0.0);
}

#[test]
fn uninformative_detector_is_at_chance() {
    let f = Files::new();
    let report = evaluate(&f.labels(true), &f.scores(|_| (0.5, None)), None).unwrap();
    let exfil = report.type_report("data_exfiltration").unwrap();
    assert!(close(exfil.roc_auc, 0.5));
    // One threshold: precision = 2 positives / 7 ranked records.
    assert!(close(exfil.average_precision, 2.0 / 7.0));
    assert!(close(report.overall.episode_recall, 0.0));
    assert_eq!(report.overall.missed_episodes, ["E1", "E2", "E3"]);
    assert_eq!(report.overall.median_time_to_detect, None);
}

#[test]
fn late_flags_give_time_to_detect_and_flagged_benign_count_as_false_alerts() {
    let f = Files::new();
    // E1 caught on its second record (+1 s), E2 on its second (+1 s), E3 missed;
    // one benign record flagged.
    let report = evaluate(
        &f.labels(true),
        &f.scores(|i| match i {
            3 => (0.8, Some("data_exfiltration")),
            6 => (0.8, Some("enumeration")),
            9 => (0.7, Some("api_dos")),
            _ => (0.2, None),
        }),
        None,
    )
    .unwrap();
    let probing = report.type_report("probing").unwrap();
    assert!(close(probing.episode_recall, 0.5));
    assert_eq!(probing.episodes_typed_right, 0, "flagged as the wrong type");
    assert_eq!(probing.missed_episodes, ["E3"]);
    assert!(close(probing.median_time_to_detect, 1_000.0));
    let exfil = report.type_report("data_exfiltration").unwrap();
    assert_eq!(exfil.episodes_typed_right, 1);
    assert!(close(report.overall.max_time_to_detect, 1_000.0));
    assert_eq!(report.benign_flagged, 1);
    assert_eq!(report.false_alerts, 1);
    assert!(close(
        Some(report.false_alerts_per_million_benign),
        200_000.0
    ));
}

#[test]
fn alerts_decide_detection_typing_and_false_alerts() {
    let f = Files::new();
    let alerts = f.write(
        "alerts.ndjson",
        &[
            alert("a1", "probing", &["r6"], "1970-01-01T00:00:07.500Z", None),
            alert(
                "a2",
                "enumeration",
                &["r3", "r4"],
                "1970-01-01T00:00:04.500Z",
                None,
            ),
            alert("a3", "probing", &["r0", "r1"], "1970-01-01T00:00:02Z", None),
            alert(
                "a4",
                "api_dos",
                &["r4"],
                "1970-01-01T00:00:05Z",
                Some("monitoring"),
            ),
            alert(
                "a5",
                "probing",
                &["not-a-record"],
                "1970-01-01T00:00:05Z",
                None,
            ),
        ],
    );
    // The scores flag everything: with alerts, only alerts count for episodes.
    let report = evaluate(
        &f.labels(true),
        &f.scores(|_| (0.5, Some("probing"))),
        Some(&alerts),
    )
    .unwrap();
    assert_eq!(report.detection_source, "alerts");
    let counts = report.alerts.clone().unwrap();
    assert_eq!(
        (
            counts.total,
            counts.true_alerts,
            counts.false_alerts,
            counts.unmatched,
            counts.monitoring
        ),
        (5, 2, 1, 1, 1)
    );
    assert!(close(report.overall.episode_recall, 2.0 / 3.0));
    assert_eq!(report.overall.missed_episodes, ["E3"]);
    let exfil = report.type_report("data_exfiltration").unwrap();
    assert_eq!(
        (exfil.episodes_detected, exfil.episodes_typed_right),
        (1, 0)
    );
    assert!(close(exfil.median_time_to_detect, 1_500.0));
    let probing = report.type_report("probing").unwrap();
    assert_eq!(
        (probing.episodes_detected, probing.episodes_typed_right),
        (1, 1)
    );
    assert!(close(probing.max_time_to_detect, 1_500.0));
    assert_eq!(report.false_alerts, 1);
    assert!(close(
        Some(report.false_alerts_per_million_benign),
        200_000.0
    ));
    assert_eq!(report.benign_flagged, 5);
    // Readable table and JSON both carry the figures.
    let table = report.to_string();
    assert!(
        table.contains("probing") && table.contains("missed episodes: E3"),
        "{table}"
    );
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["alerts"]["false_alerts"], 1);
    let e1 = &report.episodes[0];
    assert_eq!(
        (e1.episode.as_str(), e1.records, e1.detected, e1.typed_right),
        ("E1", 2, true, false)
    );
    assert_eq!(e1.detected_as, ["enumeration"]);
    assert!(!report.episodes[2].detected);
}

#[test]
fn without_ts_time_to_detect_counts_lines() {
    let f = Files::new();
    let report: Report = evaluate(
        &f.labels(false),
        &f.scores(|i| {
            if i == 3 {
                (0.9, Some("data_exfiltration"))
            } else {
                (0.1, None)
            }
        }),
        None,
    )
    .unwrap();
    assert_eq!(report.time_unit, TimeUnit::Lines);
    assert!(close(
        report
            .type_report("data_exfiltration")
            .unwrap()
            .median_time_to_detect,
        1.0
    ));
}

fn malformed(err: EvalError) -> (PathBuf, usize, Option<String>) {
    match err {
        EvalError::Malformed {
            path, line, field, ..
        } => (path, line, field),
        other => panic!("expected a malformed-input error, got {other}"),
    }
}

#[test]
fn bad_inputs_are_named_by_file_line_and_field() {
    let f = Files::new();
    let labels = f.labels(true);
    let good_scores = f.scores(|_| (0.5, None));

    let bad_labels = f.write(
        "bad_labels.ndjson",
        &[
            r#"{"id":"r0","label":"benign","episode":null}"#.into(),
            r#"{"id":"r1","episode":null}"#.into(),
        ],
    );
    let (path, line, field) = malformed(evaluate(&bad_labels, &good_scores, None).unwrap_err());
    assert_eq!(
        (path.as_path(), line, field.as_deref()),
        (bad_labels.as_path(), 2, Some("label"))
    );

    let mut lines: Vec<String> = std::fs::read_to_string(&good_scores)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines[4] = r#"{"line":5,"id":"r4","score":"high","attack":null}"#.into();
    let bad_scores = f.write("bad_scores.ndjson", &lines);
    let (_, line, field) = malformed(evaluate(&labels, &bad_scores, None).unwrap_err());
    assert_eq!((line, field.as_deref()), (5, Some("score")));

    lines[4] = "{not json".into();
    let bad_scores = f.write("bad_scores.ndjson", &lines);
    let err = evaluate(&labels, &bad_scores, None).unwrap_err();
    assert!(
        err.to_string().contains("bad_scores.ndjson, line 5"),
        "{err}"
    );

    let bad_alerts = f.write(
        "alerts.ndjson",
        &[alert("a1", "probing", &["r1"], "not a time", None)],
    );
    let (_, line, field) =
        malformed(evaluate(&labels, &good_scores, Some(&bad_alerts)).unwrap_err());
    assert_eq!((line, field.as_deref()), (1, Some("first_seen")));

    assert!(matches!(
        evaluate(Path::new("/nonexistent/labels"), &good_scores, None),
        Err(EvalError::Io { .. })
    ));
}

#[test]
fn scores_out_of_order_or_short_are_refused() {
    let f = Files::new();
    let labels = f.labels(true);
    let mut lines: Vec<String> = std::fs::read_to_string(f.scores(|_| (0.5, None)))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.swap(2, 3);
    let swapped = f.write("swapped.ndjson", &lines);
    match evaluate(&labels, &swapped, None) {
        Err(EvalError::IdMismatch {
            line,
            label_id,
            score_id,
        }) => {
            assert_eq!(
                (line, label_id.as_str(), score_id.as_str()),
                (3, "r2", "r3")
            );
        }
        other => panic!("{other:?}"),
    }
    // A record the scorer rejected keeps its line with a null score.
    let mut with_rejected = lines.clone();
    with_rejected.swap(2, 3);
    with_rejected[4] = r#"{"line":5,"id":null,"api":null,"score":null,"attack":null,"error":"field `ts`: missing"}"#.into();
    let rejected = f.write("rejected.ndjson", &with_rejected);
    let report = evaluate(&labels, &rejected, None).unwrap();
    assert_eq!(report.rejected_records, 1);
    lines.truncate(9);
    let short = f.write("short.ndjson", &lines);
    assert!(matches!(
        evaluate(&labels, &short, None),
        Err(EvalError::LineCount {
            labels: 10,
            scores: 9
        })
    ));
}

#[test]
fn loud_median_time_to_detect_counts_only_episodes_labelled_loud() {
    let f = Files::new();
    // E1 (loud) caught at once, E2 (subtle) after 1 s, E3 (loud) after 0 s:
    // the loud median leaves E2 out; without variants there is none.
    let variant = |episode: Option<&str>| match episode {
        Some("E2") => ",\"variant\":\"subtle\"",
        Some(_) => ",\"variant\":\"loud\"",
        None => "",
    };
    let lines: Vec<String> = RECORDS
        .iter()
        .map(|(id, label, episode, ts)| {
            let quoted = episode.map_or("null".to_string(), |e| format!("\"{e}\""));
            format!(
                "{{\"id\":\"{id}\",\"label\":\"{label}\",\"episode\":{quoted}{},\"ts\":{ts}}}",
                variant(*episode)
            )
        })
        .collect();
    let labels = f.write("labels_variant.ndjson", &lines);
    let flags = |i: usize| match i {
        2 | 6 | 8 => (0.9, is_attack(i)),
        _ => (0.1, None),
    };
    let report = evaluate(&labels, &f.scores(flags), None).unwrap();
    assert!(close(report.overall.median_time_to_detect, 0.0));
    assert!(close(report.overall.loud_median_time_to_detect, 0.0));
    let probing = report.type_report("probing").unwrap();
    assert!(close(probing.median_time_to_detect, 500.0));
    assert!(close(probing.loud_median_time_to_detect, 0.0));
    let e2 = report.episodes.iter().find(|e| e.episode == "E2").unwrap();
    assert_eq!(e2.variant.as_deref(), Some("subtle"));

    let without = evaluate(&f.labels(true), &f.scores(flags), None).unwrap();
    assert_eq!(without.overall.loud_median_time_to_detect, None);
}
