//! From exceeded features to a typed, explained verdict.

use crate::features::Feature;
use apiwarden_alert::{AttackType, Evidence, Severity};

pub const MAX_EVIDENCE: usize = 5;

/// One feature over its limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Exceeded {
    pub feature: Feature,
    /// The evidence's name when it is not the feature's own value (a fact about the record
    /// measured against training, say).
    pub label: Option<&'static str>,
    pub attack: AttackType,
    pub observed: f64,
    /// The training reference: the entity's own maximum, or its kind's.
    pub reference: f64,
    /// observed / limit (> 1).
    pub ratio: f64,
}

/// Precedence among attacks whose evidence is equally strong: specific signatures first,
/// volume last (most loud attacks also raise the request rate).
const PRECEDENCE: [AttackType; 6] = [
    AttackType::CredentialStuffing,
    AttackType::TokenMisuse,
    AttackType::Enumeration,
    AttackType::Probing,
    AttackType::DataExfiltration,
    AttackType::ApiDos,
];

/// Rate is a side effect of floods, scans, walks and stuffing alike: it must beat the
/// specific evidence by this factor to name the attack.
const RATE_DISCOUNT: f64 = 0.5;

/// The attack the evidence points at: the group whose strongest feature is furthest over
/// its limit.
pub(crate) fn attack_of(exceeded: &[Exceeded]) -> Option<AttackType> {
    let mut best: Option<(f64, usize)> = None;
    for e in exceeded {
        let weight = if e.attack == AttackType::ApiDos {
            RATE_DISCOUNT
        } else {
            1.0
        };
        let strength = e.ratio * weight;
        let rank = PRECEDENCE
            .iter()
            .position(|a| *a == e.attack)
            .unwrap_or(PRECEDENCE.len());
        let better = match best {
            None => true,
            Some((s, r)) => strength > s || (strength == s && rank < r),
        };
        if better {
            best = Some((strength, rank));
        }
    }
    best.and_then(|(_, r)| PRECEDENCE.get(r).copied())
}

pub(crate) fn severity_of(best_ratio: f64, n_exceeded: usize) -> Severity {
    if best_ratio >= 20.0 || n_exceeded >= 5 {
        Severity::Critical
    } else if best_ratio >= 5.0 || n_exceeded >= 3 {
        Severity::High
    } else if best_ratio >= 2.0 || n_exceeded >= 2 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

/// Strongest first, the named attack's own features ahead of side effects.
pub(crate) fn evidence_of(exceeded: &mut [Exceeded], attack: AttackType) -> Vec<Evidence> {
    exceeded.sort_by(|a, b| {
        (b.attack == attack)
            .cmp(&(a.attack == attack))
            .then(b.ratio.total_cmp(&a.ratio))
            .then(a.feature.cmp(&b.feature))
    });
    exceeded
        .iter()
        .take(MAX_EVIDENCE)
        .map(|e| Evidence {
            feature: e.label.unwrap_or(e.feature.name()).to_string(),
            observed: e.observed,
            baseline: e.reference,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(feature: Feature, ratio: f64) -> Exceeded {
        Exceeded {
            feature,
            label: None,
            attack: feature
                .gate()
                .map(|g| g.0)
                .unwrap_or(AttackType::AnomalousRequest),
            observed: ratio * 10.0,
            reference: 10.0,
            ratio,
        }
    }

    #[test]
    fn rate_alone_is_dos_but_loses_to_specific_evidence() {
        assert_eq!(
            attack_of(&[ex(Feature::Rate1m, 3.0)]),
            Some(AttackType::ApiDos)
        );
        assert_eq!(
            attack_of(&[
                ex(Feature::Rate1m, 5.0),
                ex(Feature::DistinctObjects10m, 3.0)
            ]),
            Some(AttackType::Enumeration)
        );
        assert_eq!(
            attack_of(&[
                ex(Feature::FailedLogins10m, 4.0),
                ex(Feature::NotFound10m, 4.0)
            ]),
            Some(AttackType::CredentialStuffing)
        );
        assert_eq!(attack_of(&[]), None);
    }

    #[test]
    fn evidence_puts_the_named_attack_first_and_caps_at_five() {
        let mut v = vec![
            ex(Feature::Rate1m, 9.0),
            ex(Feature::ResponseBytes10m, 4.0),
            ex(Feature::ResponseBytes2h, 6.0),
            ex(Feature::Rate10m, 2.0),
            ex(Feature::NotFound10m, 1.5),
            ex(Feature::Denied10m, 1.2),
        ];
        let e = evidence_of(&mut v, AttackType::DataExfiltration);
        assert_eq!(e.len(), MAX_EVIDENCE);
        assert_eq!(e[0].feature, "response_bytes_2h");
        assert_eq!(e[1].feature, "response_bytes_10m");
        assert_eq!(e[2].feature, "rate_1m");
    }

    #[test]
    fn severity_grows_with_ratio_and_breadth() {
        assert_eq!(severity_of(1.2, 1), Severity::Low);
        assert_eq!(severity_of(2.5, 1), Severity::Medium);
        assert_eq!(severity_of(6.0, 1), Severity::High);
        assert_eq!(severity_of(1.1, 3), Severity::High);
        assert_eq!(severity_of(30.0, 1), Severity::Critical);
    }
}
