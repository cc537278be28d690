use thiserror::Error;

/// Why the store could not do what was asked.
#[derive(Debug, Clone, Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, corruption). The message is for logs, not for users.
    #[error("storage engine: {0}")]
    Engine(String),
    /// A stored value could not be decoded (written by an incompatible version, or corrupt).
    #[error("corrupt value in `{tree}`: {reason}")]
    Corrupt { tree: &'static str, reason: String },
    /// A value could not be encoded.
    #[error("cannot encode value for `{tree}`: {reason}")]
    Encode { tree: &'static str, reason: String },
    /// The store was closed (shutting down).
    #[error("store is closed")]
    Closed,
    /// A cursor handed to [`crate::Store::alerts`] is not one the store produced.
    #[error("invalid cursor")]
    InvalidCursor,
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        StoreError::Engine(e.to_string())
    }
}

pub(crate) fn encode<T: serde::Serialize>(
    tree: &'static str,
    value: &T,
) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(value).map_err(|e| StoreError::Encode {
        tree,
        reason: e.to_string(),
    })
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    tree: &'static str,
    bytes: &[u8],
) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        tree,
        reason: e.to_string(),
    })
}
