//! Hyper-parameters, checked once before fitting (linfa's params → checked
//! params → model pattern).

use crate::build::fit_forest;
use crate::error::ForestError;
use crate::model::IsolationForest;
use ndarray::ArrayView2;

/// Deepest tree a forest may be asked to grow. Scoring walks a fixed number of
/// steps per tree, so this also bounds the cost of scoring one row.
pub const MAX_DEPTH_LIMIT: usize = 64;

/// Builder for an [`IsolationForest`]. Defaults follow the paper: 100 trees of
/// 256 samples each, height limit `ceil(log2(sample_size))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsolationForestParams {
    n_trees: usize,
    sample_size: usize,
    seed: u64,
    threads: usize,
    max_depth: Option<usize>,
}

/// Parameters that passed [`IsolationForestParams::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedParams {
    pub n_trees: usize,
    pub sample_size: usize,
    pub seed: u64,
    pub threads: usize,
    /// `None`: use `ceil(log2(effective sample size))` once the row count is known.
    pub max_depth: Option<usize>,
}

impl Default for IsolationForestParams {
    fn default() -> Self {
        Self::new()
    }
}

impl IsolationForestParams {
    pub fn new() -> Self {
        Self {
            n_trees: 100,
            sample_size: 256,
            seed: 0,
            threads: 1,
            max_depth: None,
        }
    }

    pub fn n_trees(mut self, n: usize) -> Self {
        self.n_trees = n;
        self
    }

    /// Rows drawn (without replacement) per tree; all rows when the data has fewer.
    pub fn sample_size(mut self, n: usize) -> Self {
        self.sample_size = n;
        self
    }

    /// Tree `i` draws from `Xoshiro256PlusPlus::seed_from_u64(seed + i)`.
    pub fn seed(mut self, s: u64) -> Self {
        self.seed = s;
        self
    }

    /// Trees are grown on this many threads; the model is identical for any value.
    pub fn threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Override the paper's height limit `ceil(log2(sample_size))`.
    pub fn max_depth(mut self, d: usize) -> Self {
        self.max_depth = Some(d);
        self
    }

    pub fn check(&self) -> Result<CheckedParams, ForestError> {
        if self.n_trees == 0 {
            return Err(ForestError::ZeroTrees);
        }
        if self.sample_size < 2 {
            return Err(ForestError::SampleSizeTooSmall(self.sample_size));
        }
        if self.threads == 0 {
            return Err(ForestError::ZeroThreads);
        }
        if let Some(d) = self.max_depth {
            if d == 0 || d > MAX_DEPTH_LIMIT {
                return Err(ForestError::MaxDepthOutOfRange {
                    got: d,
                    limit: MAX_DEPTH_LIMIT,
                });
            }
        }
        Ok(CheckedParams {
            n_trees: self.n_trees,
            sample_size: self.sample_size,
            seed: self.seed,
            threads: self.threads,
            max_depth: self.max_depth,
        })
    }

    /// Fit on `data` (rows x features). Every value must be finite.
    pub fn fit(&self, data: ArrayView2<f64>) -> Result<IsolationForest, ForestError> {
        let checked = self.check()?;
        fit_forest(&checked, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_invalid_parameter_has_its_own_error() {
        let p = IsolationForestParams::new();
        assert_eq!(p.clone().n_trees(0).check(), Err(ForestError::ZeroTrees));
        assert_eq!(
            p.clone().sample_size(0).check(),
            Err(ForestError::SampleSizeTooSmall(0))
        );
        assert_eq!(p.clone().threads(0).check(), Err(ForestError::ZeroThreads));
        assert!(matches!(
            p.clone().max_depth(0).check(),
            Err(ForestError::MaxDepthOutOfRange { got: 0, .. })
        ));
        assert!(p.check().is_ok());
    }
}
