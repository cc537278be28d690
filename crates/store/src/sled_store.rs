//! The embedded, durable store on sled 0.34: one tree per kind of data.

use crate::error::{decode, encode};
use crate::keys;
use crate::recent::{ChunkInfo, RecentTargets, SubmittedChunk};
use crate::writer::{GroupSink, Payload, Writer};
use crate::{
    AlertPage, AlertQuery, AllowEntry, ApiSettings, DeadLetter, OnDurable, RecordEntry,
    RetentionStats, Store, StoreError, StoredModel, StoredScore, WriteBatch,
};
use apiwarden_alert::{Alert, AttackType};
use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// sled applies a batch atomically in memory; very large ones stall everything else.
const MAX_SLED_BATCH: usize = 1000;
/// Id-index targets of records awaiting their verdicts (above the scoring backlog).
const RECENT_TARGETS: usize = 1 << 20;
/// Old model bundles kept beside the current one.
const MODELS_KEPT: usize = 3;

const META_NEXT_SEQ: &[u8] = b"next_seq";
/// See [`SledStore::open`].
const SEQ_RESTART_GAP: u64 = 1 << 32;
const META_RECORD_COUNT: &[u8] = b"record_count";
const META_MODEL_VERSION: &[u8] = b"model_version";

#[derive(Debug, Clone)]
pub struct SledConfig {
    /// sled's page cache; its default (1 GiB) is too much for a side service.
    pub cache_capacity_bytes: u64,
    /// A group stops taking more waiting batches past this many operations.
    pub max_group_ops: usize,
}

impl Default for SledConfig {
    fn default() -> Self {
        SledConfig {
            cache_capacity_bytes: 256 * 1024 * 1024,
            max_group_ops: 50_000,
        }
    }
}

#[derive(Clone)]
struct Trees {
    db: sled::Db,
    records: sled::Tree,
    /// Request id → chunk key + position, for ids that came with the records.
    record_ids: sled::Tree,
    /// First sequence number of a batch's chunks → their keys: finds
    /// records by the ids the store gave them.
    chunk_seqs: sled::Tree,
    scores: sled::Tree,
    alerts: sled::Tree,
    alerts_by_time: sled::Tree,
    apis: sled::Tree,
    allowlist: sled::Tree,
    models: sled::Tree,
    meta: sled::Tree,
    dead_letters: sled::Tree,
    record_count: Arc<AtomicU64>,
}

pub struct SledStore {
    trees: Trees,
    writer: Writer<Prepared>,
    /// Chunk sequence numbers, handed out by submitting threads; the writer
    /// persists the high-water mark with every flush.
    next_seq: Arc<AtomicU64>,
    recent: RecentTargets,
}

/// A batch made ready by the submitting thread: records grouped, encoded and
/// indexed, verdicts located. The single writer only inserts chunks and flushes.
pub(crate) struct Prepared {
    chunks: Vec<(Vec<u8>, Vec<u8>)>,
    new_records: u64,
    scores: Vec<ScoreChunk>,
    alerts: Vec<Alert>,
    dead_letters: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Payload for Prepared {
    fn op_count(&self) -> usize {
        self.new_records as usize + self.scores.len() + self.alerts.len() + self.dead_letters.len()
    }
}

impl SledStore {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path, cfg: &SledConfig) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cfg.cache_capacity_bytes)
            .mode(sled::Mode::HighThroughput)
            .segment_size(segment_size_for(dir))
            .open()?;
        let meta = db.open_tree("meta")?;
        let record_count = read_u64(&meta, META_RECORD_COUNT)?;
        let trees = Trees {
            records: db.open_tree("records")?,
            record_ids: db.open_tree("record_ids")?,
            chunk_seqs: db.open_tree("chunk_seqs")?,
            scores: db.open_tree("scores")?,
            alerts: db.open_tree("alerts")?,
            alerts_by_time: db.open_tree("alerts_by_time")?,
            apis: db.open_tree("apis")?,
            allowlist: db.open_tree("allowlist")?,
            models: db.open_tree("models")?,
            dead_letters: db.open_tree("dead_letters")?,
            meta,
            db,
            record_count: Arc::new(AtomicU64::new(record_count)),
        };
        // Submitters take sequence numbers (and index ids under them) before
        // the writer persists the high-water mark, so after a crash some were
        // taken past it. Jumping far ahead means no new chunk can ever reuse
        // a key that a surviving id entry points at. Starting from the clock
        // as well keeps the ids the store gives records (which carry the
        // sequence number) apart from those of an earlier, wiped store.
        let next_seq = Arc::new(AtomicU64::new(
            read_u64(&trees.meta, META_NEXT_SEQ)?
                .saturating_add(SEQ_RESTART_GAP)
                .max(clock_seq()),
        ));
        let sink = SledSink {
            trees: trees.clone(),
            next_seq: Arc::clone(&next_seq),
        };
        let writer = Writer::spawn(sink, cfg.max_group_ops)?;
        Ok(SledStore {
            trees,
            writer,
            next_seq,
            recent: RecentTargets::new(RECENT_TARGETS),
        })
    }

    /// Everything that can run on the submitting thread, in parallel with
    /// other submitters. Id index entries are inserted here: one that reaches
    /// the disk before its chunk only ever points at nothing, which reads as
    /// "not found", never as a wrong record.
    fn prepare(&self, mut batch: WriteBatch) -> Result<Prepared, StoreError> {
        let (chunks, new_records) = self.prepare_records(&mut batch.records)?;
        // Chunk key → (its record count when known, verdicts).
        let mut scores: BTreeMap<Vec<u8>, (Option<u32>, Vec<ChunkScore>)> = BTreeMap::new();
        let remembered = self.recent.take(batch.scores.iter().map(|s| s.id.as_str()));
        for (score, remembered) in batch.scores.into_iter().zip(remembered) {
            let (info, pos) = match remembered {
                Some((info, pos)) => (Some(info), pos),
                None => match self.locate(&score.id)? {
                    Some(target) => match keys::split_id_target(&target) {
                        Some((key, pos)) => {
                            let chunk = scores.entry(key.to_vec()).or_default();
                            chunk.1.push(ChunkScore::of(score, pos));
                            continue;
                        }
                        None => continue,
                    },
                    None => {
                        tracing::debug!(id = %score.id, "score for an unknown record dropped");
                        continue;
                    }
                },
            };
            let Some(info) = info else { continue };
            let verdict = ChunkScore::of(score, pos);
            match scores.get_mut(info.key.as_slice()) {
                Some(chunk) => {
                    chunk.0 = Some(info.len);
                    chunk.1.push(verdict);
                }
                None => {
                    scores.insert(info.key.clone(), (Some(info.len), vec![verdict]));
                }
            }
        }
        let mut dead_letters = Vec::new();
        for letter in &batch.dead_letters {
            let mut key = keys::ts_bytes(letter.failed_ms).to_vec();
            key.extend_from_slice(&self.next_seq.fetch_add(1, Ordering::Relaxed).to_be_bytes());
            dead_letters.push((key, encode("dead_letters", letter)?));
        }
        Ok(Prepared {
            chunks,
            new_records,
            scores: scores
                .into_iter()
                .map(|(key, (len, mut verdicts))| {
                    verdicts.sort_by_key(|s| s.pos);
                    let complete = len.is_some_and(|len| covers_every_position(&verdicts, len));
                    ScoreChunk {
                        key,
                        verdicts,
                        complete,
                    }
                })
                .collect(),
            alerts: batch.alerts,
            dead_letters,
        })
    }

    /// Records grouped into chunks and encoded. Records without an id get
    /// one naming their chunk's sequence number and their position in it;
    /// the batch's chunks take consecutive sequence numbers and one
    /// `chunk_seqs` entry lists them all. Only ids that came with the
    /// records take an entry each in the id index (inserting one copies a
    /// sled leaf: that was a quarter of the service's CPU at full ingest).
    #[allow(clippy::type_complexity)]
    fn prepare_records(
        &self,
        records: &mut [RecordEntry],
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, u64), StoreError> {
        if records.is_empty() {
            return Ok((Vec::new(), 0));
        }
        let (first_seq, groups) = chunks_of(records, &self.next_seq);
        let mut chunks = Vec::with_capacity(groups.len());
        let mut ids = Chunked::new(&self.trees.record_ids);
        let mut new_records = 0u64;
        let mut submitted = Vec::with_capacity(groups.len());
        for (chunk_key, seq, members) in groups {
            let info = Arc::new(ChunkInfo {
                key: chunk_key,
                len: u32::try_from(members.len()).unwrap_or(u32::MAX),
            });
            let mut given = Vec::new();
            let mut generated = Vec::new();
            for (pos, &i) in members.iter().enumerate() {
                let Some(entry) = records.get_mut(i) else {
                    continue;
                };
                let pos = u32::try_from(pos).unwrap_or(u32::MAX);
                match &entry.record.id {
                    Some(id) if !id.is_empty() => {
                        ids.insert(id.as_bytes(), keys::id_target(&info.key, pos))?;
                        given.push((Box::<str>::from(id.as_str()), pos));
                    }
                    _ => {
                        entry.record.id = Some(keys::generated_id(seq, pos));
                        generated.push(pos);
                    }
                }
            }
            let chunk: Vec<&AccessRecord> = members
                .iter()
                .filter_map(|&i| records.get(i))
                .map(|e| &e.record)
                .collect();
            new_records += chunk.len() as u64;
            chunks.push((info.key.clone(), encode_chunk(&chunk)?));
            submitted.push(SubmittedChunk {
                seq,
                info,
                given,
                generated,
            });
        }
        ids.finish()?;
        self.trees.chunk_seqs.insert(
            first_seq.to_be_bytes(),
            encode_key_list(chunks.iter().map(|(key, _)| key.as_slice())),
        )?;
        self.recent.remember(submitted);
        Ok((chunks, new_records))
    }

    /// The `chunk_seqs` entry of the batch chunk `seq` came in (if it is
    /// stored): the batch's first sequence number and its chunk keys.
    fn batch_of_seq(&self, seq: u64) -> Result<Option<BatchChunks>, StoreError> {
        let Some((first, list)) = self
            .trees
            .chunk_seqs
            .range(..=seq.to_be_bytes())
            .next_back()
            .transpose()?
        else {
            return Ok(None);
        };
        let Ok(first) = <[u8; 8]>::try_from(first.as_ref()) else {
            return Ok(None);
        };
        Ok(Some((u64::from_be_bytes(first), decode_key_list(&list)?)))
    }

    /// Drop the `chunk_seqs` entry of the batch holding chunk `seq` once
    /// none of its chunks is stored any more.
    fn forget_batch_if_gone(&self, seq: u64) -> Result<(), StoreError> {
        let Some((first, chunk_keys)) = self.batch_of_seq(seq)? else {
            return Ok(());
        };
        let holds_seq = usize::try_from(seq - first).is_ok_and(|i| i < chunk_keys.len());
        if !holds_seq {
            return Ok(());
        }
        for key in &chunk_keys {
            if self.trees.records.contains_key(key)? {
                return Ok(());
            }
        }
        self.trees.chunk_seqs.remove(first.to_be_bytes())?;
        Ok(())
    }

    /// Where the record with request id `id` is (chunk key + position).
    fn locate(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let t = &self.trees;
        if let Some(target) = t.record_ids.get(id.as_bytes())? {
            return Ok(Some(target.to_vec()));
        }
        let Some((seq, pos)) = keys::parse_generated_id(id) else {
            return Ok(None);
        };
        let Some((first, keys_of_batch)) = self.batch_of_seq(seq)? else {
            return Ok(None);
        };
        let Some(chunk_key) = usize::try_from(seq - first)
            .ok()
            .and_then(|i| keys_of_batch.get(i))
        else {
            return Ok(None);
        };
        let Some(chunk) = t.records.get(chunk_key)? else {
            return Ok(None);
        };
        // A client may send an id of this form for a record of its own: the
        // slot must hold a record with exactly this id.
        let holds_it = decode_chunk(&chunk)?
            .get(pos as usize)
            .is_some_and(|r| r.id.as_deref() == Some(id));
        Ok(holds_it.then(|| keys::id_target(chunk_key, pos)))
    }

    /// The API names of stored records (as key prefixes), one seek per API.
    fn record_apis(&self) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut apis = Vec::new();
        let mut next_api_start: Vec<u8> = Vec::new();
        while let Some((first, _)) = self
            .trees
            .records
            .range(next_api_start.clone()..)
            .next()
            .transpose()?
        {
            let Some(api) = keys::api_of_record_key(&first) else {
                break;
            };
            next_api_start = keys::after_api(api);
            apis.push(api.to_vec());
        }
        Ok(apis)
    }

    /// Commit what is queued, stop the writer and flush. Later submits fail with `Closed`.
    pub fn close(&self) -> Result<(), StoreError> {
        self.writer.close();
        self.trees.db.flush()?;
        Ok(())
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if let Err(e) = self.close() {
            tracing::error!(error = %e, "flushing the store on close failed");
        }
    }
}

/// sled's segment size for a new store. sled writes any log item over a
/// quarter of a segment to a blob file of its own (created, written and
/// synced apart), and a leaf of record chunks is hundreds of KB: at sled's
/// default of 512 KiB most node rewrites at full ingest made a file (about
/// 6% of the service's CPU per record).
const SEGMENT_SIZE: usize = 8 << 20;
/// sled's default, which stores created before [`SEGMENT_SIZE`] have.
const SLED_DEFAULT_SEGMENT_SIZE: usize = 512 << 10;

/// The segment size to open `dir` with: sled refuses to open a store with
/// another size than it was created with, which its `conf` file records.
fn segment_size_for(dir: &Path) -> usize {
    let Ok(conf) = std::fs::read(dir.join("conf")) else {
        return SEGMENT_SIZE;
    };
    String::from_utf8_lossy(&conf)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size: ")?.trim().parse().ok())
        .unwrap_or(SLED_DEFAULT_SEGMENT_SIZE)
}

/// Wall-clock milliseconds times 2^20: a sequence number no earlier store
/// reached unless it took a million chunks per millisecond of its life.
fn clock_seq() -> u64 {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    ms.saturating_mul(1 << 20)
}

fn read_u64(tree: &sled::Tree, key: &[u8]) -> Result<u64, StoreError> {
    match tree.get(key)? {
        None => Ok(0),
        Some(v) => {
            let bytes: [u8; 8] = v.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                tree: "meta",
                reason: format!("{} is not a u64", String::from_utf8_lossy(key)),
            })?;
            Ok(u64::from_be_bytes(bytes))
        }
    }
}

struct SledSink {
    trees: Trees,
    next_seq: Arc<AtomicU64>,
}

/// Applies inserts to one tree in sled batches of at most [`MAX_SLED_BATCH`].
struct Chunked<'a> {
    tree: &'a sled::Tree,
    batch: sled::Batch,
    len: usize,
}

impl<'a> Chunked<'a> {
    fn new(tree: &'a sled::Tree) -> Self {
        Chunked {
            tree,
            batch: sled::Batch::default(),
            len: 0,
        }
    }

    fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<(), StoreError> {
        self.batch.insert(key.as_ref(), value.as_ref());
        self.bump()
    }

    fn bump(&mut self) -> Result<(), StoreError> {
        self.len += 1;
        if self.len >= MAX_SLED_BATCH {
            self.finish()?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), StoreError> {
        if self.len > 0 {
            self.tree.apply_batch(std::mem::take(&mut self.batch))?;
            self.len = 0;
        }
        Ok(())
    }
}

impl GroupSink<Prepared> for SledSink {
    fn commit(&mut self, group: &mut [Prepared]) -> Result<(), StoreError> {
        let t = &self.trees;
        let mut records = Chunked::new(&t.records);
        let mut dead = Chunked::new(&t.dead_letters);
        let mut new_records = 0u64;
        for p in group.iter() {
            for (key, value) in &p.chunks {
                records.insert(key, value)?;
            }
            for (key, value) in &p.dead_letters {
                dead.insert(key, value)?;
            }
            new_records += p.new_records;
        }
        records.finish()?;
        dead.finish()?;
        let mut score_chunks = Chunked::new(&t.scores);
        for p in group.iter_mut() {
            for chunk in &mut p.scores {
                let mut fresh = std::mem::take(&mut chunk.verdicts);
                if !chunk.complete {
                    if let Some(old) = t.scores.get(&chunk.key)? {
                        let mut old: Vec<ChunkScore> = decode("scores", &old)?;
                        old.retain(|o| fresh.iter().all(|f| f.pos != o.pos));
                        fresh.extend(old);
                        fresh.sort_by_key(|s| s.pos);
                    }
                }
                score_chunks.insert(&chunk.key, encode_scores(&fresh)?)?;
            }
            for alert in &p.alerts {
                upsert_alert(t, alert)?;
            }
        }
        score_chunks.finish()?;
        let count = t.record_count.fetch_add(new_records, Ordering::Relaxed) + new_records;
        let next_seq = self.next_seq.load(Ordering::Relaxed);
        let mut meta = sled::Batch::default();
        meta.insert(META_NEXT_SEQ, &next_seq.to_be_bytes());
        meta.insert(META_RECORD_COUNT, &count.to_be_bytes());
        t.meta.apply_batch(meta)?;
        t.db.flush()?;
        Ok(())
    }
}

/// A batch's first chunk sequence number and its chunk keys, in order.
type BatchChunks = (u64, Vec<Vec<u8>>);

/// The verdicts of one record chunk from one batch, sorted by position.
pub(crate) struct ScoreChunk {
    key: Vec<u8>,
    verdicts: Vec<ChunkScore>,
    /// One verdict for every record of the chunk: whatever is stored for
    /// the chunk is replaced, so it need not be read and merged.
    complete: bool,
}

/// Verdicts sorted by position, exactly one for each of `len` records.
fn covers_every_position(sorted: &[ChunkScore], len: u32) -> bool {
    sorted.len() == len as usize && sorted.iter().enumerate().all(|(i, s)| s.pos as usize == i)
}

/// Chunk keys one after another, each behind its length (u16, big-endian).
fn encode_key_list<'a>(keys: impl Iterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for key in keys {
        let len = u16::try_from(key.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(key.get(..usize::from(len)).unwrap_or(key));
    }
    out
}

fn decode_key_list(mut bytes: &[u8]) -> Result<Vec<Vec<u8>>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        tree: "chunk_seqs",
        reason: "truncated chunk key list".into(),
    };
    let mut keys = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len));
        let key = rest.get(..len).ok_or_else(corrupt)?;
        keys.push(key.to_vec());
        bytes = rest.get(len..).ok_or_else(corrupt)?;
    }
    if !bytes.is_empty() {
        return Err(corrupt());
    }
    Ok(keys)
}

/// Verdicts as MessagePack arrays (no field names: smaller and faster).
/// Chunks stored with field names (before) decode the same; fields added to
/// `ChunkScore` later must go last with `#[serde(default)]`.
fn encode_scores(verdicts: &[ChunkScore]) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec(verdicts).map_err(|e| StoreError::Encode {
        tree: "scores",
        reason: e.to_string(),
    })
}

/// A record's verdict inside a score chunk (the record's chunk key is the key).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChunkScore {
    pos: u32,
    ts_ms: i64,
    endpoint: String,
    score: f64,
    attack: Option<AttackType>,
}

impl ChunkScore {
    fn of(score: StoredScore, pos: u32) -> Self {
        ChunkScore {
            pos,
            ts_ms: score.ts_ms,
            endpoint: score.endpoint,
            score: score.score,
            attack: score.attack,
        }
    }
}

/// A batch's records grouped by (API, time bucket), each group sorted by
/// time and given its chunk key. sled copies a leaf on every insert, so one
/// value per chunk instead of one per record is what makes ingest fast.
/// Records grouped by (API, minute), each group (as indices into `records`)
/// time-sorted under a fresh chunk key and its sequence number; the
/// sequence numbers are consecutive from the first one returned.
#[allow(clippy::type_complexity)]
fn chunks_of(
    records: &[RecordEntry],
    next_seq: &AtomicU64,
) -> (u64, Vec<(Vec<u8>, u64, Vec<usize>)>) {
    let mut groups: BTreeMap<(&str, i64), Vec<usize>> = BTreeMap::new();
    for (i, e) in records.iter().enumerate() {
        groups
            .entry((e.api.as_str(), keys::bucket_of(e.record.ts_ms)))
            .or_default()
            .push(i);
    }
    let first = next_seq.fetch_add(groups.len() as u64, Ordering::Relaxed);
    let chunks = groups
        .into_iter()
        .zip(first..)
        .map(|(((api, bucket), mut members), seq)| {
            members.sort_by_key(|&i| records.get(i).map_or(i64::MIN, |e| e.record.ts_ms));
            (keys::record_key(api, bucket, seq), seq, members)
        })
        .collect();
    (first, chunks)
}

fn upsert_alert(t: &Trees, alert: &Alert) -> Result<(), StoreError> {
    if let Some(old) = t.alerts.get(alert.id.as_bytes())? {
        let old: Alert = decode("alerts", &old)?;
        if old.last_seen_ms != alert.last_seen_ms {
            t.alerts_by_time
                .remove(keys::alert_time_key(old.last_seen_ms, &old.id))?;
        }
    }
    t.alerts
        .insert(alert.id.as_bytes(), encode("alerts", alert)?)?;
    t.alerts_by_time
        .insert(keys::alert_time_key(alert.last_seen_ms, &alert.id), &[])?;
    Ok(())
}

fn api_of(key: &[u8]) -> Result<String, StoreError> {
    keys::api_of_record_key(key)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .ok_or(StoreError::Corrupt {
            tree: "records",
            reason: "key without API".into(),
        })
}

/// First byte of a record chunk: how the rest is encoded.
const CHUNK_COMPACT_V1: u8 = 1;

/// Records as MessagePack arrays (no field names: a third of the bytes and
/// faster both ways), behind a format byte. Fields added to `AccessRecord`
/// later must go last with `#[serde(default)]` so old chunks still decode.
/// Encoded as a sequence of records (serializing `&AccessRecord` is the same
/// as serializing `AccessRecord`, so [`decode_chunk`] reads it back as owned).
fn encode_chunk(records: &[&AccessRecord]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::with_capacity(64 + records.len() * 200);
    out.push(CHUNK_COMPACT_V1);
    rmp_serde::encode::write(&mut out, records).map_err(|e| StoreError::Encode {
        tree: "records",
        reason: e.to_string(),
    })?;
    Ok(out)
}

fn decode_chunk(value: &[u8]) -> Result<Vec<AccessRecord>, StoreError> {
    match value.split_first() {
        Some((&CHUNK_COMPACT_V1, rest)) => decode("records", rest),
        Some((other, _)) => Err(StoreError::Corrupt {
            tree: "records",
            reason: format!("unknown chunk format {other}"),
        }),
        None => Err(StoreError::Corrupt {
            tree: "records",
            reason: "empty chunk".into(),
        }),
    }
}

impl SledStore {
    /// Visit the records of `range`, time-ordered within each API; stop when `visit` says so.
    fn visit_chunks(
        &self,
        range: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        since_ms: i64,
        until_ms: i64,
        visit: &mut dyn FnMut(RecordEntry) -> bool,
    ) -> Result<(), StoreError> {
        // Chunks of one (api, bucket) come from different batches: merge them before emitting.
        let mut pending: Vec<AccessRecord> = Vec::new();
        let mut pending_head: Option<Vec<u8>> = None;
        let mut pending_api = String::new();
        let emit = |api: &str,
                    recs: &mut Vec<AccessRecord>,
                    visit: &mut dyn FnMut(RecordEntry) -> bool| {
            recs.sort_by_key(|r| r.ts_ms);
            for r in recs.drain(..) {
                if r.ts_ms >= since_ms
                    && r.ts_ms < until_ms
                    && !visit(RecordEntry {
                        api: api.to_string(),
                        record: r,
                    })
                {
                    return false;
                }
            }
            true
        };
        for item in range {
            let (k, v) = item?;
            let head = keys::chunk_head(&k).to_vec();
            if pending_head.as_ref() != Some(&head) {
                if !emit(&pending_api, &mut pending, visit) {
                    return Ok(());
                }
                pending_api = api_of(&k)?;
                pending_head = Some(head);
            }
            pending.extend(decode_chunk(&v)?);
        }
        emit(&pending_api, &mut pending, visit);
        Ok(())
    }
}

impl Store for SledStore {
    fn submit(&self, batch: WriteBatch, on_durable: Option<OnDurable>) -> Result<(), StoreError> {
        let prepared = self.prepare(batch)?;
        self.writer.submit(prepared, on_durable)
    }

    fn submit_records(
        &self,
        records: &mut [RecordEntry],
        on_durable: Option<OnDurable>,
    ) -> Result<(), StoreError> {
        let (chunks, new_records) = self.prepare_records(records)?;
        let prepared = Prepared {
            chunks,
            new_records,
            scores: Vec::new(),
            alerts: Vec::new(),
            dead_letters: Vec::new(),
        };
        self.writer.submit(prepared, on_durable)
    }

    fn record(&self, id: &str) -> Result<Option<RecordEntry>, StoreError> {
        let Some(target) = self.locate(id)? else {
            return Ok(None);
        };
        let Some((chunk_key, pos)) = keys::split_id_target(&target) else {
            return Ok(None);
        };
        let Some(v) = self.trees.records.get(chunk_key)? else {
            return Ok(None);
        };
        let api = api_of(chunk_key)?;
        Ok(decode_chunk(&v)?
            .into_iter()
            .nth(pos as usize)
            .map(|record| RecordEntry { api, record }))
    }

    fn records_range(
        &self,
        api: &str,
        since_ms: i64,
        until_ms: i64,
        limit: usize,
    ) -> Result<Vec<RecordEntry>, StoreError> {
        let mut out = Vec::new();
        if since_ms >= until_ms || limit == 0 {
            return Ok(out);
        }
        let lo = keys::record_bound(api, keys::bucket_of(since_ms));
        let hi = keys::record_bound(api, until_ms);
        self.visit_chunks(
            self.trees.records.range(lo..hi),
            since_ms,
            until_ms,
            &mut |e| {
                out.push(e);
                out.len() < limit
            },
        )?;
        Ok(out)
    }

    fn scan_records(&self, visit: &mut dyn FnMut(RecordEntry) -> bool) -> Result<(), StoreError> {
        self.visit_chunks(self.trees.records.iter(), i64::MIN, i64::MAX, visit)
    }

    fn scan_records_fair(
        &self,
        max_total: u64,
        visit: &mut dyn FnMut(RecordEntry),
    ) -> Result<(), StoreError> {
        let apis = self.record_apis()?;
        let per_api = crate::fair_share(max_total, apis.len());
        for api in apis {
            let mut taken = 0u64;
            let hi = keys::after_api(&api);
            let mut lo = api;
            lo.push(0);
            self.visit_chunks(
                self.trees.records.range(lo..hi),
                i64::MIN,
                i64::MAX,
                &mut |e| {
                    visit(e);
                    taken += 1;
                    taken < per_api
                },
            )?;
        }
        Ok(())
    }

    fn newest_record_ts(&self) -> Result<Option<i64>, StoreError> {
        let t = &self.trees;
        let mut newest: Option<i64> = None;
        let mut next_api_start: Vec<u8> = Vec::new();
        while let Some((first, _)) = t
            .records
            .range(next_api_start.clone()..)
            .next()
            .transpose()?
        {
            let Some(api) = keys::api_of_record_key(&first) else {
                break;
            };
            let after = keys::after_api(api);
            // The last chunk of an API holds its newest minute.
            if let Some((_, v)) = t
                .records
                .range(first.to_vec()..after.clone())
                .next_back()
                .transpose()?
            {
                let ts = decode_chunk(&v)?.iter().map(|r| r.ts_ms).max();
                newest = newest.max(ts);
            }
            next_api_start = after;
        }
        Ok(newest)
    }

    fn record_count(&self) -> Result<u64, StoreError> {
        Ok(self.trees.record_count.load(Ordering::Relaxed))
    }

    fn score(&self, id: &str) -> Result<Option<StoredScore>, StoreError> {
        let Some(target) = self.locate(id)? else {
            return Ok(None);
        };
        let Some((chunk_key, pos)) = keys::split_id_target(&target) else {
            return Ok(None);
        };
        let Some(v) = self.trees.scores.get(chunk_key)? else {
            return Ok(None);
        };
        let chunk: Vec<ChunkScore> = decode("scores", &v)?;
        let api = api_of(chunk_key)?;
        Ok(chunk
            .into_iter()
            .find(|s| s.pos == pos)
            .map(|s| StoredScore {
                id: id.to_string(),
                api,
                endpoint: s.endpoint,
                ts_ms: s.ts_ms,
                score: s.score,
                attack: s.attack,
            }))
    }

    fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.trees
            .alerts
            .get(id.as_bytes())?
            .map(|v| decode("alerts", &v))
            .transpose()
    }

    fn alerts(&self, query: &AlertQuery) -> Result<AlertPage, StoreError> {
        let lo = keys::ts_bytes(query.since_ms.unwrap_or(i64::MIN)).to_vec();
        let hi = match &query.cursor {
            Some(c) => keys::decode_cursor(c).ok_or(StoreError::InvalidCursor)?,
            None => match query.until_ms {
                Some(u) if u < i64::MAX => keys::ts_bytes(u + 1).to_vec(),
                _ => vec![0xff; 9],
            },
        };
        let mut page = AlertPage::default();
        if lo >= hi || query.limit == 0 {
            return Ok(page);
        }
        for item in self.trees.alerts_by_time.range(lo..hi).rev() {
            let (k, _) = item?;
            let Some((_, id)) = keys::split_alert_time_key(&k) else {
                continue;
            };
            let Some(alert) = self.alert(id)? else {
                continue;
            };
            if matches_query(&alert, query) {
                page.alerts.push(alert);
                if page.alerts.len() >= query.limit {
                    page.next_cursor = Some(keys::encode_cursor(&k));
                    break;
                }
            }
        }
        Ok(page)
    }

    fn api_settings(&self, api: &str) -> Result<Option<ApiSettings>, StoreError> {
        self.trees
            .apis
            .get(api.as_bytes())?
            .map(|v| decode("apis", &v))
            .transpose()
    }

    fn all_api_settings(&self) -> Result<Vec<ApiSettings>, StoreError> {
        self.trees
            .apis
            .iter()
            .map(|item| {
                let (_, v) = item?;
                decode("apis", &v)
            })
            .collect()
    }

    fn put_api_settings(&self, settings: &ApiSettings) -> Result<(), StoreError> {
        self.trees
            .apis
            .insert(settings.api.as_bytes(), encode("apis", settings)?)?;
        self.trees.db.flush()?;
        Ok(())
    }

    fn allowlist(&self) -> Result<Vec<AllowEntry>, StoreError> {
        self.trees
            .allowlist
            .iter()
            .map(|item| {
                let (_, v) = item?;
                decode("allowlist", &v)
            })
            .collect()
    }

    fn put_allow(&self, entry: &AllowEntry) -> Result<(), StoreError> {
        self.trees.allowlist.insert(
            keys::allow_key(&entry.kind, &entry.value),
            encode("allowlist", entry)?,
        )?;
        self.trees.db.flush()?;
        Ok(())
    }

    fn remove_allow(&self, kind: &str, value: &str) -> Result<bool, StoreError> {
        let existed = self
            .trees
            .allowlist
            .remove(keys::allow_key(kind, value))?
            .is_some();
        self.trees.db.flush()?;
        Ok(existed)
    }

    fn put_model(&self, bytes: &[u8], created_ms: i64) -> Result<u64, StoreError> {
        let version = self
            .trees
            .meta
            .update_and_fetch(META_MODEL_VERSION, |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                Some((n + 1).to_be_bytes().to_vec())
            })?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1);
        let mut value = Vec::with_capacity(8 + bytes.len());
        value.extend_from_slice(&created_ms.to_be_bytes());
        value.extend_from_slice(bytes);
        self.trees.models.insert(version.to_be_bytes(), value)?;
        let stale: Vec<sled::IVec> = self
            .trees
            .models
            .iter()
            .keys()
            .rev()
            .skip(MODELS_KEPT)
            .collect::<Result<_, _>>()?;
        for key in stale {
            self.trees.models.remove(key)?;
        }
        self.trees.db.flush()?;
        Ok(version)
    }

    fn latest_model(&self) -> Result<Option<StoredModel>, StoreError> {
        let Some((k, v)) = self.trees.models.last()? else {
            return Ok(None);
        };
        let corrupt = || StoreError::Corrupt {
            tree: "models",
            reason: "short model entry".into(),
        };
        let version = u64::from_be_bytes(k.as_ref().try_into().map_err(|_| corrupt())?);
        let created: [u8; 8] = v
            .get(..8)
            .ok_or_else(corrupt)?
            .try_into()
            .map_err(|_| corrupt())?;
        Ok(Some(StoredModel {
            version,
            created_ms: i64::from_be_bytes(created),
            bytes: v.get(8..).ok_or_else(corrupt)?.to_vec(),
        }))
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.trees
            .dead_letters
            .iter()
            .rev()
            .take(limit)
            .map(|item| {
                let (_, v) = item?;
                decode("dead_letters", &v)
            })
            .collect()
    }

    fn apply_retention(&self, cutoff_ms: i64) -> Result<RetentionStats, StoreError> {
        let t = &self.trees;
        let mut stats = RetentionStats::default();
        // Whole chunks only: a chunk is deleted once its bucket lies entirely before the cutoff.
        let cutoff_bucket = keys::bucket_of(cutoff_ms);
        let mut next_api_start: Vec<u8> = Vec::new();
        while let Some((first, _)) = t
            .records
            .range(next_api_start.clone()..)
            .next()
            .transpose()?
        {
            let Some(api) = keys::api_of_record_key(&first) else {
                break;
            };
            let api = api.to_vec();
            let mut lo = api.clone();
            lo.push(0);
            let hi = keys::record_bound(&String::from_utf8_lossy(&api), cutoff_bucket);
            loop {
                // Collected in small steps so no iterator is held open across deletes.
                let chunk: Vec<(sled::IVec, sled::IVec)> = t
                    .records
                    .range(lo.clone()..hi.clone())
                    .take(64)
                    .collect::<Result<_, _>>()?;
                if chunk.is_empty() {
                    break;
                }
                for (k, v) in &chunk {
                    let mut ids = sled::Batch::default();
                    let recs = decode_chunk(v).unwrap_or_default();
                    let seq = keys::seq_of_chunk_key(k);
                    for (pos, rec) in recs.iter().enumerate() {
                        let pos = u32::try_from(pos).unwrap_or(u32::MAX);
                        if let Some(id) = &rec.id {
                            // The store's own ids have no id-index entry.
                            if seq.is_some_and(|seq| *id == keys::generated_id(seq, pos)) {
                                continue;
                            }
                            let target = keys::id_target(k, pos);
                            if t.record_ids.get(id.as_bytes())?.as_deref() == Some(&target[..]) {
                                ids.remove(id.as_bytes());
                            }
                        }
                    }
                    t.record_ids.apply_batch(ids)?;
                    if let Some(s) = t.scores.remove(k)? {
                        let n: Vec<ChunkScore> = decode("scores", &s).unwrap_or_default();
                        stats.scores += n.len() as u64;
                    }
                    t.records.remove(k)?;
                    if let Some(seq) = seq {
                        self.forget_batch_if_gone(seq)?;
                    }
                    let n = recs.len() as u64;
                    stats.records += n;
                    let _ =
                        t.record_count
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                                Some(c.saturating_sub(n))
                            });
                }
            }
            next_api_start = keys::after_api(&api);
        }
        let old_alerts: Vec<sled::IVec> = t
            .alerts_by_time
            .range(..keys::ts_bytes(cutoff_ms).to_vec())
            .keys()
            .collect::<Result<_, _>>()?;
        for k in old_alerts {
            if let Some((_, id)) = keys::split_alert_time_key(&k) {
                t.alerts.remove(id.as_bytes())?;
            }
            t.alerts_by_time.remove(&k)?;
            stats.alerts += 1;
        }
        t.db.flush()?;
        Ok(stats)
    }

    fn flush(&self) -> Result<(), StoreError> {
        crate::write_durable(self, WriteBatch::default())
    }

    fn size_on_disk(&self) -> u64 {
        self.trees.db.size_on_disk().unwrap_or(0)
    }
}

pub(crate) fn matches_query(alert: &Alert, q: &AlertQuery) -> bool {
    q.api.as_deref().is_none_or(|api| alert.api == api)
        && q.attack.is_none_or(|a| alert.attack == Some(a))
        && q.family.is_none_or(|f| alert.family == f)
        && q.monitor.is_none_or(|m| alert.monitor == Some(m))
        && q.since_ms.is_none_or(|s| alert.last_seen_ms >= s)
        && q.until_ms.is_none_or(|u| alert.last_seen_ms <= u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_open_with_the_segment_size_they_were_created_with() {
        let old = tempfile::tempdir().expect("tempdir");
        {
            // A store from before the larger segment size: sled's defaults.
            let db = sled::Config::new().path(old.path()).open().expect("old db");
            db.open_tree("meta")
                .and_then(|m| m.insert(META_RECORD_COUNT, &7u64.to_be_bytes()))
                .expect("meta");
            db.flush().expect("flush");
        }
        assert_eq!(segment_size_for(old.path()), SLED_DEFAULT_SEGMENT_SIZE);
        let store = SledStore::open(old.path(), &SledConfig::default()).expect("reopen old store");
        assert_eq!(store.record_count().expect("count"), 7);
        drop(store);

        let new = tempfile::tempdir().expect("tempdir");
        assert_eq!(segment_size_for(new.path()), SEGMENT_SIZE);
        drop(SledStore::open(new.path(), &SledConfig::default()).expect("new store"));
        assert_eq!(segment_size_for(new.path()), SEGMENT_SIZE, "recorded");
        SledStore::open(new.path(), &SledConfig::default()).expect("reopen new store");
    }

    #[test]
    fn verdicts_decode_from_the_compact_and_the_named_encoding() {
        let verdicts = vec![
            ChunkScore {
                pos: 0,
                ts_ms: -5,
                endpoint: "GET /v1/items/{id}".into(),
                score: 0.25,
                attack: None,
            },
            ChunkScore {
                pos: 7,
                ts_ms: 1_790_000_000_000,
                endpoint: "POST /login".into(),
                score: 0.875,
                attack: Some(AttackType::CredentialStuffing),
            },
        ];
        let compact = encode_scores(&verdicts).expect("compact");
        let named = encode("scores", &verdicts).expect("named");
        assert!(compact.len() < named.len());
        for bytes in [compact, named] {
            let back: Vec<ChunkScore> = decode("scores", &bytes).expect("decode");
            assert_eq!(format!("{back:?}"), format!("{verdicts:?}"));
        }
    }

    #[test]
    fn chunk_format_byte_guards_decoding() {
        let rec = AccessRecord {
            id: Some("x".into()),
            ts_ms: 5,
            api: None,
            host: None,
            method: "GET".into(),
            path: "/".into(),
            status: 200,
            latency_ms: 1.0,
            request_bytes: 1,
            response_bytes: 2,
            client_ip: std::net::IpAddr::from([10, 0, 0, 1]),
            country: None,
            geo: None,
            user: None,
            api_key: None,
            token: None,
            user_agent: None,
        };
        let bytes = encode_chunk(&[&rec]).expect("encode");
        assert_eq!(decode_chunk(&bytes).expect("decode"), vec![rec]);
        let mut future = bytes.clone();
        future[0] = 9;
        assert!(matches!(
            decode_chunk(&future),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(decode_chunk(&[]).is_err());
        assert!(
            decode_chunk(&bytes[..bytes.len() / 2]).is_err(),
            "truncated"
        );
    }
}
