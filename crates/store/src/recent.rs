//! Where recently submitted records went, kept in memory so their verdicts
//! (which follow within seconds) find their chunk without a lookup in the
//! id index: on sled a lookup materialises and copies tree nodes, which cost
//! about as much as everything else the scoring thread does per record
//! besides the detectors.

use std::collections::HashMap;
use std::sync::Mutex;

/// Request id → id-index target (chunk key + position), taken once.
pub(crate) struct RecentTargets {
    cap: usize,
    map: Mutex<HashMap<Box<str>, Vec<u8>>>,
}

impl RecentTargets {
    /// At most `cap` entries: past it the memory is dropped and verdicts
    /// fall back to the id index (records never scored must not pile up).
    pub fn new(cap: usize) -> Self {
        RecentTargets {
            cap,
            map: Mutex::new(HashMap::new()),
        }
    }

    pub fn remember(&self, targets: Vec<(Box<str>, Vec<u8>)>) {
        let Ok(mut map) = self.map.lock() else {
            return;
        };
        if map.len() + targets.len() > self.cap {
            map.clear();
            map.shrink_to(self.cap / 4);
        }
        map.extend(targets);
    }

    /// The targets of `ids`, in order (`None` where not remembered); each is forgotten as it is taken.
    pub fn take<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Vec<Option<Vec<u8>>> {
        match self.map.lock() {
            Ok(mut map) => ids.map(|id| map.remove(id)).collect(),
            Err(_) => ids.map(|_| None).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_taken_once_and_bounded() {
        let r = RecentTargets::new(3);
        r.remember(vec![("a".into(), vec![1]), ("b".into(), vec![2])]);
        assert_eq!(r.take(["b", "x"].into_iter()), vec![Some(vec![2]), None]);
        assert_eq!(r.take(["b"].into_iter()), vec![None]);
        // Over the cap the memory starts over rather than growing.
        r.remember(vec![
            ("c".into(), vec![3]),
            ("d".into(), vec![4]),
            ("e".into(), vec![5]),
        ]);
        assert_eq!(r.take(["a"].into_iter()), vec![None]);
        assert_eq!(r.take(["e"].into_iter()), vec![Some(vec![5])]);
    }
}
