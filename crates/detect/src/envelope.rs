//! The versioned, checksummed envelope around a serialized model bundle:
//! `b"APIWARDN"`, u32 format version, u64 payload length, u32 CRC-32 of the
//! payload (all little-endian), then the payload.

use thiserror::Error;

pub const MAGIC: &[u8; 8] = b"APIWARDN";
/// The bundle format this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// Why a bundle could not be read or written.
#[derive(Debug, Error)]
pub enum BundleError {
    #[error("not an apiwarden model bundle (bad magic bytes)")]
    NotABundle,
    #[error("bundle format {found}, this apiwarden reads <= {supported}: upgrade apiwarden")]
    TooNew { found: u32, supported: u32 },
    #[error("bundle is truncated: {expected} bytes expected, {found} present")]
    Truncated { expected: u64, found: u64 },
    #[error("bundle is corrupt: checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    ChecksumMismatch { stored: u32, computed: u32 },
    #[error("bundle payload cannot be decoded: {0}")]
    Decode(String),
    #[error("bundle cannot be encoded: {0}")]
    Encode(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Wraps a payload in the envelope.
pub fn seal(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Checks the envelope and returns the payload and its format version.
pub fn open(bytes: &[u8]) -> Result<(u32, &[u8]), BundleError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(if MAGIC.starts_with(bytes) && !bytes.is_empty() {
            BundleError::Truncated {
                expected: HEADER_LEN as u64,
                found: bytes.len() as u64,
            }
        } else {
            BundleError::NotABundle
        });
    }
    let header = bytes.get(..HEADER_LEN).ok_or(BundleError::Truncated {
        expected: HEADER_LEN as u64,
        found: bytes.len() as u64,
    })?;
    let version = u32::from_le_bytes(le_bytes(&header[8..12]));
    if version > FORMAT_VERSION {
        return Err(BundleError::TooNew {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let len = u64::from_le_bytes(le_bytes(&header[12..20]));
    let stored = u32::from_le_bytes(le_bytes(&header[20..24]));
    let body = &bytes[HEADER_LEN..];
    if (body.len() as u64) < len {
        return Err(BundleError::Truncated {
            expected: HEADER_LEN as u64 + len,
            found: bytes.len() as u64,
        });
    }
    // Bounded by the check above, so the cast cannot truncate.
    let payload = &body[..len as usize];
    let computed = crc32fast::hash(payload);
    if computed != stored {
        return Err(BundleError::ChecksumMismatch { stored, computed });
    }
    Ok((version, payload))
}

fn le_bytes<const N: usize>(s: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&s[..N]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn round_trip() {
        let sealed = seal(b"hello");
        assert_eq!(open(&sealed).unwrap(), (FORMAT_VERSION, &b"hello"[..]));
    }

    #[test]
    fn each_damage_has_its_error() {
        let sealed = seal(b"some payload bytes");
        assert!(matches!(
            open(b"PK\x03\x04zipfile"),
            Err(BundleError::NotABundle)
        ));
        assert!(matches!(open(b""), Err(BundleError::NotABundle)));
        assert!(matches!(
            open(&sealed[..5]),
            Err(BundleError::Truncated { .. })
        ));
        assert!(matches!(
            open(&sealed[..HEADER_LEN - 1]),
            Err(BundleError::Truncated { .. })
        ));
        assert!(matches!(
            open(&sealed[..sealed.len() - 1]),
            Err(BundleError::Truncated { .. })
        ));
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x40;
        assert!(matches!(
            open(&flipped),
            Err(BundleError::ChecksumMismatch { .. })
        ));
        let mut newer = sealed.clone();
        newer[8..12].copy_from_slice(&3u32.to_le_bytes());
        let err = open(&newer).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bundle format 3, this apiwarden reads <= 1: upgrade apiwarden"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = open(&bytes);
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&bytes);
            let _ = open(&with_magic);
        }
    }
}
