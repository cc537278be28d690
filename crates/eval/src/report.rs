//! The evaluation report: a readable table (Display) and JSON (Serialize).

use serde::Serialize;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeUnit {
    /// Labels carried `ts`: times to detect are in milliseconds.
    Milliseconds,
    /// No `ts` in the labels: times to detect are counted in records (lines).
    Lines,
}

/// Metrics of one attack type, or of all attacks (`attack == "all"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeReport {
    pub attack: String,
    pub records: usize,
    /// Records of this type with a non-null `attack` in the scores.
    pub flagged: usize,
    /// Versus benign records; `None` without positives or negatives.
    pub roc_auc: Option<f64>,
    pub average_precision: Option<f64>,
    pub episodes: usize,
    pub episodes_detected: usize,
    pub episode_recall: Option<f64>,
    pub episodes_typed_right: usize,
    pub median_time_to_detect: Option<f64>,
    /// Over detected episodes the labels call `"loud"`; `None` without such labels.
    pub loud_median_time_to_detect: Option<f64>,
    pub max_time_to_detect: Option<f64>,
    pub missed_episodes: Vec<String>,
}

/// One episode's outcome (JSON report only).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EpisodeReport {
    pub episode: String,
    pub attack: String,
    pub records: usize,
    pub detected: bool,
    pub typed_right: bool,
    /// Attack types the detecting alerts (or flagged records) named.
    pub detected_as: Vec<String>,
    pub time_to_detect: Option<f64>,
    /// `"loud"` / `"subtle"` when the labels say.
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertCounts {
    pub total: usize,
    /// Alerts with at least one attack record among their request ids.
    pub true_alerts: usize,
    /// Attack alerts whose known request ids are all benign.
    pub false_alerts: usize,
    /// Alerts none of whose request ids is a labelled record.
    pub unmatched: usize,
    /// Monitoring-family alerts (not attack claims; not counted either way).
    pub monitoring: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub records: usize,
    pub benign_records: usize,
    pub attack_records: usize,
    /// `"alerts"` when an alerts file was given, else `"scores"`.
    pub detection_source: String,
    pub time_unit: TimeUnit,
    pub overall: TypeReport,
    pub per_type: Vec<TypeReport>,
    pub alerts: Option<AlertCounts>,
    /// False alerts (or flagged benign records without an alerts file).
    pub false_alerts: usize,
    pub false_alerts_per_million_benign: f64,
    pub benign_flagged: usize,
    pub benign_flagged_per_million: f64,
    /// Records the scorer rejected (`"score": null`); ranked as score 0.
    pub rejected_records: usize,
    /// Every episode, in episode order.
    pub episodes: Vec<EpisodeReport>,
}

impl Report {
    pub fn type_report(&self, attack: &str) -> Option<&TypeReport> {
        self.per_type.iter().find(|t| t.attack == attack)
    }
}

fn opt3(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.3}"))
}

fn duration(v: Option<f64>, unit: TimeUnit) -> String {
    match (v, unit) {
        (None, _) => "-".to_string(),
        (Some(ms), TimeUnit::Milliseconds) if ms >= 3_600_000.0 => {
            format!("{:.1}h", ms / 3_600_000.0)
        }
        (Some(ms), TimeUnit::Milliseconds) if ms >= 60_000.0 => format!("{:.1}m", ms / 60_000.0),
        (Some(ms), TimeUnit::Milliseconds) => format!("{:.1}s", ms / 1_000.0),
        (Some(lines), TimeUnit::Lines) => format!("{lines:.0} lines"),
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "records {} (benign {}, attack {}); episodes detected from {}",
            self.records, self.benign_records, self.attack_records, self.detection_source
        )?;
        writeln!(
            f,
            "{:<20} {:>8} {:>8} {:>7} {:>7} {:>9} {:>7} {:>6} {:>9} {:>9} {:>9}",
            "attack",
            "records",
            "flagged",
            "roc_auc",
            "avg_pr",
            "episodes",
            "recall",
            "typed",
            "ttd_med",
            "ttd_loud",
            "ttd_max"
        )?;
        for t in self.per_type.iter().chain(std::iter::once(&self.overall)) {
            writeln!(
                f,
                "{:<20} {:>8} {:>8} {:>7} {:>7} {:>9} {:>7} {:>6} {:>9} {:>9} {:>9}",
                t.attack,
                t.records,
                t.flagged,
                opt3(t.roc_auc),
                opt3(t.average_precision),
                format!("{}/{}", t.episodes_detected, t.episodes),
                opt3(t.episode_recall),
                t.episodes_typed_right,
                duration(t.median_time_to_detect, self.time_unit),
                duration(t.loud_median_time_to_detect, self.time_unit),
                duration(t.max_time_to_detect, self.time_unit),
            )?;
        }
        if let Some(a) = &self.alerts {
            writeln!(
                f,
                "alerts {}: {} true, {} false, {} unmatched, {} monitoring",
                a.total, a.true_alerts, a.false_alerts, a.unmatched, a.monitoring
            )?;
        }
        writeln!(
            f,
            "false alerts per million benign records: {:.1} ({} false)",
            self.false_alerts_per_million_benign, self.false_alerts
        )?;
        writeln!(
            f,
            "benign records flagged: {} ({:.1} per million)",
            self.benign_flagged, self.benign_flagged_per_million
        )?;
        if self.rejected_records > 0 {
            writeln!(
                f,
                "records rejected by the scorer (ranked as score 0): {}",
                self.rejected_records
            )?;
        }
        let missed: Vec<&str> = self
            .per_type
            .iter()
            .flat_map(|t| t.missed_episodes.iter().map(String::as_str))
            .collect();
        if !missed.is_empty() {
            writeln!(f, "missed episodes: {}", missed.join(" "))?;
        }
        Ok(())
    }
}
