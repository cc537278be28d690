//! API health monitoring inside the engine: each trained API's
//! [`MonitorTracker`] and the monitoring alerts it raised, in the shape of
//! every alert.

use crate::train::write_monitor_client;
use apiwarden_alert::{Alert, AlertFamily, EntityKind, EntityRef};
use apiwarden_monitor::{MonitorAlert, MonitorConfig, MonitorModel, MonitorSample, MonitorTracker};
use apiwarden_record::format_ts_ms;
use apiwarden_record::AccessRecord;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Monitoring of one API: its tracker and the monitoring alerts it raised,
/// in their latest state, by opening sequence.
pub(crate) struct HealthState {
    pub(crate) tracker: MonitorTracker,
    pub(crate) alerts: BTreeMap<u64, Alert>,
    seq_of: HashMap<String, u64>,
    max_retained: usize,
    /// The client key of the record at hand, rewritten per record.
    client: String,
}

impl HealthState {
    pub(crate) fn new(model: Arc<MonitorModel>, max_retained: usize) -> Self {
        HealthState {
            tracker: MonitorTracker::new(model, MonitorConfig::default()),
            alerts: BTreeMap::new(),
            seq_of: HashMap::new(),
            max_retained: max_retained.max(1),
            client: String::new(),
        }
    }

    /// Feeds one record; returns the monitoring alerts it opened or grew.
    pub(crate) fn observe(
        &mut self,
        rec: &AccessRecord,
        api: &str,
        endpoint: &str,
        id: &str,
        next_seq: &mut u64,
    ) -> Vec<Alert> {
        write_monitor_client(rec, &mut self.client);
        let sample = MonitorSample::of_record(rec, api, endpoint, id, Some(&self.client));
        let raised = self.tracker.observe(&sample);
        let mut out = Vec::with_capacity(raised.len());
        for m in &raised {
            let alert = monitoring_alert(m);
            let seq = match self.seq_of.get(&m.id) {
                Some(&seq) => seq,
                None => {
                    let seq = *next_seq;
                    *next_seq += 1;
                    self.seq_of.insert(m.id.clone(), seq);
                    seq
                }
            };
            self.alerts.insert(seq, alert.clone());
            out.push(alert);
        }
        while self.alerts.len() > self.max_retained {
            let Some((_, old)) = self.alerts.pop_first() else {
                break;
            };
            self.seq_of.remove(&old.id);
        }
        out
    }
}

/// A monitoring alert in the shape of every alert: no attack, the API as
/// its entity, its endpoint when it concerns one.
fn monitoring_alert(m: &MonitorAlert) -> Alert {
    Alert {
        id: m.id.clone(),
        attack: None,
        severity: m.severity,
        api: m.api.clone(),
        entity: EntityRef {
            kind: EntityKind::Api,
            value: m.api.clone(),
        },
        score: m.score,
        threshold: m.threshold,
        first_seen: format_ts_ms(m.first_seen_ms),
        last_seen: format_ts_ms(m.last_seen_ms),
        request_ids: m.request_ids.clone(),
        evidence: m.evidence.clone(),
        count: m.count,
        family: AlertFamily::Monitoring,
        monitor: Some(m.kind),
        endpoint: m.endpoint.clone(),
        first_seen_ms: m.first_seen_ms,
        last_seen_ms: m.last_seen_ms,
    }
}
