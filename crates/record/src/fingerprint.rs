//! Keyed fingerprints of secrets (`api_key`, `token`).
//!
//! A keyed hash (not a plain one) so that nobody holding the stored data but
//! not the key can confirm a guessed key by hashing it; 128 bits keep
//! accidental collisions out of reach for any realistic number of credentials.

use crate::Fingerprint;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Length of the fingerprint key in bytes.
pub const KEY_BYTES: usize = 32;

/// Why a fingerprint key could not be made, read or written.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("fingerprint key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("fingerprint key{}: expected 64 hex digits, {reason}", location(.path))]
    Malformed {
        path: Option<PathBuf>,
        reason: String,
    },
    #[error("no OS randomness for a fingerprint key: {0}")]
    Random(String),
}

fn location(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

/// Turns secrets into [`Fingerprint`]s with one secret key.
///
/// `Debug` never shows the key.
#[derive(Clone)]
pub struct Fingerprinter {
    key: [u8; KEY_BYTES],
}

impl fmt::Debug for Fingerprinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprinter { key: <redacted> }")
    }
}

impl Fingerprinter {
    pub fn new(key: [u8; KEY_BYTES]) -> Self {
        Self { key }
    }

    /// A fresh key from the operating system's random source.
    ///
    /// Falls back to a key derived from the time and process id only if the
    /// OS has no randomness, which [`Fingerprinter::try_generate`] reports instead.
    pub fn generate() -> Self {
        match Self::try_generate() {
            Ok(fp) => fp,
            Err(_) => {
                let seed = format!(
                    "{:?}/{}/{:p}",
                    std::time::SystemTime::now(),
                    std::process::id(),
                    &KEY_BYTES
                );
                Self::new(*blake3::hash(seed.as_bytes()).as_bytes())
            }
        }
    }

    /// A fresh key from the operating system's random source, or why there is none.
    pub fn try_generate() -> Result<Self, KeyError> {
        let mut key = [0u8; KEY_BYTES];
        getrandom::getrandom(&mut key).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::new(key))
    }

    /// A key written as 64 hex digits (surrounding whitespace allowed).
    pub fn from_hex(hex: &str) -> Result<Self, KeyError> {
        parse_key_hex(hex, None)
    }

    /// The key in `path` (64 hex digits); when the file does not exist, a new
    /// random key is written there first, readable by the owner only (0600).
    pub fn load_or_create(path: &Path) -> Result<Self, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(text) => parse_key_hex(&text, Some(path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let fresh = Self::try_generate()?;
                match fresh.write_new(path) {
                    Ok(()) => Ok(fresh),
                    // Someone else created it between our read and our write: use theirs.
                    Err(KeyError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::AlreadyExists =>
                    {
                        let text =
                            std::fs::read_to_string(path).map_err(|source| KeyError::Io {
                                path: path.to_path_buf(),
                                source,
                            })?;
                        parse_key_hex(&text, Some(path))
                    }
                    Err(e) => Err(e),
                }
            }
            Err(source) => Err(KeyError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Write the key as hex to `path` (replacing it), readable by the owner
    /// only. Written to a temporary file first and renamed, so a crash never
    /// leaves a half-written key behind.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut temp_name = path.as_os_str().to_owned();
        temp_name.push(".tmp");
        let temp = PathBuf::from(temp_name);
        let mut file = owner_only_options()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(io_err)?;
        restrict_permissions(&file).map_err(io_err)?;
        write_key(&mut file, &self.key).map_err(io_err)?;
        drop(file);
        std::fs::rename(&temp, path).map_err(io_err)
    }

    fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let io_err = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = owner_only_options()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err)?;
        write_key(&mut file, &self.key).map_err(io_err)
    }

    /// `fp:` + the first 128 bits of the keyed BLAKE3 hash of `secret`, in hex.
    pub fn fingerprint(&self, secret: &str) -> Fingerprint {
        let hash = blake3::keyed_hash(&self.key, secret.as_bytes());
        let mut out = String::with_capacity(3 + 32);
        out.push_str("fp:");
        const HEX: &[u8; 16] = b"0123456789abcdef";
        for byte in &hash.as_bytes()[..16] {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Fingerprint(out)
    }
}

fn parse_key_hex(text: &str, path: Option<&Path>) -> Result<Fingerprinter, KeyError> {
    let malformed = |reason: String| KeyError::Malformed {
        path: path.map(Path::to_path_buf),
        reason,
    };
    let digits = text.trim();
    if digits.len() != KEY_BYTES * 2 {
        return Err(malformed(format!("got {} characters", digits.len())));
    }
    let mut key = [0u8; KEY_BYTES];
    hex::decode_to_slice(digits, &mut key).map_err(|e| malformed(format!("got {e}")))?;
    Ok(Fingerprinter::new(key))
}

fn write_key(file: &mut std::fs::File, key: &[u8; KEY_BYTES]) -> std::io::Result<()> {
    let mut text = hex::encode(key);
    text.push('\n');
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

fn owner_only_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// `mode` only applies to files being created; an existing key file is tightened too.
fn restrict_permissions(file: &std::fs::File) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_prefixed_128_bit_hex_and_keyed() {
        let a = Fingerprinter::new([1; 32]);
        let b = Fingerprinter::new([2; 32]);
        let fa = a.fingerprint("sk_live_123");
        assert!(fa.as_str().starts_with("fp:"));
        assert_eq!(fa.as_str().len(), 35);
        assert!(fa.as_str()[3..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fa, a.fingerprint("sk_live_123"), "deterministic");
        assert_ne!(fa, b.fingerprint("sk_live_123"), "depends on the key");
        assert_ne!(fa, a.fingerprint("sk_live_124"));
        let expected = hex::encode(&blake3::keyed_hash(&[1; 32], b"sk_live_123").as_bytes()[..16]);
        assert_eq!(&fa.as_str()[3..], expected);
    }

    #[test]
    fn debug_hides_the_key() {
        let fp = Fingerprinter::new([0xab; 32]);
        let shown = format!("{fp:?}");
        assert!(!shown.contains("ab"), "{shown}");
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn key_file_round_trip_and_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fp.key");
        let created = Fingerprinter::load_or_create(&path).unwrap();
        let loaded = Fingerprinter::load_or_create(&path).unwrap();
        assert_eq!(created.fingerprint("x"), loaded.fingerprint("x"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = dir.path().join("other.key");
        let fixed = Fingerprinter::new([7; 32]);
        std::fs::write(&other, "old contents").unwrap();
        fixed.save(&other).unwrap();
        assert!(!dir.path().join("other.key.tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&other).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "replaced files are tightened too");
        }
        let text = std::fs::read_to_string(&other).unwrap();
        assert_eq!(text.trim(), "07".repeat(32));
        let back = Fingerprinter::from_hex(&text).unwrap();
        assert_eq!(back.fingerprint("s"), fixed.fingerprint("s"));
    }

    #[test]
    fn malformed_keys_are_rejected_with_the_path() {
        assert!(Fingerprinter::from_hex("abcd").is_err());
        assert!(Fingerprinter::from_hex(&"zz".repeat(32)).is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.key");
        std::fs::write(&path, "not a key").unwrap();
        let err = Fingerprinter::load_or_create(&path)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.key"), "{err}");
    }

    #[test]
    fn generated_keys_differ() {
        let a = Fingerprinter::generate();
        let b = Fingerprinter::generate();
        assert_ne!(a.fingerprint("x"), b.fingerprint("x"));
    }
}
