//! Growing trees: each tree is built from its own seeded RNG, so trees can be
//! grown on any number of threads and the forest comes out the same.

use crate::error::ForestError;
use crate::model::{IsolationForest, Node};
use crate::params::CheckedParams;
use crate::path_length::{average_path_length, height_limit};
use ndarray::ArrayView2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// One tree with node indices local to the tree (root is 0).
pub(crate) struct GrownTree {
    pub nodes: Vec<Node>,
    pub path_len: Vec<f64>,
    pub height: u8,
}

pub(crate) fn fit_forest(
    params: &CheckedParams,
    data: ArrayView2<f64>,
) -> Result<IsolationForest, ForestError> {
    let (n_rows, n_features) = data.dim();
    if n_rows == 0 {
        return Err(ForestError::NoRows);
    }
    if n_features == 0 {
        return Err(ForestError::NoFeatures);
    }
    if n_rows < 2 {
        return Err(ForestError::TooFewRows(n_rows));
    }
    if u32::try_from(n_features).is_err() {
        return Err(ForestError::TooManyFeatures(n_features));
    }
    check_finite(data)?;

    let sample_size = params.sample_size.min(n_rows);
    let max_depth = params
        .max_depth
        .unwrap_or_else(|| height_limit(sample_size))
        .max(1);
    let max_nodes = params.n_trees as u64 * (2 * sample_size as u64 - 1);
    if max_nodes > u64::from(u32::MAX) {
        return Err(ForestError::TooManyNodes(max_nodes));
    }

    let grow = |tree_index: usize| {
        let seed = params.seed.wrapping_add(tree_index as u64);
        grow_tree(data, sample_size, max_depth, seed)
    };
    let trees: Vec<GrownTree> = if params.threads <= 1 || params.n_trees == 1 {
        (0..params.n_trees).map(grow).collect()
    } else {
        let threads = params.threads.min(params.n_trees);
        let per_thread = params.n_trees.div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let start = t * per_thread;
                    let end = ((t + 1) * per_thread).min(params.n_trees);
                    let grow = &grow;
                    scope.spawn(move || (start..end).map(grow).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(trees) => trees,
                    // A panic while growing is a bug in this crate; surface it unchanged.
                    Err(payload) => std::panic::resume_unwind(payload),
                })
                .collect()
        })
    };
    Ok(IsolationForest::from_trees(n_features, sample_size, trees))
}

fn check_finite(data: ArrayView2<f64>) -> Result<(), ForestError> {
    for (row, values) in data.outer_iter().enumerate() {
        if let Some((column, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(ForestError::NonFinite { row, column, value });
        }
    }
    Ok(())
}

/// Pending node: its index, the rows (a range of `order`) that reach it, its depth.
struct Pending {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
}

fn grow_tree(data: ArrayView2<f64>, sample_size: usize, max_depth: usize, seed: u64) -> GrownTree {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    let (n_rows, n_features) = data.dim();
    let sampled: Vec<usize> = if sample_size >= n_rows {
        (0..n_rows).collect()
    } else {
        rand::seq::index::sample(&mut rng, n_rows, sample_size).into_vec()
    };
    // A private row-major copy of the sample keeps the splits cache-friendly.
    let mut sample = Vec::with_capacity(sampled.len() * n_features);
    for &r in &sampled {
        sample.extend(data.row(r).iter().copied());
    }
    let mut order: Vec<usize> = (0..sampled.len()).collect();

    let mut nodes: Vec<Node> = vec![Node::leaf(0)];
    let mut path_len: Vec<f64> = vec![0.0];
    let mut height = 0usize;
    let mut stack = vec![Pending {
        node: 0,
        start: 0,
        end: order.len(),
        depth: 0,
    }];
    let mut ranges: Vec<(f64, f64)> = vec![(0.0, 0.0); n_features];
    let mut candidates: Vec<usize> = Vec::with_capacity(n_features);

    while let Some(p) = stack.pop() {
        let size = p.end - p.start;
        height = height.max(p.depth);
        let split = if p.depth < max_depth && size > 1 {
            choose_split(
                &sample,
                n_features,
                &order[p.start..p.end],
                &mut ranges,
                &mut candidates,
                &mut rng,
            )
        } else {
            None
        };
        let Some((feature, threshold)) = split else {
            nodes[p.node] = Node::leaf(p.node as u32);
            path_len[p.node] = p.depth as f64 + average_path_length(size);
            continue;
        };
        let mid = p.start
            + partition(&mut order[p.start..p.end], |row| {
                sample[row * n_features + feature] < threshold
            });
        let left = nodes.len();
        nodes.push(Node::leaf(left as u32));
        nodes.push(Node::leaf(left as u32 + 1));
        path_len.extend([0.0, 0.0]);
        nodes[p.node] = Node {
            threshold,
            feature: feature as u32,
            left: left as u32,
        };
        stack.push(Pending {
            node: left + 1,
            start: mid,
            end: p.end,
            depth: p.depth + 1,
        });
        stack.push(Pending {
            node: left,
            start: p.start,
            end: mid,
            depth: p.depth + 1,
        });
    }
    GrownTree {
        nodes,
        path_len,
        // max_depth <= MAX_DEPTH_LIMIT (64) or ceil(log2(rows)) <= 64.
        height: u8::try_from(height).unwrap_or(u8::MAX),
    }
}

/// A random feature among those not constant on these rows, and a threshold
/// drawn uniformly between its min and max; `None` when all rows are equal.
fn choose_split(
    sample: &[f64],
    n_features: usize,
    rows: &[usize],
    ranges: &mut [(f64, f64)],
    candidates: &mut Vec<usize>,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<(usize, f64)> {
    ranges.fill((f64::INFINITY, f64::NEG_INFINITY));
    for &row in rows {
        let values = &sample[row * n_features..(row + 1) * n_features];
        for (range, &v) in ranges.iter_mut().zip(values) {
            range.0 = range.0.min(v);
            range.1 = range.1.max(v);
        }
    }
    candidates.clear();
    candidates.extend((0..n_features).filter(|&f| ranges[f].1 > ranges[f].0));
    if candidates.is_empty() {
        return None;
    }
    let feature = candidates[rng.gen_range(0..candidates.len())];
    let (min, max) = ranges[feature];
    let u: f64 = rng.gen();
    let mut threshold = min + u * (max - min);
    if !threshold.is_finite() {
        // max - min overflowed; interpolate without forming the difference.
        threshold = (1.0 - u) * min + u * max;
    }
    // Rows go left when `value < threshold`: keep both sides non-empty.
    if !(threshold > min && threshold <= max) {
        threshold = max;
    }
    Some((feature, threshold))
}

/// Moves the rows for which `goes_left` holds to the front; returns their count.
fn partition(rows: &mut [usize], goes_left: impl Fn(usize) -> bool) -> usize {
    let mut mid = 0;
    for i in 0..rows.len() {
        if goes_left(rows[i]) {
            rows.swap(mid, i);
            mid += 1;
        }
    }
    mid
}
