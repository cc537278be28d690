//! The offline pipeline through the real binary: simulate → train → score →
//! eval, plus the bad inputs of issue #2 (exit codes, messages, good lines kept).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_apiwarden"));
    c.env_remove("APIWARDEN_FINGERPRINT_KEY");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("the binary runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// One simulated data set and one trained model, shared by the tests.
struct Trained {
    _dir: tempfile::TempDir,
    sim: PathBuf,
    model: PathBuf,
    root: PathBuf,
}

fn trained() -> &'static Trained {
    static T: OnceLock<Trained> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let sim = root.join("sim");
        let model = root.join("model");
        let o = run(&[
            "simulate",
            "--out",
            p(&sim),
            "--scale",
            "0.01",
            "--seed",
            "3",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let o = run(&[
            "train",
            "--input",
            p(&sim.join("train.ndjson")),
            "--out",
            p(&model),
            "--seed",
            "5",
        ]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains("trained on"), "{out}");
        Trained {
            _dir: dir,
            sim,
            model,
            root,
        }
    })
}

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn simulate_train_score_eval_end_to_end() {
    let t = trained();
    for f in ["bundle.awm", "manifest.json", "fingerprint.key"] {
        assert!(t.model.join(f).exists(), "{f} missing");
    }
    let scores = t.root.join("scores.ndjson");
    let alerts = t.root.join("alerts.ndjson");
    let o = run(&[
        "score",
        "--models",
        p(&t.model),
        "--input",
        p(&t.sim.join("test.ndjson")),
        "--out",
        p(&scores),
        "--alerts",
        p(&alerts),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let test_lines = std::fs::read_to_string(t.sim.join("test.ndjson"))
        .unwrap()
        .lines()
        .count();
    let s = lines(&scores);
    assert_eq!(s.len(), test_lines, "one score line per input line");
    for (i, l) in s.iter().enumerate() {
        assert_eq!(l["line"], i + 1);
        let score = l["score"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&score));
        assert!(l["id"].is_string() && l["api"].is_string());
        assert!(l["attack"].is_null() || l["attack"].is_string());
    }
    let a = lines(&alerts);
    assert!(!a.is_empty(), "the simulated attacks raise alerts");
    for alert in &a {
        for key in [
            "id",
            "attack",
            "severity",
            "api",
            "entity",
            "score",
            "threshold",
            "first_seen",
            "last_seen",
            "request_ids",
            "evidence",
        ] {
            assert!(alert.get(key).is_some(), "alert without {key}: {alert}");
        }
        let ids = alert["request_ids"].as_array().unwrap();
        assert!(!ids.is_empty() && ids.len() <= 50);
    }
    let o = run(&[
        "eval",
        "--labels",
        p(&t.sim.join("labels.ndjson")),
        "--scores",
        p(&scores),
        "--alerts",
        p(&alerts),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let report = String::from_utf8_lossy(&o.stdout);
    assert!(report.contains("credential_stuffing"), "{report}");

    // Offline scoring is deterministic: the same input gives the same bytes.
    let again = t.root.join("scores-again.ndjson");
    let again_alerts = t.root.join("alerts-again.ndjson");
    let o = run(&[
        "score",
        "--models",
        p(&t.model),
        "--input",
        p(&t.sim.join("test.ndjson")),
        "--out",
        p(&again),
        "--alerts",
        p(&again_alerts),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        std::fs::read(&scores).unwrap(),
        std::fs::read(&again).unwrap()
    );
    assert_eq!(
        std::fs::read(&alerts).unwrap(),
        std::fs::read(&again_alerts).unwrap()
    );
}

const GOOD: &str = r#"{"id":"g1","ts":"2026-11-04T10:00:00Z","api":"payments","method":"GET","path":"/v1/balance","status":200,"latency_ms":20,"request_bytes":0,"response_bytes":300,"client_ip":"81.2.3.4","token":"secret-token-1"}"#;
const GOOD2: &str = r#"{"ts":1793786400000,"host":"shop.example.com","method":"GET","path":"/products/123","status":200,"latency_ms":21.5,"request_bytes":0,"response_bytes":5000,"client_ip":"2001:db8::1"}"#;
const BAD_STATUS: &str = r#"{"id":"b1","ts":"2026-11-04T10:00:01Z","method":"GET","path":"/x","status":700,"latency_ms":20,"request_bytes":0,"response_bytes":300,"client_ip":"81.2.3.4"}"#;

#[test]
fn rejected_lines_get_an_error_line_and_good_lines_are_still_scored() {
    let t = trained();
    let input = t.root.join("mixed.ndjson");
    std::fs::write(
        &input,
        format!("{GOOD}\n{BAD_STATUS}\nnot json at all\n\n{GOOD2}\n"),
    )
    .unwrap();
    let out = t.root.join("mixed-scores.ndjson");
    let o = run(&[
        "score",
        "--models",
        p(&t.model),
        "--input",
        p(&input),
        "--out",
        p(&out),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("status"),
        "{stderr}"
    );
    let s = lines(&out);
    assert_eq!(s.len(), 4, "blank lines are not records: {s:?}");
    assert_eq!(s[0]["id"], "g1");
    assert_eq!(s[0]["api"], "payments");
    assert!(s[0]["score"].is_number());
    assert_eq!(s[1]["line"], 2);
    assert!(s[1]["score"].is_null() && s[1]["id"].is_null());
    assert!(
        s[1]["error"].as_str().unwrap().contains("field `status`"),
        "{}",
        s[1]
    );
    assert_eq!(s[2]["line"], 3);
    assert!(s[2]["error"].is_string());
    assert_eq!(s[3]["line"], 5);
    assert_eq!(
        s[3]["id"], "line-5",
        "records without an id are named by line"
    );
    assert_eq!(s[3]["api"], "shop");
}

/// Runs the binary, expects exit code 2 and a stderr naming `expect`.
fn refused(args: &[&str], expect: &str) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(expect),
        "stderr should name {expect:?}: {}",
        text(&o)
    );
}

#[test]
fn unusable_models_and_inputs_exit_2_with_a_message_naming_the_file() {
    let t = trained();
    let input = t.root.join("one.ndjson");
    std::fs::write(&input, format!("{GOOD}\n")).unwrap();
    let out = t.root.join("x.ndjson");
    let score = |models: &Path, input: &str, expect: &str| {
        refused(
            &[
                "score",
                "--models",
                p(models),
                "--input",
                input,
                "--out",
                p(&out),
            ],
            expect,
        );
    };
    let model_copy = |name: &str, tamper: &dyn Fn(&mut Vec<u8>)| {
        let dir = t.root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = std::fs::read(t.model.join("bundle.awm")).unwrap();
        tamper(&mut bytes);
        std::fs::write(dir.join("bundle.awm"), bytes).unwrap();
        dir
    };

    score(&t.root.join("no-such-model"), p(&input), "no-such-model");
    let corrupt = model_copy("corrupt-model", &|bytes| {
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x55;
    });
    score(&corrupt, p(&input), "checksum");
    let newer = model_copy("newer-model", &|bytes| {
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
    });
    score(&newer, p(&input), "upgrade apiwarden");
    score(&t.model, "/no/such/file.ndjson", "/no/such/file.ndjson");

    let only_bad = t.root.join("only-bad.ndjson");
    std::fs::write(&only_bad, format!("{BAD_STATUS}\n")).unwrap();
    let train = |input: &Path, out: &str, expect: &str| {
        refused(
            &["train", "--input", p(input), "--out", p(&t.root.join(out))],
            expect,
        );
    };
    train(&only_bad, "m2", "no valid access record");
    train(&input, "m3", "enough training records");
}

#[test]
fn a_truncated_gzip_scores_the_lines_before_the_damage_and_exits_2() {
    let t = trained();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for _ in 0..200 {
        writeln!(enc, "{GOOD}").unwrap();
    }
    let gz = enc.finish().unwrap();
    let cut = t.root.join("cut.ndjson.gz");
    std::fs::write(&cut, &gz[..gz.len() - 12]).unwrap();
    let out = t.root.join("cut-scores.ndjson");
    let o = run(&[
        "score",
        "--models",
        p(&t.model),
        "--input",
        p(&cut),
        "--out",
        p(&out),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let s = lines(&out);
    assert!(
        s.iter().filter(|l| l["score"].is_number()).count() > 100,
        "{}",
        s.len()
    );
    let last = s.last().unwrap();
    assert!(
        last["error"].as_str().unwrap().contains("read error"),
        "{last}"
    );
}

#[test]
fn train_reads_stdin_and_the_env_key_overrides_the_key_file() {
    let t = trained();
    let train = std::fs::read(t.sim.join("train.ndjson")).unwrap();
    let out = t.root.join("stdin-model");
    let mut child = bin()
        .args(["train", "--input", "-", "--out", p(&out)])
        .env("APIWARDEN_FINGERPRINT_KEY", "11".repeat(32))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&train).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.join("bundle.awm").exists());
    assert!(
        !out.join("fingerprint.key").exists(),
        "the env key is not written to disk"
    );
}
