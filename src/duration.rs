//! Durations as people write them in runbooks (`24h`, `200ms`, `1h30m`), stored the same way.

use std::time::Duration;

/// The longest duration a runbook may give: longer ones are mistakes.
pub const MAX: Duration = Duration::from_secs(366 * 86_400);

/// What [`parse`] accepts, as a regular expression (ECMA-262, for the runbook's JSON
/// Schema): numbers, each with a unit, optionally with a fraction and spaces. Longer unit
/// names come first so that the alternation tries them before their prefixes. (`parse` also
/// refuses more than [`MAX`], which a pattern does not say.)
pub const PATTERN: &str = r"\s*(?:[0-9]+(?:\.[0-9]+)?\s*(?:nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w|months|month|M|years|year|yrs|yr|y)\s*)+";

/// Parses `24h`, `90s`, `200ms`, `1h30m`, `2d`. The error says what a valid value looks like.
pub fn parse(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration: write a number and a unit, e.g. `24h`, `90s`, `200ms`".into());
    }
    if trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "`{trimmed}` has no unit: write e.g. `{trimmed}s` or `{trimmed}m` (units: ms, s, m, h, d)"
        ));
    }
    let d = humantime::parse_duration(trimmed).map_err(|_| {
        format!("`{trimmed}` is not a duration: write a number and a unit, e.g. `24h`, `90s`, `200ms`, `1h30m` (units: ms, s, m, h, d)")
    })?;
    if d > MAX {
        return Err(format!("`{trimmed}` is longer than a year: durations go up to 366d"));
    }
    Ok(d)
}

/// The compact form used in plans and the journal, in the units the procedure speaks:
/// `72h`, `1h30m`, `90s`, `200ms`.
pub fn format(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_string();
    }
    let ms = d.as_millis();
    let (h, m, s, rest) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    let mut out = String::new();
    for (value, unit) in [(h, "h"), (m, "m"), (s, "s"), (rest, "ms")] {
        if value > 0 {
            out.push_str(&format!("{value}{unit}"));
        }
    }
    if out.is_empty() {
        // Below a millisecond: exact, so that it reads back the same.
        out = format!("{}us", d.as_micros());
    }
    out
}

/// How long something took, for people: `<1ms`, `25ms`, `3.0s`, `1m 05s`, `2h 03m`.
/// One decimal under a minute, so `3.0s` and `1.9s` read at a glance (never `3s25ms`).
pub fn took(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1 {
        return "<1ms".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    // Tenths, rounded; 59.96 s is a minute, not `60.0s`.
    let tenths = (ms + 50) / 100;
    if tenths < 600 {
        return format!("{}.{}s", tenths / 10, tenths % 10);
    }
    let secs = (ms + 500) / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// Minutes and seconds left, for the watch: `12:04`.
pub fn mm_ss(secs: i64) -> String {
    let secs = secs.max(0);
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

/// A countdown for screens and status lines: `23h 41m`, `12m 04s`, `9s`.
pub fn countdown(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if days > 0 {
        format!("{days}d {hours}h {mins:02}m")
    } else if hours > 0 {
        format!("{hours}h {mins:02}m")
    } else if mins > 0 {
        format!("{mins}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

/// serde helper: `Duration` as its written form.
pub mod serde_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// serde helper: `Option<Duration>` as its written form.
pub mod serde_text_opt {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::format(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|t| super::parse(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn took_reads_at_a_glance() {
        let ms = Duration::from_millis;
        assert_eq!(took(Duration::from_micros(400)), "<1ms");
        assert_eq!(took(ms(25)), "25ms");
        assert_eq!(took(ms(999)), "999ms");
        assert_eq!(took(ms(3025)), "3.0s");
        assert_eq!(took(ms(1900)), "1.9s");
        assert_eq!(took(ms(1009)), "1.0s");
        assert_eq!(took(ms(59_960)), "1m 00s");
        assert_eq!(took(ms(65_000)), "1m 05s");
        assert_eq!(took(Duration::from_secs(7380)), "2h 03m");
    }

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("24h").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
    }

    #[test]
    fn a_bare_number_asks_for_a_unit() {
        assert!(parse("60").unwrap_err().contains("`60s`"));
        assert!(parse("24hh").is_err());
    }

    #[test]
    fn round_trips_through_text() {
        for d in [
            Duration::from_secs(86_400),
            Duration::from_millis(250),
            Duration::from_secs(5400),
            Duration::from_millis(1500),
        ] {
            assert_eq!(parse(&format(d)).unwrap(), d);
        }
    }

    #[test]
    fn formats_in_hours_not_days() {
        assert_eq!(format(Duration::from_secs(72 * 3600)), "72h");
        assert_eq!(format(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format(Duration::from_millis(1500)), "1s500ms");
    }

    #[test]
    fn countdowns_are_compact() {
        assert_eq!(countdown(Duration::from_secs(23 * 3600 + 41 * 60 + 5)), "23h 41m");
        assert_eq!(countdown(Duration::from_secs(12 * 60 + 4)), "12m 04s");
        assert_eq!(countdown(Duration::from_secs(9)), "9s");
        assert_eq!(countdown(Duration::from_secs(3 * 86_400 + 3600)), "3d 1h 00m");
    }
}
