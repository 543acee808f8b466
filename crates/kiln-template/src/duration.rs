//! Go-style durations (`"1m30s"`, `"500ms"`) as Packer's options take them, and Packer's
//! human rendering of elapsed time (`1 second 19 milliseconds`).

use serde::de::{self, Deserialize, Deserializer};
use std::fmt;
use std::time::Duration;

/// A duration option. Deserializes from a Go duration string, or from a number of nanoseconds
/// as Go's decoder would take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = GoDuration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"30s\", \"5m\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<GoDuration, E> {
                parse_go_duration(s).map(GoDuration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<GoDuration, E> {
                Ok(GoDuration(Duration::from_nanos(n)))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<GoDuration, E> {
                Ok(GoDuration(Duration::from_nanos(n.max(0) as u64)))
            }
        }
        d.deserialize_any(V)
    }
}

/// Parses Go's `time.ParseDuration` syntax: a sequence of decimal numbers with units
/// `ns us µs ms s m h`, e.g. `1h2m3.5s`. A lone `0` is allowed.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration \"{s}\": expected e.g. \"30s\", \"5m\", \"1h30m\"");
    let t = s.trim();
    let t = t.strip_prefix('+').unwrap_or(t);
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let mut rest = t;
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        if num_len == 0 {
            return Err(bad());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        total += n * nanos_per;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_nanos(total.round() as u64))
}

/// Formats a duration the way Go's `time.Duration.String()` does (`1m30s`, `1.5s`, `250ms`).
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_frac(nanos as f64 / 1e3));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_frac(nanos as f64 / 1e6));
    }
    let secs = nanos as f64 / 1e9;
    let h = (secs / 3600.0).floor();
    let m = ((secs - h * 3600.0) / 60.0).floor();
    let s = secs - h * 3600.0 - m * 60.0;
    let mut out = String::new();
    if h > 0.0 {
        out += &format!("{h}h");
    }
    if h > 0.0 || m > 0.0 {
        out += &format!("{m}m");
    }
    out += &format!("{}s", trim_frac(s));
    out
}

fn trim_frac(x: f64) -> String {
    let s = format!("{x:.9}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

/// Packer's human rendering of an elapsed time: every non-zero unit from years down to
/// microseconds, e.g. `1 minute 5 seconds 12 milliseconds`.
pub fn format_elapsed(d: Duration) -> String {
    let mut micros = d.as_micros();
    if micros == 0 {
        return "0 seconds".into();
    }
    const UNITS: [(&str, &str, u128); 8] = [
        ("year", "years", 365 * 24 * 3600 * 1_000_000),
        ("week", "weeks", 7 * 24 * 3600 * 1_000_000),
        ("day", "days", 24 * 3600 * 1_000_000),
        ("hour", "hours", 3600 * 1_000_000),
        ("minute", "minutes", 60 * 1_000_000),
        ("second", "seconds", 1_000_000),
        ("millisecond", "milliseconds", 1_000),
        ("microsecond", "microseconds", 1),
    ];
    let mut parts = Vec::new();
    for (one, many, size) in UNITS {
        let n = micros / size;
        micros %= size;
        if n > 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_go_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_go_duration("1.5s").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(
            parse_go_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert!(parse_go_duration("10").is_err());
        assert!(parse_go_duration("5 minutes").is_err());
        assert!(parse_go_duration("").is_err());
    }

    #[test]
    fn formats_like_go_and_packer() {
        assert_eq!(format_go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(
            format_elapsed(Duration::from_micros(1_019_000)),
            "1 second 19 milliseconds"
        );
        assert_eq!(
            format_elapsed(Duration::from_micros(12_507)),
            "12 milliseconds 507 microseconds"
        );
    }
}
