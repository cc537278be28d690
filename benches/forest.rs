//! Isolation forest speed: fit and batch scoring of 1M x 8 rows, and one row
//! per call. `scripts/bench_forest_vs_sklearn.sh` compares these with
//! scikit-learn on the same shape.

use apiwarden_forest::{IsolationForest, IsolationForestParams};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ndarray::Array2;
use std::hint::black_box;
use std::time::Duration;

/// `cargo test --all-targets` runs each bench once in an unoptimised build:
/// keep that smoke run short.
const ROWS: usize = if cfg!(debug_assertions) {
    20_000
} else {
    1_000_000
};
const FEATURES: usize = 8;

/// Deterministic pseudo-random rows (splitmix64), roughly normal per column.
fn synthetic_rows(rows: usize, features: usize, seed: u64) -> Array2<f64> {
    let mut state = seed;
    let mut next_unit = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    };
    Array2::from_shape_fn((rows, features), |(_, column)| {
        let sum: f64 = (0..4).map(|_| next_unit()).sum();
        (sum - 2.0) * (column + 1) as f64
    })
}

fn fitted(data: &Array2<f64>) -> IsolationForest {
    match IsolationForestParams::new().seed(1).fit(data.view()) {
        Ok(forest) => forest,
        Err(e) => panic!("fit failed on synthetic data: {e}"),
    }
}

fn bench_forest(c: &mut Criterion) {
    let data = synthetic_rows(ROWS, FEATURES, 7);
    let forest = fitted(&data);

    let mut heavy = c.benchmark_group("forest_1m_x8");
    heavy.sample_size(10);
    heavy.measurement_time(Duration::from_secs(8));
    heavy.warm_up_time(Duration::from_secs(1));
    heavy.throughput(Throughput::Elements(ROWS as u64));
    heavy.bench_function("fit_100x256", |b| b.iter(|| fitted(black_box(&data))));
    heavy.bench_function("score_batch_1thread", |b| {
        b.iter(|| forest.score_batch(black_box(data.view())))
    });
    heavy.finish();

    let probes = synthetic_rows(4096, FEATURES, 8);
    let probe_rows: Vec<Vec<f64>> = probes.outer_iter().map(|r| r.to_vec()).collect();
    let mut single = c.benchmark_group("forest_single");
    single.measurement_time(Duration::from_secs(3));
    single.warm_up_time(Duration::from_secs(1));
    single.throughput(Throughput::Elements(1));
    let mut next = 0usize;
    single.bench_function("score_one", |b| {
        b.iter_batched(
            || {
                next = (next + 1) % probe_rows.len();
                next
            },
            |i| forest.score_one(black_box(&probe_rows[i])),
            BatchSize::SmallInput,
        )
    });
    single.finish();
}

criterion_group!(benches, bench_forest);
criterion_main!(benches);
