//! API discovery: which API a record belongs to, and which endpoint template
//! (`GET /v1/accounts/{id}`) its path is an instance of.
//!
//! Two layers fold the variable parts of a path. Simple rules recognise the
//! obvious identifiers (numbers, UUIDs, hashes, tokens, e-mails) everywhere.
//! A per-API [`EndpointCatalog`], learned in training, then folds positions
//! that the rules miss but that clearly hold identifiers because they take
//! many distinct values under the same prefix (`/users/alice`, `/users/bob`).

use apiwarden_record::AccessRecord;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The placeholder of a folded segment.
pub const ID_PLACEHOLDER: &str = "{id}";
/// The template every path maps to once an API's catalog is full.
pub const UNKNOWN_TEMPLATE: &str = "/{unknown}";

/// Paths deeper than this are cut (the rest is folded into one `{rest}` segment)
/// so a hostile path cannot make templates arbitrarily long.
const MAX_SEGMENTS: usize = 16;
/// Literal segments longer than this are identifiers whatever their alphabet.
const MAX_LITERAL_SEGMENT: usize = 48;

/// The API a record belongs to: its `api` field when present; otherwise
/// derived from the `Host` header (`shop.example.com` → `shop`,
/// `api.acme.io` → `acme`); with no usable host, the first path segment;
/// else `"default"`. Pure and stateless: the service routes by it.
pub fn api_name(rec: &AccessRecord) -> String {
    api_name_cow(rec).into_owned()
}

/// [`api_name`] without allocating when the record names its API.
pub fn api_name_cow(rec: &AccessRecord) -> std::borrow::Cow<'_, str> {
    if let Some(api) = rec.api.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        return std::borrow::Cow::Borrowed(api);
    }
    std::borrow::Cow::Owned(derived_api_name(rec))
}

/// [`api_name`] that remembers the name the last Host header gave: a stream
/// of records without an `api` field repeats a few hosts, and deriving the
/// name (trim, port, IP check, labels) costs more than comparing the host.
#[derive(Debug, Default)]
pub(crate) struct ApiNamer {
    /// The last host that named an API, and that name (empty: none yet).
    host: String,
    from_host: String,
    /// The name of the record at hand when neither its field nor its host gave one.
    other: String,
}

impl ApiNamer {
    pub(crate) fn name<'a>(&'a mut self, rec: &'a AccessRecord) -> &'a str {
        if let Some(api) = rec.api.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
            return api;
        }
        if let Some(host) = rec.host.as_deref() {
            if !self.from_host.is_empty() && host == self.host {
                return &self.from_host;
            }
            if let Some(name) = api_from_host(host) {
                self.host.clear();
                self.host.push_str(host);
                self.from_host = name;
                return &self.from_host;
            }
        }
        self.other = derived_api_name(rec);
        &self.other
    }
}

fn derived_api_name(rec: &AccessRecord) -> String {
    if let Some(name) = rec.host.as_deref().and_then(api_from_host) {
        return name;
    }
    let path = path_without_query(&rec.path);
    normalized_segments(path)
        .first()
        .filter(|s| !is_identifier(s))
        .map(|s| sanitize_name(s))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn api_from_host(host: &str) -> Option<String> {
    // Runs on every record without an `api` field: lower-cased copy only
    // when the host has capitals, labels walked without collecting them.
    let host = host.trim();
    let lowered;
    let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
        lowered = host.to_ascii_lowercase();
        lowered.as_str()
    } else {
        host
    };
    let host = strip_port(host);
    if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let mut left = host.split('.').filter(|l| !l.is_empty()).count();
    let mut labels = host.split('.').filter(|l| !l.is_empty());
    let mut label = labels.next()?;
    // Skip generic leading labels, but keep at least "name.tld".
    while left > 2 && matches!(label, "www" | "api") {
        label = labels.next()?;
        left -= 1;
    }
    let name = sanitize_name(label);
    (!name.is_empty()).then_some(name)
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: "[::1]:8080".
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

fn sanitize_name(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The path without its query string or fragment.
pub fn path_without_query(path: &str) -> &str {
    // Byte search: '?' and '#' are ASCII, so the cut is on a char boundary.
    let end = path
        .bytes()
        .position(|b| b == b'?' || b == b'#')
        .unwrap_or(path.len());
    path.get(..end).unwrap_or(path)
}

/// Length of the query string (after `?`), 0 when none.
pub fn query_len(path: &str) -> usize {
    match path.find('?') {
        Some(i) => path.len() - i - 1,
        None => 0,
    }
}

/// Path segments after resolving `.`, `..`, `//` and trailing slashes.
/// At most [`MAX_SEGMENTS`]; a deeper path ends in a `{rest}` segment.
pub fn normalized_segments(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    if out.len() > MAX_SEGMENTS {
        out.truncate(MAX_SEGMENTS - 1);
        out.push("{rest}");
    }
    out
}

/// Whether a path segment is an identifier by its form alone: a number, a
/// UUID, a hex hash, a base64-ish token, an e-mail, a long mix of letters and
/// digits, a date.
pub fn is_identifier(seg: &str) -> bool {
    let len = seg.len();
    if len == 0 {
        return false;
    }
    if len > MAX_LITERAL_SEGMENT {
        return true;
    }
    let bytes = seg.as_bytes();
    // Most segments are words ("orders", "cart", "line-items"): of the rules
    // below, only a UUID or a long hex string can match one.
    if bytes
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
    {
        return is_uuid(bytes) || (len >= 16 && bytes.iter().all(u8::is_ascii_hexdigit));
    }
    // One pass gathers what every rule below asks (it runs on every
    // segment of every record).
    let (mut digits, mut alpha, mut upper, mut lower) = (0usize, 0usize, 0usize, 0usize);
    let (mut all_hex, mut all_date, mut tokenish) = (true, true, true);
    let (mut at, mut dot) = (false, false);
    for &b in bytes {
        let digit = b.is_ascii_digit();
        digits += usize::from(digit);
        upper += usize::from(b.is_ascii_uppercase());
        lower += usize::from(b.is_ascii_lowercase());
        all_hex &= b.is_ascii_hexdigit();
        all_date &= digit || b"-_.:".contains(&b);
        tokenish &= b.is_ascii_alphanumeric() || b"-_=+~.%".contains(&b);
        at |= b == b'@';
        dot |= b == b'.';
    }
    alpha += upper + lower;
    if digits == len {
        return true;
    }
    if is_uuid(bytes) {
        return true;
    }
    if len >= 16 && all_hex {
        return true;
    }
    if at && dot {
        return true;
    }
    // Dates, versions of records, "2024-01-31", "12:30": digits and separators.
    if digits >= 4 && all_date {
        return true;
    }
    if !tokenish {
        return false;
    }
    // Base64-ish tokens and long mixed identifiers ("ord_8f3a91c2", "AbC9xYz...").
    if digits > 0 && alpha > 0 && len >= 8 {
        return true;
    }
    len >= 20 && upper > 0 && lower > 0 && (digits > 0 || upper * 4 >= len)
}

fn is_uuid(b: &[u8]) -> bool {
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether an endpoint authenticates (login, token, password, session...).
pub fn is_auth_path(template: &str) -> bool {
    let t = template.to_ascii_lowercase();
    [
        "login", "signin", "sign-in", "sign_in", "token", "oauth", "auth", "session", "password",
    ]
    .iter()
    .any(|k| t.contains(k))
}

/// A path turned into a template, with the object id it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templated {
    /// `/v1/accounts/{id}`; `/` for the root.
    pub template: String,
    /// The value of the last folded segment.
    pub object_id: Option<String>,
}

/// Learned folds of one API: which (prefix, position) hold identifiers.
///
/// Bounded: at most `max_prefixes` prefixes are tracked while learning and
/// each keeps at most `fold_after + 1` distinct values, so a scanner's random
/// paths cannot blow it up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EndpointCatalog {
    /// Template prefixes (e.g. `/users`) whose next segment is an identifier.
    folded_prefixes: BTreeSet<String>,
}

/// Learns an [`EndpointCatalog`] from training paths.
#[derive(Debug, Clone)]
pub struct CatalogBuilder {
    fold_after: usize,
    max_prefixes: usize,
    /// Distinct literal values seen after each prefix (until it folds).
    values: BTreeMap<String, BTreeSet<String>>,
    folded: BTreeSet<String>,
}

impl CatalogBuilder {
    /// `fold_after`: a position is folded once it has shown more than this many
    /// distinct literal values under the same prefix.
    pub fn new(fold_after: usize, max_prefixes: usize) -> Self {
        CatalogBuilder {
            fold_after: fold_after.max(1),
            max_prefixes: max_prefixes.max(1),
            values: BTreeMap::new(),
            folded: BTreeSet::new(),
        }
    }

    pub fn observe(&mut self, path: &str) {
        let segments = normalized_segments(path_without_query(path));
        let mut prefix = String::new();
        for seg in segments {
            let folded = if is_identifier(seg) || self.folded.contains(&prefix) {
                true
            } else {
                self.learn(&prefix, seg)
            };
            prefix.push('/');
            prefix.push_str(if folded { ID_PLACEHOLDER } else { seg });
        }
    }

    /// Records `seg` after `prefix`; true when this makes the position fold.
    fn learn(&mut self, prefix: &str, seg: &str) -> bool {
        if !self.values.contains_key(prefix) && self.values.len() >= self.max_prefixes {
            return false;
        }
        let set = self.values.entry(prefix.to_string()).or_default();
        if set.len() <= self.fold_after && !set.contains(seg) {
            set.insert(seg.to_string());
        }
        if set.len() > self.fold_after {
            self.values.remove(prefix);
            self.folded.insert(prefix.to_string());
            return true;
        }
        false
    }

    pub fn finish(self) -> EndpointCatalog {
        EndpointCatalog {
            folded_prefixes: self.folded,
        }
    }
}

impl EndpointCatalog {
    /// The template of a raw path (query stripped, ids folded).
    pub fn template(&self, path: &str) -> Templated {
        let path = path_without_query(path);
        // The segments on the stack: this runs on every record. A path
        // with more than fit (even if `..` would bring it back under the
        // cap) takes the general way.
        let mut stack = [""; MAX_SEGMENTS + 1];
        let mut n: usize = 0;
        for seg in path.split('/') {
            match seg {
                "" | "." => {}
                ".." => n = n.saturating_sub(1),
                s => match stack.get_mut(n) {
                    Some(slot) => {
                        *slot = s;
                        n += 1;
                    }
                    None => return self.template_of(&normalized_segments(path)),
                },
            }
        }
        if n > MAX_SEGMENTS {
            return self.template_of(&normalized_segments(path));
        }
        self.template_of(stack.get(..n).unwrap_or(&[]))
    }

    fn template_of(&self, segments: &[&str]) -> Templated {
        let mut template =
            String::with_capacity(segments.iter().map(|s| s.len() + 1).sum::<usize>().min(128) + 1);
        let mut object_id = None;
        for &seg in segments {
            if is_identifier(seg) || self.folded_prefixes.contains(template.as_str()) {
                object_id = Some(seg);
                template.push('/');
                template.push_str(ID_PLACEHOLDER);
            } else {
                template.push('/');
                template.push_str(seg);
            }
        }
        if template.is_empty() {
            template.push('/');
        }
        Templated {
            template,
            object_id: object_id.map(str::to_string),
        }
    }

    pub fn folded_prefixes(&self) -> usize {
        self.folded_prefixes.len()
    }
}

/// `GET /v1/accounts/{id}`.
pub fn endpoint_name(method: &str, template: &str) -> String {
    let mut s = String::with_capacity(method.len() + 1 + template.len());
    s.push_str(method);
    s.push(' ');
    s.push_str(template);
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rec(api: Option<&str>, host: Option<&str>, path: &str) -> AccessRecord {
        AccessRecord {
            api: api.map(str::to_string),
            host: host.map(str::to_string),
            path: path.into(),
            ..AccessRecord::example()
        }
    }

    #[test]
    fn api_name_prefers_the_field_then_host_then_path() {
        assert_eq!(
            api_name(&rec(Some("payments"), Some("x.io"), "/a")),
            "payments"
        );
        assert_eq!(api_name(&rec(None, Some("shop.example.com"), "/a")), "shop");
        assert_eq!(api_name(&rec(None, Some("api.acme.io:8443"), "/a")), "acme");
        assert_eq!(
            api_name(&rec(None, Some("www.Example.com"), "/a")),
            "example"
        );
        assert_eq!(api_name(&rec(None, Some("api.io"), "/a")), "api");
        assert_eq!(
            api_name(&rec(None, Some("10.1.2.3:80"), "/orders/7")),
            "orders"
        );
        assert_eq!(
            api_name(&rec(None, Some("[::1]:80"), "/orders/7")),
            "orders"
        );
        assert_eq!(api_name(&rec(None, None, "/billing/v1/x")), "billing");
        assert_eq!(api_name(&rec(None, None, "/12345/x")), "default");
        assert_eq!(api_name(&rec(None, None, "/")), "default");
        assert_eq!(api_name(&rec(Some("  "), None, "/")), "default");
    }

    /// The collecting version of [`api_from_host`], the oracle of its test.
    fn api_from_host_by_collecting(host: &str) -> Option<String> {
        let host = host.trim().to_ascii_lowercase();
        let host = strip_port(&host);
        if host.is_empty() || host.parse::<std::net::IpAddr>().is_ok() {
            return None;
        }
        let labels: Vec<&str> = host.split('.').filter(|l| !l.is_empty()).collect();
        let mut start = 0;
        while start < labels.len()
            && labels.len() - start > 2
            && matches!(labels[start], "www" | "api")
        {
            start += 1;
        }
        let name: String = labels
            .get(start)?
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(64)
            .collect::<String>()
            .to_ascii_lowercase();
        (!name.is_empty()).then_some(name)
    }

    #[test]
    fn the_api_namer_names_as_api_name_does() {
        let mut namer = ApiNamer::default();
        for (api, host, path) in [
            (None, Some("shop.example.com"), "/a"),
            (None, Some("shop.example.com"), "/b"),
            (Some("payments"), Some("shop.example.com"), "/a"),
            (None, Some("shop.example.com"), "/a"),
            (None, Some("10.1.2.3:80"), "/orders/7"),
            (None, Some("shop.example.com"), "/a"),
            (None, None, "/billing/v1/x"),
            (None, Some("api.acme.io:8443"), "/a"),
            (None, Some("10.1.2.3:80"), "/12345/x"),
            (Some("  "), Some("api.acme.io:8443"), "/a"),
            (None, Some(""), "/users/1"),
        ] {
            let r = rec(api, host, path);
            assert_eq!(namer.name(&r), api_name(&r), "{api:?} {host:?} {path}");
        }
    }

    proptest! {
        #[test]
        fn api_from_host_agrees_with_collecting_labels(
            host in "[ a-zA-Z0-9.:\\[\\]_é-]{0,24}|((www|WWW|api|Api)\\.){0,3}[a-z]{1,6}(\\.[a-z]{1,3}){0,2}(:[0-9]{1,4})?"
        ) {
            prop_assert_eq!(api_from_host(&host), api_from_host_by_collecting(&host));
        }
    }

    #[test]
    fn identifiers_are_recognised_by_form() {
        for id in [
            "1002",
            "550e8400-e29b-41d4-a716-446655440000",
            "9f86d081884c7d659a2feaa0c55ad015",
            "alice@example.com",
            "ord_8f3a91c2",
            "2024-01-31",
            "eyJhbGciOiJIUzI1NiJ9",
        ] {
            assert!(is_identifier(id), "{id} should be an identifier");
        }
        for word in [
            "v1",
            "accounts",
            "oauth2",
            "invoices",
            "wp-login.php",
            ".env",
            "me",
        ] {
            assert!(!is_identifier(word), "{word} should stay literal");
        }
    }

    #[test]
    fn templates_fold_ids_and_keep_the_last_as_object_id() {
        let cat = EndpointCatalog::default();
        let t = cat.template("/v1/accounts/1002/invoices/77?page=2");
        assert_eq!(t.template, "/v1/accounts/{id}/invoices/{id}");
        assert_eq!(t.object_id.as_deref(), Some("77"));
        assert_eq!(cat.template("/").template, "/");
        assert_eq!(cat.template("").template, "/");
        assert_eq!(cat.template("//v1//x/").template, "/v1/x");
        assert_eq!(cat.template("/v1/a/../b/./c").template, "/v1/b/c");
        assert_eq!(cat.template("/../../etc/passwd").template, "/etc/passwd");
        assert_eq!(cat.template("/v1/x").object_id, None);
    }

    #[test]
    fn catalog_folds_high_cardinality_positions() {
        let mut b = CatalogBuilder::new(20, 1000);
        for name in ["alice", "bob", "carol"] {
            b.observe(&format!("/users/{name}/profile"));
        }
        for i in 0..30 {
            b.observe(&format!(
                "/users/user{}x/profile",
                "abcdefghijklmnopqrstuvwxyz".chars().nth(i % 26).unwrap()
            ));
            b.observe(&format!("/users/name-{i}-z/profile"));
        }
        b.observe("/v1/health");
        b.observe("/v1/status");
        let cat = b.finish();
        let t = cat.template("/users/dave/profile");
        assert_eq!(t.template, "/users/{id}/profile");
        assert_eq!(t.object_id.as_deref(), Some("dave"));
        assert_eq!(cat.template("/v1/health").template, "/v1/health");
    }

    #[test]
    fn catalog_learning_is_bounded() {
        let mut b = CatalogBuilder::new(5, 10);
        for i in 0..10_000 {
            b.observe(&format!("/scan{i}/a{i}/b"));
        }
        assert!(b.values.len() <= 10);
        assert!(b.values.values().all(|s| s.len() <= 6));
    }

    #[test]
    fn auth_endpoints_are_recognised() {
        assert!(is_auth_path("/oauth/token"));
        assert!(is_auth_path("/login"));
        assert!(is_auth_path("/users/{id}/password/reset"));
        assert!(!is_auth_path("/v1/accounts/{id}"));
    }

    /// The rules of [`is_identifier`] one at a time, as first written: the
    /// one-pass version must agree with them on every segment.
    fn is_identifier_by_rules(seg: &str) -> bool {
        let len = seg.len();
        if len == 0 {
            return false;
        }
        if len > MAX_LITERAL_SEGMENT {
            return true;
        }
        let bytes = seg.as_bytes();
        let digits = bytes.iter().filter(|b| b.is_ascii_digit()).count();
        let alpha = bytes.iter().filter(|b| b.is_ascii_alphabetic()).count();
        if digits == len {
            return true;
        }
        if is_uuid(bytes) {
            return true;
        }
        if len >= 16 && bytes.iter().all(u8::is_ascii_hexdigit) {
            return true;
        }
        if seg.contains('@') && seg.contains('.') {
            return true;
        }
        // Dates, versions of records, "2024-01-31", "12:30": digits and separators.
        if digits >= 4
            && bytes
                .iter()
                .all(|b| b.is_ascii_digit() || b"-_.:".contains(b))
        {
            return true;
        }
        let tokenish = bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"-_=+~.%".contains(b));
        if !tokenish {
            return false;
        }
        // Base64-ish tokens and long mixed identifiers ("ord_8f3a91c2", "AbC9xYz...").
        if digits > 0 && alpha > 0 && len >= 8 {
            return true;
        }
        let upper = bytes.iter().filter(|b| b.is_ascii_uppercase()).count();
        let lower = bytes.iter().filter(|b| b.is_ascii_lowercase()).count();
        len >= 20 && upper > 0 && lower > 0 && (digits > 0 || upper * 4 >= len)
    }

    /// [`normalized_segments`] joined as a template would be, before folding.
    fn joined(path: &str) -> String {
        let segs = normalized_segments(path_without_query(path));
        if segs.is_empty() {
            return "/".into();
        }
        segs.iter().map(|s| format!("/{s}")).collect()
    }

    #[test]
    fn dot_segments_and_deep_paths_template_as_normalized() {
        let cat = EndpointCatalog::default();
        for path in [
            "/a/./b/../c?x=1",
            "/../../a",
            "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t",
            "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/../../../..",
            "//a//b/",
            "",
            "?q",
        ] {
            assert_eq!(cat.template(path).template, joined(path), "{path}");
        }
    }

    proptest! {
        #[test]
        fn one_pass_identifier_rules_agree_with_the_rules(
            seg in "[a-zA-Z0-9@._:=+~%/-]{0,60}|.{0,20}|[a-z_-]{0,30}|[a-f]{14,18}|[a-f]{8}-[a-f]{4}-[a-f-]{4}-[a-f]{4}-[a-f]{12}"
        ) {
            prop_assert_eq!(is_identifier(&seg), is_identifier_by_rules(&seg));
        }

        #[test]
        fn templates_of_literal_paths_are_their_normalized_segments(path in "[a-z./?]{0,60}") {
            let cat = EndpointCatalog::default();
            prop_assert_eq!(cat.template(&path).template, joined(&path));
        }

        #[test]
        fn templating_never_panics_and_is_bounded(path in ".{0,400}") {
            let cat = EndpointCatalog::default();
            let t = cat.template(&path);
            prop_assert!(t.template.starts_with('/'));
            prop_assert!(t.template.matches('/').count() <= MAX_SEGMENTS);
            prop_assert!(!t.template.contains("//"));
        }

        #[test]
        fn api_name_never_panics(host in proptest::option::of(".{0,80}"), path in ".{0,80}") {
            let name = api_name(&rec(None, host.as_deref(), &path));
            prop_assert!(!name.is_empty());
        }
    }
}
