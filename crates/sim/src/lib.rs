//! Labeled synthetic API traffic: the project's own test and demo data.
//!
//! A deterministic world (same seed and scale, same bytes) of four APIs and
//! their clients: mobile and web users, partner integrations, staff and
//! anonymous visitors. Training traffic is benign; the test day adds benign
//! surprises (an outage, a marketing surge, a traveler, new users, an app
//! release, a large legitimate export) and attack episodes of every type of
//! CONTRACT §4, each with loud and subtle variants.
//!
//! Volume at `scale = 1.0`: ~5,200 people, 30 partners, 12 staff and ~6,000
//! anonymous visits a day, giving (seed 1) 515k train records over 2 days and
//! 312k test records over 1 day (280k benign, 31k in 42 attack episodes, 6
//! per type). `scale` multiplies populations and rates and keeps durations;
//! `0.05` is a CI-sized run (~36k train, ~22k test) that still has two
//! episodes (one loud, one subtle) of every attack type. Loud attacks keep
//! roughly their size at any scale, so small runs are attack-heavy (~14%).
//!
//! Speed (release, one core): ~1.1M records/s generated, ~3.9M records/s
//! serialized; train and test are built and written on two threads.
//! `cargo run --release -p apiwarden-sim --example throughput -- 1.0`.
//!
//! Opt-in ([`generate_with`], [`SimOptions::monitoring_incidents`]): API
//! health incidents on the test day, labelled benign and listed in
//! [`Simulation::incidents`] / `incidents.ndjson` ([`write_dir_with`]) — the
//! outage's 5xx, a x5-x10 latency regression on the busiest endpoint for 30
//! minutes, a new country taking ~30% of the shop's traffic for an hour.
//! Off (the default), the output is byte-identical to [`generate`]'s.
//! [`SimOptions::normal_day`] makes the test day a normal one for
//! monitoring: no attacks, no outage, no marketing surge.
//!
//! `labels.ndjson` lines carry `ts` (epoch ms) beside the contract's `id`,
//! `label` and `episode`: a compatible extension the evaluator uses for time
//! to detect.

mod attacks;
mod benign;
mod hard_cases;
mod incidents;
mod output;
mod population;
mod record;
pub mod time;
mod traffic;
pub mod world;

pub use attacks::episodes_per_type;
pub use incidents::{api_name, endpoint_name, MonitoringIncident};
pub use output::{write_dir, write_dir_with, write_records};
pub use record::{AttackType, Label, SimRecord, Truth, TsFormat};

use attacks::AttackPlanner;
use benign::{BenignGenerator, Novelties, Period};
use hard_cases::HardCases;
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use time::{DAY_MS, HOUR_MS, TRAIN_START_MS};

/// What to simulate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    /// Population and rate multiplier; durations do not change.
    pub scale: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            seed: 1,
            scale: 1.0,
        }
    }
}

/// Smallest and largest accepted `scale` (memory grows linearly with it).
pub const MIN_SCALE: f64 = 0.001;
pub const MAX_SCALE: f64 = 10.0;
/// Length of the training and test periods.
pub const TRAIN_DAYS: i64 = 2;
pub const TEST_DAYS: i64 = 1;

impl SimConfig {
    pub fn validate(&self) -> Result<(), SimError> {
        if !self.scale.is_finite() || !(MIN_SCALE..=MAX_SCALE).contains(&self.scale) {
            return Err(SimError::Scale(self.scale));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("scale must be a number in [{MIN_SCALE}, {MAX_SCALE}], got {0}")]
    Scale(f64),
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The whole simulation in memory, records in timestamp order.
#[derive(Debug, Clone)]
pub struct Simulation {
    pub train: Vec<SimRecord>,
    pub test: Vec<SimRecord>,
    /// One per test record, same order.
    pub labels: Vec<Label>,
    /// Monitoring incidents injected into the test day (empty unless
    /// [`SimOptions::monitoring_incidents`]).
    pub incidents: Vec<MonitoringIncident>,
}

/// Optional additions to the simulation; the default adds nothing, so
/// [`generate_with`] with it is [`generate`], byte for byte.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// Inject API health incidents into the test day (benign records, see
    /// [`MonitoringIncident`]): a 5xx outage, a latency regression on one
    /// endpoint and a new country taking 30% of an API's traffic.
    pub monitoring_incidents: bool,
    /// A normal day for monitoring: the test day without attack episodes
    /// (nor their DoS slowdowns), the 5xx outage or the marketing surge —
    /// real incidents for an API's health, however benign — and with the
    /// rest of its benign traffic (new users, travel, the app release, the
    /// staff's bulk export). Every test record is benign. With
    /// `monitoring_incidents`, the three incidents are injected into it.
    pub normal_day: bool,
}

impl Simulation {
    pub fn summary(&self) -> Summary {
        let mut episodes: BTreeMap<String, std::collections::BTreeSet<u32>> = BTreeMap::new();
        let mut attack_records: BTreeMap<String, usize> = BTreeMap::new();
        for label in &self.labels {
            if let (Some(kind), Some(n)) = (label.attack, label.episode) {
                episodes
                    .entry(kind.as_str().to_string())
                    .or_default()
                    .insert(n);
                *attack_records.entry(kind.as_str().to_string()).or_default() += 1;
            }
        }
        Summary {
            train_records: self.train.len(),
            test_records: self.test.len(),
            episodes: episodes.into_iter().map(|(k, v)| (k, v.len())).collect(),
            attack_records,
            train_start_ms: TRAIN_START_MS,
            test_start_ms: TRAIN_START_MS + TRAIN_DAYS * DAY_MS,
            test_end_ms: TRAIN_START_MS + (TRAIN_DAYS + TEST_DAYS) * DAY_MS,
        }
    }
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub train_records: usize,
    pub test_records: usize,
    /// Attack type -> number of episodes.
    pub episodes: BTreeMap<String, usize>,
    /// Attack type -> number of test records.
    pub attack_records: BTreeMap<String, usize>,
    pub train_start_ms: i64,
    pub test_start_ms: i64,
    pub test_end_ms: i64,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "train: {} records ({} .. {})",
            self.train_records,
            time::rfc3339_ms(self.train_start_ms),
            time::rfc3339_ms(self.test_start_ms)
        )?;
        let attacks: usize = self.attack_records.values().sum();
        writeln!(
            f,
            "test:  {} records ({} .. {}), {} benign, {} attack",
            self.test_records,
            time::rfc3339_ms(self.test_start_ms),
            time::rfc3339_ms(self.test_end_ms),
            self.test_records.saturating_sub(attacks),
            attacks
        )?;
        writeln!(
            f,
            "{:<22} {:>8} {:>8}",
            "attack type", "episodes", "records"
        )?;
        for kind in AttackType::ALL {
            let name = kind.as_str();
            writeln!(
                f,
                "{:<22} {:>8} {:>8}",
                name,
                self.episodes.get(name).copied().unwrap_or(0),
                self.attack_records.get(name).copied().unwrap_or(0)
            )?;
        }
        Ok(())
    }
}

/// Independent random streams per phase, so changing one phase (say, the
/// attacks) does not reshuffle another (the benign traffic).
fn stream(seed: u64, phase: u64) -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(seed ^ phase.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// SplitMix64's finalizer: a bijection, so distinct counters give distinct ids.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Mean response bytes per day of each user over the training period.
fn daily_response_bytes(train: &[SimRecord]) -> BTreeMap<Arc<str>, f64> {
    let mut daily: BTreeMap<Arc<str>, f64> = BTreeMap::new();
    for r in train {
        if let Some(user) = &r.user {
            *daily.entry(user.clone()).or_default() += r.response_bytes as f64 / TRAIN_DAYS as f64;
        }
    }
    daily
}

/// Puts records in timestamp order, ties in generation order (deterministic).
/// Sorts indices, then follows the permutation's cycles with swaps: records
/// are large, and a sort or a second buffer would copy them many times.
fn sort_by_time(records: &mut [SimRecord]) {
    let mut order: Vec<(i64, u32)> = (0u32..)
        .zip(records.iter())
        .map(|(i, r)| (r.ts_ms, i))
        .collect();
    order.sort_unstable();
    // source[k]: where the record that belongs at k is now.
    let mut source: Vec<usize> = order.into_iter().map(|(_, i)| i as usize).collect();
    for start in 0..source.len() {
        let mut k = start;
        loop {
            let from = source[k];
            source[k] = k;
            if from == start || from == k {
                break;
            }
            records.swap(k, from);
            k = from;
        }
    }
}

/// Runs the simulation in memory. An out-of-range scale is clamped
/// (use [`SimConfig::validate`] to reject it instead).
pub fn generate(cfg: &SimConfig) -> Simulation {
    generate_with(cfg, &SimOptions::default())
}

/// [`generate`] with optional additions.
pub fn generate_with(cfg: &SimConfig, opts: &SimOptions) -> Simulation {
    let scale = if cfg.scale.is_finite() {
        cfg.scale.clamp(MIN_SCALE, MAX_SCALE)
    } else {
        1.0
    };
    let seed = cfg.seed;
    let population = population::build(&mut stream(seed, 1), scale);
    let train_period = Period {
        start: TRAIN_START_MS,
        end: TRAIN_START_MS + TRAIN_DAYS * DAY_MS,
        is_test: false,
    };
    let test_period = Period {
        start: train_period.end,
        end: train_period.end + TEST_DAYS * DAY_MS,
        is_test: true,
    };
    let mut plan_rng = stream(seed, 2);
    let departure = test_period.start + 8 * HOUR_MS + plan_rng.gen_range(0..HOUR_MS);
    let novelties = Novelties {
        app_release_ms: test_period.start + 9 * HOUR_MS + plan_rng.gen_range(0..2 * HOUR_MS),
        departure_ms: departure,
        arrival_ms: departure + 8 * HOUR_MS,
    };
    let hard_cases = HardCases::plan(&mut plan_rng, test_period.start);

    let train_generator = BenignGenerator {
        population: &population,
        period: train_period,
        novelties,
        scale,
    };
    let test_generator = BenignGenerator {
        population: &population,
        period: test_period,
        novelties,
        scale,
    };
    // Train and test draw from their own streams: building them on two
    // threads changes nothing in the output.
    let (mut train, user_daily_bytes, mut test) = std::thread::scope(|scope| {
        let train_job = scope.spawn(|| {
            let mut train = train_generator.generate(&mut stream(seed, 3));
            sort_by_time(&mut train);
            let daily = daily_response_bytes(&train);
            (train, daily)
        });
        let test = test_generator.generate(&mut stream(seed, 4));
        let (train, daily) = match train_job.join() {
            Ok(done) => done,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (train, daily, test)
    });
    // The legitimate bulk export is a staff member's whose exports training saw.
    let exporters: std::collections::BTreeSet<&str> = train
        .iter()
        .filter(|r| r.endpoint == Some(world::PARTNER_EXPORT))
        .filter_map(|r| r.user.as_deref())
        .collect();
    if opts.normal_day {
        hard_cases.add_export(&mut stream(seed, 5), &test_generator, &exporters, &mut test);
    } else {
        hard_cases.add(&mut stream(seed, 5), &test_generator, &exporters, &mut test);
    }
    let planner = AttackPlanner {
        population: &population,
        user_daily_bytes,
        test_start: test_period.start,
        scale,
    };
    let mut episodes = if opts.normal_day {
        Vec::new()
    } else {
        planner.plan(&mut stream(seed, 6))
    };
    // Episode numbers follow the order in which episodes begin.
    episodes.sort_by_key(|e| e.records.iter().map(|r| r.ts_ms).min().unwrap_or(i64::MAX));
    for e in &mut episodes {
        test.append(&mut e.benign);
    }
    // The outage is one of the monitoring incidents: a normal day has it
    // only when they are asked for.
    if !opts.normal_day || opts.monitoring_incidents {
        hard_cases.apply_incident(&mut stream(seed, 7), &mut test);
    }
    let incidents = if opts.monitoring_incidents {
        incidents::inject(
            &mut stream(seed, 8),
            &test_generator,
            test_period.start,
            &hard_cases,
            &mut test,
        )
    } else {
        Vec::new()
    };
    for e in &episodes {
        if let Some(slowdown) = e.slowdown {
            slowdown.apply(&mut test);
        }
    }
    for (number, e) in (1u32..).zip(episodes.iter_mut()) {
        for r in &mut e.records {
            r.truth = Truth::attack(e.attack, number, e.loud);
        }
        test.append(&mut e.records);
    }
    test.retain(|r| test_period.contains(r.ts_ms));

    sort_by_time(&mut test);
    let id_key = mix64(seed ^ 0xA076_1D64_78BD_642F);
    for (counter, r) in (0u64..).zip(train.iter_mut().chain(test.iter_mut())) {
        r.id = format!("{:016x}", mix64(id_key.wrapping_add(counter)));
    }
    let labels = test.iter().map(Label::of).collect();
    Simulation {
        train,
        test,
        labels,
        incidents,
    }
}
