//! Shared by `crates/detect/tests/memory.rs` and `benches/engine.rs` (via
//! `#[path]`): a counting global allocator, so what the engine holds is
//! measured rather than estimated, and simulated records parsed as the
//! service would parse them.

use apiwarden_record::{parse_bytes, AccessRecord, Fingerprinter, InputFormat};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// Live heap bytes of this process.
pub struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap bytes live right now.
pub fn live_bytes() -> isize {
    LIVE.load(Ordering::Relaxed)
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
