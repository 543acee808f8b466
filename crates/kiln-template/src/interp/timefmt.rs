//! Time formatting as Packer does it: Go reference layouts (`isotime "2006-01-02"`) and the
//! small strftime dialect of Packer's `strftime` function.

use chrono::{DateTime, Datelike, Timelike, Utc};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Formats `t` (UTC) with a Go reference layout (`Mon Jan 2 15:04:05 MST 2006`).
pub fn go_layout(t: &DateTime<Utc>, layout: &str) -> String {
    let mut out = String::new();
    let mut rest = layout;
    let month = t.month0() as usize;
    let wday = t.weekday().num_days_from_sunday() as usize;
    let h12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    while !rest.is_empty() {
        // Longest tokens first, as Go's layout scanner does.
        let tokens: &[(&str, &dyn Fn() -> String)] = &[
            ("January", &|| MONTHS[month].to_string()),
            ("Jan", &|| MONTHS[month][..3].to_string()),
            ("Monday", &|| DAYS[wday].to_string()),
            ("Mon", &|| DAYS[wday][..3].to_string()),
            ("MST", &|| "UTC".to_string()),
            ("2006", &|| format!("{:04}", t.year())),
            ("-07:00:00", &|| "+00:00:00".to_string()),
            ("-070000", &|| "+000000".to_string()),
            ("-07:00", &|| "+00:00".to_string()),
            ("-0700", &|| "+0000".to_string()),
            ("-07", &|| "+00".to_string()),
            ("Z07:00:00", &|| "Z".to_string()),
            ("Z070000", &|| "Z".to_string()),
            ("Z07:00", &|| "Z".to_string()),
            ("Z0700", &|| "Z".to_string()),
            ("Z07", &|| "Z".to_string()),
            ("002", &|| format!("{:03}", t.ordinal())),
            ("__2", &|| format!("{:>3}", t.ordinal())),
            ("01", &|| format!("{:02}", month + 1)),
            ("02", &|| format!("{:02}", t.day())),
            ("_2", &|| format!("{:>2}", t.day())),
            ("06", &|| format!("{:02}", t.year() % 100)),
            ("15", &|| format!("{:02}", t.hour())),
            ("03", &|| format!("{h12:02}")),
            ("04", &|| format!("{:02}", t.minute())),
            ("05", &|| format!("{:02}", t.second())),
            ("PM", &|| {
                if t.hour() >= 12 { "PM" } else { "AM" }.to_string()
            }),
            ("pm", &|| {
                if t.hour() >= 12 { "pm" } else { "am" }.to_string()
            }),
            ("1", &|| (month + 1).to_string()),
            ("2", &|| t.day().to_string()),
            ("3", &|| h12.to_string()),
            ("4", &|| t.minute().to_string()),
            ("5", &|| t.second().to_string()),
        ];
        // Fractional seconds: `.000` / `,000` (fixed) or `.999` (trailing zeros trimmed),
        // only when not followed by another digit.
        if let Some(frac) = fractional(rest) {
            let (len, trim) = frac;
            let nanos = format!("{:09}", t.nanosecond() % 1_000_000_000);
            let mut digits = nanos[..len.min(9)].to_string();
            if trim {
                digits = digits.trim_end_matches('0').to_string();
                if !digits.is_empty() {
                    out.push_str(&rest[..1]);
                    out.push_str(&digits);
                }
            } else {
                out.push_str(&rest[..1]);
                out.push_str(&digits);
            }
            rest = &rest[len + 1..];
            continue;
        }
        let mut matched = false;
        for (tok, f) in tokens {
            if rest.starts_with(tok) {
                // "Jan"/"Mon" must not be the start of a longer lowercase word ("Monday" was tried).
                out.push_str(&f());
                rest = &rest[tok.len()..];
                matched = true;
                break;
            }
        }
        if !matched {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn fractional(s: &str) -> Option<(usize, bool)> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let d = b[1];
    let n = b[1..].iter().take_while(|&&c| c == d).count();
    if b.get(1 + n).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    Some((n, d == b'9'))
}

/// Formats `t` with Packer's strftime dialect: `%a %A %b %B %d %H %I %L %m %M %p %S %y %Y %z
/// %Z %%`; any other directive is copied as written (as Packer 1.6.6 does).
pub fn strftime(t: &DateTime<Utc>, format: &str) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(&d) = chars.peek() else {
            out.push('%');
            break;
        };
        let layout = match d {
            'a' => "Mon",
            'A' => "Monday",
            'b' => "Jan",
            'B' => "January",
            'd' => "02",
            'H' => "15",
            'I' => "03",
            'L' => ".000",
            'm' => "01",
            'M' => "04",
            'p' => "PM",
            'S' => "05",
            'y' => "06",
            'Y' => "2006",
            'z' => "-0700",
            'Z' => "MST",
            '%' => "%",
            _ => {
                out.push('%');
                continue;
            }
        };
        chars.next();
        out.push_str(&go_layout(t, layout));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 13, 27, 38).unwrap()
            + chrono::Duration::milliseconds(673)
    }

    #[test]
    fn go_layouts_match_go() {
        assert_eq!(
            go_layout(&t(), "2006-01-02 15:04:05 Mon Jan MST -0700 PM .000"),
            "2026-11-24 13:27:38 Tue Nov UTC +0000 PM .673"
        );
        assert_eq!(
            go_layout(&t(), "Monday January 2 3:4:5 pm 06 Z07:00"),
            "Tuesday November 24 1:27:38 pm 26 Z"
        );
        assert_eq!(go_layout(&t(), "20060102150405"), "20261124132738");
        assert_eq!(go_layout(&t(), ".999999"), ".673");
    }

    #[test]
    fn strftime_matches_packer_dialect() {
        assert_eq!(
            strftime(&t(), "%Y-%m-%d %H:%M:%S %a %b %j %p %Z %z %L %%"),
            "2026-11-24 13:27:38 Tue Nov %j PM UTC +0000 .673 %"
        );
    }
}
