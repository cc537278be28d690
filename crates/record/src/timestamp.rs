//! Timestamp parsing on the hot path.
//!
//! The general RFC 3339 parser of the `time` crate costs more than the rest
//! of a record's validation, so the common shapes are parsed by hand here and
//! anything unusual falls back to it.

use crate::parse_rfc3339_ms;

/// Largest |epoch ms| we accept: the end of year 9999, as RFC 3339 can spell it.
pub(crate) const MAX_ABS_EPOCH_MS: i64 = 253_402_300_799_999;

/// RFC 3339 (`2026-12-04T20:03:15.123Z`, `...+01:00`) to epoch milliseconds.
pub(crate) fn rfc3339_ms(s: &str) -> Option<i64> {
    fast_rfc3339_ms(s.as_bytes()).or_else(|| parse_rfc3339_ms(s))
}

fn digits<const N: usize>(b: &[u8], at: usize) -> Option<i64> {
    let part = b.get(at..at + N)?;
    let mut n = 0i64;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(c - b'0');
    }
    Some(n)
}

fn expect(b: &[u8], at: usize, want: u8) -> Option<()> {
    (b.get(at) == Some(&want)).then_some(())
}

fn fast_rfc3339_ms(b: &[u8]) -> Option<i64> {
    let year = digits::<4>(b, 0)?;
    expect(b, 4, b'-')?;
    let month = digits::<2>(b, 5)?;
    expect(b, 7, b'-')?;
    let day = digits::<2>(b, 8)?;
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits::<2>(b, 11)?;
    expect(b, 13, b':')?;
    let minute = digits::<2>(b, 14)?;
    expect(b, 16, b':')?;
    let second = digits::<2>(b, 17)?;
    let mut at = 19;
    let mut millis = 0i64;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while let Some(c) = b.get(at).filter(|c| c.is_ascii_digit()) {
            if at - start < 3 {
                millis = millis * 10 + i64::from(c - b'0');
            }
            at += 1;
        }
        let count = at - start;
        if count == 0 {
            return None;
        }
        for _ in count..3 {
            millis *= 10;
        }
    }
    let offset_minutes = match b.get(at)? {
        b'Z' | b'z' if at + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if at + 6 == b.len() => {
            let oh = digits::<2>(b, at + 1)?;
            expect(b, at + 3, b':')?;
            let om = digits::<2>(b, at + 4)?;
            if oh > 23 || om > 59 {
                return None;
            }
            if *sign == b'-' {
                -(oh * 60 + om)
            } else {
                oh * 60 + om
            }
        }
        _ => return None,
    };
    // Leap seconds (:60) and anything else odd go to the general parser.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// Common Log Format time, `10/Oct/2000:13:55:36 -0700`, to epoch milliseconds.
pub(crate) fn clf_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26 {
        return None;
    }
    let day = digits::<2>(b, 0)?;
    expect(b, 2, b'/')?;
    let month = month_number(b.get(3..6)?)?;
    expect(b, 6, b'/')?;
    let year = digits::<4>(b, 7)?;
    expect(b, 11, b':')?;
    let hour = digits::<2>(b, 12)?;
    expect(b, 14, b':')?;
    let minute = digits::<2>(b, 15)?;
    expect(b, 17, b':')?;
    let second = digits::<2>(b, 18)?;
    expect(b, 20, b' ')?;
    let sign = match b.get(21)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let oh = digits::<2>(b, 22)?;
    let om = digits::<2>(b, 24)?;
    if day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
        || oh > 23
        || om > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let seconds =
        days * 86_400 + hour * 3_600 + minute * 60 + second - sign * (oh * 3_600 + om * 60);
    Some(seconds * 1_000)
}

fn month_number(name: &[u8]) -> Option<i64> {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(name))?;
    i64::try_from(index + 1).ok()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn common_shapes() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            rfc3339_ms("2025-12-04T20:03:15.123Z"),
            Some(1_764_878_595_123)
        );
        assert_eq!(
            rfc3339_ms("2025-12-04T21:03:15.123+01:00"),
            Some(1_764_878_595_123)
        );
        assert_eq!(
            rfc3339_ms("2025-12-04T20:03:15.1Z"),
            Some(1_764_878_595_100)
        );
        assert_eq!(
            rfc3339_ms("2025-12-04T20:03:15.123456789Z"),
            Some(1_764_878_595_123)
        );
        assert_eq!(rfc3339_ms("2024-02-29T00:00:00Z"), Some(1_709_164_800_000));
        assert_eq!(rfc3339_ms("2023-02-29T00:00:00Z"), None);
        assert_eq!(rfc3339_ms("2025-13-01T00:00:00Z"), None);
        assert_eq!(rfc3339_ms("2025-12-04T20:03:15"), None, "offset required");
        assert_eq!(rfc3339_ms("2025-12-04"), None);
        assert_eq!(rfc3339_ms(""), None);
        assert_eq!(rfc3339_ms("2025-12-04T20:03:15.Z"), None);
    }

    #[test]
    fn clf() {
        assert_eq!(clf_ms("10/Oct/2000:13:55:36 -0700"), Some(971_211_336_000));
        assert_eq!(
            clf_ms("22/Dec/2016:16:30:52 +0300"),
            Some(1_482_413_452_000)
        );
        assert_eq!(clf_ms("32/Oct/2000:13:55:36 -0700"), None);
        assert_eq!(clf_ms("10/Foo/2000:13:55:36 -0700"), None);
        assert_eq!(clf_ms("10/Oct/2000:13:55:36"), None);
    }

    proptest! {
        #[test]
        fn fast_path_agrees_with_the_time_crate(
            secs in -2_000_000_000i64..10_000_000_000,
            millis in 0i64..1000,
            offset_min in -1439i64..=1439,
        ) {
            let ts = secs * 1000 + millis;
            let utc = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
            let offset = time::UtcOffset::from_whole_seconds(i32::try_from(offset_min * 60).unwrap()).unwrap();
            let local = utc.to_offset(offset) + time::Duration::milliseconds(millis);
            let text = local.format(&time::format_description::well_known::Rfc3339).unwrap();
            prop_assert_eq!(fast_rfc3339_ms(text.as_bytes()), Some(ts), "{}", text);
            prop_assert_eq!(parse_rfc3339_ms(&text), Some(ts));
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = rfc3339_ms(&s);
            let _ = clf_ms(&s);
        }
    }
}
