//! Per-key token buckets counted in records (not requests): a gateway
//! sending big batches and one sending small ones get the same budget.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    last: Instant,
}

pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// `per_sec == 0` disables the limit.
    pub fn new(per_sec: f64, burst: f64) -> Self {
        RateLimiter {
            per_sec,
            burst: burst.max(per_sec).max(1.0),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take `n` records from `key`'s budget; `Err(seconds to wait)` when it is spent.
    pub fn take(&self, key: &str, n: usize) -> Result<(), u64> {
        self.take_at(key, n, Instant::now())
    }

    fn take_at(&self, key: &str, n: usize, now: Instant) -> Result<(), u64> {
        if self.per_sec <= 0.0 || n == 0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let b = buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(self.burst);
        b.last = now;
        let need = n as f64;
        if b.tokens >= need {
            b.tokens -= need;
            Ok(())
        } else {
            let wait = ((need - b.tokens) / self.per_sec).ceil();
            Err(wait.clamp(1.0, 3600.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn budget_refills_over_time_and_is_per_key() {
        let r = RateLimiter::new(100.0, 200.0);
        let t0 = Instant::now();
        assert!(r.take_at("a", 150, t0).is_ok());
        assert_eq!(r.take_at("a", 100, t0), Err(1));
        assert!(
            r.take_at("b", 200, t0).is_ok(),
            "keys do not share a budget"
        );
        assert!(r.take_at("a", 100, t0 + Duration::from_secs(1)).is_ok());
        let off = RateLimiter::new(0.0, 0.0);
        assert!(off.take_at("a", 1_000_000, t0).is_ok());
    }
}
