//! Eviction of idle windows (traffic time) and the per-kind cap.

use crate::table::{KindTables, KINDS};
use crate::window::EntityWindow;
use crate::BehaviorConfig;

/// Sweep when traffic time passed the next sweep point or a kind went over its cap.
pub(crate) fn maybe_sweep(
    tables: &mut KindTables<EntityWindow>,
    next_sweep_ms: &mut i64,
    now_ms: i64,
    cfg: &BehaviorConfig,
) {
    let over_cap = KINDS
        .iter()
        .any(|k| tables.len(*k) > cfg.max_entities_per_kind);
    if now_ms < *next_sweep_ms && !over_cap {
        return;
    }
    *next_sweep_ms = now_ms.saturating_add(cfg.sweep_interval_ms.max(1));
    let idle = cfg.idle_evict_ms;
    tables.retain(|w| now_ms.saturating_sub(w.last_seen_ms) <= idle);
    // Past the cap, drop the least recently seen down to 90% of it (ties by key).
    let keep = cfg.max_entities_per_kind - cfg.max_entities_per_kind / 10;
    for kind in KINDS {
        if tables.len(kind) > cfg.max_entities_per_kind {
            tables.truncate_kind(kind, keep, |w| w.last_seen_ms);
        }
    }
}
