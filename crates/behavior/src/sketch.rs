//! Bounded distinct-count sketches and the one cheap, deterministic hash they use.

/// A 64-bit hash of bytes: word-at-a-time multiply-xor, then a splitmix64 finalizer.
/// Deterministic across runs and platforms (unlike std's `RandomState`).
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ (bytes.len() as u64);
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(K).rotate_left(29);
    }
    mix64(h)
}

/// splitmix64 finalizer: spreads every input bit over the output.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `ln(k)` for every possible count of zero bits: estimates are read on every record, and a
/// table lookup is several times cheaper than `ln`.
fn ln_table() -> &'static [f64; LN_TABLE_LEN] {
    static TABLE: std::sync::OnceLock<[f64; LN_TABLE_LEN]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0.0; LN_TABLE_LEN];
        for (k, v) in t.iter_mut().enumerate() {
            *v = (k as f64).ln();
        }
        t
    })
}

const LN_TABLE_LEN: usize = 257;

/// Distinct count over a sliding window of one to two epochs, by linear counting on a
/// `64 * W`-bit bitmap: the current epoch's bits and the previous epoch's bits.
///
/// Linear counting is exact-ish while the bitmap is sparse (relative standard error
/// ~ `sqrt(e^t - t - 1) / (t sqrt(m))` at load `t = n/m`) and saturates at about
/// `m ln m` (≈ 266 for 64 bits, ≈ 1420 for 256 bits); every feature built on it is
/// only ever compared with its training maximum, so saturation still reads "very many".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistinctSketch<const W: usize> {
    cur: [u64; W],
    prev: [u64; W],
}

impl<const W: usize> Default for DistinctSketch<W> {
    fn default() -> Self {
        DistinctSketch {
            cur: [0; W],
            prev: [0; W],
        }
    }
}

impl<const W: usize> DistinctSketch<W> {
    const BITS: u64 = 64 * W as u64;

    /// Advance by `epochs` epochs (0: same epoch).
    pub fn rotate(&mut self, epochs: u64) {
        match epochs {
            0 => {}
            1 => {
                self.prev = self.cur;
                self.cur = [0; W];
            }
            _ => {
                self.prev = [0; W];
                self.cur = [0; W];
            }
        }
    }

    pub fn insert(&mut self, hash: u64) {
        let bit = hash % Self::BITS;
        let word = (bit / 64) as usize;
        if let Some(w) = self.cur.get_mut(word) {
            *w |= 1u64 << (bit % 64);
        }
    }

    /// Estimated distinct items seen in the current and the previous epoch.
    pub fn estimate(&self) -> f64 {
        let ones: u32 = self
            .cur
            .iter()
            .zip(self.prev.iter())
            .map(|(c, p)| (c | p).count_ones())
            .sum();
        let bits = Self::BITS as usize;
        let zeros = bits.saturating_sub(ones as usize);
        let ln = ln_table();
        let ln_of = |k: usize| ln.get(k).copied().unwrap_or_else(|| (k as f64).ln());
        let m = bits as f64;
        if zeros == 0 {
            m * ln_of(bits)
        } else {
            m * (ln_of(bits) - ln_of(zeros))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_spreads() {
        assert_eq!(hash_bytes(b"abc"), hash_bytes(b"abc"));
        assert_ne!(hash_bytes(b"abc"), hash_bytes(b"abd"));
        assert_ne!(hash_bytes(b""), hash_bytes(b"\0"));
        assert_ne!(hash_bytes(b"12345678"), hash_bytes(b"123456789"));
    }

    #[test]
    fn linear_counting_is_within_error_bounds() {
        for &n in &[1usize, 5, 20, 100, 300, 600] {
            let mut s = DistinctSketch::<4>::default();
            for i in 0..n {
                s.insert(hash_bytes(format!("user-{i}").as_bytes()));
                // duplicates do not count
                s.insert(hash_bytes(format!("user-{i}").as_bytes()));
            }
            let est = s.estimate();
            let err = (est - n as f64).abs() / n as f64;
            assert!(err < 0.15 + 1.0 / n as f64, "n={n} est={est}");
        }
        let mut small = DistinctSketch::<1>::default();
        for i in 0..3 {
            small.insert(hash_bytes(format!("ip-{i}").as_bytes()));
        }
        assert!((small.estimate() - 3.0).abs() < 0.6);
    }

    #[test]
    fn window_forgets_after_two_epochs() {
        let mut s = DistinctSketch::<4>::default();
        for i in 0..50 {
            s.insert(hash_bytes(format!("o{i}").as_bytes()));
        }
        s.rotate(1);
        assert!(s.estimate() > 40.0, "previous epoch still counts");
        s.rotate(1);
        assert!(s.estimate() < 0.5);
        s.insert(1);
        s.rotate(5);
        assert!(s.estimate() < 0.5);
    }

    #[test]
    fn saturation_reads_as_very_many() {
        let mut s = DistinctSketch::<1>::default();
        for i in 0..10_000u64 {
            s.insert(mix64(i));
        }
        assert!(s.estimate() > 250.0);
    }
}
