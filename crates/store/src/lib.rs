//! Persistence behind one small trait, [`Store`], with two implementations:
//! [`SledStore`] (the default, embedded and durable) and [`MemoryStore`]
//! (tests, and a reference for what the trait means).
//!
//! Ingest goes through [`Store::submit`]: the batch is committed by a single
//! writer together with every other batch that arrived meanwhile, and the
//! callback runs after the one flush that made them all durable (group
//! commit). "Accepted means durable" therefore costs one flush per group, not
//! one per request.

mod error;
mod keys;
mod memory;
mod recent;
mod sled_store;
mod types;
mod writer;

pub use error::StoreError;
pub use memory::MemoryStore;
pub use sled_store::{SledConfig, SledStore};
pub use types::{
    AlertPage, AlertQuery, AllowEntry, ApiSettings, DeadLetter, RecordEntry, RetentionStats,
    StoredModel, StoredScore, WriteBatch,
};

use apiwarden_alert::Alert;
use apiwarden_record::AccessRecord;
use std::sync::mpsc;

/// Called once the batch it was submitted with is durable (or failed to be).
pub type OnDurable = Box<dyn FnOnce(Result<(), StoreError>) + Send + 'static>;

/// What the service persists. Every method is safe to call from any thread.
pub trait Store: Send + Sync + 'static {
    /// Queue a batch for the writer; `on_durable` runs after the flush that
    /// covers it. With `None` the batch is durable at the next group flush.
    fn submit(&self, batch: WriteBatch, on_durable: Option<OnDurable>) -> Result<(), StoreError>;

    /// [`Store::submit`] for records only, borrowed: the caller keeps them
    /// (ingest hands the same records to scoring afterwards), and a store
    /// that encodes on the submitting thread needs no copy. A record without
    /// a request id (`None` or empty) is given one before this returns,
    /// unique in this store and found by [`Store::record`] and
    /// [`Store::score`] like any other: the store knows where it puts the
    /// record, so its own ids can say so and need no index entry each.
    fn submit_records(
        &self,
        records: &mut [RecordEntry],
        on_durable: Option<OnDurable>,
    ) -> Result<(), StoreError>;

    /// A stored record by its request id.
    fn record(&self, id: &str) -> Result<Option<RecordEntry>, StoreError>;
    /// Records of one API with `since_ms <= ts < until_ms`, in time order, at most `limit`.
    fn records_range(
        &self,
        api: &str,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, StoreError>;
    /// Every stored record, API by API and in time order within an API.
    /// The visitor returns `false` to stop early.
    fn scan_records(&self, visit: &mut dyn FnMut(RecordEntry) -> bool) -> Result<(), StoreError>;
    /// At most `max_total` records shared evenly among the stored APIs (each
    /// API's oldest first, time-ordered within an API), so that an API whose
    /// name sorts late still gets its share when the store holds more than
    /// `max_total`. The default scans everything twice; stores with per-API
    /// key ranges do better.
    fn scan_records_fair(
        &self,
        max_total: u64,
        visit: &mut dyn FnMut(RecordEntry),
    ) -> Result<(), StoreError> {
        let mut apis = std::collections::BTreeSet::new();
        self.scan_records(&mut |e| {
            apis.insert(e.api);
            true
        })?;
        let per_api = fair_share(max_total, apis.len());
        let mut taken: std::collections::BTreeMap<String, u64> = Default::default();
        self.scan_records(&mut |e| {
            let n = taken.entry(e.api.clone()).or_insert(0);
            if *n < per_api {
                *n += 1;
                visit(e);
            }
            true
        })
    }

    /// The newest traffic time among stored records (`None` when empty).
    fn newest_record_ts(&self) -> Result<Option<i64>, StoreError>;
    /// Number of stored records (an estimate is fine for sled; exact in memory).
    fn record_count(&self) -> Result<u64, StoreError>;

    /// The verdict of a stored record (verdicts of records not stored are dropped).
    fn score(&self, id: &str) -> Result<Option<StoredScore>, StoreError>;

    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError>;
    /// Alerts newest `last_seen` first, filtered, paged by an opaque cursor.
    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError>;

    fn api_settings(&self, api: &str) -> Result<Option<ApiSettings>, StoreError>;
    fn all_api_settings(&self) -> Result<Vec<ApiSettings>, StoreError>;
    /// Durable on return.
    fn put_api_settings(&self, settings: &ApiSettings) -> Result<(), StoreError>;

    /// Sorted by (kind, value).
    fn allowlist(&self) -> Result<Vec<AllowEntry>, StoreError>;
    /// Durable on return.
    fn put_allow(&self, entry: &AllowEntry) -> Result<(), StoreError>;
    /// Durable on return; `true` when the entry existed.
    fn remove_allow(&self, kind: &str, value: &str) -> Result<bool, StoreError>;

    /// Store a new model bundle (opaque bytes); returns its version (1, 2, ...). Durable on return.
    fn put_model(&self, bytes: &[u8], created_ms: i64) -> Result<u64, StoreError>;
    fn latest_model(&self) -> Result<Option<StoredModel>, StoreError>;

    /// Most recent first.
    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;

    /// Delete records (and their scores) older than `cutoff_ms`, by whole
    /// minutes (a record goes once its minute is entirely before the cutoff),
    /// and alerts whose `last_seen` is older than `cutoff_ms`.
    fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionStats, StoreError>;

    /// Wait until everything submitted so far is durable.
    fn flush(&self) -> Result<(), StoreError>;
    /// Bytes on disk (0 for memory).
    fn size_on_disk(&self) -> u64;
}

/// Each of `apis` API's share of `max_total` records (at least 1).
pub(crate) fn fair_share(max_total: u64, apis: usize) -> u64 {
    (max_total / (apis.max(1) as u64)).max(1)
}

/// Submit and wait: the batch is durable when this returns `Ok`.
pub fn write_durable(store: &dyn Store, batch: WriteBatch) -> Result<(), StoreError> {
    let (tx, rx) = mpsc::sync_channel(1);
    store.submit(
        batch,
        Some(Box::new(move |res| {
            let _ = tx.send(res);
        })),
    )?;
    rx.recv().map_err(|_| StoreError::Closed)?
}

/// The records of a batch in a form handy for building one.
pub fn record_batch(records: Vec<RecordEntry>) -> WriteBatch {
    WriteBatch {
        records,
        ..WriteBatch::default()
    }
}

/// Convenience for callers holding plain records with their API already known.
pub fn entries(api_records: impl IntoIterator<Item = (String, AccessRecord)>) -> Vec<RecordEntry> {
    api_records
        .into_iter()
        .map(|(api, record)| RecordEntry { api, record })
        .collect()
}
