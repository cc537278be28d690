//! Quick single-thread scoring throughput check, without criterion:
//! `cargo run --release -p apiwarden-forest --example score_speed [rows] [features]`.

use apiwarden_forest::IsolationForestParams;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let features: usize = args.next().map_or(Ok(8), |a| a.parse())?;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
    let data = Array2::from_shape_fn((rows, features), |(_, c)| {
        ((0..4).map(|_| rng.gen::<f64>()).sum::<f64>() - 2.0) * (c + 1) as f64
    });
    let started = Instant::now();
    let forest = IsolationForestParams::new().seed(1).fit(data.view())?;
    println!("fit: {:.4} s", started.elapsed().as_secs_f64());
    let mut best = f64::INFINITY;
    let mut checksum = 0.0;
    for _ in 0..3 {
        let started = Instant::now();
        let scores = forest.score_batch(data.view());
        best = best.min(started.elapsed().as_secs_f64());
        checksum = scores.iter().sum::<f64>();
    }
    println!(
        "score_batch: {:.0} rows/s (best of 3, checksum {checksum:.6})",
        rows as f64 / best
    );
    let probes: Vec<Vec<f64>> = data.outer_iter().take(10_000).map(|r| r.to_vec()).collect();
    let started = Instant::now();
    let mut sum = 0.0;
    for _ in 0..10 {
        for p in &probes {
            sum += forest.score_one(p);
        }
    }
    let per_call = started.elapsed().as_secs_f64() / (10 * probes.len()) as f64;
    println!("score_one: {:.3} us per call ({sum:.3})", per_call * 1e6);
    Ok(())
}
