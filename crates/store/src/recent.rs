//! Where recently submitted records went, kept in memory so their verdicts
//! (which follow within seconds) find their chunk without a lookup in the
//! id index: on sled a lookup materialises and copies tree nodes, which cost
//! about as much as everything else the scoring thread does per record
//! besides the detectors.
//!
//! Records whose ids the store gave are remembered per chunk (their id names
//! the chunk's sequence number and their position), so a batch costs a few
//! entries, not one allocation per record; records that came with their own
//! id are remembered one by one.

use crate::keys;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A chunk written recently: its key and how many records it holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ChunkInfo {
    pub key: Vec<u8>,
    pub len: u32,
}

/// A chunk whose store-given ids are still awaited.
struct RecentChunk {
    info: Arc<ChunkInfo>,
    /// Positions holding a record with a store-given id not yet taken.
    waiting: Vec<u64>,
    left: usize,
}

#[derive(Default)]
struct Inner {
    given: HashMap<Box<str>, (Arc<ChunkInfo>, u32)>,
    chunks: HashMap<u64, RecentChunk>,
    /// Records remembered and not yet taken.
    records: usize,
}

/// Request id → (chunk, position), each taken once.
pub(crate) struct RecentTargets {
    cap: usize,
    inner: Mutex<Inner>,
}

/// One chunk of a submitted batch, as [`RecentTargets::remember`] takes it.
pub(crate) struct SubmittedChunk {
    pub seq: u64,
    pub info: Arc<ChunkInfo>,
    /// Records that came with their own id, by position.
    pub given: Vec<(Box<str>, u32)>,
    /// Positions whose ids the store gave.
    pub generated: Vec<u32>,
}

impl RecentTargets {
    /// At most `cap` records: past it the memory is dropped and verdicts
    /// fall back to the indexes (records never scored must not pile up).
    pub fn new(cap: usize) -> Self {
        RecentTargets {
            cap,
            inner: Mutex::new(Inner::default()),
        }
    }

    pub fn remember(&self, chunks: Vec<SubmittedChunk>) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let adding: usize = chunks
            .iter()
            .map(|c| c.given.len() + c.generated.len())
            .sum();
        if inner.records + adding > self.cap {
            // Both kinds go together: a given id spelled like a store-given
            // one must never be looked for among the chunks while its own
            // entry is still remembered elsewhere.
            *inner = Inner::default();
        }
        inner.records += adding;
        for chunk in chunks {
            for (id, pos) in chunk.given {
                inner.given.insert(id, (Arc::clone(&chunk.info), pos));
            }
            if chunk.generated.is_empty() {
                continue;
            }
            let mut waiting = vec![0u64; (chunk.info.len as usize).div_ceil(64)];
            let mut left = 0;
            for pos in chunk.generated {
                if let Some(word) = waiting.get_mut(pos as usize / 64) {
                    *word |= 1 << (pos % 64);
                    left += 1;
                }
            }
            inner.chunks.insert(
                chunk.seq,
                RecentChunk {
                    info: chunk.info,
                    waiting,
                    left,
                },
            );
        }
    }

    /// The chunks and positions of `ids`, in order (`None` where not
    /// remembered); each is forgotten as it is taken.
    pub fn take<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Vec<Option<(Arc<ChunkInfo>, u32)>> {
        let Ok(mut guard) = self.inner.lock() else {
            return ids.map(|_| None).collect();
        };
        let inner = &mut *guard;
        ids.map(|id| {
            let found = inner
                .given
                .remove(id)
                .or_else(|| take_generated(&mut inner.chunks, id));
            if found.is_some() {
                inner.records = inner.records.saturating_sub(1);
            }
            found
        })
        .collect()
    }
}

fn take_generated(
    chunks: &mut HashMap<u64, RecentChunk>,
    id: &str,
) -> Option<(Arc<ChunkInfo>, u32)> {
    let (seq, pos) = keys::parse_generated_id(id)?;
    let chunk = chunks.get_mut(&seq)?;
    let word = chunk.waiting.get_mut(pos as usize / 64)?;
    let bit = 1u64 << (pos % 64);
    if *word & bit == 0 {
        return None;
    }
    *word &= !bit;
    chunk.left -= 1;
    let info = Arc::clone(&chunk.info);
    if chunk.left == 0 {
        chunks.remove(&seq);
    }
    Some((info, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(seq: u64, len: u32, given: &[(&str, u32)], generated: &[u32]) -> SubmittedChunk {
        SubmittedChunk {
            seq,
            info: Arc::new(ChunkInfo {
                key: vec![seq as u8],
                len,
            }),
            given: given.iter().map(|&(id, pos)| (id.into(), pos)).collect(),
            generated: generated.to_vec(),
        }
    }

    fn taken(r: &RecentTargets, ids: &[&str]) -> Vec<Option<(Vec<u8>, u32)>> {
        r.take(ids.iter().copied())
            .into_iter()
            .map(|t| t.map(|(info, pos)| (info.key.clone(), pos)))
            .collect()
    }

    #[test]
    fn targets_are_taken_once_and_bounded() {
        let r = RecentTargets::new(3);
        r.remember(vec![chunk(1, 2, &[("a", 0), ("b", 1)], &[])]);
        assert_eq!(taken(&r, &["b", "x"]), vec![Some((vec![1], 1)), None]);
        assert_eq!(taken(&r, &["b"]), vec![None]);
        // Over the cap the memory starts over rather than growing.
        r.remember(vec![chunk(2, 3, &[("c", 0), ("d", 1), ("e", 2)], &[])]);
        assert_eq!(taken(&r, &["a"]), vec![None]);
        assert_eq!(taken(&r, &["e"]), vec![Some((vec![2], 2))]);
    }

    #[test]
    fn store_given_ids_are_found_by_chunk_and_only_where_given() {
        let r = RecentTargets::new(100);
        let seq = 1 << 40;
        r.remember(vec![chunk(seq, 70, &[("mine", 0)], &[1, 65])]);
        let at = |pos| keys::generated_id(seq, pos);
        // Position 0 holds a record that came with its own id; 2 was never given.
        assert_eq!(
            taken(&r, &[&at(65), &at(0), &at(2), &at(1), "mine"]),
            vec![
                Some((vec![0], 65)),
                None,
                None,
                Some((vec![0], 1)),
                Some((vec![0], 0))
            ]
        );
        assert_eq!(taken(&r, &[&at(1)]), vec![None], "taken once");
        assert!(r.inner.lock().expect("lock").chunks.is_empty());
    }
}
