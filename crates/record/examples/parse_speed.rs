use apiwarden_record::{
    format_ts_ms, parse_bytes, Fingerprinter, InputFormat, InputRecord, InputTs, RecordReader,
};
use std::hint::black_box;
use std::io::Write;
const RECORDS: usize = 100_000;

/// A small deterministic generator (SplitMix64): the bench needs realistic variety, not quality randomness.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const APIS: [&str; 5] = ["orders", "payments", "users", "catalog", "auth"];
const METHODS: [&str; 5] = ["GET", "GET", "GET", "POST", "PUT"];
const COUNTRIES: [&str; 6] = ["US", "DE", "FR", "BR", "IN", "JP"];
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "okhttp/4.12.0",
    "python-requests/2.31.0",
    "MyApp/3.4.1 (iPhone; iOS 17.2)",
];

fn realistic_records() -> Vec<InputRecord> {
    let mut rng = Mix(7);
    let start_ms = 1_796_400_000_000_i64;
    (0..RECORDS)
        .map(|i| {
            let api = rng.pick(&APIS);
            let user = rng.below(5_000);
            let ts_ms = start_ms + i as i64 * 37;
            InputRecord {
                id: Some(format!("{:016x}{:016x}", rng.next(), rng.next())),
                ts: if i % 4 == 0 {
                    InputTs::EpochMs(ts_ms)
                } else {
                    InputTs::Rfc3339(format_ts_ms(ts_ms))
                },
                api: Some(api.to_owned()),
                host: Some(format!("{api}.api.example.com")),
                method: rng.pick(&METHODS).to_owned(),
                path: format!("/v2/{api}/{}?page={}", rng.below(1_000_000), rng.below(20)),
                status: [200, 200, 200, 201, 204, 304, 400, 401, 404, 500][rng.below(10) as usize],
                latency_ms: (rng.below(200_000) as f64) / 1000.0,
                request_bytes: 200 + rng.below(2_000),
                response_bytes: rng.below(60_000),
                client_ip: if i % 10 == 0 {
                    format!("2001:db8::{:x}", rng.below(65_536))
                } else {
                    format!(
                        "{}.{}.{}.{}",
                        1 + rng.below(223),
                        rng.below(256),
                        rng.below(256),
                        1 + rng.below(254)
                    )
                },
                country: Some(rng.pick(&COUNTRIES).to_owned()),
                lat: None,
                lon: None,
                user: Some(format!("user{user}")),
                api_key: (i % 2 == 0).then(|| format!("sk_live_{user:08}_{:x}", user * 7919)),
                token: (i % 2 == 1)
                    .then(|| format!("eyJhbGciOiJIUzI1NiJ9.{user:x}.{:x}", rng.next())),
                user_agent: Some(rng.pick(&AGENTS).to_owned()),
            }
        })
        .collect()
}

fn ndjson(records: &[InputRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 400);
    for record in records {
        serde_json::to_writer(&mut out, record).expect("serializing to memory cannot fail");
        out.push(b'\n');
    }
    out
}

fn combined_log(records: &[InputRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 250);
    for (i, r) in records.iter().enumerate() {
        let minute = i / 1_000;
        writeln!(
            out,
            r#"{} - {} [04/Dec/2026:{:02}:{:02}:{:02} +0000] "{} {} HTTP/1.1" {} {} "-" "{}" {:.3}"#,
            r.client_ip,
            r.user.as_deref().unwrap_or("-"),
            (minute / 60) % 24,
            minute % 60,
            i % 60,
            r.method,
            r.path,
            r.status,
            r.response_bytes,
            r.user_agent.as_deref().unwrap_or("-"),
            r.latency_ms / 1000.0,
        )
        .expect("writing to memory cannot fail");
    }
    out
}

fn nginx_json(records: &[InputRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * 450);
    for r in records {
        let line = serde_json::json!({
            "time_iso8601": match &r.ts { InputTs::Rfc3339(s) => s.clone(), InputTs::EpochMs(ms) => format_ts_ms(*ms) },
            "remote_addr": r.client_ip, "request_method": r.method, "request_uri": r.path,
            "status": r.status, "request_time": r.latency_ms / 1000.0, "request_length": r.request_bytes,
            "bytes_sent": r.response_bytes, "http_host": r.host, "http_user_agent": r.user_agent,
            "remote_user": r.user, "http_authorization": r.token.as_ref().map(|t| format!("Bearer {t}")).unwrap_or_default(),
            "http_x_api_key": r.api_key.clone().unwrap_or_default(), "request_id": r.id,
            "geoip_country_code": r.country,
        });
        serde_json::to_writer(&mut out, &line).expect("serializing to memory cannot fail");
        out.push(b'\n');
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map(String::as_str).unwrap_or("ndjson");
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let records = realistic_records();
    let fp = Fingerprinter::new([5; 32]);
    let (bytes, format) = match which {
        "ndjson" => (ndjson(&records), InputFormat::Ndjson),
        "combined" => (combined_log(&records), InputFormat::Combined),
        "nginx" => (nginx_json(&records), InputFormat::NginxJson),
        "msgpack" => (
            rmp_serde::to_vec_named(&records).unwrap(),
            InputFormat::MsgPack,
        ),
        _ => (serde_json::to_vec(&records).unwrap(), InputFormat::Json),
    };
    let t = std::time::Instant::now();
    let mut ok = 0;
    for _ in 0..reps {
        if format.is_line_based() {
            ok += RecordReader::new(&bytes[..], format, fp.clone())
                .filter(Result::is_ok)
                .count();
        } else {
            ok += black_box(parse_bytes(&bytes, format, &fp)).len();
        }
    }
    eprintln!("{which}: {ok} records in {:?} wall", t.elapsed());
}
