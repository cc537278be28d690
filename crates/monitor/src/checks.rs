//! The deviation tests of one window against its baseline.

use crate::model::{ApiBaseline, SeriesBaseline};
use crate::window::WindowStats;
use crate::{MonitorConfig, MonitorKind};
use apiwarden_alert::{Evidence, Severity};

/// Share of slow requests in a window that makes a latency regression.
const SLOW_SHARE: f64 = 0.35;

/// One window that deviates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deviation {
    pub kind: MonitorKind,
    pub score: f64,
    pub threshold: f64,
    pub severity: Severity,
    pub evidence: Vec<Evidence>,
}

fn evidence(feature: impl Into<String>, observed: f64, baseline: f64) -> Evidence {
    Evidence {
        feature: feature.into(),
        observed: round3(observed),
        baseline: round3(baseline),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// Binomial z-score of `k` successes in `n` trials against rate `p`.
fn binomial_z(k: u64, n: u64, p: f64) -> f64 {
    let n = n as f64;
    let p = p.clamp(1e-6, 1.0 - 1e-6);
    (k as f64 - n * p) / (n * p * (1.0 - p)).sqrt()
}

/// Chance of at least `k` successes in `n` trials at rate `p` (exact; `n`
/// is a window's count on a quiet endpoint, so the sum is short).
fn binomial_tail(k: u64, n: u64, p: f64) -> f64 {
    let p = p.clamp(1e-9, 1.0);
    let mut term = (1.0 - p).powf(n as f64); // P(X = 0)
    let mut tail = if k == 0 { term } else { 0.0 };
    for i in 1..=n {
        // P(X = i) from P(X = i - 1).
        term *= (n - i + 1) as f64 / i as f64 * p / (1.0 - p).max(1e-12);
        if i >= k {
            tail += term;
        }
    }
    tail.min(1.0)
}

/// One-sided normal tail beyond `z` (asymptotic series, fine from z = 3):
/// the chance a z-score threshold stands for.
fn normal_tail(z: f64) -> f64 {
    let z = z.max(3.0);
    let z2 = z * z;
    (-z2 / 2.0).exp() / (z * (2.0 * std::f64::consts::PI).sqrt())
        * (1.0 - 1.0 / z2 + 3.0 / (z2 * z2))
}

/// Median latency up by `latency_ratio` (and p95 above the baseline p95).
/// Below `min_window_samples` (a quiet endpoint, or one starved by a flood
/// elsewhere) the median says little, but a window of slow requests still
/// does: it is judged by the exact chance of that many slow ones.
pub(crate) fn latency(
    w: &WindowStats,
    base: &SeriesBaseline,
    cfg: &MonitorConfig,
) -> Option<Deviation> {
    if w.requests < cfg.min_window_samples {
        return few_slow(w, base, cfg);
    }
    let (p50, p95, p99) = (
        w.latency.quantile(0.5),
        w.latency.quantile(0.95),
        w.latency.quantile(0.99),
    );
    let reference = base.latency_p50_ms.max(1.0);
    let ratio = p50 / reference;
    let median_up = ratio >= cfg.latency_ratio
        && p50 - base.latency_p50_ms >= cfg.latency_min_increase_ms
        && p95 >= base.latency_p95_ms;
    // A third of the window slow is a regression already starting (the
    // median follows a few ticks later): it saves those ticks on a step.
    let slow_share = w.slow as f64 / w.requests as f64;
    let slow_z = binomial_z(w.slow, w.requests, base.slow_ratio.max(0.01));
    let slow_up = w.slow >= cfg.min_errors && slow_share >= SLOW_SHARE && slow_z >= cfg.z_threshold;
    // The score is the median ratio once the median moved, else the slow share's z-score.
    let (score, threshold) = match (median_up, slow_up) {
        (true, _) => (ratio, cfg.latency_ratio),
        (false, true) => (slow_z, cfg.z_threshold),
        (false, false) => return None,
    };
    let severity = if ratio >= 3.0 * cfg.latency_ratio {
        Severity::Critical
    } else if ratio >= 1.5 * cfg.latency_ratio {
        Severity::High
    } else {
        Severity::Medium
    };
    Some(Deviation {
        kind: MonitorKind::LatencyRegression,
        score: round3(score),
        threshold,
        severity,
        evidence: vec![
            evidence("latency_p95_ms", p95, base.latency_p95_ms),
            evidence("latency_p50_ms", p50, base.latency_p50_ms),
            evidence("latency_p99_ms", p99, base.latency_p99_ms),
            evidence("slow_request_share", slow_share, base.slow_ratio),
        ],
    })
}

/// A window below `min_window_samples` that is mostly slow: at least
/// `min_errors` slow requests, a `SLOW_SHARE` of them, and as unlikely under
/// the baseline's slow share as the z-score threshold (exact binomial tail:
/// the normal approximation overstates a few requests' weight).
fn few_slow(w: &WindowStats, base: &SeriesBaseline, cfg: &MonitorConfig) -> Option<Deviation> {
    if w.requests == 0 || w.slow < cfg.min_errors {
        return None;
    }
    let share = w.slow as f64 / w.requests as f64;
    let p = base.slow_ratio.max(0.01);
    if share < SLOW_SHARE || binomial_tail(w.slow, w.requests, p) > normal_tail(cfg.z_threshold) {
        return None;
    }
    let p50 = w.latency.quantile(0.5);
    let ratio = p50 / base.latency_p50_ms.max(1.0);
    let z = binomial_z(w.slow, w.requests, p);
    Some(Deviation {
        kind: MonitorKind::LatencyRegression,
        score: round3(z),
        threshold: cfg.z_threshold,
        severity: if ratio >= 1.5 * cfg.latency_ratio {
            Severity::High
        } else {
            Severity::Medium
        },
        evidence: vec![
            evidence(
                "latency_p95_ms",
                w.latency.quantile(0.95),
                base.latency_p95_ms,
            ),
            evidence("latency_p50_ms", p50, base.latency_p50_ms),
            evidence(
                "latency_p99_ms",
                w.latency.quantile(0.99),
                base.latency_p99_ms,
            ),
            evidence("slow_request_share", share, base.slow_ratio),
        ],
    })
}

/// 5xx (or 4xx) ratio well above the baseline's, by count and by z-score.
pub(crate) fn errors(
    w: &WindowStats,
    base: &SeriesBaseline,
    cfg: &MonitorConfig,
) -> Option<Deviation> {
    if w.requests < cfg.min_window_samples {
        return None;
    }
    let classes = [
        (
            "5xx",
            w.errors_5xx,
            base.error_ratio_5xx.max(0.002),
            cfg.error_ratio_increase,
        ),
        (
            "4xx",
            w.errors_4xx,
            base.error_ratio_4xx.max(0.01),
            2.0 * cfg.error_ratio_increase,
        ),
    ];
    let mut worst: Option<Deviation> = None;
    for (class, errors, baseline, increase) in classes {
        let ratio = errors as f64 / w.requests as f64;
        let z = binomial_z(errors, w.requests, baseline);
        if errors < cfg.min_errors || ratio < baseline + increase || z < cfg.z_threshold {
            continue;
        }
        if worst.as_ref().is_some_and(|d| d.score >= z) {
            continue;
        }
        let severity = match (class, ratio) {
            ("5xx", r) if r >= 0.5 => Severity::Critical,
            (_, r) if r >= 0.5 => Severity::High,
            (_, r) if r >= 0.2 => Severity::Medium,
            _ => Severity::Low,
        };
        worst = Some(Deviation {
            kind: MonitorKind::ErrorRateSpike,
            score: round3(z),
            threshold: cfg.z_threshold,
            severity,
            evidence: vec![
                evidence(format!("error_ratio_{class}"), ratio, baseline),
                evidence(
                    format!("errors_{class}"),
                    errors as f64,
                    baseline * w.requests as f64,
                ),
            ],
        });
    }
    worst
}

/// Median response size off by `response_size_ratio` either way.
pub(crate) fn response_size(
    w: &WindowStats,
    base: &SeriesBaseline,
    cfg: &MonitorConfig,
) -> Option<Deviation> {
    // Bodiless endpoints have nothing to shift; sizes are of 2xx responses.
    if w.response_bytes.total() < cfg.min_window_samples || base.response_bytes_p50 < 64.0 {
        return None;
    }
    let p50 = w.response_bytes.quantile(0.5);
    let ratio = p50.max(1.0) / base.response_bytes_p50;
    let score = ratio.max(1.0 / ratio);
    if score < cfg.response_size_ratio {
        return None;
    }
    Some(Deviation {
        kind: MonitorKind::ResponseSizeShift,
        score: round3(score),
        threshold: cfg.response_size_ratio,
        severity: if score >= 3.0 * cfg.response_size_ratio {
            Severity::High
        } else {
            Severity::Medium
        },
        evidence: vec![
            evidence("response_bytes_p50", p50, base.response_bytes_p50),
            evidence(
                "response_bytes_p95",
                w.response_bytes.quantile(0.95),
                base.response_bytes_p95,
            ),
        ],
    })
}

/// Requests far above or below what this hour of day usually brings.
/// `silence_arrivals`: client arrivals the baseline expected since the
/// API's last request (`None` when the model has no arrival rates).
pub(crate) fn traffic(
    requests: u64,
    expected: f64,
    window_seconds: f64,
    silence_arrivals: Option<f64>,
    cfg: &MonitorConfig,
) -> Option<Deviation> {
    let n = requests as f64;
    let rate = |count: f64| count / window_seconds.max(1.0);
    let evidence = vec![evidence("requests_per_second", rate(n), rate(expected))];
    let spread = (expected.max(1.0) * cfg.traffic_dispersion).sqrt();
    let z = (n - expected) / spread;
    if n >= cfg.surge_ratio * expected.max(1.0)
        && z >= cfg.z_threshold
        && n >= 2.0 * cfg.min_window_samples as f64
    {
        let ratio = n / expected.max(1.0);
        return Some(Deviation {
            kind: MonitorKind::TrafficSurge,
            score: round3(ratio),
            threshold: cfg.surge_ratio,
            severity: if ratio >= 3.0 * cfg.surge_ratio {
                Severity::High
            } else {
                Severity::Medium
            },
            evidence,
        });
    }
    // Silence where many requests were due is a drop even below the z-score
    // (which needs ~200 requests a window once sessions are accounted for),
    // once it lasted long enough that so many sessions should have begun
    // that it cannot be chance: ~30 requests a minute can be 3 sessions.
    let silent = requests == 0
        && silence_arrivals.is_none_or(|arrivals| arrivals >= cfg.min_silence_arrivals);
    if expected >= cfg.min_expected_for_drop
        && n <= cfg.drop_ratio * expected
        && (-z >= cfg.z_threshold || silent)
    {
        let ratio = expected / n.max(1.0);
        return Some(Deviation {
            kind: MonitorKind::TrafficDrop,
            score: round3(ratio),
            threshold: 1.0 / cfg.drop_ratio,
            severity: if requests == 0 {
                Severity::Critical
            } else {
                Severity::High
            },
            evidence,
        });
    }
    None
}

/// A country's share of the window's distinct clients far from its
/// baseline for this hour of day (a new one, or one that vanished).
/// `exact`: also require the exact binomial chance of the count to be as
/// small as the z-score threshold's, at the country's own baseline share
/// (at least 1%) — for spans pooled from quiet windows, where the clients
/// are few and the normal approximation (with its 3% floor) is weakest.
pub(crate) fn countries(
    w: &WindowStats,
    base: &ApiBaseline,
    names: &[String],
    at_ms: i64,
    exact: bool,
    cfg: &MonitorConfig,
) -> Option<Deviation> {
    if w.clients < cfg.min_country_clients {
        return None;
    }
    let n = w.clients as f64;
    let clients_of = |name: &str| {
        names
            .iter()
            .position(|c| crate::same_name(c, name))
            .and_then(|i| w.client_countries.iter().find(|c| usize::from(c.0) == i))
            .map_or(0, |c| c.1)
    };
    let mut candidates: Vec<(&str, u64)> = w
        .client_countries
        .iter()
        .filter_map(|&(i, k)| Some((names.get(usize::from(i))?.as_str(), k)))
        .collect();
    for c in &base.countries {
        if !candidates
            .iter()
            .any(|(name, _)| crate::same_name(name, &c.country))
        {
            candidates.push((&c.country, clients_of(&c.country)));
        }
    }
    let mut worst: Option<(f64, Deviation)> = None;
    for (name, k) in candidates {
        let p = base.country_share_at(name, at_ms);
        let share = k as f64 / n;
        // A floor on the rate keeps a rare country from a huge z on a few clients.
        let z = (k as f64 - n * p) / (n * p.max(0.03) * (1.0 - p).max(0.03)).sqrt();
        let grew = share > p && k >= cfg.min_shifted_clients;
        if (share - p).abs() < cfg.country_share_change
            || z.abs() < cfg.z_threshold
            || !(grew || share < p)
        {
            continue;
        }
        if exact {
            let rate = p.clamp(0.01, 0.99);
            let chance = if grew {
                binomial_tail(k, w.clients, rate)
            } else {
                // At most k of n at `rate` is at least n - k failures.
                binomial_tail(w.clients.saturating_sub(k), w.clients, 1.0 - rate)
            };
            if chance > normal_tail(cfg.z_threshold) {
                continue;
            }
        }
        if worst.as_ref().is_some_and(|(best, _)| *best >= z.abs()) {
            continue;
        }
        let label = if name.is_empty() { "unknown" } else { name };
        let deviation = Deviation {
            kind: MonitorKind::CountryShift,
            score: round3(z.abs()),
            threshold: cfg.z_threshold,
            severity: if (share - p).abs() >= 0.4 {
                Severity::High
            } else {
                Severity::Medium
            },
            evidence: vec![evidence(format!("country_client_share_{label}"), share, p)],
        };
        worst = Some((z.abs(), deviation));
    }
    worst.map(|(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail_is_exact() {
        assert!((binomial_tail(0, 5, 0.3) - 1.0).abs() < 1e-12);
        assert!((binomial_tail(5, 5, 0.01) - 1e-10).abs() < 1e-15);
        // P(X >= 2 | 3, 0.5) = 4/8.
        assert!((binomial_tail(2, 3, 0.5) - 0.5).abs() < 1e-12);
        assert!((normal_tail(6.0) - 9.87e-10).abs() < 0.05e-10);
    }
}
