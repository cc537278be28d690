//! The fitted forest and its scoring kernels.
//!
//! All trees live in one flat node array. A leaf points to itself and reads an
//! extra column appended to every row, which holds -inf (`-inf >= x` is false
//! for the leaf's threshold slot), so walking a tree is a fixed number of
//! branch-free steps: rows that reach a leaf early just stay there. That lets
//! the batch kernel advance a block of rows through a tree in lock-step, which
//! keeps many independent loads in flight instead of one pointer chase.
//!
//! A leaf keeps its path length in its threshold slot: the walk's last load
//! brought it into cache, where a separate array would cost another miss per
//! tree (a fifth of the single-row scoring time).

use crate::build::GrownTree;
use crate::error::ForestError;
use crate::path_length::average_path_length;
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Rows advanced through a tree together by the batch kernel.
const ROW_BLOCK: usize = 128;
/// Trees walked together for one row by [`IsolationForest::score_one`].
const TREE_GROUP: usize = 8;
/// Rows of a block whose node indices the batch kernel keeps in registers.
const LANES: usize = 16;

#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Node {
    /// Rows with `value < threshold` go to `left`, the others to `left + 1`.
    /// A leaf's path length: depth + c(rows in the leaf), never below 0.
    pub threshold: f64,
    /// A leaf's is `n_features`, the appended -inf column.
    pub feature: u32,
    /// Index of the left child; a leaf's own index.
    pub left: u32,
}

/// Bitwise on the threshold, so two identical forests (NaN leaves and all) compare equal.
impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        self.threshold.to_bits() == other.threshold.to_bits()
            && self.feature == other.feature
            && self.left == other.left
    }
}

/// The column appended to every row for the leaves to read.
const LEAF_VALUE: f64 = f64::NEG_INFINITY;
/// Rows of up to this many features (with the leaf column) are padded on the stack.
const STACK_ROW: usize = 64;

impl Node {
    /// A placeholder while a tree grows; [`IsolationForest::from_trees`] sets its path.
    pub(crate) fn leaf(index: u32) -> Self {
        Self {
            threshold: f64::NAN,
            feature: 0,
            left: index,
        }
    }

    fn finished_leaf(index: u32, n_features: usize, path_len: f64) -> Self {
        Self {
            threshold: path_len,
            feature: n_features as u32,
            left: index,
        }
    }

    fn is_leaf(&self, index: usize) -> bool {
        self.left as usize == index
    }

    #[inline(always)]
    fn next(&self, value: f64) -> u32 {
        self.left + u32::from(value >= self.threshold)
    }
}

/// A fitted isolation forest (Liu, Ting & Zhou 2008).
///
/// Invariants (checked when deserializing): every child index and root is in
/// range of `nodes`, every feature index is below `n_features`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ForestRepr", into = "ForestRepr")]
pub struct IsolationForest {
    n_features: usize,
    sample_size: usize,
    nodes: Vec<Node>,
    roots: Vec<u32>,
    heights: Vec<u8>,
    /// c(sample_size): the normaliser of the mean path length.
    norm: f64,
}

impl IsolationForest {
    pub(crate) fn from_trees(n_features: usize, sample_size: usize, trees: Vec<GrownTree>) -> Self {
        let total: usize = trees.iter().map(|t| t.nodes.len()).sum();
        let mut nodes = Vec::with_capacity(total);
        let mut roots = Vec::with_capacity(trees.len());
        let mut heights = Vec::with_capacity(trees.len());
        for tree in trees {
            // The caller checked that the whole forest fits u32 indices.
            let offset = nodes.len() as u32;
            roots.push(offset);
            heights.push(tree.height);
            let grown = tree.nodes.into_iter().zip(tree.path_len).enumerate();
            nodes.extend(grown.map(|(i, (n, path_len))| {
                if n.is_leaf(i) {
                    Node::finished_leaf(n.left + offset, n_features, path_len)
                } else {
                    Node {
                        left: n.left + offset,
                        ..n
                    }
                }
            }));
        }
        Self {
            n_features,
            sample_size,
            nodes,
            roots,
            heights,
            norm: average_path_length(sample_size),
        }
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Rows each tree was grown from (the requested size, or all rows if fewer).
    pub fn sample_size(&self) -> usize {
        self.sample_size
    }

    /// Total nodes over all trees.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    #[inline]
    fn score_from_total(&self, total_path: f64) -> f64 {
        let mean = total_path / self.roots.len() as f64;
        (-mean / self.norm).exp2()
    }

    /// Anomaly score in (0, 1]; higher is more anomalous, about 0.5 is ordinary.
    ///
    /// Does not panic: a row of the wrong length scores NaN (debug builds
    /// assert). Use [`Self::try_score_one`] to get an error instead. A NaN
    /// feature value goes to the left branch of every split on it.
    pub fn score_one(&self, row: &[f64]) -> f64 {
        debug_assert_eq!(row.len(), self.n_features, "row length");
        let f = self.n_features;
        if row.len() != f {
            return f64::NAN;
        }
        if f < STACK_ROW {
            let mut padded = [LEAF_VALUE; STACK_ROW];
            padded[..f].copy_from_slice(row);
            self.score_padded(&padded[..=f])
        } else {
            let mut padded = Vec::with_capacity(f + 1);
            padded.extend_from_slice(row);
            padded.push(LEAF_VALUE);
            self.score_padded(&padded)
        }
    }

    /// [`Self::score_one`] of a row with the leaf column appended.
    #[inline(always)]
    fn score_padded(&self, row: &[f64]) -> f64 {
        let mut total = 0.0;
        let mut roots = self.roots.chunks_exact(TREE_GROUP);
        let mut heights = self.heights.chunks_exact(TREE_GROUP);
        for (roots, heights) in roots.by_ref().zip(heights.by_ref()) {
            // A whole group has a fixed size: the walk unrolls fully.
            let mut at = [0u32; TREE_GROUP];
            at.copy_from_slice(roots);
            let steps = heights.iter().copied().max().unwrap_or(0);
            self.walk_group(row, &mut at, steps);
            // Summed in tree order, exactly as the batch kernel does.
            for &i in &at {
                total += self.path_len(i);
            }
        }
        let roots = roots.remainder();
        let steps = heights.remainder().iter().copied().max().unwrap_or(0);
        let mut at = [0u32; TREE_GROUP];
        let at = &mut at[..roots.len()];
        at.copy_from_slice(roots);
        self.walk_group(row, at, steps);
        for &i in at.iter() {
            total += self.path_len(i);
        }
        self.score_from_total(total)
    }

    /// The path length of the leaf `i` (a walk's end: every tree's height was walked).
    #[inline(always)]
    fn path_len(&self, i: u32) -> f64 {
        self.nodes[i as usize].threshold
    }

    /// [`Self::score_one`] with a typed error for a row of the wrong length.
    pub fn try_score_one(&self, row: &[f64]) -> Result<f64, ForestError> {
        if row.len() != self.n_features {
            return Err(ForestError::FeatureCount {
                expected: self.n_features,
                got: row.len(),
            });
        }
        Ok(self.score_one(row))
    }

    /// Scores every row of `data` (rows x features) on this thread.
    ///
    /// Does not panic: with the wrong number of columns every score is NaN
    /// (debug builds assert). [`Self::try_score_batch`] returns an error instead.
    pub fn score_batch(&self, data: ArrayView2<f64>) -> Vec<f64> {
        debug_assert_eq!(data.ncols(), self.n_features, "column count");
        let mut scores = vec![f64::NAN; data.nrows()];
        if data.ncols() == self.n_features {
            self.score_rows_into(data, &mut scores);
        }
        scores
    }

    /// [`Self::score_batch`] with a typed error for the wrong column count.
    pub fn try_score_batch(&self, data: ArrayView2<f64>) -> Result<Vec<f64>, ForestError> {
        self.check_columns(data)?;
        Ok(self.score_batch(data))
    }

    /// Scores rows on `threads` threads (0 is taken as 1). The scores are
    /// bit-identical to [`Self::score_batch`] for any thread count.
    pub fn score_batch_parallel(&self, data: ArrayView2<f64>, threads: usize) -> Vec<f64> {
        debug_assert_eq!(data.ncols(), self.n_features, "column count");
        let rows = data.nrows();
        let mut scores = vec![f64::NAN; rows];
        if data.ncols() != self.n_features {
            return scores;
        }
        let threads = threads.max(1).min(rows.div_ceil(ROW_BLOCK).max(1));
        if threads == 1 {
            self.score_rows_into(data, &mut scores);
            return scores;
        }
        let per_thread = rows.div_ceil(threads);
        std::thread::scope(|scope| {
            for (chunk_index, out) in scores.chunks_mut(per_thread).enumerate() {
                let start = chunk_index * per_thread;
                let view = data.slice(ndarray::s![start..start + out.len(), ..]);
                scope.spawn(move || self.score_rows_into(view, out));
            }
        });
        scores
    }

    fn check_columns(&self, data: ArrayView2<f64>) -> Result<(), ForestError> {
        if data.ncols() != self.n_features {
            return Err(ForestError::FeatureCount {
                expected: self.n_features,
                got: data.ncols(),
            });
        }
        Ok(())
    }

    /// `data.ncols() == self.n_features` and `out.len() == data.nrows()`.
    fn score_rows_into(&self, data: ArrayView2<f64>, out: &mut [f64]) {
        // Rows are copied with the leaf column appended.
        let f = self.n_features + 1;
        let mut block = vec![LEAF_VALUE; ROW_BLOCK * f];
        let mut totals = [0.0f64; ROW_BLOCK];
        let mut at = [0u32; ROW_BLOCK];
        let mut row_start = 0;
        for out_block in out.chunks_mut(ROW_BLOCK) {
            let n = out_block.len();
            let rows = data.slice(ndarray::s![row_start..row_start + n, ..]);
            for (dst, src) in block.chunks_exact_mut(f).zip(rows.outer_iter()) {
                for (d, s) in dst.iter_mut().zip(src.iter()) {
                    *d = *s;
                }
            }
            self.accumulate_block(&block[..n * f], &mut at[..n], &mut totals[..n]);
            for (score, &total) in out_block.iter_mut().zip(totals.iter()) {
                *score = self.score_from_total(total);
            }
            row_start += n;
        }
    }

    /// Adds each row's path length in every tree, tree by tree, to `totals`
    /// (reset first). `block` holds `totals.len()` rows, row-major, each with
    /// the leaf column appended.
    #[inline(never)]
    fn accumulate_block(&self, block: &[f64], at: &mut [u32], totals: &mut [f64]) {
        let f = self.n_features + 1;
        totals.fill(0.0);
        for (&root, &height) in self.roots.iter().zip(&self.heights) {
            let mut lanes = block.chunks_exact(LANES * f);
            let mut lane_totals = totals.chunks_exact_mut(LANES);
            for (rows, totals) in lanes.by_ref().zip(lane_totals.by_ref()) {
                let i = self.walk_lanes(rows, root, height);
                for (total, &i) in totals.iter_mut().zip(i.iter()) {
                    *total += self.path_len(i);
                }
            }
            let rest = lanes.remainder();
            let rest_totals = lane_totals.into_remainder();
            let at = &mut at[..rest_totals.len()];
            at.fill(root);
            for _ in 0..height {
                for (i, row) in at.iter_mut().zip(rest.chunks_exact(f)) {
                    let node = &self.nodes[*i as usize];
                    *i = node.next(row[node.feature as usize]);
                }
            }
            for (total, &i) in rest_totals.iter_mut().zip(at.iter()) {
                *total += self.path_len(i);
            }
        }
    }
}

impl IsolationForest {
    /// Walks one row (the leaf column appended) down the trees whose current
    /// nodes are `at`, for `steps` steps, all trees together: their
    /// independent loads overlap. Every index in `at` is a node.
    #[inline(always)]
    fn walk_group(&self, row: &[f64], at: &mut [u32], steps: u8) {
        assert!(row.len() == self.n_features + 1);
        debug_assert!(at.iter().all(|&i| (i as usize) < self.nodes.len()));
        for _ in 0..steps {
            for i in at.iter_mut() {
                // SAFETY: `at` starts at roots and every index stored in a
                // node or root is in range, every feature at most `n_features`
                // (`from_trees` builds them so, `TryFrom<ForestRepr>` rejects
                // models that are not); `next` yields `left` or `left + 1`,
                // both checked nodes; `row.len() == n_features + 1` (asserted).
                // The checks were a third of the per-record scoring cost.
                let node = unsafe { self.nodes.get_unchecked(*i as usize) };
                let value = unsafe { *row.get_unchecked(node.feature as usize) };
                *i = node.next(value);
            }
        }
    }

    /// Walks `LANES` rows (`rows`, row-major, `n_features + 1` each) down the tree
    /// rooted at `root` for `height` steps; returns the leaf each row reached.
    /// The node indices stay in registers, so the rows' walks overlap.
    #[inline(always)]
    fn walk_lanes(&self, rows: &[f64], root: u32, height: u8) -> [u32; LANES] {
        let f = self.n_features + 1;
        assert!(rows.len() == LANES * f && (root as usize) < self.nodes.len());
        let mut at = [root; LANES];
        for _ in 0..height {
            for (k, i) in at.iter_mut().enumerate() {
                debug_assert!((*i as usize) < self.nodes.len());
                // SAFETY: every index stored in a node or root is in range and
                // every feature is at most `n_features`: `from_trees` builds them
                // so and `TryFrom<ForestRepr>` rejects models that are not.
                // `next` yields `left` or `left + 1`, both checked nodes, and
                // `k * f + feature < LANES * f == rows.len()` (asserted above).
                // This is the hot loop; the bounds checks cost about a third
                // of its instructions.
                let node = unsafe { self.nodes.get_unchecked(*i as usize) };
                let value = unsafe { *rows.get_unchecked(k * f + node.feature as usize) };
                *i = node.next(value);
            }
        }
        at
    }
}

/// The serialized form: plain arrays, no NaN (JSON cannot carry NaN), and
/// validated on the way back in so a corrupt model can never index out of range.
#[derive(Serialize, Deserialize)]
struct ForestRepr {
    n_features: u32,
    sample_size: u64,
    roots: Vec<u32>,
    heights: Vec<u8>,
    /// Per node: left child index, or the node's own index for a leaf.
    left: Vec<u32>,
    feature: Vec<u32>,
    /// Split thresholds; 0 for leaves.
    threshold: Vec<f64>,
    /// Leaves' path lengths; 0 for splits.
    path_len: Vec<f64>,
}

impl From<IsolationForest> for ForestRepr {
    fn from(forest: IsolationForest) -> Self {
        // Per node: (feature, threshold, path length) as the file has them.
        let columns = |(i, n): (usize, &Node)| {
            if n.is_leaf(i) {
                (0, 0.0, n.threshold)
            } else {
                (n.feature, n.threshold, 0.0)
            }
        };
        let nodes = || forest.nodes.iter().enumerate().map(columns);
        Self {
            n_features: forest.n_features as u32,
            sample_size: forest.sample_size as u64,
            roots: forest.roots.clone(),
            heights: forest.heights.clone(),
            left: forest.nodes.iter().map(|n| n.left).collect(),
            feature: nodes().map(|c| c.0).collect(),
            threshold: nodes().map(|c| c.1).collect(),
            path_len: nodes().map(|c| c.2).collect(),
        }
    }
}

impl TryFrom<ForestRepr> for IsolationForest {
    type Error = ForestError;

    fn try_from(r: ForestRepr) -> Result<Self, ForestError> {
        let invalid = |msg: String| Err(ForestError::InvalidModel(msg));
        let n = r.left.len();
        if r.n_features == 0 {
            return invalid("n_features is 0".into());
        }
        let Ok(sample_size) = usize::try_from(r.sample_size) else {
            return invalid(format!("sample_size {} too large", r.sample_size));
        };
        if sample_size < 2 {
            return invalid(format!("sample_size {sample_size} is below 2"));
        }
        if r.roots.is_empty() || r.roots.len() != r.heights.len() {
            return invalid(format!(
                "{} roots but {} heights",
                r.roots.len(),
                r.heights.len()
            ));
        }
        if n == 0 || r.feature.len() != n || r.threshold.len() != n || r.path_len.len() != n {
            return invalid("node arrays are empty or differ in length".into());
        }
        if u32::try_from(n).is_err() {
            return invalid(format!("{n} nodes exceed u32 indices"));
        }
        if let Some(&h) = r
            .heights
            .iter()
            .find(|&&h| h as usize > crate::params::MAX_DEPTH_LIMIT)
        {
            return invalid(format!("tree height {h} exceeds the limit"));
        }
        if let Some(root) = r.roots.iter().find(|&&root| root as usize >= n) {
            return invalid(format!("root {root} out of range"));
        }
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let (left, feature, threshold) = (r.left[i], r.feature[i], r.threshold[i]);
            if !(r.path_len[i].is_finite() && r.path_len[i] >= 0.0) {
                return invalid(format!("node {i}: path length {}", r.path_len[i]));
            }
            if left as usize == i {
                nodes.push(Node::finished_leaf(
                    left,
                    r.n_features as usize,
                    r.path_len[i],
                ));
                continue;
            }
            if left as usize + 1 >= n {
                return invalid(format!("node {i}: child {left} out of range"));
            }
            if feature >= r.n_features {
                return invalid(format!("node {i}: feature {feature} out of range"));
            }
            if !threshold.is_finite() {
                return invalid(format!("node {i}: threshold {threshold}"));
            }
            nodes.push(Node {
                threshold,
                feature,
                left,
            });
        }
        Ok(Self {
            n_features: r.n_features as usize,
            sample_size,
            nodes,
            roots: r.roots,
            heights: r.heights,
            norm: average_path_length(sample_size),
        })
    }
}
