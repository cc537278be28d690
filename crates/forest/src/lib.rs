//! Isolation forest (Liu, Ting & Zhou, ICDM 2008) written for scoring speed.
//!
//! ```
//! use apiwarden_forest::IsolationForestParams;
//! use ndarray::array;
//!
//! let data = array![[0.0, 1.0], [0.1, 1.1], [0.2, 0.9], [-0.1, 1.0], [0.0, 0.95], [9.0, -7.0]];
//! let forest = IsolationForestParams::new().n_trees(50).seed(7).fit(data.view())?;
//! let scores = forest.score_batch(data.view());
//! assert!(scores[5] > scores[0]);
//! # Ok::<(), apiwarden_forest::ForestError>(())
//! ```
//!
//! Layout: every tree of a forest in one flat node array; leaves point to
//! themselves so scoring is a fixed number of branch-free steps per tree. Tree
//! `i` is grown from `Xoshiro256PlusPlus::seed_from_u64(seed + i)`, so fitting
//! is reproducible and parallel, with the same forest for any thread count.

mod build;
mod error;
mod model;
mod params;
mod path_length;

pub use error::ForestError;
pub use model::IsolationForest;
pub use params::{CheckedParams, IsolationForestParams, MAX_DEPTH_LIMIT};
pub use path_length::{average_path_length, height_limit};
