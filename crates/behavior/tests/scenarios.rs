//! The behavior layer end to end on a small synthetic world: a model trained on benign
//! traffic flags each attack, typed right, and leaves benign traffic (hard cases included) alone.

mod world;

use apiwarden_alert::{AttackType, EntityKind};
use apiwarden_behavior::{BehaviorModel, BehaviorOutcome, Feature};
use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock};
use world::*;

const USERS: usize = 120;
const TRAIN_HOURS: i64 = 30;
const TEST_START: i64 = T0 + TRAIN_HOURS * HOUR;
const TEST_HOURS: i64 = 6;

fn model() -> Arc<BehaviorModel> {
    static MODEL: OnceLock<Arc<BehaviorModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| Arc::new(train(&benign(1, T0, TRAIN_HOURS, USERS), 7)))
        .clone()
}

fn benign_test() -> Vec<Event> {
    benign(2, TEST_START, TEST_HOURS, USERS)
}

fn who(
    ip: [u8; 4],
    user: Option<&str>,
    token: Option<&str>,
    key: Option<&str>,
    city: usize,
    ua: &str,
) -> Who {
    Who {
        ip: IpAddr::V4(Ipv4Addr::from(ip)),
        user: user.map(str::to_string),
        token: token.map(fp),
        api_key: key.map(fp),
        city,
        ua: ua.into(),
    }
}

/// Partner `n`'s key as the world's partners use it (from New York, with their sync
/// client), at `ip`.
fn partner(n: usize, ip: [u8; 4]) -> Who {
    who(
        ip,
        None,
        None,
        Some(&format!("partner-{n}")),
        2,
        "partner-sync/2.1",
    )
}

/// Benign test traffic with `attack` mixed in; returns the events and the outcomes.
fn scenario(attack: Vec<Event>) -> (Vec<Event>, Vec<BehaviorOutcome>) {
    let mut events = benign_test();
    events.extend(attack);
    let events = finish(events);
    let (_, outcomes) = run(&model(), &events);
    (events, outcomes)
}

/// Attack types flagged on the attack's records, and flags of entities the attack never
/// used. A benign record of an attacking entity (the owner of a stolen token, the partner
/// whose key walks ids) may carry its entity's verdict; API-wide windows are excepted too
/// (while a distributed attack runs, a benign failed login is part of the API-wide picture).
fn verdicts(events: &[Event], outcomes: &[BehaviorOutcome]) -> (BTreeSet<AttackType>, Vec<String>) {
    let mut types = BTreeSet::new();
    let mut attackers = BTreeSet::new();
    for (e, o) in events.iter().zip(outcomes) {
        if e.attack.is_some() {
            for v in &o.flagged {
                types.insert(v.attack);
                attackers.insert(v.entity.clone());
            }
        }
    }
    let mut false_flags = Vec::new();
    for (e, o) in events.iter().zip(outcomes) {
        for v in &o.flagged {
            if e.attack.is_none()
                && v.entity.kind != EntityKind::Api
                && !attackers.contains(&v.entity)
            {
                false_flags.push(format!(
                    "{} {:?} {:?} {:?}",
                    e.id, v.entity, v.attack, v.evidence
                ));
            }
        }
    }
    (types, false_flags)
}

fn assert_caught(attack: Vec<Event>, expected: AttackType) {
    let (events, outcomes) = scenario(attack);
    let (types, false_flags) = verdicts(&events, &outcomes);
    assert!(
        types.contains(&expected),
        "{expected} not flagged; got {types:?}"
    );
    assert_eq!(types.len(), 1, "typed {types:?}, expected only {expected}");
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");
    // Flagged records score over 0.5, and only they do.
    for o in &outcomes {
        assert_eq!(o.score > 0.5, !o.flagged.is_empty(), "{o:?}");
    }
}

#[test]
fn benign_traffic_never_flags() {
    let events = benign_test();
    let (_, outcomes) = run(&model(), &events);
    let flags: Vec<_> = outcomes.iter().flat_map(|o| o.flagged.iter()).collect();
    assert!(
        flags.is_empty(),
        "{} false flags, first {:?}",
        flags.len(),
        flags.first()
    );
    assert!(outcomes.iter().all(|o| (0.0..=0.5).contains(&o.score)));
}

#[test]
fn outage_hitting_everyone_is_not_an_attack() {
    let mut events = benign_test();
    let from = TEST_START + 2 * HOUR;
    for e in &mut events {
        if (from..from + 15 * MINUTE).contains(&e.rec.ts_ms) {
            e.rec.status = 503;
            e.rec.latency_ms *= 20.0;
        }
    }
    let (_, outcomes) = run(&model(), &events);
    let flags: Vec<_> = outcomes.iter().flat_map(|o| o.flagged.iter()).collect();
    assert!(flags.is_empty(), "{flags:?}");
}

#[test]
fn credential_stuffing_ip_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
    let bot = who([45, 9, 1, 1], None, None, None, 3, "python-requests/2.31");
    let t = TEST_START + HOUR;
    let attack = (0..300)
        .map(|i| {
            let mut w = who(
                [45, 9, 1, 1],
                Some(&format!("victim{i}")),
                None,
                None,
                3,
                "python-requests/2.31",
            );
            w.ip = bot.ip;
            let status = if rng.gen_bool(0.97) { 401 } else { 200 };
            event(
                &mut rng,
                t + i * 1_000,
                &w,
                2,
                status,
                None,
                Some("credential_stuffing"),
            )
        })
        .collect();
    assert_caught(attack, AttackType::CredentialStuffing);
}

#[test]
fn exfiltrating_token_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(12);
    let thief = who(
        [81, 10, 7, 7],
        Some("user7"),
        Some("stolen-session"),
        None,
        1,
        "ShopApp/4 (Android)",
    );
    let t = TEST_START + 3 * HOUR;
    let attack = (0..40)
        .map(|i| {
            event(
                &mut rng,
                t + i * 15_000,
                &thief,
                4,
                200,
                None,
                Some("data_exfiltration"),
            )
        })
        .collect();
    assert_caught(attack, AttackType::DataExfiltration);
}

/// A stolen session paging one list steadily for hours: each page is small, the 2-hour
/// volume rises over its limit only slowly and only a little, and stays there as long as
/// the thief keeps paging.
#[test]
fn a_session_draining_a_list_slowly_for_hours_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(26);
    // A session lifted from user 9's phone and replayed from their home network: nothing
    // but the volume is odd.
    let thief = who(
        [81, 10, 9, 7],
        Some("user9"),
        Some("slow-drain"),
        None,
        9 % CITIES.len(),
        "ShopApp/3 (Android)",
    );
    // Paced so that the 2-hour volume levels off a quarter over the limit of a session
    // without history (its kind's maximum with the margin, or the floor).
    let max = model()
        .kind(EntityKind::Token)
        .and_then(|k| k.max.get(Feature::ResponseBytes2h.index()).copied())
        .unwrap_or(0.0);
    let limit = (max * 1.5).max(5e5);
    let page = 8_000.0 * 1.15;
    let gap = (page * 120.0 * 60_000.0 / (1.25 * limit)) as i64;
    let t = TEST_START + HOUR;
    let attack = (0..4 * HOUR / gap)
        .map(|i| {
            event(
                &mut rng,
                t + i * gap,
                &thief,
                1,
                200,
                None,
                Some("data_exfiltration"),
            )
        })
        .collect();
    assert_caught(attack, AttackType::DataExfiltration);
}

#[test]
fn id_walking_api_key_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(13);
    let walker = partner(2, [34, 120, 2, 10]);
    let t = TEST_START + 2 * HOUR;
    let attack = (0..400u32)
        .map(|i| {
            let status = if rng.gen_bool(0.7) { 404 } else { 200 };
            event(
                &mut rng,
                t + i64::from(i) * 1_500,
                &walker,
                0,
                status,
                Some((1001 + i).to_string()),
                Some("enumeration"),
            )
        })
        .collect();
    assert_caught(attack, AttackType::Enumeration);
}

#[test]
fn impossible_travel_token_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(14);
    let owner = who(
        [81, 10, 3, 7],
        Some("victim-a"),
        Some("shared-session"),
        None,
        0,
        "ShopApp/3 (iOS)",
    );
    let thief = who(
        [103, 4, 4, 4],
        Some("victim-a"),
        Some("shared-session"),
        None,
        5,
        "Mozilla/5.0 (X11; Linux)",
    );
    let t = TEST_START + 4 * HOUR;
    let mut attack = Vec::new();
    for i in 0..30 {
        attack.push(event(&mut rng, t + i * 20_000, &owner, 1, 200, None, None));
        if i % 3 == 1 {
            attack.push(event(
                &mut rng,
                t + i * 20_000 + 5_000,
                &thief,
                3,
                200,
                Some("304".into()),
                Some("token_misuse"),
            ));
        }
    }
    assert_caught(attack, AttackType::TokenMisuse);
}

#[test]
fn probing_scanner_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(15);
    let scanner = who(
        [66, 6, 6, 6],
        None,
        None,
        None,
        4,
        "Nuclei - Open-source project",
    );
    let t = TEST_START + HOUR;
    let paths = [
        "/admin",
        "/.env",
        "/wp-login.php",
        "/api/v1/../../etc/passwd",
        "/.git/config",
        "/server-status",
    ];
    let attack = (0..60)
        .map(|i| {
            let mut e = event(
                &mut rng,
                t + i * 10_000,
                &scanner,
                1,
                404,
                None,
                Some("probing"),
            );
            e.known = false;
            e.endpoint = UNKNOWN_ENDPOINT;
            e.rec.path = format!("{}{i}", paths[i as usize % paths.len()]);
            if i % 10 == 0 {
                e.rec.method = ["OPTIONS", "TRACE", "PROPFIND"][(i / 10) as usize % 3].into();
            }
            e
        })
        .collect();
    assert_caught(attack, AttackType::Probing);
}

#[test]
fn flood_is_caught() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(16);
    let flooder = who([77, 7, 7, 7], None, None, None, 2, "Go-http-client/1.1");
    let t = TEST_START + 5 * HOUR;
    let attack = (0..2000)
        .map(|i| {
            event(
                &mut rng,
                t + i * 60,
                &flooder,
                1,
                200,
                None,
                Some("api_dos"),
            )
        })
        .collect();
    assert_caught(attack, AttackType::ApiDos);
}

#[test]
fn verdicts_are_explained() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(17);
    let walker = partner(3, [34, 120, 3, 10]);
    let t = TEST_START + 2 * HOUR;
    let attack: Vec<Event> = (0..300u32)
        .map(|i| {
            event(
                &mut rng,
                t + i64::from(i) * 2_000,
                &walker,
                0,
                404,
                Some((5000 + i).to_string()),
                Some("enumeration"),
            )
        })
        .collect();
    let (_, outcomes) = scenario(attack);
    let v = outcomes
        .iter()
        .flat_map(|o| o.flagged.iter())
        .find(|v| v.entity.kind == EntityKind::ApiKey)
        .expect("the walking key is flagged");
    assert_eq!(v.entity.value, fp("partner-3").0);
    assert!(!v.evidence.is_empty() && v.evidence.len() <= 5);
    let first = &v.evidence[0];
    assert!(
        first.feature.starts_with("id_walk") || first.feature.starts_with("distinct_objects"),
        "{first:?}"
    );
    assert!(first.observed > first.baseline);
    assert!(v.score >= v.threshold);
}

#[test]
fn same_input_and_seed_give_the_same_model_and_verdicts() {
    let train_events = benign(1, T0, 8, 40);
    let a = train(&train_events, 3);
    let b = train(&train_events, 3);
    let ja = serde_json::to_string(&a).expect("serializes");
    let jb = serde_json::to_string(&b).expect("serializes");
    assert_eq!(ja, jb);
    let back: BehaviorModel = serde_json::from_str(&ja).expect("round trip");
    let test = benign(5, T0 + 8 * HOUR, 2, 40);
    let (_, oa) = run(&Arc::new(a), &test);
    let (_, ob) = run(&Arc::new(back), &test);
    assert_eq!(oa, ob);
    let c = train(&train_events, 4);
    assert_ne!(
        ja,
        serde_json::to_string(&c).expect("serializes"),
        "the seed matters"
    );
}

#[test]
fn snapshot_shows_features_and_baselines() {
    let events = benign_test();
    let (tracker, _) = run(&model(), &events);
    assert!(tracker.active_entities() > 0);
    let last = events.last().expect("traffic");
    let snap = tracker
        .entity(EntityKind::Ip, &last.rec.client_ip.to_string())
        .expect("the last client is active");
    assert_eq!(snap.features.len(), apiwarden_behavior::N_FEATURES);
    assert_eq!(snap.features.len(), snap.baseline.len());
    assert!(snap.requests >= 1 && snap.last_seen_ms == last.rec.ts_ms);
    assert!(tracker.entity(EntityKind::Ip, "not an ip").is_none());
    assert!(tracker.entity(EntityKind::Api, API).is_some());
}

#[test]
fn population_model_pools_apis() {
    let m = model();
    let pop = BehaviorModel::population(&[&m, &m]).expect("non-empty");
    let k = pop.kind(EntityKind::User).expect("users");
    assert!(k.baselines.is_empty());
    assert_eq!(
        k.observations,
        2 * m
            .kind(EntityKind::User)
            .map(|k| k.observations)
            .unwrap_or(0)
    );
    assert!(BehaviorModel::population(&[]).is_none());
}

fn no_flags(events: Vec<Event>) {
    let events = finish(events);
    let (_, outcomes) = run(&model(), &events);
    let flags: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .flat_map(|(e, o)| o.flagged.iter().map(move |v| (e.id.clone(), v.clone())))
        .collect();
    assert!(
        flags.is_empty(),
        "{} flags, first {:?}",
        flags.len(),
        flags.first()
    );
}

#[test]
fn the_known_exporter_exporting_again_is_not_exfiltration() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(21);
    let partner = partner(0, [34, 120, 0, 10]);
    let mut events = benign_test();
    let t = TEST_START + 3 * HOUR;
    events.extend((0..30).map(|i| event(&mut rng, t + i * 20_000, &partner, 4, 200, None, None)));
    no_flags(events);
}

#[test]
fn a_user_who_flies_once_is_not_token_misuse() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(22);
    // user0 lives in Paris (city 0) and lands in Berlin 90 minutes later (~590 km/h),
    // still within the idle window, so the jump is measured.
    let home = who(
        [81, 10, 0, 7],
        Some("user0"),
        Some("trip-session"),
        None,
        0,
        "ShopApp/3 (iOS)",
    );
    let away = who(
        [85, 4, 4, 4],
        Some("user0"),
        Some("trip-session"),
        None,
        1,
        "ShopApp/3 (iOS)",
    );
    let mut events = benign_test();
    let t = TEST_START + HOUR;
    events.extend((0..10).map(|i| event(&mut rng, t + i * 30_000, &home, 1, 200, None, None)));
    let landed = t + 9 * 30_000 + 90 * MINUTE;
    events.extend((0..10).map(|i| event(&mut rng, landed + i * 30_000, &away, 1, 200, None, None)));
    no_flags(events);
}

#[test]
fn new_users_are_not_attacks() {
    // Same kind of traffic from users never seen in training (different names, IPs).
    let mut events = benign(3, TEST_START, 3, USERS);
    for e in &mut events {
        if let Some(u) = e.rec.user.as_mut() {
            *u = format!("new-{u}");
        }
        if let IpAddr::V4(v4) = e.rec.client_ip {
            let o = v4.octets();
            e.rec.client_ip = IpAddr::V4(Ipv4Addr::new(92, o[1], o[2], o[3]));
        }
    }
    no_flags(events);
}

#[test]
fn distributed_stuffing_shows_api_wide_while_it_runs_only() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(23);
    let t = TEST_START + HOUR;
    let attack: Vec<Event> = (0..400u32)
        .map(|i| {
            let bot = who(
                [100 + (i % 50) as u8, (i / 50) as u8, 3, 9],
                Some(&format!("victim{i}")),
                None,
                None,
                4,
                "Mozilla/5.0",
            );
            event(
                &mut rng,
                t + i64::from(i) * 3_000,
                &bot,
                2,
                401,
                None,
                Some("credential_stuffing"),
            )
        })
        .collect();
    let stopped = t + 400 * 3_000;
    let mut attack = attack;
    // Typos of real users after the run stopped: 5 to 30 minutes later, while the API-wide
    // 10-minute counts still remember it.
    for (k, minutes) in [5i64, 12, 20, 30].into_iter().enumerate() {
        let user = who(
            [81, 10, k as u8, 7],
            Some(&format!("user{k}")),
            None,
            None,
            k,
            "ShopApp/3 (iOS)",
        );
        attack.push(event(
            &mut rng,
            stopped + minutes * MINUTE,
            &user,
            2,
            401,
            None,
            None,
        ));
    }
    let (events, outcomes) = scenario(attack);
    let late: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| e.attack.is_none() && e.rec.ts_ms > stopped + 4 * MINUTE)
        .flat_map(|(e, o)| {
            o.flagged
                .iter()
                .map(move |v| (e.id.clone(), v.entity.clone()))
        })
        .filter(|(_, ent)| ent.kind == EntityKind::Api)
        .collect();
    assert!(
        late.is_empty(),
        "the run's echo flagged later typos: {late:?}"
    );
    let api_flags: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .flat_map(|(e, o)| o.flagged.iter().map(move |v| (e.attack, v)))
        .filter(|(_, v)| v.entity.kind == EntityKind::Api)
        .collect();
    assert!(!api_flags.is_empty(), "no API-wide verdict");
    assert!(api_flags
        .iter()
        .all(|(_, v)| v.attack == AttackType::CredentialStuffing));
    assert!(api_flags.iter().filter(|(a, _)| a.is_some()).count() > api_flags.len() / 2);
}

#[test]
fn the_owner_back_home_after_a_stolen_session_is_not_a_second_misuse() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(15);
    let owner = who(
        [81, 10, 3, 8],
        Some("victim-b"),
        Some("session-b"),
        None,
        0,
        "ShopApp/3 (iOS)",
    );
    let thief = who(
        [103, 4, 4, 5],
        Some("victim-b"),
        Some("session-b"),
        None,
        5,
        "Mozilla/5.0 (X11; Linux)",
    );
    let t = TEST_START + 5 * HOUR;
    let mut attack = Vec::new();
    for i in 0..10 {
        attack.push(event(&mut rng, t + i * 30_000, &owner, 1, 200, None, None));
    }
    for i in 0..4 {
        attack.push(event(
            &mut rng,
            t + 310_000 + i * 10_000,
            &thief,
            3,
            200,
            Some("305".into()),
            Some("token_misuse"),
        ));
    }
    let owner_back = t + 400_000;
    for i in 0..10 {
        attack.push(event(
            &mut rng,
            owner_back + i * 30_000,
            &owner,
            1,
            200,
            None,
            None,
        ));
    }
    let (events, outcomes) = scenario(attack);
    let mut thief_flagged = false;
    for (e, o) in events.iter().zip(&outcomes) {
        let ours = e.rec.token.as_ref() == owner.token.as_ref();
        if ours && e.attack.is_some() {
            thief_flagged |= o
                .flagged
                .iter()
                .any(|v| v.attack == AttackType::TokenMisuse);
        }
        if ours && e.attack.is_none() && e.rec.ts_ms >= owner_back {
            assert!(o.flagged.is_empty(), "owner flagged: {:?}", o.flagged);
        }
    }
    assert!(thief_flagged, "the stranger's use was not flagged");
}

#[test]
fn a_model_of_another_feature_count_is_refused_on_load() {
    let trained = model();
    assert!(trained.validate().is_ok());
    let mut other = (*trained).clone();
    if let Some(k) = other.kinds.first_mut() {
        k.p99.push(0.0);
    }
    let err = other.validate().err().map(|e| e.to_string());
    assert!(
        err.as_deref().is_some_and(|e| e.contains("retrain")),
        "{err:?}"
    );
}

/// Partner 0's key exporting steadily for 90 minutes at twice its nightly pace: several
/// times the byte volume it ever moved in two hours of training (within the slack of a
/// heavy hitter, beyond the tight margin).
fn long_export(
    rng: &mut Xoshiro256PlusPlus,
    from: &Who,
    label: Option<&'static str>,
) -> Vec<Event> {
    let t = TEST_START + 3 * HOUR;
    (0..540)
        .map(|i| event(rng, t + i * 10_000, from, 4, 200, None, label))
        .collect()
}

#[test]
fn an_exporter_key_used_from_a_network_it_never_used_is_held_to_the_tight_margin() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(23);
    let home = partner(0, [34, 120, 0, 10]);
    let mut events = benign_test();
    events.extend(long_export(&mut rng, &home, None));
    no_flags(events);
    // The same key on the thief's server.
    let thief = partner(0, [45, 77, 3, 9]);
    assert_caught(
        long_export(&mut rng, &thief, Some("data_exfiltration")),
        AttackType::DataExfiltration,
    );
}

/// Partner 1's key posting to the cart, an endpoint it never calls, 10 times a minute for
/// `minutes`.
fn search_burst(
    rng: &mut Xoshiro256PlusPlus,
    minutes: i64,
    label: Option<&'static str>,
) -> Vec<Event> {
    let key = partner(1, [34, 120, 1, 10]);
    let t = TEST_START + 2 * HOUR;
    (0..minutes * 10)
        .map(|i| event(rng, t + i * 6_000, &key, 5, 200, None, label))
        .collect()
}

#[test]
fn a_short_sync_burst_is_not_a_flood_but_the_same_rate_sustained_is() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(24);
    let mut events = benign_test();
    events.extend(search_burst(&mut rng, 6, None));
    no_flags(events);
    assert_caught(
        search_burst(&mut rng, 30, Some("api_dos")),
        AttackType::ApiDos,
    );
}

/// Partner 1's key does two things at once: it walks order ids it does not own (refused)
/// while it floods an endpoint it never calls. Each record is named by what it does: the
/// walk's refusals are enumeration, the flood's requests are the flood, even though the
/// refusals are the stronger evidence against the key.
#[test]
fn a_key_walking_ids_while_it_floods_is_caught_at_both() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(25);
    let key = partner(1, [34, 120, 1, 10]);
    let t = TEST_START + 2 * HOUR;
    let mut attack = search_burst(&mut rng, 30, Some("api_dos"));
    attack.extend((0..300u32).map(|i| {
        event(
            &mut rng,
            t + i64::from(i) * 6_000 + 3_000,
            &key,
            3,
            403,
            Some((9_001 + i).to_string()),
            Some("enumeration"),
        )
    }));
    let (events, outcomes) = scenario(attack);
    let named = |label: &str| -> BTreeSet<AttackType> {
        events
            .iter()
            .zip(&outcomes)
            .filter(|(e, _)| e.attack == Some(label))
            .flat_map(|(_, o)| o.flagged.iter().map(|v| v.attack))
            .collect()
    };
    assert!(
        named("enumeration").contains(&AttackType::Enumeration),
        "walk: {:?}",
        named("enumeration")
    );
    assert!(
        named("api_dos").contains(&AttackType::ApiDos),
        "flood: {:?}",
        named("api_dos")
    );
}

/// An integration that calls search about once every ten minutes: enough training
/// requests for a baseline of its own, and a search pace of a few per 10 minutes at most.
fn slow_integration_world() -> (Arc<BehaviorModel>, Who) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(41);
    let key = who(
        [34, 121, 0, 10],
        None,
        None,
        Some("partner-slow"),
        2,
        "partner-sync/2.1",
    );
    let mut training = benign(1, T0, TRAIN_HOURS, USERS);
    let mut t = T0 + rng.gen_range(0..10 * MINUTE);
    while t < TEST_START {
        training.push(event(&mut rng, t, &key, 1, 200, None, None));
        t += rng.gen_range(5 * MINUTE..15 * MINUTE);
    }
    (Arc::new(train(&finish(training), 7)), key)
}

/// The slow integration's key searching every 50 s (12 per 10 minutes) for `minutes`.
fn slow_integration_search(key: &Who, minutes: i64, label: Option<&'static str>) -> Vec<Event> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    let t = TEST_START + 2 * HOUR;
    (0..minutes * 60 / 50)
        .map(|i| event(&mut rng, t + i * 50_000, key, 1, 200, None, label))
        .collect()
}

/// A key searching at four times its own busiest pace and more for half an hour is a
/// flood, however modest 12 requests per 10 minutes is next to a browsing user's pace; a
/// quarter of an hour of it is a catch-up after an outage.
#[test]
fn a_slow_integration_searching_at_many_times_its_pace_for_long_is_a_flood() {
    let (model, key) = slow_integration_world();
    let mut events = benign_test();
    events.extend(slow_integration_search(&key, 15, None));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let (_, false_flags) = verdicts(&events, &outcomes);
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");
    let mut events = benign_test();
    events.extend(slow_integration_search(&key, 45, Some("api_dos")));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let (types, false_flags) = verdicts(&events, &outcomes);
    assert_eq!(types, BTreeSet::from([AttackType::ApiDos]));
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");
}

/// A customer who signs in now and then: too few training requests for a baseline of
/// their own, but training saw where and on what.
fn light_user_world() -> (Arc<BehaviorModel>, Who) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(31);
    let owner = who(
        [81, 20, 9, 7],
        Some("light-user"),
        Some("light-session-train"),
        None,
        0,
        "ShopApp/3 (iOS 17.6)",
    );
    let mut training = benign(1, T0, TRAIN_HOURS, USERS);
    let t = T0 + 5 * HOUR;
    training.extend((0..8).map(|i| event(&mut rng, t + i * 20_000, &owner, 1, 200, None, None)));
    let model = Arc::new(train(&finish(training), 7));
    (model, owner)
}

/// Six quiet requests of `visitor` (a user's credential, elsewhere or on another device).
fn quiet_session(visitor: &Who, attack: Option<&'static str>) -> Vec<Event> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(32);
    let t = TEST_START + 2 * HOUR;
    (0..6)
        .map(|i| event(&mut rng, t + i * 90_000, visitor, 1, 200, None, attack))
        .collect()
}

#[test]
fn a_light_users_token_from_a_new_country_on_a_new_device_is_token_misuse() {
    let (model, owner) = light_user_world();
    let kind = model
        .kind(EntityKind::User)
        .map(|k| k.light.len())
        .unwrap_or(0);
    assert!(kind > 0, "no light record kept");
    let thief = Who {
        ip: IpAddr::V4(Ipv4Addr::new(103, 4, 9, 9)),
        token: Some(fp("light-session-stolen")),
        // Brazil (the country sets are 64 hashed bits: the United States shares the
        // bit of France, the owner's).
        city: 3,
        ua: "ShopApp/3 (Android 14; Pixel 8)".into(),
        ..owner
    };
    let mut events = benign_test();
    events.extend(quiet_session(&thief, Some("token_misuse")));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let (types, false_flags) = verdicts(&events, &outcomes);
    assert_eq!(types, BTreeSet::from([AttackType::TokenMisuse]));
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");
    let evidence: BTreeSet<String> = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| e.attack.is_some())
        .flat_map(|(_, o)| o.flagged.iter().flat_map(|v| v.evidence.iter()))
        .map(|e| e.feature.clone())
        .collect();
    assert!(
        evidence.contains("country_new_to_credential"),
        "{evidence:?}"
    );
    assert!(
        evidence.contains("device_new_to_credential"),
        "{evidence:?}"
    );
}

#[test]
fn a_light_user_on_a_new_phone_at_home_or_travelling_with_their_own_is_not_misuse() {
    let (model, owner) = light_user_world();
    let new_phone = Who {
        token: Some(fp("light-session-phone")),
        ua: "ShopApp/3 (Android 14; Pixel 8)".into(),
        ..who([81, 20, 9, 7], Some("light-user"), None, None, 0, "")
    };
    let trip = Who {
        ip: IpAddr::V4(Ipv4Addr::new(85, 4, 4, 9)),
        token: Some(fp("light-session-trip")),
        city: 3,
        ..who([0, 0, 0, 0], Some("light-user"), None, None, 0, &owner.ua)
    };
    for visitor in [new_phone, trip] {
        let mut events = benign_test();
        events.extend(quiet_session(&visitor, None));
        let (_, outcomes) = run(&model, &finish(events));
        let flags: Vec<_> = outcomes.iter().flat_map(|o| o.flagged.iter()).collect();
        assert!(flags.is_empty(), "{flags:#?}");
    }
}

#[test]
fn a_light_users_home_is_where_they_signed_in_from_not_where_a_thief_used_it_first() {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(33);
    // In this API the owner only ever signed in (an identity service's lot).
    let owner = who(
        [81, 20, 9, 8],
        Some("signs-in-only"),
        Some("signin-train"),
        None,
        0,
        "ShopApp/4.12.2 (iOS 17.6)",
    );
    let mut training = benign(1, T0, TRAIN_HOURS, USERS);
    training.extend((0..6).map(|i| {
        event(
            &mut rng,
            T0 + (i + 1) * 4 * HOUR,
            &owner,
            2,
            200,
            None,
            None,
        )
    }));
    let model = Arc::new(train(&finish(training), 7));
    let thief = Who {
        ip: IpAddr::V4(Ipv4Addr::new(103, 4, 9, 10)),
        token: Some(fp("signin-stolen")),
        city: 3,
        ua: "Mozilla/5.0 (X11; Linux x86_64)".into(),
        ..who([0, 0, 0, 0], Some("signs-in-only"), None, None, 0, "")
    };
    // Back home after an app update, an hour after the stranger.
    let back = Who {
        token: Some(fp("signin-back")),
        ua: "ShopApp/5.0.0 (iOS 17.6)".into(),
        ..owner
    };
    let t = TEST_START + 2 * HOUR;
    let mut events = benign_test();
    events.extend((0..4).map(|i| {
        event(
            &mut rng,
            t + i * 60_000,
            &thief,
            1,
            200,
            None,
            Some("token_misuse"),
        )
    }));
    let home = t + HOUR;
    events.extend((0..10).map(|i| event(&mut rng, home + i * 30_000, &back, 1, 200, None, None)));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let (types, false_flags) = verdicts(&events, &outcomes);
    assert_eq!(types, BTreeSet::from([AttackType::TokenMisuse]));
    let owner_flags: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| e.attack.is_none() && e.rec.user.as_deref() == Some("signs-in-only"))
        .flat_map(|(_, o)| o.flagged.iter())
        .collect();
    assert!(owner_flags.is_empty(), "owner flagged: {owner_flags:#?}");
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");
}

#[test]
fn a_user_at_home_pulling_more_of_what_they_pulled_in_training_is_not_exfiltration() {
    // A user who downloaded exports (endpoint 4) in training, from their own network.
    let training = benign(1, T0, TRAIN_HOURS, USERS);
    let model = model();
    let users = model.kind(EntityKind::User).expect("users in training");
    let (u, own_max) = (0..USERS)
        .find_map(|u| {
            let name = format!("user{u}");
            let exported = training
                .iter()
                .any(|e| e.endpoint == 4 && e.rec.user.as_deref() == Some(&name));
            let b = &users.baselines[users.baseline_index(&name)?];
            let own = f64::from(b.maxima[Feature::ResponseBytes2h.index()]);
            let p99 = users.p99[Feature::ResponseBytes2h.index()];
            // Not a heavy hitter by the kind's measure: judged by the tight margin so far.
            (exported && own <= p99).then_some((u, own))
        })
        .expect("a light user who exported in training");
    // Exports of about 7 times the user's largest training volume, in twenty minutes.
    // (A response is the endpoint's median times a jitter averaging 1.15.)
    let exports = |times: f64, ip: [u8; 4], label| {
        let n = (times * own_max / (ENDPOINTS[4].bytes * 1.15)).ceil() as i64;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(25);
        let from = Who {
            ip: IpAddr::V4(Ipv4Addr::from(ip)),
            user: Some(format!("user{u}")),
            token: None,
            api_key: None,
            city: u % CITIES.len(),
            ua: format!(
                "ShopApp/{} ({})",
                3 + u % 3,
                if u % 2 == 0 { "iOS" } else { "Android" }
            ),
        };
        let t = TEST_START + 3 * HOUR;
        (0..n)
            .map(|i| {
                event(
                    &mut rng,
                    t + i * 20 * MINUTE / n,
                    &from,
                    4,
                    200,
                    None,
                    label,
                )
            })
            .collect::<Vec<_>>()
    };
    let home = [81, (u / 250) as u8 + 10, (u % 250) as u8, 7];
    let mut events = benign_test();
    events.extend(exports(7.0, home, None));
    no_flags(events);
    // The same pull from a network the user never used is someone else's.
    assert_caught(
        exports(7.0, [45, 77, 3, 9], Some("data_exfiltration")),
        AttackType::DataExfiltration,
    );
}

/// A staff member seen only a few times in training (too few requests for a baseline of
/// their own): signs in, downloads a couple of exports, on their session tokens.
fn light_exporter(model_seed: u64) -> (Arc<BehaviorModel>, Who) {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(model_seed);
    let staff = |token: &str| {
        who(
            [81, 30, 4, 2],
            Some("staff-exporter"),
            Some(token),
            None,
            1,
            "Mozilla/5.0 (Macintosh) Firefox/133.0",
        )
    };
    let mut training = benign(1, T0, TRAIN_HOURS, USERS);
    for day in 0..2 {
        let s = staff(&format!("staff-train-{day}"));
        let t = T0 + 4 * HOUR + day * 20 * HOUR;
        training.push(event(&mut rng, t, &s, 2, 200, None, None));
        training.extend((1..4).map(|i| event(&mut rng, t + i * 90_000, &s, 4, 200, None, None)));
    }
    let model = Arc::new(train(&finish(training), 7));
    let kind = model.kind(EntityKind::User).expect("users in training");
    assert!(
        kind.baseline_index("staff-exporter").is_none()
            && kind.light_index("staff-exporter").is_some(),
        "a light credential"
    );
    (model, staff("staff-test"))
}

#[test]
fn a_light_staff_member_exporting_more_at_home_on_their_device_is_not_exfiltration() {
    let (model, staff) = light_exporter(41);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(42);
    // Four times the training exports in twenty minutes, on a fresh session token.
    let exports = |from: &Who, label| {
        let t = TEST_START + 2 * HOUR;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(43);
        (0..12)
            .map(|i| event(&mut rng, t + i * 100_000, from, 4, 200, None, label))
            .collect::<Vec<_>>()
    };
    let mut events = benign_test();
    events.push(event(
        &mut rng,
        TEST_START + 2 * HOUR - 60_000,
        &staff,
        2,
        200,
        None,
        None,
    ));
    events.extend(exports(&staff, None));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let flags: Vec<_> = outcomes.iter().flat_map(|o| o.flagged.iter()).collect();
    assert!(flags.is_empty(), "flagged: {flags:#?}");
    // The same pull on another machine, from another country, is someone else's.
    let thief = Who {
        ip: IpAddr::V4(Ipv4Addr::new(45, 77, 3, 9)),
        city: 4,
        ua: "python-requests/2.32".into(),
        ..who(
            [0; 4],
            Some("staff-exporter"),
            Some("staff-stolen"),
            None,
            0,
            "",
        )
    };
    let mut events = benign_test();
    events.extend(exports(&thief, Some("data_exfiltration")));
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let (types, _) = verdicts(&events, &outcomes);
    assert!(types.contains(&AttackType::DataExfiltration), "{types:?}");
}

#[test]
fn small_requests_a_quarter_hour_after_a_burst_do_not_reopen_exfiltration() {
    // Two huge responses (the request-level detector's business), then, fifteen minutes
    // on, the user's ordinary small requests: the decaying 10-minute volume still
    // remembers the burst, but the small requests are not what it measures.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(51);
    let user = who(
        [81, 10, 3, 7],
        Some("user3"),
        Some("burst-tok"),
        None,
        3,
        "ShopApp/3 (Android)",
    );
    let t = TEST_START + 2 * HOUR;
    let mut huge: Vec<Event> = (0..2)
        .map(|i| {
            event(
                &mut rng,
                t + i * 3_000,
                &user,
                0,
                200,
                Some("77".into()),
                None,
            )
        })
        .collect();
    for e in &mut huge {
        e.rec.response_bytes = 9_000_000;
    }
    let later: Vec<Event> = (0..6)
        .map(|i| {
            event(
                &mut rng,
                t + 15 * MINUTE + i * 20_000,
                &user,
                5,
                200,
                None,
                None,
            )
        })
        .collect();
    let later_ids: BTreeSet<i64> = later.iter().map(|e| e.rec.ts_ms).collect();
    let mut events = benign_test();
    events.extend(huge);
    events.extend(later);
    let events = finish(events);
    let (_, outcomes) = run(&model(), &events);
    let reopened: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| e.rec.user.as_deref() == Some("user3") && later_ids.contains(&e.rec.ts_ms))
        .flat_map(|(_, o)| o.flagged.iter())
        .filter(|v| v.attack == AttackType::DataExfiltration)
        .collect();
    assert!(reopened.is_empty(), "small requests flagged: {reopened:#?}");
}

#[test]
fn reading_many_objects_it_is_given_is_browsing_not_enumeration() {
    // A shopper on a sale day opens ninety different items in ten minutes, all served.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(61);
    let user = who(
        [81, 10, 5, 7],
        Some("user5"),
        Some("sale-tok"),
        None,
        5,
        "ShopApp/5 (Android)",
    );
    let t = TEST_START + 3 * HOUR;
    let browsing: Vec<Event> = (0..90)
        .map(|i| {
            let item = rng.gen_range(1..50_000u32).to_string();
            event(&mut rng, t + i * 6_500, &user, 0, 200, Some(item), None)
        })
        .collect();
    no_flags(browsing.into_iter().chain(benign_test()).collect());
    // Walking ids and being refused most of them is enumeration.
    let walker = who(
        [45, 9, 9, 9],
        Some("user5"),
        Some("walk-tok"),
        None,
        5,
        "ShopApp/5 (Android)",
    );
    let walk: Vec<Event> = (0..60)
        .map(|i| {
            let status = if i % 5 == 0 { 200 } else { 403 };
            event(
                &mut rng,
                t + i * 10_000,
                &walker,
                3,
                status,
                Some((90_000 + i).to_string()),
                Some("enumeration"),
            )
        })
        .collect();
    assert_caught(walk, AttackType::Enumeration);
}

#[test]
fn pulling_public_content_is_not_exfiltration() {
    // A signed-in user pages through search results (public content: anyone may read it)
    // at forty times the volume of anything in training.
    let user = who(
        [81, 10, 7, 7],
        Some("user7"),
        Some("pages-tok"),
        None,
        1,
        "ShopApp/4 (Android)",
    );
    let t = TEST_START + 2 * HOUR;
    let pages = |public: bool, label| {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(72);
        (0..40)
            .map(|i| {
                let mut e = event(&mut rng, t + i * 15_000, &user, 1, 200, None, label);
                e.rec.response_bytes = 400_000;
                e.public = public;
                e
            })
            .collect::<Vec<_>>()
    };
    no_flags(pages(true, None).into_iter().chain(benign_test()).collect());
    // The same volume from an endpoint that serves only signed-in clients is data.
    let (events, outcomes) = scenario(pages(false, Some("data_exfiltration")));
    let (types, _) = verdicts(&events, &outcomes);
    assert!(types.contains(&AttackType::DataExfiltration), "{types:?}");
}

#[test]
fn a_crawler_fetching_a_page_every_few_seconds_is_not_a_flood() {
    // A search engine's crawler: one address, a product page every 4 seconds or so for an
    // hour (about 150 in ten minutes), all served.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(81);
    let crawler = who([66, 249, 70, 12], None, None, None, 2, "Googlebot/2.1");
    let mut t = TEST_START + 4 * HOUR;
    let mut crawl = Vec::new();
    while t < TEST_START + 5 * HOUR {
        let item = rng.gen_range(1..50_000u32).to_string();
        let mut e = event(&mut rng, t, &crawler, 0, 200, Some(item), None);
        e.public = true;
        crawl.push(e);
        t += rng.gen_range(3_500..4_500);
    }
    no_flags(crawl.into_iter().chain(benign_test()).collect());
}

#[test]
fn an_insider_pulling_far_beyond_their_history_is_caught_on_the_session_early() {
    // The light staff member, at home on their own machine and a fresh session, pulls an
    // export every ten seconds: a few are their habit, dozens are not. Their own slack (ten
    // times their training pull) vouches for the session only up to the tight margin.
    let (model, staff) = light_exporter(41);
    let t = TEST_START + 2 * HOUR;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(91);
    let pulls: Vec<Event> = (0..60)
        .map(|i| {
            event(
                &mut rng,
                t + i * 10_000,
                &staff,
                4,
                200,
                None,
                Some("data_exfiltration"),
            )
        })
        .collect();
    let mut events = benign_test();
    events.extend(pulls);
    let events = finish(events);
    let (_, outcomes) = run(&model, &events);
    let first = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| e.attack.is_some())
        .position(|(_, o)| {
            o.flagged
                .iter()
                .any(|v| v.attack == AttackType::DataExfiltration)
        });
    assert!(
        first.is_some_and(|i| i < 20),
        "first flagged export: {first:?}"
    );
}

#[test]
fn the_owner_exporting_after_a_thief_drained_its_key_is_not_exfiltration() {
    // A copy of partner 0's key pulls a hundred times the key's heaviest two hours of
    // training from the thief's server in ten minutes: caught. 100 minutes on, the partner
    // runs its own export from home.
    // The key's decaying 2-hour volume still holds a good part of the thief's pull; the
    // owner's export, on the network training saw it use, is judged on its own bytes.
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(61);
    let home = partner(0, [34, 120, 0, 10]);
    let thief = partner(0, [45, 77, 3, 9]);
    let t = TEST_START + HOUR;
    let drain: Vec<Event> = (0..3000)
        .map(|i| {
            event(
                &mut rng,
                t + i * 200,
                &thief,
                4,
                200,
                None,
                Some("data_exfiltration"),
            )
        })
        .collect();
    let owner_start = t + 10 * MINUTE + 100 * MINUTE;
    let own: Vec<Event> = (0..30)
        .map(|i| {
            event(
                &mut rng,
                owner_start + i * 20_000,
                &home,
                4,
                200,
                None,
                None,
            )
        })
        .collect();
    let mut events = benign_test();
    events.extend(drain);
    events.extend(own);
    let events = finish(events);
    let (_, outcomes) = run(&model(), &events);
    let (caught, _) = verdicts(&events, &outcomes);
    assert!(
        caught.contains(&AttackType::DataExfiltration),
        "the thief's drain was not caught"
    );
    // The thief's records are labelled; the owner's are the key's unlabelled ones.
    let owner_flags: Vec<_> = events
        .iter()
        .zip(&outcomes)
        .filter(|(e, _)| {
            e.attack.is_none() && e.rec.api_key == home.api_key && e.rec.ts_ms >= owner_start
        })
        .flat_map(|(_, o)| o.flagged.iter())
        .collect();
    assert!(
        owner_flags.is_empty(),
        "the owner was flagged: {owner_flags:#?}"
    );
}

#[test]
fn a_regulars_account_from_a_new_country_on_a_new_device_is_token_misuse() {
    // user0 has a baseline of its own: France, the iOS app. A thief with a fresh session of
    // the account, in Brazil on an Android phone (records without coordinates: no travel
    // speed to measure), makes a few quiet requests: none of the account's maxima is
    // exceeded; the place and the device, both new to it, are the tell.
    let model = model();
    assert!(model
        .kind(EntityKind::User)
        .is_some_and(|k| k.baseline_index("user0").is_some()));
    let owner = || {
        who(
            [81, 10, 0, 7],
            Some("user0"),
            None,
            None,
            0,
            "ShopApp/3 (iOS)",
        )
    };
    let thief = Who {
        ip: IpAddr::V4(Ipv4Addr::new(103, 4, 9, 9)),
        token: Some(fp("user0-stolen")),
        city: 3,
        ua: "ShopApp/3 (Android 14; Pixel 8)".into(),
        ..owner()
    };
    let mut stolen = quiet_session(&thief, Some("token_misuse"));
    for e in &mut stolen {
        e.rec.geo = None;
    }
    let (events, outcomes) = scenario(stolen);
    let (types, false_flags) = verdicts(&events, &outcomes);
    assert_eq!(types, BTreeSet::from([AttackType::TokenMisuse]));
    assert!(false_flags.is_empty(), "benign flagged: {false_flags:#?}");

    // The owner on a new phone at home is the owner.
    let new_phone = Who {
        token: Some(fp("user0-new-phone")),
        ua: "ShopApp/3 (Android 14; Pixel 8)".into(),
        ..owner()
    };
    no_flags({
        let mut events = benign_test();
        events.extend(quiet_session(&new_phone, None));
        events
    });
}
