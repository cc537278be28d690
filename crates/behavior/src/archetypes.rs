//! Archetypes of entity behavior: KMeans (linfa) over standardized log features; the distance
//! to the nearest centroid, scaled by that cluster's spread, is a second anomaly score.

use crate::features::{FeatureVector, N_FEATURES};
use crate::BehaviorError;
use linfa::traits::Fit;
use linfa::DatasetBase;
use linfa_clustering::KMeans;
use ndarray::Array2;
use rand::SeedableRng;
use rand_xoshiro::Xoshiro256Plus;
use serde::{Deserialize, Serialize};

/// Smallest spread a cluster may claim, in standard deviations: a cluster of identical
/// rows must not turn every tiny difference into a huge score.
const MIN_SPREAD: f64 = 0.25;
/// A cluster's spread: this quantile of its members' distances.
const SPREAD_QUANTILE: f64 = 0.95;
/// Rows KMeans itself sees (an even subsample of the reservoir).
const MAX_CLUSTER_ROWS: usize = 1500;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Archetypes {
    /// Standardization of the log features.
    pub mean: Vec<f64>,
    pub std: Vec<f64>,
    pub centroids: Vec<Vec<f64>>,
    pub spread: Vec<f64>,
    /// Calibrated threshold on `distance / spread`.
    pub threshold: f64,
}

impl Archetypes {
    /// Fit on rows of log features.
    pub fn fit(
        rows: &[FeatureVector],
        k: usize,
        seed: u64,
        q: f64,
        margin: f64,
    ) -> Result<Archetypes, BehaviorError> {
        let n = rows.len();
        let k = k.min(n / 10).max(1);
        let mut mean = vec![0.0; N_FEATURES];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(r.iter()) {
                *m += v / n as f64;
            }
        }
        let mut std = vec![0.0; N_FEATURES];
        for r in rows {
            for ((s, v), m) in std.iter_mut().zip(r.iter()).zip(mean.iter()) {
                *s += (v - m).powi(2) / n as f64;
            }
        }
        for s in &mut std {
            // Constant features stay at 0 after standardization instead of blowing up.
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        let mut data = Array2::<f64>::zeros((n, N_FEATURES));
        for (i, r) in rows.iter().enumerate() {
            for j in 0..N_FEATURES {
                data[[i, j]] = (r[j] - mean[j]) / std[j];
            }
        }
        // Centroids settle on a few thousand rows; the full reservoir only sets the spreads.
        let step = n.div_ceil(MAX_CLUSTER_ROWS).max(1);
        let fit_rows: Vec<usize> = (0..n).step_by(step).collect();
        let fit_data = data.select(ndarray::Axis(0), &fit_rows);
        let model = KMeans::params_with_rng(k, Xoshiro256Plus::seed_from_u64(seed))
            .n_runs(2)
            .max_n_iterations(100)
            .tolerance(1e-4)
            .fit(&DatasetBase::from(fit_data))
            .map_err(|e| BehaviorError::Clustering(e.to_string()))?;
        let centroids: Vec<Vec<f64>> = model
            .centroids()
            .rows()
            .into_iter()
            .map(|r| r.to_vec())
            .collect();
        let mut arch = Archetypes {
            mean,
            std,
            spread: vec![MIN_SPREAD; centroids.len()],
            centroids,
            threshold: f64::INFINITY,
        };
        let mut members: Vec<Vec<f64>> = vec![Vec::new(); arch.centroids.len()];
        for r in data.rows() {
            let (c, d) = arch.nearest_standardized(r.as_slice().unwrap_or(&[]));
            if let Some(m) = members.get_mut(c) {
                m.push(d);
            }
        }
        for (s, m) in arch.spread.iter_mut().zip(members.iter_mut()) {
            *s = quantile(m, SPREAD_QUANTILE).max(MIN_SPREAD);
        }
        let mut scores: Vec<f64> = rows.iter().map(|r| arch.score(r).1).collect();
        arch.threshold = quantile(&mut scores, q) * margin;
        Ok(arch)
    }

    fn nearest_standardized(&self, x: &[f64]) -> (usize, f64) {
        let mut best = (0, f64::INFINITY);
        for (i, c) in self.centroids.iter().enumerate() {
            let d2: f64 = c.iter().zip(x.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
            if d2 < best.1 {
                best = (i, d2);
            }
        }
        (best.0, best.1.sqrt())
    }

    /// Nearest archetype and the distance to it in units of its spread (log features in).
    pub fn score(&self, log_row: &FeatureVector) -> (usize, f64) {
        let mut x = [0.0; N_FEATURES];
        for (j, xv) in x.iter_mut().enumerate() {
            let (m, s) = (
                self.mean.get(j).copied().unwrap_or(0.0),
                self.std.get(j).copied().unwrap_or(1.0),
            );
            *xv = (log_row[j] - m) / s;
        }
        let (c, d) = self.nearest_standardized(&x);
        let spread = self.spread.get(c).copied().unwrap_or(MIN_SPREAD);
        (c, d / spread)
    }
}

/// The `q` quantile (nearest rank) of `v`, sorting it; 0 for an empty slice.
pub(crate) fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let idx = ((v.len() as f64 - 1.0) * q.clamp(0.0, 1.0)).round() as usize;
    v.get(idx).copied().unwrap_or(0.0)
}
