//! The behavior features of an entity window: names, meaning, and which attack each one evidences.
//!
//! Counts named `_1m`, `_10m`, `_2h` are exponentially decayed with that time constant: at a
//! steady rate they read as the count over the last such period, and they fade smoothly.
//! Distinct counts named `_10m` / `_1h` cover the current and previous epoch of that length.

use apiwarden_alert::{AttackType, EntityKind};

pub const N_FEATURES: usize = 28;

/// Index of each feature in a feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(usize)]
pub enum Feature {
    /// Requests, 1 min decay: bursts and floods.
    Rate1m = 0,
    /// Requests, 10 min decay.
    Rate10m,
    /// Requests, 2 h decay: sustained volume.
    Requests2h,
    /// 401/403 answers on non-auth endpoints (object access refused), 10 min.
    Denied10m,
    /// Same, 2 h: slow walks through objects the entity does not own.
    Denied2h,
    /// 404 answers, 10 min: 404 storms.
    NotFound10m,
    /// All 4xx answers, 10 min.
    ClientErrors10m,
    /// The entity's 5xx ratio minus the API-wide 5xx ratio (>= 0): an outage hitting
    /// everyone does not make anyone odd.
    ServerErrorExcess10m,
    DistinctEndpoints10m,
    /// Distinct object ids (the folded `{id}` values).
    DistinctObjects10m,
    /// Consecutive numeric object ids 1..=3 apart (sequential id walk), 10 min.
    IdWalk10m,
    IdWalk2h,
    /// Response bytes, 10 min: data volume pulled.
    ResponseBytes10m,
    /// Same, 2 h: slow exfiltration over hours.
    ResponseBytes2h,
    /// Mean of response bytes / the endpoint's median bytes, 10 min: answers bigger than the
    /// endpoint's usual (oversized pages).
    ResponseBytesRatio10m,
    /// Distinct client IPs of a credential.
    DistinctIps1h,
    DistinctCountries1h,
    DistinctUserAgents1h,
    /// Fastest implied speed between consecutive geo points more than 500 km apart, last hour.
    TravelSpeedKmh,
    /// Distinct usernames among failed logins.
    FailedUsernames10m,
    /// Failed logins: auth endpoint answered 401/403.
    FailedLogins10m,
    FailedLogins2h,
    /// Requests to endpoints never seen in training.
    UnknownEndpoints10m,
    UnknownEndpoints2h,
    /// Methods outside GET/POST/PUT/PATCH/DELETE/HEAD.
    OddMethods10m,
    /// 1 - coefficient of variation of inter-arrival gaps (bots are regular), 0 until 10 requests.
    GapRegularity,
    /// Mean latency / the endpoint's median latency, 10 min.
    LatencyRatio10m,
    /// Requests to the entity's busiest endpoint (8 hashed endpoint buckets), 10 min:
    /// one endpoint hammered while the overall mix hides it.
    TopEndpointRate10m,
}

pub const ALL_FEATURES: [Feature; N_FEATURES] = [
    Feature::Rate1m,
    Feature::Rate10m,
    Feature::Requests2h,
    Feature::Denied10m,
    Feature::Denied2h,
    Feature::NotFound10m,
    Feature::ClientErrors10m,
    Feature::ServerErrorExcess10m,
    Feature::DistinctEndpoints10m,
    Feature::DistinctObjects10m,
    Feature::IdWalk10m,
    Feature::IdWalk2h,
    Feature::ResponseBytes10m,
    Feature::ResponseBytes2h,
    Feature::ResponseBytesRatio10m,
    Feature::DistinctIps1h,
    Feature::DistinctCountries1h,
    Feature::DistinctUserAgents1h,
    Feature::TravelSpeedKmh,
    Feature::FailedUsernames10m,
    Feature::FailedLogins10m,
    Feature::FailedLogins2h,
    Feature::UnknownEndpoints10m,
    Feature::UnknownEndpoints2h,
    Feature::OddMethods10m,
    Feature::GapRegularity,
    Feature::LatencyRatio10m,
    Feature::TopEndpointRate10m,
];

/// Impossible travel: faster than an airliner.
pub const IMPOSSIBLE_SPEED_KMH: f64 = 1000.0;

impl Feature {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Feature::Rate1m => "rate_1m",
            Feature::Rate10m => "rate_10m",
            Feature::Requests2h => "requests_2h",
            Feature::Denied10m => "denied_10m",
            Feature::Denied2h => "denied_2h",
            Feature::NotFound10m => "not_found_10m",
            Feature::ClientErrors10m => "client_errors_10m",
            Feature::ServerErrorExcess10m => "server_error_excess_10m",
            Feature::DistinctEndpoints10m => "distinct_endpoints_10m",
            Feature::DistinctObjects10m => "distinct_objects_10m",
            Feature::IdWalk10m => "id_walk_10m",
            Feature::IdWalk2h => "id_walk_2h",
            Feature::ResponseBytes10m => "response_bytes_10m",
            Feature::ResponseBytes2h => "response_bytes_2h",
            Feature::ResponseBytesRatio10m => "response_bytes_ratio_10m",
            Feature::DistinctIps1h => "distinct_ips_1h",
            Feature::DistinctCountries1h => "distinct_countries_1h",
            Feature::DistinctUserAgents1h => "distinct_user_agents_1h",
            Feature::TravelSpeedKmh => "travel_speed_kmh",
            Feature::FailedUsernames10m => "failed_usernames_10m",
            Feature::FailedLogins10m => "failed_logins_10m",
            Feature::FailedLogins2h => "failed_logins_2h",
            Feature::UnknownEndpoints10m => "unknown_endpoints_10m",
            Feature::UnknownEndpoints2h => "unknown_endpoints_2h",
            Feature::OddMethods10m => "odd_methods_10m",
            Feature::GapRegularity => "gap_regularity",
            Feature::LatencyRatio10m => "latency_ratio_10m",
            Feature::TopEndpointRate10m => "top_endpoint_rate_10m",
        }
    }

    /// The attack this feature is evidence of, and the smallest value that can ever count
    /// as evidence (so a kind whose training maximum is 0 still needs a real amount).
    /// Distinct-count floors sit between integers: the sketches estimate 2 items as ~2.03.
    /// `None`: the feature only feeds the models.
    pub fn gate(self) -> Option<(AttackType, f64)> {
        use AttackType::*;
        let g = match self {
            Feature::Rate1m => (ApiDos, 20.0),
            Feature::Rate10m => (ApiDos, 100.0),
            Feature::TopEndpointRate10m => (ApiDos, 60.0),
            Feature::Denied10m => (Enumeration, 15.0),
            Feature::Denied2h => (Enumeration, 30.0),
            Feature::NotFound10m => (Probing, 15.0),
            Feature::DistinctObjects10m => (Enumeration, 30.0),
            Feature::IdWalk10m => (Enumeration, 10.0),
            Feature::IdWalk2h => (Enumeration, 20.0),
            Feature::ResponseBytes10m => (DataExfiltration, 2e5),
            Feature::ResponseBytes2h => (DataExfiltration, 5e5),
            Feature::DistinctIps1h => (TokenMisuse, 3.5),
            Feature::DistinctCountries1h => (TokenMisuse, 1.5),
            Feature::DistinctUserAgents1h => (TokenMisuse, 2.5),
            Feature::TravelSpeedKmh => (TokenMisuse, IMPOSSIBLE_SPEED_KMH),
            Feature::FailedUsernames10m => (CredentialStuffing, 5.5),
            Feature::FailedLogins10m => (CredentialStuffing, 10.0),
            Feature::FailedLogins2h => (CredentialStuffing, 25.0),
            Feature::UnknownEndpoints10m => (Probing, 5.0),
            Feature::UnknownEndpoints2h => (Probing, 10.0),
            Feature::OddMethods10m => (Probing, 3.0),
            _ => return None,
        };
        Some(g)
    }

    /// Whether this feature may be evidence for this entity kind. Credential features only
    /// mean something for credentials; API-wide windows only speak for distributed stuffing
    /// (a marketing surge or a release moves every other API-wide number).
    pub fn gated_for(self, kind: EntityKind) -> Option<(AttackType, f64)> {
        let (attack, floor) = self.gate()?;
        let ok = match kind {
            // Only the short windows: the 2 h echo of an attack that stopped is no evidence
            // against the benign failed logins that follow it.
            EntityKind::Api => {
                attack == AttackType::CredentialStuffing && self != Feature::FailedLogins2h
            }
            EntityKind::Ip => attack != AttackType::TokenMisuse,
            EntityKind::User | EntityKind::ApiKey | EntityKind::Token => true,
        };
        ok.then_some((attack, floor))
    }
}

pub type FeatureVector = [f64; N_FEATURES];

/// `ln(1 + x)` of every feature: the forest and archetypes see orders of magnitude.
pub fn log_features(f: &FeatureVector) -> FeatureVector {
    let mut out = [0.0; N_FEATURES];
    for (o, v) in out.iter_mut().zip(f.iter()) {
        let x = v.max(0.0);
        // Most features of a window are zero, and `ln_1p(±0)` is that same zero: the
        // libm call is skipped, not the value changed.
        *o = if x == 0.0 { x } else { x.ln_1p() };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_features_are_ln_1p_bit_for_bit() {
        let mut f = [0.0; N_FEATURES];
        let values = [0.0, -0.0, -3.0, 1e-300, 0.5, 1.0, 7.0, 1e9, f64::NAN];
        for (i, v) in f.iter_mut().enumerate() {
            *v = values[i % values.len()];
        }
        for (got, v) in log_features(&f).iter().zip(f.iter()) {
            assert_eq!(got.to_bits(), v.max(0.0).ln_1p().to_bits(), "{v}");
        }
    }

    #[test]
    fn names_are_unique_and_indices_match() {
        let mut names: Vec<&str> = ALL_FEATURES.iter().map(|f| f.name()).collect();
        for (i, f) in ALL_FEATURES.iter().enumerate() {
            assert_eq!(f.index(), i);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), N_FEATURES);
    }

    #[test]
    fn every_attack_type_but_anomalous_request_has_evidence() {
        for attack in AttackType::ALL {
            let has = ALL_FEATURES
                .iter()
                .any(|f| f.gate().map(|g| g.0) == Some(attack));
            assert_eq!(has, attack != AttackType::AnomalousRequest, "{attack}");
        }
    }
}
