use thiserror::Error;

/// Everything that can go wrong configuring, fitting, scoring or loading a forest.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ForestError {
    #[error("n_trees must be at least 1")]
    ZeroTrees,
    #[error(
        "sample_size must be at least 2 (got {0}): one sample cannot be isolated from anything"
    )]
    SampleSizeTooSmall(usize),
    #[error("threads must be at least 1")]
    ZeroThreads,
    #[error("max_depth must be between 1 and {limit} (got {got})")]
    MaxDepthOutOfRange { got: usize, limit: usize },
    #[error("training data has no rows")]
    NoRows,
    #[error("training data has no feature columns")]
    NoFeatures,
    #[error("training data needs at least 2 rows (got {0})")]
    TooFewRows(usize),
    #[error("too many feature columns ({0}); at most {max}", max = u32::MAX)]
    TooManyFeatures(usize),
    #[error("value at row {row}, column {column} is not finite ({value})")]
    NonFinite {
        row: usize,
        column: usize,
        value: f64,
    },
    #[error("forest would need {0} nodes, more than a u32 index can address")]
    TooManyNodes(u64),
    #[error("expected {expected} features per row, got {got}")]
    FeatureCount { expected: usize, got: usize },
    #[error("invalid serialized forest: {0}")]
    InvalidModel(String),
}
