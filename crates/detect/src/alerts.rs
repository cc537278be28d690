//! Alert deduplication for one API: one alert per (entity, attack) grows
//! while the behavior goes on; after `cooldown_ms` of traffic time without a
//! flagged record it closes, and a later flagged record opens a new one.

use apiwarden_alert::{
    Alert, AlertFamily, AttackType, EntityKind, EntityRef, Evidence, Severity,
    MAX_ALERT_REQUEST_IDS,
};
use apiwarden_record::format_ts_ms;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// One flagged observation, as a detector reports it.
#[derive(Debug, Clone)]
pub struct Flag {
    pub entity: EntityRef,
    pub attack: AttackType,
    pub severity: Severity,
    /// Raw detector score and the calibrated threshold it exceeded.
    pub score: f64,
    pub threshold: f64,
    pub evidence: Vec<Evidence>,
}

/// The alerts of one API.
#[derive(Debug, Clone)]
pub struct AlertBook {
    api: String,
    cooldown_ms: i64,
    /// An API-wide alert open this long is closed at its next flag and a new
    /// one (its continuation) opens: campaigns against the whole API that
    /// follow each other read as a series of alerts, each with request ids
    /// of its own period. (One actor's alert stays one alert.)
    max_span_ms: i64,
    max_retained: usize,
    /// Every retained alert, keyed by its global opening sequence number.
    /// Shared with the verdicts that report it: a flag hands out a pointer,
    /// not a copy of up to [`MAX_ALERT_REQUEST_IDS`] ids, and the next flag
    /// copies the alert only if a caller still holds the previous state.
    alerts: BTreeMap<u64, Arc<Alert>>,
    /// The latest alert of each (entity, attack); lookups only, never iterated.
    latest: HashMap<(EntityRef, AttackType), u64>,
    /// The attacks with an alert for each entity; lookups only.
    by_entity: HashMap<EntityRef, Vec<(AttackType, u64)>>,
    /// Traffic time of the most recent flag: when it is older than the
    /// cool-down no alert can be open, and per-record lookups are skipped.
    last_flag_ms: i64,
}

impl AlertBook {
    pub fn new(api: &str, cooldown_ms: i64, max_span_ms: i64, max_retained: usize) -> Self {
        AlertBook {
            api: api.to_string(),
            cooldown_ms: cooldown_ms.max(0),
            max_span_ms: max_span_ms.max(1),
            max_retained: max_retained.max(1),
            alerts: BTreeMap::new(),
            latest: HashMap::new(),
            by_entity: HashMap::new(),
            last_flag_ms: i64::MIN,
        }
    }

    fn is_open(&self, alert: &Alert, now_ms: i64) -> bool {
        now_ms.saturating_sub(alert.last_seen_ms) <= self.cooldown_ms
    }

    /// Opens or updates the alert of this flag; returns its current state.
    /// `next_seq` numbers alerts across APIs in opening order; it is advanced
    /// when an alert opens.
    pub fn flag(
        &mut self,
        flag: Flag,
        ts_ms: i64,
        request_id: &str,
        next_seq: &mut u64,
    ) -> Arc<Alert> {
        self.last_flag_ms = self.last_flag_ms.max(ts_ms);
        let key = (flag.entity, flag.attack);
        let open_seq = self.latest.get(&key).copied().filter(|seq| {
            self.alerts.get(seq).is_some_and(|a| {
                self.is_open(a, ts_ms)
                    && (a.entity.kind != EntityKind::Api
                        || ts_ms.saturating_sub(a.first_seen_ms) <= self.max_span_ms)
            })
        });
        if let Some(seq) = open_seq {
            if let Some(shared) = self.alerts.get_mut(&seq) {
                let alert = Arc::make_mut(shared);
                alert.last_seen_ms = alert.last_seen_ms.max(ts_ms);
                alert.last_seen = format_ts_ms(alert.last_seen_ms);
                alert.count += 1;
                // The first half of the ids stay (how it began), the second
                // half rolls (what it does now).
                if alert.request_ids.len() >= MAX_ALERT_REQUEST_IDS {
                    alert.request_ids.remove(MAX_ALERT_REQUEST_IDS / 2);
                }
                alert.request_ids.push(request_id.to_string());
                if flag.score >= alert.score {
                    alert.score = flag.score;
                    alert.threshold = flag.threshold;
                }
                alert.severity = alert.severity.max(flag.severity);
                if !flag.evidence.is_empty() {
                    alert.evidence = flag.evidence;
                }
                return Arc::clone(shared);
            }
        }
        let (entity, attack) = key;
        let seq = *next_seq;
        *next_seq += 1;
        let alert = Arc::new(Alert {
            id: alert_id(&self.api, &entity, attack, ts_ms),
            attack: Some(attack),
            severity: flag.severity,
            api: self.api.clone(),
            entity: entity.clone(),
            score: flag.score,
            threshold: flag.threshold,
            first_seen: format_ts_ms(ts_ms),
            last_seen: format_ts_ms(ts_ms),
            request_ids: vec![request_id.to_string()],
            evidence: flag.evidence,
            count: 1,
            family: AlertFamily::Attack,
            monitor: None,
            endpoint: None,
            first_seen_ms: ts_ms,
            last_seen_ms: ts_ms,
        });
        self.alerts.insert(seq, Arc::clone(&alert));
        let attacks = self.by_entity.entry(entity.clone()).or_default();
        match attacks.iter_mut().find(|(a, _)| *a == attack) {
            Some(slot) => slot.1 = seq,
            None => attacks.push((attack, seq)),
        }
        self.latest.insert((entity, attack), seq);
        self.evict_beyond_cap();
        alert
    }

    /// The most severe attack under an open alert for this entity at `now_ms`.
    pub fn open_attack(&self, entity: &EntityRef, now_ms: i64) -> Option<AttackType> {
        if !self.may_have_open(now_ms) {
            return None;
        }
        self.by_entity
            .get(entity)?
            .iter()
            .filter_map(|(attack, seq)| {
                let alert = self.alerts.get(seq)?;
                self.is_open(alert, now_ms)
                    .then_some((alert.severity, *attack))
            })
            .max()
            .map(|(_, attack)| attack)
    }

    /// False when no alert can be open at `now_ms` (cheap pre-check).
    pub fn may_have_open(&self, now_ms: i64) -> bool {
        self.last_flag_ms != i64::MIN
            && now_ms.saturating_sub(self.last_flag_ms) <= self.cooldown_ms
    }

    /// Retained alerts with their opening sequence numbers, in opening order.
    pub fn alerts(&self) -> impl Iterator<Item = (u64, &Alert)> {
        self.alerts.iter().map(|(s, a)| (*s, &**a))
    }

    pub fn len(&self) -> usize {
        self.alerts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.alerts.is_empty()
    }

    fn evict_beyond_cap(&mut self) {
        while self.alerts.len() > self.max_retained {
            let Some((seq, alert)) = self.alerts.pop_first() else {
                break;
            };
            if let Some(attack) = alert.attack {
                let key = (alert.entity.clone(), attack);
                if self.latest.get(&key) == Some(&seq) {
                    self.latest.remove(&key);
                }
            }
            if let Some(list) = self.by_entity.get_mut(&alert.entity) {
                list.retain(|(_, s)| *s != seq);
                if list.is_empty() {
                    self.by_entity.remove(&alert.entity);
                }
            }
        }
    }
}

/// Deterministic alert id: 16 hex digits of BLAKE3 over what identifies it.
pub fn alert_id(api: &str, entity: &EntityRef, attack: AttackType, first_seen_ms: i64) -> String {
    let mut h = blake3::Hasher::new();
    for part in [api, entity.kind.as_str(), &entity.value, attack.as_str()] {
        h.update(part.as_bytes());
        h.update(b"|");
    }
    h.update(&first_seen_ms.to_le_bytes());
    h.finalize().to_hex()[..16].to_string()
}

/// Severity of a calibrated score (0.5 = threshold).
pub fn severity_of_calibrated(score: f64) -> Severity {
    if score >= 0.9 {
        Severity::Critical
    } else if score >= 0.8 {
        Severity::High
    } else if score >= 0.65 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiwarden_alert::EntityKind;

    fn flag(ip: &str, attack: AttackType, score: f64, sev: Severity) -> Flag {
        Flag {
            entity: EntityRef {
                kind: EntityKind::Ip,
                value: ip.into(),
            },
            attack,
            severity: sev,
            score,
            threshold: 0.6,
            evidence: vec![Evidence {
                feature: "x".into(),
                observed: score,
                baseline: 0.1,
            }],
        }
    }

    #[test]
    fn flags_of_one_entity_and_attack_grow_one_alert_until_cooldown() {
        let mut book = AlertBook::new("shop", 1000, 1_000_000, 100);
        let mut seq = 0;
        let a = book.flag(
            flag("1.1.1.1", AttackType::Probing, 0.7, Severity::Low),
            0,
            "r1",
            &mut seq,
        );
        let b = book.flag(
            flag("1.1.1.1", AttackType::Probing, 0.9, Severity::High),
            500,
            "r2",
            &mut seq,
        );
        assert_eq!(a.id, b.id);
        assert_eq!(b.count, 2);
        assert_eq!(b.request_ids, vec!["r1", "r2"]);
        assert_eq!(b.score, 0.9);
        assert_eq!(b.severity, Severity::High);
        assert_eq!(b.first_seen_ms, 0);
        assert_eq!(b.last_seen_ms, 500);
        assert_eq!(b.last_seen, "1970-01-01T00:00:00.500Z");
        // Another attack type of the same entity is another alert.
        let c = book.flag(
            flag("1.1.1.1", AttackType::ApiDos, 0.7, Severity::Low),
            600,
            "r3",
            &mut seq,
        );
        assert_ne!(c.id, a.id);
        // Within cool-down of the last flag: still the same alert.
        let d = book.flag(
            flag("1.1.1.1", AttackType::Probing, 0.7, Severity::Low),
            1400,
            "r4",
            &mut seq,
        );
        assert_eq!(d.id, a.id);
        // After cool-down: a new alert.
        let e = book.flag(
            flag("1.1.1.1", AttackType::Probing, 0.7, Severity::Low),
            3000,
            "r5",
            &mut seq,
        );
        assert_ne!(e.id, a.id);
        assert_eq!(e.count, 1);
        let order: Vec<String> = book.alerts().map(|(_, a)| a.id.clone()).collect();
        assert_eq!(order, vec![a.id.clone(), c.id.clone(), e.id.clone()]);
        assert_eq!(seq, 3);
    }

    #[test]
    fn open_alerts_mark_their_entity_until_cooldown() {
        let mut book = AlertBook::new("shop", 1000, 1_000_000, 100);
        let mut seq = 0;
        let ent = EntityRef {
            kind: EntityKind::Ip,
            value: "2.2.2.2".into(),
        };
        assert_eq!(book.open_attack(&ent, 0), None);
        book.flag(
            flag("2.2.2.2", AttackType::Probing, 0.7, Severity::Low),
            100,
            "r",
            &mut seq,
        );
        book.flag(
            flag("2.2.2.2", AttackType::Enumeration, 0.7, Severity::High),
            100,
            "r",
            &mut seq,
        );
        assert_eq!(book.open_attack(&ent, 900), Some(AttackType::Enumeration));
        assert_eq!(book.open_attack(&ent, 1101), None);
        let other = EntityRef {
            kind: EntityKind::User,
            value: "2.2.2.2".into(),
        };
        assert_eq!(book.open_attack(&other, 900), None);
    }

    #[test]
    fn request_ids_are_capped_and_retention_is_bounded() {
        let mut book = AlertBook::new("shop", 1_000_000, 10_000_000, 3);
        let mut seq = 0;
        let mut last = None;
        for i in 0..120 {
            last = Some(book.flag(
                flag("3.3.3.3", AttackType::Probing, 0.7, Severity::Low),
                i,
                &format!("r{i}"),
                &mut seq,
            ));
        }
        let last = last.unwrap();
        assert_eq!(last.request_ids.len(), MAX_ALERT_REQUEST_IDS);
        assert_eq!(last.count, 120);
        assert_eq!(last.request_ids[0], "r0");
        assert_eq!(last.request_ids[24], "r24");
        assert_eq!(last.request_ids[25], "r95");
        assert_eq!(last.request_ids[49], "r119");
        for i in 0..10 {
            book.flag(
                flag(
                    &format!("9.9.9.{i}"),
                    AttackType::Probing,
                    0.7,
                    Severity::Low,
                ),
                200,
                "x",
                &mut seq,
            );
        }
        assert_eq!(book.len(), 3);
    }

    #[test]
    fn a_long_api_wide_campaign_rolls_over_into_a_new_alert() {
        let mut book = AlertBook::new("shop", 1000, 5000, 100);
        let mut seq = 0;
        let api_flag = || Flag {
            entity: EntityRef {
                kind: EntityKind::Api,
                value: "shop".into(),
            },
            ..flag("x", AttackType::CredentialStuffing, 0.7, Severity::Low)
        };
        let ip_flag = || flag("4.4.4.4", AttackType::ApiDos, 0.7, Severity::Low);
        let first = book.flag(api_flag(), 0, "a", &mut seq);
        let ip_first = book.flag(ip_flag(), 0, "a", &mut seq);
        let (mut last, mut ip_last) = (first.clone(), ip_first.clone());
        for t in (500..=5000).step_by(500) {
            last = book.flag(api_flag(), t, "b", &mut seq);
            ip_last = book.flag(ip_flag(), t, "b", &mut seq);
        }
        assert_eq!(last.id, first.id, "within the span");
        assert_eq!(ip_last.id, ip_first.id);
        let next = book.flag(api_flag(), 5500, "c", &mut seq);
        assert_ne!(next.id, first.id);
        assert_eq!(next.request_ids, vec!["c"]);
        let ip_next = book.flag(ip_flag(), 5500, "c", &mut seq);
        assert_eq!(
            ip_next.id, ip_first.id,
            "one actor's alert does not roll over"
        );
    }

    #[test]
    fn alert_ids_are_deterministic() {
        let e = EntityRef {
            kind: EntityKind::Token,
            value: "fp:ab".into(),
        };
        let a = alert_id("orders", &e, AttackType::DataExfiltration, 5);
        assert_eq!(a, alert_id("orders", &e, AttackType::DataExfiltration, 5));
        assert_ne!(a, alert_id("orders", &e, AttackType::DataExfiltration, 6));
        assert_eq!(a.len(), 16);
    }
}
