//! Detection quality against labels: ranking metrics, episode recall,
//! typing accuracy, time to detect and false alerts.
//!
//! Inputs are CONTRACT §2 files: labels (`{"id", "label", "episode"}` per
//! test record, optionally `"ts"` in epoch ms and `"variant"` (`"loud"` /
//! `"subtle"`) — extensions the simulator writes), scores (`apiwarden score --out`, one line per record in the same
//! order) and optionally alerts (`--alerts`, CONTRACT §4).
//!
//! Definitions:
//! - ROC AUC / average precision per attack type: positives are that type's
//!   records, negatives the benign records; record `score` ranks them.
//! - An episode is detected when an alert's `request_ids` include one of its
//!   records (with alerts), or when one of its records has a non-null
//!   `attack` in the scores (without). It is typed right when one of those
//!   alerts (or flagged records) names the episode's type.
//! - Time to detect: the earliest detecting alert's `first_seen` (or first
//!   flagged record's `ts`) minus the episode's first record `ts`, floored at
//!   0; in lines instead of milliseconds when labels have no `ts`. The loud
//!   median counts only episodes whose labels say `"variant": "loud"`.
//! - False alerts: attack alerts whose known request ids are all benign
//!   (monitoring-family alerts are not counted); without alerts, flagged
//!   benign records. Reported per million benign records.

pub mod input;
pub mod metrics;
mod report;

pub use input::{AlertLine, LabelLine, ScoreLine};
pub use report::{AlertCounts, EpisodeReport, Report, TimeUnit, TypeReport};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}{}: {reason}", field.as_ref().map(|f| format!(", field `{f}`")).unwrap_or_default())]
    Malformed {
        path: PathBuf,
        line: usize,
        field: Option<String>,
        reason: String,
    },
    #[error("{labels} labels but {scores} scores: the scores must cover the labelled records one for one, in order")]
    LineCount { labels: usize, scores: usize },
    #[error("record {line} (1-based, non-blank lines): label id {label_id:?} but score id {score_id:?}: scores and labels are not in the same order")]
    IdMismatch {
        line: usize,
        label_id: String,
        score_id: String,
    },
    #[error("no records to evaluate")]
    Empty,
}

/// Reads the files and evaluates.
pub fn evaluate(labels: &Path, scores: &Path, alerts: Option<&Path>) -> Result<Report, EvalError> {
    let labels = input::read_labels(labels)?;
    let scores = input::read_scores(scores)?;
    let alerts = alerts.map(input::read_alerts).transpose()?;
    evaluate_lines(&labels, &scores, alerts.as_deref())
}

/// Where an episode is and whether/how it was caught.
#[derive(Debug, Default)]
struct EpisodeState {
    attack: String,
    /// First record's instant (ms or line, as `TimeUnit` says).
    start: i64,
    /// Earliest detection instant (ms or line) and whether any detection typed it right.
    detected_at: Option<i64>,
    typed_right: bool,
    records: usize,
    /// The labels' variant of the episode's first record, if given.
    variant: Option<String>,
    /// Attack types the detections named, for the per-episode listing.
    named: BTreeSet<String>,
}

impl EpisodeState {
    fn time_to_detect(&self) -> Option<f64> {
        self.detected_at
            .map(|at| at.saturating_sub(self.start).max(0) as f64)
    }

    fn detect(&mut self, at: i64, attack: &str) {
        self.detected_at = Some(self.detected_at.map_or(at, |d| d.min(at)));
        self.typed_right |= attack == self.attack;
        if !self.named.contains(attack) {
            self.named.insert(attack.to_string());
        }
    }
}

/// Evaluates already-parsed inputs (labels and scores in the same order).
pub fn evaluate_lines(
    labels: &[LabelLine],
    scores: &[ScoreLine],
    alerts: Option<&[AlertLine]>,
) -> Result<Report, EvalError> {
    if labels.len() != scores.len() {
        return Err(EvalError::LineCount {
            labels: labels.len(),
            scores: scores.len(),
        });
    }
    if labels.is_empty() {
        return Err(EvalError::Empty);
    }
    for (i, (l, s)) in labels.iter().zip(scores).enumerate() {
        if let Some(score_id) = &s.id {
            if *score_id != l.id {
                return Err(EvalError::IdMismatch {
                    line: i + 1,
                    label_id: l.id.clone(),
                    score_id: score_id.clone(),
                });
            }
        }
    }
    let has_ts = labels.iter().all(|l| l.ts_ms.is_some());
    let time_unit = if has_ts {
        TimeUnit::Milliseconds
    } else {
        TimeUnit::Lines
    };
    let instant = |line: usize| -> i64 {
        match (has_ts, labels.get(line).and_then(|l| l.ts_ms)) {
            (true, Some(ts)) => ts,
            _ => line as i64,
        }
    };

    // Episodes, keyed by id; the first record gives type and start.
    let mut episodes: BTreeMap<&str, EpisodeState> = BTreeMap::new();
    for (line, l) in labels.iter().enumerate() {
        if let (Some(attack), Some(episode)) = (&l.attack, &l.episode) {
            episodes
                .entry(episode.as_str())
                .or_insert_with(|| EpisodeState {
                    attack: attack.clone(),
                    start: instant(line),
                    variant: l.variant.clone(),
                    ..EpisodeState::default()
                })
                .records += 1;
        }
    }

    let benign_records = labels.iter().filter(|l| l.attack.is_none()).count();
    let benign_flagged = labels
        .iter()
        .zip(scores)
        .filter(|(l, s)| l.attack.is_none() && s.attack.is_some())
        .count();

    let alert_counts = match alerts {
        Some(alerts) => {
            let line_of: HashMap<&str, usize> = labels
                .iter()
                .enumerate()
                .map(|(i, l)| (l.id.as_str(), i))
                .collect();
            let mut counts = AlertCounts::default();
            for alert in alerts {
                counts.total += 1;
                if alert.monitoring {
                    counts.monitoring += 1;
                    continue;
                }
                let lines: Vec<usize> = alert
                    .request_ids
                    .iter()
                    .filter_map(|id| line_of.get(id.as_str()).copied())
                    .collect();
                if lines.is_empty() {
                    counts.unmatched += 1;
                    continue;
                }
                let touched: BTreeSet<&str> = lines
                    .iter()
                    .filter_map(|&i| labels[i].episode.as_deref())
                    .collect();
                let any_attack = lines.iter().any(|&i| labels[i].attack.is_some());
                if any_attack {
                    counts.true_alerts += 1;
                } else {
                    counts.false_alerts += 1;
                }
                for episode in touched {
                    if let Some(state) = episodes.get_mut(episode) {
                        let at = if has_ts {
                            alert.first_seen_ms
                        } else {
                            lines
                                .iter()
                                .filter(|&&i| labels[i].episode.as_deref() == Some(episode))
                                .min()
                                .map_or(0, |&i| i as i64)
                        };
                        state.detect(at, &alert.attack);
                    }
                }
            }
            Some(counts)
        }
        None => {
            for (line, (l, s)) in labels.iter().zip(scores).enumerate() {
                if let (Some(episode), Some(flag)) = (&l.episode, &s.attack) {
                    if let Some(state) = episodes.get_mut(episode.as_str()) {
                        state.detect(instant(line), flag);
                    }
                }
            }
            None
        }
    };

    let false_alerts = alert_counts
        .as_ref()
        .map_or(benign_flagged, |c| c.false_alerts);
    let per_million = |n: usize| {
        if benign_records == 0 {
            0.0
        } else {
            n as f64 * 1e6 / benign_records as f64
        }
    };

    let types: BTreeSet<&str> = labels.iter().filter_map(|l| l.attack.as_deref()).collect();
    let mut per_type: Vec<TypeReport> = types
        .iter()
        .map(|&t| type_report(t, Some(t), labels, scores, &episodes))
        .collect();
    let overall = type_report("all", None, labels, scores, &episodes);
    per_type.sort_by(|a, b| a.attack.cmp(&b.attack));

    let mut episode_reports: Vec<EpisodeReport> = episodes
        .iter()
        .map(|(id, e)| EpisodeReport {
            episode: id.to_string(),
            attack: e.attack.clone(),
            records: e.records,
            detected: e.detected_at.is_some(),
            typed_right: e.detected_at.is_some() && e.typed_right,
            detected_as: e.named.iter().cloned().collect(),
            time_to_detect: e.time_to_detect(),
            variant: e.variant.clone(),
        })
        .collect();
    episode_reports
        .sort_by(|a, b| (a.episode.len(), &a.episode).cmp(&(b.episode.len(), &b.episode)));

    Ok(Report {
        episodes: episode_reports,
        records: labels.len(),
        benign_records,
        attack_records: labels.len() - benign_records,
        detection_source: if alert_counts.is_some() {
            "alerts"
        } else {
            "scores"
        }
        .to_string(),
        time_unit,
        overall,
        per_type,
        alerts: alert_counts,
        false_alerts,
        false_alerts_per_million_benign: per_million(false_alerts),
        benign_flagged,
        benign_flagged_per_million: per_million(benign_flagged),
        rejected_records: scores.iter().filter(|s| s.rejected).count(),
    })
}

/// Metrics of one attack type (`only = Some(type)`) or of all attacks together.
fn type_report(
    name: &str,
    only: Option<&str>,
    labels: &[LabelLine],
    scores: &[ScoreLine],
    episodes: &BTreeMap<&str, EpisodeState>,
) -> TypeReport {
    let selected = |l: &LabelLine| match (&l.attack, only) {
        (Some(a), Some(t)) => a == t,
        (Some(_), None) => true,
        (None, _) => false,
    };
    let mut ranked_scores = Vec::new();
    let mut positive = Vec::new();
    let mut records = 0;
    let mut flagged = 0;
    for (l, s) in labels.iter().zip(scores) {
        let is_positive = selected(l);
        if is_positive || l.attack.is_none() {
            ranked_scores.push(s.score);
            positive.push(is_positive);
        }
        if is_positive {
            records += 1;
            flagged += usize::from(s.attack.is_some());
        }
    }
    let mut mine: Vec<(&str, &EpisodeState)> = episodes
        .iter()
        .filter(|(_, e)| only.is_none_or(|t| e.attack == t))
        .map(|(id, e)| (*id, e))
        .collect();
    // "E2" before "E10".
    mine.sort_by(|a, b| (a.0.len(), a.0).cmp(&(b.0.len(), b.0)));
    let delays_of = |loud_only: bool| {
        let mut delays: Vec<f64> = mine
            .iter()
            .filter(|(_, e)| !loud_only || e.variant.as_deref() == Some("loud"))
            .filter_map(|(_, e)| e.time_to_detect())
            .collect();
        delays.sort_by(f64::total_cmp);
        delays
    };
    let delays = delays_of(false);
    let loud_delays = delays_of(true);
    let detected = mine.iter().filter(|(_, e)| e.detected_at.is_some()).count();
    TypeReport {
        attack: name.to_string(),
        records,
        flagged,
        roc_auc: metrics::roc_auc(&ranked_scores, &positive),
        average_precision: metrics::average_precision(&ranked_scores, &positive),
        episodes: mine.len(),
        episodes_detected: detected,
        episode_recall: (!mine.is_empty()).then(|| detected as f64 / mine.len() as f64),
        episodes_typed_right: mine
            .iter()
            .filter(|(_, e)| e.detected_at.is_some() && e.typed_right)
            .count(),
        median_time_to_detect: median(&delays),
        loud_median_time_to_detect: median(&loud_delays),
        max_time_to_detect: delays.last().copied(),
        missed_episodes: mine
            .iter()
            .filter(|(_, e)| e.detected_at.is_none())
            .map(|(id, _)| id.to_string())
            .collect(),
    }
}

fn median(sorted: &[f64]) -> Option<f64> {
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => Some(sorted[n / 2]),
        n => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}
