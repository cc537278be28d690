//! Key layouts. Big-endian integers so byte order is numeric order, and the
//! sign bit flipped on timestamps so negative times sort before positive ones.

pub(crate) fn ts_bytes(ts_ms: i64) -> [u8; 8] {
    ((ts_ms as u64) ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn ts_from_bytes(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

/// Records are stored in chunks per (API, bucket of this many ms).
pub(crate) const BUCKET_MS: i64 = 60_000;

pub(crate) fn bucket_of(ts_ms: i64) -> i64 {
    ts_ms.div_euclid(BUCKET_MS).saturating_mul(BUCKET_MS)
}

/// `api \0 ts_be seq_be`: all records of an API together, in time order
/// (for chunks, `ts` is the bucket start).
pub(crate) fn record_key(api: &str, ts_ms: i64, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(api.len() + 17);
    k.extend_from_slice(api.as_bytes());
    k.push(0);
    k.extend_from_slice(&ts_bytes(ts_ms));
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The first key of `api` at or after `ts_ms`.
pub(crate) fn record_bound(api: &str, ts_ms: i64) -> Vec<u8> {
    let mut k = Vec::with_capacity(api.len() + 9);
    k.extend_from_slice(api.as_bytes());
    k.push(0);
    k.extend_from_slice(&ts_bytes(ts_ms));
    k
}

/// A chunk key without its sequence number: chunks with the same head share an (API, bucket).
pub(crate) fn chunk_head(key: &[u8]) -> &[u8] {
    key.get(..key.len().saturating_sub(8)).unwrap_or(key)
}

/// Where a record id points: its chunk key and position in the chunk.
pub(crate) fn id_target(chunk_key: &[u8], pos: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity(chunk_key.len() + 4);
    v.extend_from_slice(chunk_key);
    v.extend_from_slice(&pos.to_be_bytes());
    v
}

pub(crate) fn split_id_target(target: &[u8]) -> Option<(&[u8], u32)> {
    let split = target.len().checked_sub(4)?;
    let pos: [u8; 4] = target.get(split..)?.try_into().ok()?;
    Some((target.get(..split)?, u32::from_be_bytes(pos)))
}

/// The id the store gives a record that came without one: the chunk's
/// sequence number and the record's position in it, so the record is found
/// through one index entry per chunk instead of one per record.
pub(crate) fn generated_id(seq: u64, pos: u32) -> String {
    let mut id = String::with_capacity(20);
    id.push_str("aw");
    push_radix36(&mut id, seq);
    id.push('-');
    push_radix36(&mut id, u64::from(pos));
    id
}

/// `(seq, pos)` of an id in exactly the form [`generated_id`] writes
/// (a client may send any id: other spellings of the same numbers are not ours).
pub(crate) fn parse_generated_id(id: &str) -> Option<(u64, u32)> {
    let (seq, pos) = id.strip_prefix("aw")?.split_once('-')?;
    let seq = u64::from_str_radix(seq, 36).ok()?;
    let pos = u32::try_from(u64::from_str_radix(pos, 36).ok()?).ok()?;
    (generated_id(seq, pos) == id).then_some((seq, pos))
}

fn push_radix36(out: &mut String, mut n: u64) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [0u8; 13];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|&b| char::from(b)));
}

/// The sequence number of a chunk key (its last 8 bytes).
pub(crate) fn seq_of_chunk_key(key: &[u8]) -> Option<u64> {
    let split = key.len().checked_sub(8)?;
    Some(u64::from_be_bytes(key.get(split..)?.try_into().ok()?))
}

/// The API name of a record key (API names never contain NUL: the server rejects them).
pub(crate) fn api_of_record_key(key: &[u8]) -> Option<&[u8]> {
    let nul = key.iter().position(|&b| b == 0)?;
    key.get(..nul)
}

/// The smallest key past every key of `api`.
pub(crate) fn after_api(api: &[u8]) -> Vec<u8> {
    let mut k = api.to_vec();
    k.push(1);
    k
}

/// `last_seen_ts_be id`: alerts by recency.
pub(crate) fn alert_time_key(last_seen_ms: i64, id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + id.len());
    k.extend_from_slice(&ts_bytes(last_seen_ms));
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn split_alert_time_key(key: &[u8]) -> Option<(i64, &str)> {
    let ts: [u8; 8] = key.get(..8)?.try_into().ok()?;
    let id = std::str::from_utf8(key.get(8..)?).ok()?;
    Some((ts_from_bytes(ts), id))
}

pub(crate) fn allow_key(kind: &str, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(kind.len() + 1 + value.len());
    k.extend_from_slice(kind.as_bytes());
    k.push(0);
    k.extend_from_slice(value.as_bytes());
    k
}

/// Cursors are the hex of the last alert-time key returned.
pub(crate) fn encode_cursor(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn decode_cursor(cursor: &str) -> Option<Vec<u8>> {
    if !cursor.len().is_multiple_of(2) || cursor.len() < 16 {
        return None;
    }
    (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_sort_numerically_including_negative() {
        let ts = [-5_i64, -1, 0, 1, 1_700_000_000_000, i64::MAX];
        for w in ts.windows(2) {
            assert!(ts_bytes(w[0]) < ts_bytes(w[1]));
        }
        for t in ts {
            assert_eq!(ts_from_bytes(ts_bytes(t)), t);
        }
    }

    #[test]
    fn record_keys_group_by_api_then_time() {
        let a1 = record_key("a", 10, 0);
        let a2 = record_key("a", 11, 0);
        let ab = record_key("ab", 0, 0);
        assert!(a1 < a2 && a2 < after_api(b"a") && after_api(b"a") <= ab);
        assert_eq!(api_of_record_key(&a1), Some(&b"a"[..]));
    }

    #[test]
    fn generated_ids_round_trip_only_in_their_own_spelling() {
        for (seq, pos) in [
            (0, 0),
            (1 << 32, 999),
            (u64::MAX, u32::MAX),
            (1_855_000_000 << 20, 7),
        ] {
            let id = generated_id(seq, pos);
            assert!(id.len() <= 24, "{id}");
            assert_eq!(parse_generated_id(&id), Some((seq, pos)), "{id}");
        }
        assert_eq!(generated_id(36, 10), "aw10-a");
        for other in [
            "aw010-a",
            "aw10-A",
            "AW10-a",
            "aw10-",
            "aw-a",
            "aw10a",
            "x10-a",
            "aw+10-a",
            "aw10-zzzzzzzzz",
        ] {
            assert_eq!(parse_generated_id(other), None, "{other}");
        }
        let key = record_key("shop", 60_000, 42);
        assert_eq!(seq_of_chunk_key(&key), Some(42));
    }

    #[test]
    fn cursor_round_trip_and_garbage() {
        let k = alert_time_key(42, "abc");
        assert_eq!(decode_cursor(&encode_cursor(&k)), Some(k));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor("0123456789abcdefz"), None);
    }
}
