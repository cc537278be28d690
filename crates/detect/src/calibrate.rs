//! Thresholds from training scores, and the map that puts every detector's
//! threshold at 0.5 so scores of different detectors compare.

use serde::{Deserialize, Serialize};

/// How a threshold is derived from the training score distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ThresholdRule {
    /// Quantile of the training scores, e.g. 0.9999.
    pub quantile: f64,
    /// Added to the quantile: training traffic is normal by assumption, so
    /// only what goes clearly past its tail is reported.
    pub margin: f64,
    /// Thresholds are kept in `[floor, ceiling]`.
    pub floor: f64,
    pub ceiling: f64,
}

impl Default for ThresholdRule {
    fn default() -> Self {
        ThresholdRule {
            quantile: 0.9999,
            margin: 0.03,
            floor: 0.55,
            ceiling: 0.95,
        }
    }
}

impl ThresholdRule {
    /// The threshold for these training scores (`ceiling` when there are none).
    pub fn threshold(&self, scores: &[f64]) -> f64 {
        match quantile(scores, self.quantile) {
            Some(q) => (q + self.margin).clamp(self.floor, self.ceiling),
            None => self.ceiling,
        }
    }
}

/// The `q` quantile (nearest rank, q in [0,1]) of finite values.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * (v.len() - 1) as f64).round() as usize;
    v.get(rank.min(v.len() - 1)).copied()
}

/// Piecewise-linear map of a raw score in [0,1] with threshold `t` to [0,1]:
/// `0 → 0`, `t → 0.5`, `1 → 1`. Over threshold ⇔ calibrated > 0.5.
pub fn calibrate(raw: f64, threshold: f64) -> f64 {
    let t = threshold.clamp(1e-6, 1.0 - 1e-6);
    let raw = if raw.is_finite() {
        raw.clamp(0.0, 1.0)
    } else {
        0.0
    };
    if raw <= t {
        0.5 * raw / t
    } else {
        0.5 + 0.5 * (raw - t) / (1.0 - t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_maps_to_one_half() {
        for t in [0.3, 0.55, 0.9] {
            assert!((calibrate(t, t) - 0.5).abs() < 1e-12);
            assert!(calibrate(t + 0.01, t) > 0.5);
            assert!(calibrate(t - 0.01, t) < 0.5);
            assert_eq!(calibrate(0.0, t), 0.0);
            assert!((calibrate(1.0, t) - 1.0).abs() < 1e-12);
        }
        assert_eq!(calibrate(f64::NAN, 0.5), 0.0);
    }

    #[test]
    fn calibration_is_monotone() {
        let mut last = -1.0;
        for i in 0..=100 {
            let c = calibrate(i as f64 / 100.0, 0.62);
            assert!(c >= last);
            last = c;
        }
    }

    #[test]
    fn threshold_sits_above_nearly_all_training_scores() {
        let scores: Vec<f64> = (0..10_000)
            .map(|i| 0.3 + 0.3 * (i as f64 / 10_000.0))
            .collect();
        let rule = ThresholdRule::default();
        let t = rule.threshold(&scores);
        let over = scores.iter().filter(|s| **s > t).count();
        assert_eq!(over, 0);
        assert!(t < 0.7);
        assert_eq!(rule.threshold(&[]), rule.ceiling);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
    }
}
