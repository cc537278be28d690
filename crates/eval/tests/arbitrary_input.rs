//! Whatever the files contain, evaluation answers with a report or an error
//! naming the place: never a panic.

use apiwarden_eval::{evaluate, EvalError};
use proptest::prelude::*;

fn line_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        Just(r#"{"id":"a","label":"benign","episode":null,"ts":1}"#.to_string()),
        Just(r#"{"id":"a","label":"probing","episode":"E1","ts":2}"#.to_string()),
        Just(r#"{"line":1,"id":"a","api":"x","score":0.5,"attack":"probing"}"#.to_string()),
        Just(r#"{"line":1,"id":"a","api":"x","score":null,"attack":null}"#.to_string()),
        Just(r#"{"id":"x","attack":"probing","request_ids":["a"],"first_seen":"2026-01-01T00:00:00Z"}"#.to_string()),
        "[a-z\"{}:,0-9 ]{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn never_panics(labels in prop::collection::vec(line_strategy(), 0..6),
                    scores in prop::collection::vec(line_strategy(), 0..6),
                    alerts in prop::collection::vec(line_strategy(), 0..4)) {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lines: &[String]| {
            let path = dir.path().join(name);
            std::fs::write(&path, lines.join("\n")).unwrap();
            path
        };
        let (l, s, a) = (write("l", &labels), write("s", &scores), write("a", &alerts));
        match evaluate(&l, &s, Some(&a)) {
            Ok(report) => prop_assert_eq!(report.records, report.benign_records + report.attack_records),
            Err(EvalError::Malformed { line, .. }) => prop_assert!(line >= 1),
            Err(_) => {}
        }
    }
}
