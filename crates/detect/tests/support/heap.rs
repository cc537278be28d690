//! Shared by `crates/detect/tests/memory.rs`, `benches/engine.rs` and
//! `benches/engine_profile.rs` (via `#[path]`): a counting global allocator, so
//! what the engine holds (and how often it allocates) is measured rather than
//! estimated, and the engine workload: a simulated day parsed as the service
//! would parse it, with the model trained on its training part.

// Each includer uses part of it.
#![allow(dead_code)]

use apiwarden_detect::{ModelBundle, TrainConfig, Trainer};
use apiwarden_record::{parse_bytes, AccessRecord, Fingerprinter, InputFormat};
use apiwarden_sim::{generate, SimConfig};
use mimalloc::MiMalloc;
use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, Ordering};
use std::sync::Arc;

/// Live heap bytes of this process, while counting is on, over mimalloc: the
/// allocator the binary ships (`apiwarden-server`'s `mimalloc` feature), so
/// timings here are the service's.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
/// Off while throughput is timed: the counters' atomic adds cost about 5% of the
/// engine's time, which the binary never pays.
static COUNTING: AtomicBool = AtomicBool::new(true);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { MiMalloc.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
        unsafe { MiMalloc.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        unsafe { MiMalloc.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with the counters paused. Live bytes read afterwards are off by what `f`
/// allocated and kept (or freed of what was counted): measure memory outside it.
pub fn uncounted<T>(f: impl FnOnce() -> T) -> T {
    COUNTING.store(false, Ordering::Relaxed);
    let out = f();
    COUNTING.store(true, Ordering::Relaxed);
    out
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes live right now.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Allocations (and reallocations) made so far.
pub fn allocations() -> u64 {
    ALLOCATIONS.load(Ordering::Relaxed)
}

/// The engine workload: simulator seed 11 at `scale`, parsed, and the model
/// trained on its training part.
pub struct Workload {
    pub train: Vec<AccessRecord>,
    pub test: Vec<AccessRecord>,
    pub bundle: Arc<ModelBundle>,
}

pub fn workload(scale: f64) -> Workload {
    let sim = generate(&SimConfig { seed: 11, scale });
    let fp = Fingerprinter::new([7; 32]);
    let train = records(&sim.train, &fp);
    let test = records(&sim.test, &fp);
    let mut trainer = Trainer::new(TrainConfig::default());
    for r in &train {
        trainer.observe(r);
    }
    let bundle = match trainer.finish() {
        Ok(b) => Arc::new(b),
        Err(e) => panic!("training on simulated traffic failed: {e}"),
    };
    Workload {
        train,
        test,
        bundle,
    }
}

/// Simulated records through the NDJSON parser (fingerprints included).
pub fn records(sim: &[apiwarden_sim::SimRecord], fp: &Fingerprinter) -> Vec<AccessRecord> {
    let mut body = Vec::new();
    for r in sim {
        body.extend_from_slice(r.to_json().as_bytes());
        body.push(b'\n');
    }
    parse_bytes(&body, InputFormat::Ndjson, fp)
        .into_iter()
        .filter_map(Result::ok)
        .collect()
}
