//! Fixed log-bucket histograms: bounded memory whatever the traffic, and
//! quantiles within ~10% (each bucket spans a factor of 1.2).

use serde::{Deserialize, Serialize};

/// Number of buckets: bucket 0 holds [0, 1), bucket i >= 1 holds
/// [1.2^(i-1), 1.2^i); the last also holds everything larger (~9.5e9).
pub const BUCKETS: usize = 128;
const GROWTH: f64 = 1.2;

/// The bucket of a value (negative and NaN count as 0).
pub fn bucket_of(value: f64) -> u8 {
    if value.is_nan() || value < 1.0 {
        return 0;
    }
    let index = 1.0 + (value.ln() / GROWTH.ln()).floor();
    if index >= (BUCKETS - 1) as f64 {
        (BUCKETS - 1) as u8
    } else {
        index as u8
    }
}

/// A representative value of a bucket (its geometric middle).
pub fn bucket_value(bucket: u8) -> f64 {
    if bucket == 0 {
        0.5
    } else {
        GROWTH.powf(f64::from(bucket) - 0.5)
    }
}

/// A dense histogram, for training and for summing a window's ticks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseHistogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for DenseHistogram {
    fn default() -> Self {
        DenseHistogram {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

impl DenseHistogram {
    pub fn add(&mut self, value: f64) {
        self.add_bucket(bucket_of(value), 1);
    }

    pub fn add_bucket(&mut self, bucket: u8, count: u64) {
        if let Some(slot) = self.counts.get_mut(usize::from(bucket)) {
            *slot += count;
            self.total += count;
        }
    }

    pub fn add_sparse(&mut self, sparse: &SparseHistogram) {
        for &(bucket, count) in &sparse.entries {
            self.add_bucket(bucket, u64::from(count));
        }
    }

    pub fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Share of values in `value`'s bucket or above (0 when empty): a
    /// slight over-estimate of the share at least `value`.
    pub fn share_from(&self, value: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let from = usize::from(bucket_of(value));
        let above: u64 = self.counts.iter().skip(from).sum();
        above as f64 / self.total as f64
    }

    /// The q-quantile (0 when empty).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return bucket_value(bucket as u8);
            }
        }
        bucket_value((BUCKETS - 1) as u8)
    }
}

/// A histogram of one short tick: only the buckets that occur, so a quiet
/// endpoint costs a few bytes and a busy one at most [`BUCKETS`] entries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SparseHistogram {
    entries: Vec<(u8, u32)>,
}

impl SparseHistogram {
    pub fn add(&mut self, value: f64) {
        let bucket = bucket_of(value);
        match self.entries.binary_search_by_key(&bucket, |e| e.0) {
            Ok(i) => {
                if let Some(e) = self.entries.get_mut(i) {
                    e.1 = e.1.saturating_add(1);
                }
            }
            Err(i) => self.entries.insert(i, (bucket, 1)),
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<(u8, u32)>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = DenseHistogram::default();
        for v in 1..=1000 {
            h.add(f64::from(v));
        }
        let p50 = h.quantile(0.5);
        let p99 = h.quantile(0.99);
        assert!((450.0..560.0).contains(&p50), "{p50}");
        assert!((900.0..1100.0).contains(&p99), "{p99}");
        assert_eq!(DenseHistogram::default().quantile(0.5), 0.0);
    }

    proptest! {
        #[test]
        fn any_value_lands_in_a_bucket_that_represents_it(v in 1.0f64..1e9) {
            let b = bucket_of(v);
            let rep = bucket_value(b);
            prop_assert!(rep / v < 1.2 && v / rep < 1.2);
        }

        #[test]
        fn sparse_and_dense_agree(values in proptest::collection::vec(0.0f64..1e7, 0..200)) {
            let mut sparse = SparseHistogram::default();
            let mut dense = DenseHistogram::default();
            for v in &values {
                sparse.add(*v);
                dense.add(*v);
            }
            let mut summed = DenseHistogram::default();
            summed.add_sparse(&sparse);
            prop_assert_eq!(summed, dense);
        }
    }
}
