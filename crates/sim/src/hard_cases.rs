//! Benign events of the test day that look unusual: they are labelled
//! benign and a good detector must not alert on them.

use crate::benign::{admin_export, BenignGenerator};
use crate::population::{pick_weighted, Archetype};
use crate::record::SimRecord;
use crate::time::{HOUR_MS, MINUTE_MS};
use crate::traffic::round_latency;
use crate::world::{self, EndpointId, CITIES};
use rand::Rng;
use std::collections::BTreeSet;

/// When and where the test day's benign events happen.
#[derive(Debug, Clone, Copy)]
pub struct HardCases {
    /// Product pages answer 503 slowly for everyone in [start, end).
    pub incident_start: i64,
    pub incident_end: i64,
    pub incident_endpoint: EndpointId,
    /// Marketing campaign: browse traffic x3 in [start, start + 1h).
    pub surge_start: i64,
    /// A staff member's large (legitimate) export.
    pub admin_export_at: i64,
}

impl HardCases {
    pub fn plan(rng: &mut impl Rng, test_start: i64) -> HardCases {
        let incident_start = test_start + 14 * HOUR_MS + rng.gen_range(0..2 * HOUR_MS);
        HardCases {
            incident_start,
            incident_end: incident_start + 10 * MINUTE_MS,
            incident_endpoint: world::SHOP_PRODUCT,
            surge_start: test_start + 18 * HOUR_MS + rng.gen_range(0..HOUR_MS),
            admin_export_at: test_start + 10 * HOUR_MS + rng.gen_range(0..3 * HOUR_MS),
        }
    }

    /// Adds the events' own records to `test` (benign sessions already in it).
    pub fn add(
        &self,
        rng: &mut impl Rng,
        generator: &BenignGenerator<'_>,
        exporters: &BTreeSet<&str>,
        test: &mut Vec<SimRecord>,
    ) {
        self.add_surge(rng, generator, test);
        self.add_export(rng, generator, exporters, test);
    }

    /// Marketing surge: twice the hour's normal browse volume on top.
    pub fn add_surge(
        &self,
        rng: &mut impl Rng,
        generator: &BenignGenerator<'_>,
        test: &mut Vec<SimRecord>,
    ) {
        let surge_end = self.surge_start + HOUR_MS;
        let browse = |r: &SimRecord| {
            matches!(
                r.endpoint,
                Some(world::SHOP_BROWSE | world::SHOP_PRODUCT | world::SHOP_SEARCH)
            )
        };
        let normal = test
            .iter()
            .filter(|r| r.ts_ms >= self.surge_start && r.ts_ms < surge_end && browse(r))
            .count();
        let target = 2 * normal.max(50);
        let mut extra = Vec::new();
        let weights: Vec<f64> = CITIES.iter().map(|c| c.user_weight).collect();
        let campaign_mix = [
            (world::SHOP_BROWSE, 45.0),
            (world::SHOP_PRODUCT, 40.0),
            (world::SHOP_SEARCH, 15.0),
        ];
        while extra.len() < target {
            let city = pick_weighted(rng, &weights);
            let start = self.surge_start + rng.gen_range(0..HOUR_MS - 5 * MINUTE_MS);
            generator.anonymous_session(rng, city, start, &campaign_mix, &mut extra);
        }
        extra.retain(|r| r.ts_ms < surge_end);
        test.append(&mut extra);
    }

    /// A staff member exports many reports: one who exported in training
    /// (`exporters`, by user name), so the large export has history; the
    /// first staff member when none did.
    pub fn add_export(
        &self,
        rng: &mut impl Rng,
        generator: &BenignGenerator<'_>,
        exporters: &BTreeSet<&str>,
        test: &mut Vec<SimRecord>,
    ) {
        let mut admins = generator.population.by_archetype(Archetype::Admin);
        let first = admins.next();
        let exported = |c: &&crate::population::Client| {
            c.user.as_deref().is_some_and(|u| exporters.contains(u))
        };
        let admin = first.into_iter().chain(admins).find(exported).or(first);
        if let Some(admin) = admin {
            let reports = rng.gen_range(6..10);
            admin_export(rng, admin, self.admin_export_at, reports, test);
        }
    }

    /// The incident rewrites what the gateway saw on one endpoint.
    pub fn apply_incident(&self, rng: &mut impl Rng, test: &mut [SimRecord]) {
        for r in test.iter_mut() {
            if r.endpoint == Some(self.incident_endpoint)
                && r.ts_ms >= self.incident_start
                && r.ts_ms < self.incident_end
            {
                r.status = if rng.gen_bool(0.85) { 503 } else { 504 };
                r.latency_ms = round_latency(rng.gen_range(8_000.0..30_000.0));
                r.response_bytes = rng.gen_range(120..260);
            }
        }
    }
}
