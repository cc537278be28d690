//! The Grafana dashboard charts the metric names the crate documents (and the
//! server's existing ones), through the datasource variable.

use std::path::PathBuf;

/// Metric names of the crate docs' proposal plus the server's counters used.
const KNOWN: [&str; 10] = [
    "apiwarden_api_latency_ms",
    "apiwarden_api_requests_per_second",
    "apiwarden_api_error_ratio",
    "apiwarden_api_request_bytes",
    "apiwarden_api_response_bytes",
    "apiwarden_api_country_share",
    "apiwarden_monitoring_alerts_total",
    "apiwarden_alerts_total",
    "apiwarden_ingest_records_total",
    "apiwarden_scored_records_total",
];

fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("apiwarden_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn dashboard_uses_documented_metrics_and_the_datasource_variable() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/grafana/apiwarden-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("dashboard file");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let docs = include_str!("../src/lib.rs");
    let variables = dashboard["templating"]["list"]
        .as_array()
        .expect("variables");
    assert!(variables
        .iter()
        .any(|v| v["type"] == "datasource" && v["query"] == "prometheus"));
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut charted = 0;
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert_eq!(
            panel["datasource"]["uid"], "${datasource}",
            "{}",
            panel["title"]
        );
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{expr}");
            for name in names {
                assert!(KNOWN.contains(&name.as_str()), "{name} in {expr}");
                if name.starts_with("apiwarden_api_") || name == "apiwarden_monitoring_alerts_total"
                {
                    assert!(docs.contains(&format!("`{name}`")), "{name} undocumented");
                }
                charted += 1;
            }
        }
    }
    assert!(charted >= 10);
    assert!(text.contains("apiwarden_alerts_total"));
}
