//! Each input format and each field rule of CONTRACT §1, seen from the public API.

use apiwarden_record::{
    parse_bytes, AccessRecord, Fingerprinter, InputFormat, RecordError, RecordReader,
};
use serde_json::{json, Value};

fn fp() -> Fingerprinter {
    Fingerprinter::new([9; 32])
}

fn valid() -> Value {
    json!({
        "id": "r-1", "ts": "2026-12-04T20:03:15.123Z", "api": "orders", "host": "api.example.com",
        "method": "get", "path": "/v1/orders/42?x=1", "status": 200, "latency_ms": 12.5,
        "request_bytes": 310, "response_bytes": 2048, "client_ip": "203.0.113.9",
        "country": "de", "lat": 52.5, "lon": 13.4, "user": "alice",
        "api_key": "sk_live_SECRET_KEY_123", "token": "eyJSECRET.TOKEN.sig",
        "user_agent": "curl/8.5", "unknown_field": {"nested": [1, 2]}
    })
}

fn parse_one(record: &Value) -> Result<AccessRecord, RecordError> {
    let line = serde_json::to_vec(record).unwrap();
    let mut results = parse_bytes(&line, InputFormat::Ndjson, &fp());
    assert_eq!(results.len(), 1);
    results.remove(0)
}

fn with(field: &str, value: Value) -> Value {
    let mut record = valid();
    record[field] = value;
    record
}

fn without(field: &str) -> Value {
    let mut record = valid();
    record.as_object_mut().unwrap().remove(field);
    record
}

#[track_caller]
fn rejected(record: &Value, field: &str, reason_part: &str) -> RecordError {
    let err = parse_one(record).expect_err("should be rejected");
    assert_eq!(err.field.as_deref(), Some(field), "{err}");
    assert!(
        err.reason.contains(reason_part),
        "reason {:?} lacks {reason_part:?}",
        err.reason
    );
    assert_eq!(err.line, 1);
    err
}

#[test]
fn a_valid_record_is_normalized() {
    let r = parse_one(&valid()).unwrap();
    assert_eq!(r.id.as_deref(), Some("r-1"));
    assert_eq!(r.ts_ms, 1_796_414_595_123);
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/v1/orders/42?x=1");
    assert_eq!(r.status, 200);
    assert_eq!(r.latency_ms, 12.5);
    assert_eq!((r.request_bytes, r.response_bytes), (310, 2048));
    assert_eq!(r.client_ip.to_string(), "203.0.113.9");
    assert_eq!(r.country.as_deref(), Some("DE"));
    let geo = r.geo.unwrap();
    assert_eq!((geo.lat, geo.lon), (52.5, 13.4));
    assert_eq!(r.api_key, Some(fp().fingerprint("sk_live_SECRET_KEY_123")));
    assert_eq!(r.token, Some(fp().fingerprint("eyJSECRET.TOKEN.sig")));
    assert_eq!(r.user_agent.as_deref(), Some("curl/8.5"));
}

#[test]
fn both_timestamp_forms() {
    let text = parse_one(&with("ts", json!("2026-12-04T21:03:15.123+01:00"))).unwrap();
    let epoch = parse_one(&with("ts", json!(1_796_414_595_123_i64))).unwrap();
    assert_eq!(text.ts_ms, 1_796_414_595_123);
    assert_eq!(epoch.ts_ms, text.ts_ms);
    rejected(&with("ts", json!("04/12/2026")), "ts", "RFC 3339");
    rejected(
        &with("ts", json!("2026-12-04T20:03:15")),
        "ts",
        "with a UTC offset",
    );
    rejected(&with("ts", json!(1.5)), "ts", "epoch milliseconds");
    rejected(&with("ts", json!(true)), "ts", "got true");
    rejected(&without("ts"), "ts", "missing required field");
}

#[test]
fn status_rule() {
    let err = rejected(&with("status", json!(700)), "status", "integer 100..=599");
    assert!(err.reason.contains("got 700"), "{}", err.reason);
    rejected(&with("status", json!(99)), "status", "100..=599");
    rejected(&with("status", json!("200")), "status", "got \"200\"");
    rejected(&with("status", json!(200.5)), "status", "100..=599");
    rejected(&without("status"), "status", "missing required field");
    assert_eq!(parse_one(&with("status", json!(599))).unwrap().status, 599);
}

#[test]
fn latency_and_size_rules() {
    rejected(&with("latency_ms", json!(-1)), "latency_ms", "number >= 0");
    rejected(
        &with("latency_ms", json!("fast")),
        "latency_ms",
        "number >= 0",
    );
    assert_eq!(
        parse_one(&with("latency_ms", json!(0))).unwrap().latency_ms,
        0.0
    );
    rejected(
        &with("request_bytes", json!(-5)),
        "request_bytes",
        "integer >= 0",
    );
    rejected(
        &with("response_bytes", json!(1.25)),
        "response_bytes",
        "integer >= 0",
    );
    rejected(
        &without("response_bytes"),
        "response_bytes",
        "missing required field",
    );
}

#[test]
fn client_ip_rule() {
    let v6 = parse_one(&with("client_ip", json!("2001:db8::1"))).unwrap();
    assert_eq!(v6.client_ip.to_string(), "2001:db8::1");
    rejected(
        &with("client_ip", json!("300.1.1.1")),
        "client_ip",
        "IPv4 or IPv6",
    );
    rejected(
        &with("client_ip", json!(12345)),
        "client_ip",
        "IPv4 or IPv6",
    );
    rejected(&without("client_ip"), "client_ip", "missing required field");
}

#[test]
fn country_and_geo_rules() {
    rejected(&with("country", json!("DEU")), "country", "alpha-2");
    rejected(&with("country", json!("d1")), "country", "alpha-2");
    assert_eq!(parse_one(&without("country")).unwrap().country, None);
    rejected(&without("lat"), "lat", "come together");
    rejected(&without("lon"), "lon", "come together");
    rejected(&with("lat", json!(91)), "lat", "-90..=90");
    rejected(&with("lon", json!(-180.5)), "lon", "-180..=180");
    let mut no_geo = without("lat");
    no_geo.as_object_mut().unwrap().remove("lon");
    assert_eq!(parse_one(&no_geo).unwrap().geo, None);
}

#[test]
fn method_and_path_rules() {
    rejected(&with("method", json!("")), "method", "HTTP method token");
    rejected(
        &with("method", json!("GE T")),
        "method",
        "HTTP method token",
    );
    rejected(&without("method"), "method", "missing required field");
    rejected(&with("path", json!("")), "path", "non-empty string");
    rejected(&without("path"), "path", "missing required field");
    assert_eq!(
        parse_one(&with("method", json!("PROPFIND")))
            .unwrap()
            .method,
        "PROPFIND"
    );
}

#[test]
fn optional_strings() {
    for field in ["id", "api", "host", "user", "user_agent"] {
        rejected(&with(field, json!(5)), field, "expected string");
        let absent = parse_one(&without(field)).unwrap();
        let empty = parse_one(&with(field, json!(""))).unwrap();
        let null = parse_one(&with(field, Value::Null)).unwrap();
        assert_eq!(absent, empty, "{field}: empty string means absent");
        assert_eq!(absent, null, "{field}: null means absent");
    }
}

#[test]
fn duplicate_fields_are_refused() {
    let line = br#"{"ts":1,"method":"GET","path":"/","status":200,"status":500,"latency_ms":1,"request_bytes":0,"response_bytes":0,"client_ip":"1.2.3.4"}"#;
    let results = parse_bytes(line, InputFormat::Ndjson, &fp());
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.field.as_deref(), Some("status"));
    assert!(err.reason.contains("more than once"));
}

#[test]
fn secrets_never_appear_in_output() {
    let record = parse_one(&valid()).unwrap();
    let shown = format!("{record:?} {}", serde_json::to_string(&record).unwrap());
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("fp:"));
    // A wrongly typed secret is reported by type only.
    let err = rejected(
        &with("api_key", json!(12345678)),
        "api_key",
        "expected string",
    );
    assert!(!err.to_string().contains("12345678"), "{err}");
    let err = rejected(
        &with("token", json!(["SECRET"])),
        "token",
        "expected string",
    );
    assert!(!err.to_string().contains("SECRET"), "{err}");
    // The secret is never part of a reason even when another field breaks.
    let err = parse_one(&with("status", json!(0))).unwrap_err();
    assert!(!err.to_string().contains("SECRET"));
}

#[test]
fn json_array_single_object_and_positions() {
    let good = valid();
    let bad = with("status", json!(1000));
    let body = serde_json::to_vec(&json!([good, bad, 7, good])).unwrap();
    let results = parse_bytes(&body, InputFormat::Json, &fp());
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[3].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (2, Some("status")));
    let not_object = results[2].as_ref().unwrap_err();
    assert_eq!((not_object.line, not_object.field.as_deref()), (3, None));
    assert!(
        not_object.reason.contains("record object"),
        "{}",
        not_object.reason
    );

    let pretty = serde_json::to_vec_pretty(&good).unwrap();
    let single = parse_bytes(&pretty, InputFormat::Json, &fp());
    assert_eq!(single.len(), 1);
    assert!(single[0].is_ok());
}

#[test]
fn json_syntax_error_keeps_earlier_elements() {
    let good = serde_json::to_string(&valid()).unwrap();
    let body = format!("[{good},{good},{{\"ts\": oops}}, {good}]");
    let results = parse_bytes(body.as_bytes(), InputFormat::Json, &fp());
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[1].is_ok());
    let err = results[2].as_ref().unwrap_err();
    assert_eq!(err.line, 3);
    assert!(err.reason.starts_with("invalid JSON"), "{}", err.reason);
}

#[test]
fn msgpack_array_and_single_map() {
    let good = valid();
    let bad = without("method");
    let body = rmp_serde::to_vec_named(&vec![good.clone(), bad, good.clone()]).unwrap();
    let results = parse_bytes(&body, InputFormat::MsgPack, &fp());
    assert_eq!(results.len(), 3);
    let json_record = parse_one(&good).unwrap();
    assert_eq!(results[0].as_ref().unwrap(), &json_record);
    assert_eq!(
        results[1].as_ref().unwrap_err().field.as_deref(),
        Some("method")
    );
    let single = rmp_serde::to_vec_named(&good).unwrap();
    assert_eq!(
        parse_bytes(&single, InputFormat::MsgPack, &fp()),
        vec![Ok(json_record)]
    );
    let truncated = &body[..body.len() - 10];
    let results = parse_bytes(truncated, InputFormat::MsgPack, &fp());
    assert!(results[0].is_ok() && results[1].is_err());
    let last = results.last().unwrap().as_ref().unwrap_err();
    assert!(
        last.reason.starts_with("invalid MessagePack"),
        "{}",
        last.reason
    );
}

#[test]
fn ndjson_lines_blank_lines_and_crlf() {
    let good = serde_json::to_string(&valid()).unwrap();
    let body = format!("{good}\r\n\n   \n{{\"ts\":\n{good}\n");
    let results = parse_bytes(body.as_bytes(), InputFormat::Ndjson, &fp());
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().line, 4);
    assert!(results[1]
        .as_ref()
        .unwrap_err()
        .reason
        .starts_with("invalid JSON"));
    assert!(results[2].is_ok());
    let streamed: Vec<_> = RecordReader::new(body.as_bytes(), InputFormat::Ndjson, fp()).collect();
    assert_eq!(streamed, results);
    let trailing = parse_bytes(
        format!("{good} {good}").as_bytes(),
        InputFormat::Ndjson,
        &fp(),
    );
    assert!(trailing[0]
        .as_ref()
        .unwrap_err()
        .reason
        .contains("after the record"));
}

#[test]
fn nginx_json_preset() {
    let line = r#"{"time_iso8601":"2026-12-04T21:03:15+01:00","remote_addr":"198.51.100.4","request_method":"post","request_uri":"/v1/login?next=%2F","status":401,"request_time":0.042,"request_length":512,"bytes_sent":230,"http_host":"api.example.com","http_user_agent":"python-requests/2.31","remote_user":"-","http_authorization":"Bearer SECRETJWT","http_x_api_key":"","request_id":"7f3a","geoip_country_code":"fr","extra":"ignored"}"#;
    let results = parse_bytes(line.as_bytes(), InputFormat::NginxJson, &fp());
    let r = results[0].as_ref().unwrap();
    assert_eq!(r.ts_ms, 1_796_414_595_000);
    assert_eq!(r.client_ip.to_string(), "198.51.100.4");
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/login?next=%2F")
    );
    assert_eq!(r.status, 401);
    assert!((r.latency_ms - 42.0).abs() < 1e-9);
    assert_eq!((r.request_bytes, r.response_bytes), (512, 230));
    assert_eq!(r.host.as_deref(), Some("api.example.com"));
    assert_eq!(r.user, None, "`-` is absent");
    assert_eq!(r.api_key, None, "empty is absent");
    assert_eq!(r.token, Some(fp().fingerprint("SECRETJWT")));
    assert_eq!(r.id.as_deref(), Some("7f3a"));
    assert_eq!(r.country.as_deref(), Some("FR"));
    assert!(!format!("{r:?}").contains("SECRET"));

    // Alternative variables: msec, upstream times, body_bytes_sent, $request, numbers as strings.
    let alt = r#"{"msec":"1796414595.123","remote_addr":"10.0.0.1","request":"GET /a b HTTP/1.1","status":"204","upstream_response_time":"0.010, 0.005","body_bytes_sent":"0","http_x_request_id":"x1","server_name":"s"}"#;
    let r = parse_bytes(alt.as_bytes(), InputFormat::NginxJson, &fp())
        .remove(0)
        .unwrap();
    assert_eq!(r.ts_ms, 1_796_414_595_123);
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/a b"));
    assert_eq!(r.status, 204);
    assert!((r.latency_ms - 15.0).abs() < 1e-9);
    assert_eq!((r.request_bytes, r.response_bytes), (0, 0));
    assert_eq!(r.id.as_deref(), Some("x1"));
    assert_eq!(r.host.as_deref(), Some("s"));

    let bad = r#"{"time_iso8601":"2026-12-04T21:03:15+01:00","remote_addr":"10.0.0.1","request_method":"GET","request_uri":"/","status":"abc"}"#;
    let err = parse_bytes(bad.as_bytes(), InputFormat::NginxJson, &fp())
        .remove(0)
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("status"));
    let no_time =
        r#"{"remote_addr":"10.0.0.1","request_method":"GET","request_uri":"/","status":200}"#;
    let err = parse_bytes(no_time.as_bytes(), InputFormat::NginxJson, &fp())
        .remove(0)
        .unwrap_err();
    assert_eq!(err.field.as_deref(), Some("time_iso8601"));
}

#[test]
fn combined_preset_reports_log_line_numbers() {
    let body = "\
10.1.1.1 - - [10/Oct/2000:13:55:36 -0700] \"GET /a HTTP/1.1\" 200 10 \"-\" \"ua\"\n\
\n\
garbage line\n\
10.1.1.2 - bob [10/Oct/2000:13:55:37 -0700] \"POST /b HTTP/1.1\" 500 - \"-\" \"ua\" 0.250\n";
    let results = parse_bytes(body.as_bytes(), InputFormat::Combined, &fp());
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok());
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (3, Some("client_ip")));
    let r = results[2].as_ref().unwrap();
    assert_eq!(
        (r.status, r.response_bytes, r.user.as_deref()),
        (500, 0, Some("bob"))
    );
    assert!((r.latency_ms - 250.0).abs() < 1e-9);
}

#[test]
fn json_body_with_values_back_to_back() {
    let good = serde_json::to_string(&valid()).unwrap();
    let pretty = serde_json::to_string_pretty(&valid()).unwrap();
    let bad = serde_json::to_string(&without("path")).unwrap();
    let body = format!("{good}\n{bad}\n{pretty}\n[{good},{good}]\n");
    let results = parse_bytes(body.as_bytes(), InputFormat::Json, &fp());
    assert_eq!(results.len(), 5);
    let err = results[1].as_ref().unwrap_err();
    assert_eq!((err.line, err.field.as_deref()), (2, Some("path")));
    assert!(results.iter().enumerate().all(|(i, r)| i == 1 || r.is_ok()));
    let garbage = format!("{good} ]");
    let results = parse_bytes(garbage.as_bytes(), InputFormat::Json, &fp());
    assert!(results[0].is_ok());
    assert_eq!(results[1].as_ref().unwrap_err().line, 2);
}

#[test]
fn json_syntax_errors_in_a_line_give_the_column() {
    let results = parse_bytes(b"\n{\"ts\": oops}\n", InputFormat::Ndjson, &fp());
    let err = results[0].as_ref().unwrap_err();
    assert_eq!(err.line, 2);
    assert_eq!(err.reason, "invalid JSON at column 8: expected value");
    assert_eq!(
        err.to_string(),
        "line 2: invalid JSON at column 8: expected value"
    );
}
