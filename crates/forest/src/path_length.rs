//! Expected path lengths from Liu, Ting & Zhou (2008), eq. 1.

const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

/// Average path length of an unsuccessful search in a binary search tree of
/// `n` points: the depth a subtree of `n` unsplit points would have added.
pub fn average_path_length(n: usize) -> f64 {
    match n {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let n = n as f64;
            2.0 * ((n - 1.0).ln() + EULER_GAMMA) - 2.0 * (n - 1.0) / n
        }
    }
}

/// `ceil(log2(n))`: the paper's height limit for a sub-sample of `n` rows.
pub fn height_limit(sample_size: usize) -> usize {
    let mut height = 0;
    while (1usize << height) < sample_size && height < usize::BITS as usize - 1 {
        height += 1;
    }
    height
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_values() {
        assert_eq!(average_path_length(1), 0.0);
        assert_eq!(average_path_length(2), 1.0);
        // c(256) as used by every implementation of the paper.
        assert!((average_path_length(256) - 10.244_770_920_119_917).abs() < 1e-9);
    }

    #[test]
    fn height_limit_is_ceil_log2() {
        assert_eq!(height_limit(2), 1);
        assert_eq!(height_limit(3), 2);
        assert_eq!(height_limit(256), 8);
        assert_eq!(height_limit(257), 9);
    }
}
