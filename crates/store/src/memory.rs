//! The in-memory store: the same contract as sled, without a disk.

use crate::keys;
use crate::sled_store::matches_query;
use crate::{
    AlertPage, AlertQuery, AllowEntry, ApiSettings, DeadLetter, OnDurable, RecordEntry,
    RetentionStats, Store, StoreError, StoredModel, StoredScore, WriteBatch,
};
use apiwarden_alert::Alert;
use apiwarden_record::AccessRecord;
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    next_seq: u64,
    /// For records submitted without an id.
    next_id: u64,
    records: BTreeMap<Vec<u8>, AccessRecord>,
    record_ids: BTreeMap<String, Vec<u8>>,
    scores: BTreeMap<String, StoredScore>,
    alerts: BTreeMap<String, Alert>,
    alerts_by_time: BTreeMap<Vec<u8>, ()>,
    apis: BTreeMap<String, ApiSettings>,
    allowlist: BTreeMap<Vec<u8>, AllowEntry>,
    models: BTreeMap<u64, StoredModel>,
    dead_letters: Vec<DeadLetter>,
}

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError::Engine("memory store lock poisoned".into()))
    }
}

fn entry(key: &[u8], record: &AccessRecord) -> RecordEntry {
    RecordEntry {
        api: String::from_utf8_lossy(keys::api_of_record_key(key).unwrap_or_default()).into_owned(),
        record: record.clone(),
    }
}

impl Store for MemoryStore {
    fn submit(&self, batch: WriteBatch, on_durable: Option<OnDurable>) -> Result<(), StoreError> {
        {
            let mut g = self.lock()?;
            let inner = &mut *g;
            for e in batch.records {
                let key = keys::record_key(&e.api, e.record.ts_ms, inner.next_seq);
                inner.next_seq += 1;
                if let Some(id) = &e.record.id {
                    inner.record_ids.insert(id.clone(), key.clone());
                }
                inner.records.insert(key, e.record);
            }
            for s in batch.scores {
                // As in sled: a verdict is kept only for a stored record.
                if inner.record_ids.contains_key(&s.id) {
                    inner.scores.insert(s.id.clone(), s);
                }
            }
            for a in batch.alerts {
                if let Some(old) = inner.alerts.get(&a.id) {
                    inner
                        .alerts_by_time
                        .remove(&keys::alert_time_key(old.last_seen_ms, &old.id));
                }
                inner
                    .alerts_by_time
                    .insert(keys::alert_time_key(a.last_seen_ms, &a.id), ());
                inner.alerts.insert(a.id.clone(), a);
            }
            inner.dead_letters.extend(batch.dead_letters);
        }
        if let Some(ack) = on_durable {
            ack(Ok(()));
        }
        Ok(())
    }

    fn submit_records(
        &self,
        records: &mut [RecordEntry],
        on_durable: Option<OnDurable>,
    ) -> Result<(), StoreError> {
        {
            let mut g = self.lock()?;
            for e in records.iter_mut() {
                if e.record.id.as_deref().is_none_or(str::is_empty) {
                    e.record.id = Some(keys::generated_id(g.next_id, 0));
                    g.next_id += 1;
                }
            }
        }
        self.submit(crate::record_batch(records.to_vec()), on_durable)
    }

    fn record(&self, id: &str) -> Result<Option<RecordEntry>, StoreError> {
        let g = self.lock()?;
        Ok(g.record_ids
            .get(id)
            .and_then(|k| g.records.get(k).map(|r| entry(k, r))))
    }

    fn records_range(
        &self,
        api: &str,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, StoreError> {
        let lo = keys::record_bound(api, since_ms);
        let hi = keys::record_bound(api, until_ms);
        if lo >= hi {
            return Ok(Vec::new());
        }
        let g = self.lock()?;
        Ok(g.records
            .range(lo..hi)
            .take(limit)
            .map(|(k, r)| entry(k, r))
            .collect())
    }

    fn scan_records(&self, visit: &mut dyn FnMut(RecordEntry) -> bool) -> Result<(), StoreError> {
        let all: Vec<RecordEntry> = {
            let g = self.lock()?;
            g.records.iter().map(|(k, r)| entry(k, r)).collect()
        };
        for e in all {
            if !visit(e) {
                break;
            }
        }
        Ok(())
    }

    fn newest_record_ts(&self) -> Result<Option<i64>, StoreError> {
        Ok(self.lock()?.records.values().map(|r| r.ts_ms).max())
    }

    fn record_count(&self) -> Result<u64, StoreError> {
        Ok(self.lock()?.records.len() as u64)
    }

    fn score(&self, id: &str) -> Result<Option<StoredScore>, StoreError> {
        Ok(self.lock()?.scores.get(id).cloned())
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        Ok(self.lock()?.alerts.get(id).cloned())
    }

    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let hi = match &query.cursor {
            Some(c) => Some(keys::decode_cursor(c).ok_or(StoreError::InvalidCursor)?),
            None => None,
        };
        let g = self.lock()?;
        let mut page = AlertPage::default();
        if query.limit == 0 {
            return Ok(page);
        }
        for k in g.alerts_by_time.keys().rev() {
            if hi.as_ref().is_some_and(|hi| k >= hi) {
                continue;
            }
            let Some((_, id)) = keys::split_alert_time_key(k) else {
                continue;
            };
            let Some(alert) = g.alerts.get(id) else {
                continue;
            };
            if matches_query(alert, query) {
                page.alerts.push(alert.clone());
                if page.alerts.len() >= query.limit {
                    page.next_cursor = Some(keys::encode_cursor(k));
                    break;
                }
            }
        }
        Ok(page)
    }

    fn api_settings(&self, api: &str) -> Result<Option<ApiSettings>, StoreError> {
        Ok(self.lock()?.apis.get(api).cloned())
    }

    fn all_api_settings(&self) -> Result<Vec<ApiSettings>, StoreError> {
        Ok(self.lock()?.apis.values().cloned().collect())
    }

    fn put_api_settings(&self, settings: &ApiSettings) -> Result<(), StoreError> {
        self.lock()?
            .apis
            .insert(settings.api.clone(), settings.clone());
        Ok(())
    }

    fn allowlist(&self) -> Result<Vec<AllowEntry>, StoreError> {
        Ok(self.lock()?.allowlist.values().cloned().collect())
    }

    fn put_allow(&self, entry: &AllowEntry) -> Result<(), StoreError> {
        self.lock()?
            .allowlist
            .insert(keys::allow_key(&entry.kind, &entry.value), entry.clone());
        Ok(())
    }

    fn remove_allow(&self, kind: &str, value: &str) -> Result<bool, StoreError> {
        Ok(self
            .lock()?
            .allowlist
            .remove(&keys::allow_key(kind, value))
            .is_some())
    }

    fn put_model(&self, bytes: &[u8], created_ms: i64) -> Result<u64, StoreError> {
        let mut g = self.lock()?;
        let version = g.models.keys().next_back().copied().unwrap_or(0) + 1;
        g.models.insert(
            version,
            StoredModel {
                version,
                created_ms,
                bytes: bytes.to_vec(),
            },
        );
        Ok(version)
    }

    fn latest_model(&self) -> Result<Option<StoredModel>, StoreError> {
        Ok(self.lock()?.models.values().next_back().cloned())
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        Ok(self
            .lock()?
            .dead_letters
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }

    fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionStats, StoreError> {
        let mut g = self.lock()?;
        let inner = &mut *g;
        let mut stats = RetentionStats::default();
        let old: Vec<Vec<u8>> = inner
            .records
            .keys()
            .filter(|k| {
                k.len() >= 17
                    && k.get(k.len() - 16..k.len() - 8)
                        .and_then(|b| <[u8; 8]>::try_from(b).ok())
                        .is_some_and(|b| keys::ts_from_bytes(b) < keys::bucket_of(cutoff_ms))
            })
            .cloned()
            .collect();
        for k in old {
            if let Some(rec) = inner.records.remove(&k) {
                stats.records += 1;
                if let Some(id) = rec.id {
                    if inner.record_ids.get(&id) == Some(&k) {
                        inner.record_ids.remove(&id);
                    }
                    if inner.scores.remove(&id).is_some() {
                        stats.scores += 1;
                    }
                }
            }
        }
        let old_alerts: Vec<Vec<u8>> = inner
            .alerts_by_time
            .range(..keys::ts_bytes(cutoff_ms).to_vec())
            .map(|(k, _)| k.clone())
            .collect();
        for k in old_alerts {
            if let Some((_, id)) = keys::split_alert_time_key(&k) {
                inner.alerts.remove(id);
            }
            inner.alerts_by_time.remove(&k);
            stats.alerts += 1;
        }
        Ok(stats)
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn size_on_disk(&self) -> u64 {
        0
    }
}
