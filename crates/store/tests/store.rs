//! The same behavior asked of both stores; sled additionally across reopen and threads.

use apiwarden_alert::{Alert, AttackType, Severity};
use apiwarden_record::AccessRecord;
use apiwarden_store::{
    record_batch, write_durable, AlertQuery, AllowEntry, ApiSettings, MemoryStore, RecordEntry,
    SledConfig, SledStore, Store, StoredScore, WriteBatch,
};
use std::sync::Arc;

fn rec(id: &str, ts_ms: i64) -> AccessRecord {
    AccessRecord {
        id: Some(id.to_string()),
        ts_ms,
        api: None,
        host: Some("shop.example.com".into()),
        method: "GET".into(),
        path: format!("/v1/items/{ts_ms}"),
        status: 200,
        latency_ms: 12.5,
        request_bytes: 100,
        response_bytes: 2000,
        client_ip: "10.0.0.1".parse().expect("ip literal"),
        country: Some("DE".into()),
        geo: None,
        user: Some("alice".into()),
        api_key: None,
        token: None,
        user_agent: None,
    }
}

fn entry(api: &str, id: &str, ts: i64) -> RecordEntry {
    RecordEntry {
        api: api.into(),
        record: rec(id, ts),
    }
}

fn alert(id: &str, api: &str, attack: AttackType, last_seen_ms: i64) -> Alert {
    Alert {
        first_seen: apiwarden_record::format_ts_ms(0),
        last_seen: apiwarden_record::format_ts_ms(last_seen_ms),
        first_seen_ms: 0,
        last_seen_ms,
        ..Alert::example(id, api, attack, Severity::High)
    }
}

fn sled_at(dir: &std::path::Path) -> SledStore {
    SledStore::open(dir, &SledConfig::default()).expect("open sled store")
}

fn both(check: impl Fn(&dyn Store)) {
    check(&MemoryStore::new());
    let dir = tempfile::tempdir().expect("tempdir");
    check(&sled_at(dir.path()));
}

#[test]
fn records_round_trip_by_id_and_range() {
    both(|s| {
        let batch = WriteBatch {
            records: vec![
                entry("shop", "a", 30),
                entry("shop", "b", 10),
                entry("shop", "c", 20),
                entry("bank", "d", 15),
                entry("shop", "e", -5),
            ],
            ..WriteBatch::default()
        };
        write_durable(s, batch).expect("write");
        let got = s.record("c").expect("read").expect("present");
        assert_eq!(got.api, "shop");
        assert_eq!(got.record, rec("c", 20));
        assert!(s.record("zzz").expect("read").is_none());

        let ids = |v: Vec<RecordEntry>| -> Vec<String> {
            v.into_iter().filter_map(|e| e.record.id).collect()
        };
        assert_eq!(
            ids(s
                .records_range("shop", i64::MIN, i64::MAX, 100)
                .expect("range")),
            ["e", "b", "c", "a"]
        );
        assert_eq!(
            ids(s.records_range("shop", 10, 30, 100).expect("range")),
            ["b", "c"]
        );
        assert_eq!(
            ids(s.records_range("shop", 0, 100, 2).expect("range")),
            ["b", "c"]
        );
        assert_eq!(
            ids(s.records_range("bank", 0, 100, 10).expect("range")),
            ["d"]
        );
        assert!(s
            .records_range("sho", 0, 100, 10)
            .expect("range")
            .is_empty());
        assert_eq!(s.record_count().expect("count"), 5);
        assert_eq!(s.newest_record_ts().expect("newest"), Some(30));

        let mut seen = Vec::new();
        s.scan_records(&mut |e| {
            seen.push((e.api, e.record.ts_ms));
            true
        })
        .expect("scan");
        assert_eq!(
            seen,
            [
                ("bank".into(), 15),
                ("shop".into(), -5),
                ("shop".into(), 10),
                ("shop".into(), 20),
                ("shop".into(), 30)
            ]
        );
    });
}

#[test]
fn scores_and_alert_upserts_with_filters_and_paging() {
    both(|s| {
        let score = StoredScore {
            id: "r1".into(),
            api: "shop".into(),
            endpoint: "GET /v1/items/{id}".into(),
            ts_ms: 5,
            score: 0.7,
            attack: Some(AttackType::Enumeration),
        };
        let mut alerts = vec![
            alert("a1", "shop", AttackType::Enumeration, 100),
            alert("a2", "bank", AttackType::ApiDos, 200),
            alert("a3", "shop", AttackType::Probing, 300),
        ];
        write_durable(
            s,
            WriteBatch {
                records: vec![entry("shop", "r1", 5)],
                ..WriteBatch::default()
            },
        )
        .expect("record");
        write_durable(
            s,
            WriteBatch {
                scores: vec![score.clone()],
                alerts: alerts.clone(),
                ..WriteBatch::default()
            },
        )
        .expect("write");
        assert_eq!(s.score("r1").expect("score"), Some(score));

        // The alert grows: same id, later last_seen. It must move to the front and not be listed twice.
        alerts[0].last_seen_ms = 400;
        alerts[0].count = 2;
        write_durable(
            s,
            WriteBatch {
                alerts: vec![alerts[0].clone()],
                ..WriteBatch::default()
            },
        )
        .expect("upsert");
        let all = s
            .alerts(&AlertQuery {
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("alerts");
        let ids: Vec<_> = all.alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a1", "a3", "a2"]);
        assert_eq!(all.alerts[0].count, 2);

        let shop = s
            .alerts(&AlertQuery {
                api: Some("shop".into()),
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("alerts");
        assert_eq!(shop.alerts.len(), 2);
        let dos = s
            .alerts(&AlertQuery {
                attack: Some(AttackType::ApiDos),
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("alerts");
        assert_eq!(dos.alerts.len(), 1);
        let window = s
            .alerts(&AlertQuery {
                since_ms: Some(200),
                until_ms: Some(300),
                limit: 10,
                ..AlertQuery::default()
            })
            .expect("alerts");
        let ids: Vec<_> = window.alerts.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a3", "a2"]);

        // Paging visits every alert once.
        let mut cursor = None;
        let mut paged = Vec::new();
        loop {
            let page = s
                .alerts(&AlertQuery {
                    limit: 1,
                    cursor: cursor.clone(),
                    ..AlertQuery::default()
                })
                .expect("page");
            paged.extend(page.alerts.into_iter().map(|a| a.id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(paged, ["a1", "a3", "a2"]);
        assert!(s
            .alerts(&AlertQuery {
                limit: 1,
                cursor: Some("nonsense".into()),
                ..AlertQuery::default()
            })
            .is_err());
    });
}

#[test]
fn settings_allowlist_models() {
    both(|s| {
        let mut settings = ApiSettings {
            api: "shop".into(),
            ..ApiSettings::default()
        };
        settings.thresholds.insert("request".into(), 0.8);
        s.put_api_settings(&settings).expect("put");
        assert_eq!(s.api_settings("shop").expect("get"), Some(settings.clone()));
        assert_eq!(s.all_api_settings().expect("all"), vec![settings]);

        let e = AllowEntry {
            kind: "ip".into(),
            value: "10.0.0.9".into(),
            api: None,
            note: Some("scanner we run".into()),
        };
        s.put_allow(&e).expect("allow");
        assert_eq!(s.allowlist().expect("list"), vec![e]);
        assert!(s.remove_allow("ip", "10.0.0.9").expect("remove"));
        assert!(!s.remove_allow("ip", "10.0.0.9").expect("remove"));
        assert!(s.allowlist().expect("list").is_empty());

        assert!(s.latest_model().expect("model").is_none());
        for n in 1..=5u8 {
            assert_eq!(
                s.put_model(&[n; 4], i64::from(n)).expect("put model"),
                u64::from(n)
            );
        }
        let m = s.latest_model().expect("model").expect("present");
        assert_eq!((m.version, m.created_ms, m.bytes), (5, 5, vec![5; 4]));
    });
}

#[test]
fn retention_deletes_old_records_scores_and_alerts() {
    both(|s| {
        let mut batch = WriteBatch::default();
        const MIN: i64 = 60_000;
        for (i, ts) in [10, 20 * MIN, 30 * MIN + 5, 40 * MIN]
            .into_iter()
            .enumerate()
        {
            for api in ["bank", "shop"] {
                let id = format!("{api}{i}");
                batch.records.push(entry(api, &id, ts));
                batch.scores.push(StoredScore {
                    id,
                    api: api.into(),
                    endpoint: "GET /".into(),
                    ts_ms: ts,
                    score: 0.1,
                    attack: None,
                });
            }
        }
        batch.alerts = vec![
            alert("old", "shop", AttackType::Probing, 15 * MIN),
            alert("new", "shop", AttackType::Probing, 35 * MIN),
        ];
        write_durable(s, batch).expect("write");
        // 30 min 5 ms is in the cutoff's minute: kept.
        let stats = s.apply_retention(30 * MIN + 10).expect("retention");
        assert_eq!((stats.records, stats.scores, stats.alerts), (4, 4, 1));
        assert!(s.record("shop0").expect("read").is_none());
        assert!(s.score("bank1").expect("read").is_none());
        assert!(s.record("shop2").expect("read").is_some());
        assert!(s.score("bank3").expect("read").is_some());
        assert_eq!(
            s.records_range("bank", i64::MIN, i64::MAX, 10)
                .expect("range")
                .len(),
            2
        );
        assert!(s.alert("old").expect("read").is_none());
        assert!(s.alert("new").expect("read").is_some());
        assert_eq!(s.record_count().expect("count"), 4);
    });
}

#[test]
fn sled_keeps_everything_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let s = sled_at(dir.path());
        write_durable(
            &s,
            WriteBatch {
                records: vec![entry("shop", "a", 1), entry("shop", "b", 2)],
                alerts: vec![alert("x", "shop", AttackType::ApiDos, 2)],
                ..WriteBatch::default()
            },
        )
        .expect("write");
        s.put_model(b"bundle", 7).expect("model");
    }
    let s = sled_at(dir.path());
    assert!(s.record("a").expect("read").is_some());
    assert!(s.alert("x").expect("read").is_some());
    assert_eq!(s.record_count().expect("count"), 2);
    assert_eq!(
        s.latest_model().expect("model").map(|m| m.bytes),
        Some(b"bundle".to_vec())
    );
    // New records after reopen do not overwrite old ones at the same (api, ts).
    write_durable(
        &s,
        WriteBatch {
            records: vec![entry("shop", "c", 1)],
            ..WriteBatch::default()
        },
    )
    .expect("write");
    assert_eq!(s.records_range("shop", 0, 10, 10).expect("range").len(), 3);
}

#[test]
fn concurrent_writers_are_all_acked_and_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(sled_at(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                for b in 0..25 {
                    let records = (0..40)
                        .map(|i| entry("shop", &format!("t{t}b{b}i{i}"), i64::from(i)))
                        .collect();
                    write_durable(
                        s.as_ref(),
                        WriteBatch {
                            records,
                            ..WriteBatch::default()
                        },
                    )
                    .expect("acked");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("writer thread");
    }
    assert_eq!(s.record_count().expect("count"), 8 * 25 * 40);
    for t in 0..8 {
        assert!(s.record(&format!("t{t}b24i39")).expect("read").is_some());
    }
}

#[test]
fn submit_after_close_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sled_at(dir.path());
    s.close().expect("close");
    assert!(write_durable(&s, WriteBatch::default()).is_err());
}

#[test]
fn a_fair_scan_gives_every_api_its_share() {
    both(|s| {
        let mut batch = Vec::new();
        for (api, n) in [("alpha", 10), ("beta", 2), ("gamma", 10)] {
            for i in 0..n {
                batch.push(entry(api, &format!("{api}-{i}"), 1_000 + i as i64 * 70_000));
            }
        }
        write_durable(s, record_batch(batch)).expect("write");
        let mut seen: Vec<(String, i64)> = Vec::new();
        s.scan_records_fair(12, &mut |e| seen.push((e.api, e.record.ts_ms)))
            .expect("scan");
        let count = |api: &str| seen.iter().filter(|(a, _)| a == api).count();
        // 12 records over 3 APIs: 4 each at most; the late-sorting API is not starved.
        assert_eq!((count("alpha"), count("beta"), count("gamma")), (4, 2, 4));
        let gamma: Vec<i64> = seen
            .iter()
            .filter(|(a, _)| a == "gamma")
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(gamma, vec![1_000, 71_000, 141_000, 211_000], "oldest first");
    });
}

/// `submit_records`, waiting until the records are durable.
fn submit_records_durable(s: &dyn Store, records: &mut [RecordEntry]) {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    s.submit_records(
        records,
        Some(Box::new(move |res| {
            let _ = tx.send(res);
        })),
    )
    .expect("submit");
    rx.recv().expect("ack").expect("durable");
}

fn without_id(api: &str, ts: i64) -> RecordEntry {
    let mut e = entry(api, "", ts);
    e.record.id = if ts % 2 == 0 {
        None
    } else {
        Some(String::new())
    };
    e
}

#[test]
fn records_without_ids_get_ids_that_find_them_and_their_scores() {
    both(|s| {
        let mut batch = vec![
            without_id("shop", 70_000),
            entry("shop", "given", 5),
            without_id("bank", 3),
            without_id("shop", 4),
            without_id("shop", 61_000),
        ];
        submit_records_durable(s, &mut batch);
        assert_eq!(batch[1].record.id.as_deref(), Some("given"), "kept");
        let ids: Vec<String> = batch
            .iter()
            .map(|e| e.record.id.clone().expect("every record has an id now"))
            .collect();
        assert!(ids.iter().all(|id| !id.is_empty()));
        let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        for e in &batch {
            let id = e.record.id.as_deref().expect("id");
            let found = s.record(id).expect("read").expect("found by its id");
            assert_eq!(found, *e);
        }
        let scores: Vec<StoredScore> = batch
            .iter()
            .map(|e| StoredScore {
                id: e.record.id.clone().expect("id"),
                api: e.api.clone(),
                endpoint: "GET /v1/items/{id}".into(),
                ts_ms: e.record.ts_ms,
                score: e.record.ts_ms as f64 / 1e6,
                attack: None,
            })
            .collect();
        write_durable(
            s,
            WriteBatch {
                scores: scores.clone(),
                ..WriteBatch::default()
            },
        )
        .expect("scores");
        for want in scores {
            assert_eq!(s.score(&want.id).expect("read"), Some(want));
        }
        // A second batch never reuses an id.
        let mut more = vec![without_id("shop", 70_000), without_id("shop", 4)];
        submit_records_durable(s, &mut more);
        for e in &more {
            assert!(!ids.contains(e.record.id.as_ref().expect("id")));
        }
    });
}

#[test]
fn sled_ids_of_the_store_form_that_name_no_such_record_find_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = {
        let s = sled_at(dir.path());
        // One chunk: "given" at position 0, the generated record at position 1.
        let mut batch = vec![entry("shop", "given", 1), without_id("shop", 2)];
        submit_records_durable(&s, &mut batch);
        batch[1].record.id.clone().expect("id")
    };
    let s = sled_at(dir.path());
    assert_eq!(
        s.record(&generated)
            .expect("read")
            .and_then(|e| e.record.id),
        Some(generated.clone()),
        "found after reopen"
    );
    let (prefix, pos) = generated.rsplit_once('-').expect("store id form");
    assert_eq!(pos, "1");
    // Position 0 holds "given", position 5 nothing: neither is this id's record.
    for spoof in [format!("{prefix}-0"), format!("{prefix}-5")] {
        assert!(s.record(&spoof).expect("read").is_none(), "{spoof}");
        assert!(s.score(&spoof).expect("read").is_none(), "{spoof}");
    }
    // Retention drops the record and its chunk's entry.
    let stats = s.apply_retention(10 * 60_000).expect("retention");
    assert_eq!(stats.records, 2);
    assert!(s.record(&generated).expect("read").is_none());
    assert!(s.record("given").expect("read").is_none());
}

fn verdict(e: &RecordEntry, score: f64) -> StoredScore {
    StoredScore {
        id: e.record.id.clone().expect("id"),
        api: e.api.clone(),
        endpoint: "GET /v1/items/{id}".into(),
        ts_ms: e.record.ts_ms,
        score,
        attack: None,
    }
}

#[test]
fn verdicts_of_one_chunk_arriving_in_parts_are_all_kept() {
    both(|s| {
        let mut batch: Vec<RecordEntry> = (0..5).map(|ts| without_id("shop", ts * 2)).collect();
        submit_records_durable(s, &mut batch);
        let scores: Vec<StoredScore> = batch.iter().map(|e| verdict(e, 0.5)).collect();
        // Verdicts for positions 3 and 1, then the rest, then 1 again (replaced).
        for part in [vec![3, 1], vec![0, 2, 4]] {
            let scores = part.iter().map(|&i| scores[i].clone()).collect();
            write_durable(
                s,
                WriteBatch {
                    scores,
                    ..WriteBatch::default()
                },
            )
            .expect("scores");
        }
        let again = verdict(&batch[1], 0.9);
        write_durable(
            s,
            WriteBatch {
                scores: vec![again.clone()],
                ..WriteBatch::default()
            },
        )
        .expect("again");
        for (i, want) in scores.into_iter().enumerate() {
            let want = if i == 1 { again.clone() } else { want };
            assert_eq!(s.score(&want.id).expect("read"), Some(want));
        }
    });
}

#[test]
fn sled_retention_keeps_finding_store_ids_of_a_batch_it_deleted_part_of() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = sled_at(dir.path());
    const MIN: i64 = 60_000;
    // One batch, three chunks: shop minute 0, shop minute 40, bank minute 40.
    let mut batch = vec![
        without_id("shop", 2),
        without_id("shop", 40 * MIN),
        without_id("bank", 40 * MIN),
    ];
    submit_records_durable(&s, &mut batch);
    let stats = s.apply_retention(10 * MIN).expect("retention");
    assert_eq!(stats.records, 1);
    let id = |i: usize| batch[i].record.id.clone().expect("id");
    assert!(s.record(&id(0)).expect("read").is_none());
    for i in [1, 2] {
        assert_eq!(s.record(&id(i)).expect("read"), Some(batch[i].clone()));
    }
    let stats = s.apply_retention(50 * MIN).expect("retention");
    assert_eq!(stats.records, 2);
    assert!(s.record(&id(1)).expect("read").is_none());
}
