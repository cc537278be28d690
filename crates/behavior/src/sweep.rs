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
    // The table's stamp is the window's last traffic time: both are the latest record's.
    tables.retain(|seen_ms, _| now_ms.saturating_sub(seen_ms) <= idle);
    // Past the cap, drop the least recently seen down to 90% of it (ties by key).
    let keep = cfg.max_entities_per_kind - cfg.max_entities_per_kind / 10;
    for kind in KINDS {
        if tables.len(kind) > cfg.max_entities_per_kind {
            tables.truncate_kind(kind, keep, |seen_ms, _| seen_ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::EntityKey;
    use apiwarden_alert::EntityKind;

    const T0: i64 = 1_767_571_200_000;
    const MINUTE: i64 = 60_000;

    fn see(tables: &mut KindTables<EntityWindow>, name: &str, ts_ms: i64) {
        tables.get_or_insert_with(EntityKind::User, EntityKey::Name(name), ts_ms, || {
            EntityWindow::new(ts_ms)
        });
    }

    #[test]
    fn an_entity_idle_past_the_limit_loses_its_window_and_a_recent_one_keeps_it() {
        let cfg = BehaviorConfig::default();
        let mut tables = KindTables::default();
        see(&mut tables, "gone", T0);
        see(&mut tables, "back", T0);
        see(&mut tables, "back", T0 + 90 * MINUTE);
        let mut next_sweep = T0;
        let now = T0 + cfg.idle_evict_ms + MINUTE;
        maybe_sweep(&mut tables, &mut next_sweep, now, &cfg);
        assert!(tables.get(EntityKind::User, "gone").is_none());
        assert!(tables.get(EntityKind::User, "back").is_some());
        assert_eq!(next_sweep, now + cfg.sweep_interval_ms);
    }

    #[test]
    fn past_the_cap_the_least_recently_seen_go_first() {
        let cfg = BehaviorConfig {
            max_entities_per_kind: 10,
            ..BehaviorConfig::default()
        };
        let mut tables = KindTables::default();
        for i in 0..11 {
            see(&mut tables, &format!("user{i:02}"), T0 + i * MINUTE);
        }
        // Seen again: now the most recent.
        see(&mut tables, "user00", T0 + 20 * MINUTE);
        let mut next_sweep = i64::MAX;
        maybe_sweep(&mut tables, &mut next_sweep, T0 + 20 * MINUTE, &cfg);
        assert_eq!(tables.len(EntityKind::User), 9);
        assert!(tables.get(EntityKind::User, "user00").is_some());
        for gone in ["user01", "user02"] {
            assert!(tables.get(EntityKind::User, gone).is_none(), "{gone} kept");
        }
        assert!(tables.get(EntityKind::User, "user03").is_some());
    }
}
