//! `formatdate`'s format language: runs of letters (`YYYY`, `MMM`, `DD`, `hh`, `mm`, `ss`,
//! `ZZZ`, …) stand for parts of the time, text in single quotes is written as is.

use chrono::{DateTime, Datelike, FixedOffset, Timelike};

/// Formats `t` with a `formatdate` specification.
pub fn formatdate(spec: &str, t: &DateTime<FixedOffset>) -> Result<String, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .ok_or("unterminated quoted literal")?;
            if end == 0 {
                out.push('\'');
            } else {
                out.extend(&chars[i + 1..i + 1 + end]);
            }
            i += end + 2;
            continue;
        }
        if !c.is_ascii_alphabetic() {
            out.push(c);
            i += 1;
            continue;
        }
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        let h12 = match t.hour() % 12 {
            0 => 12,
            h => h,
        };
        let off = t.offset().local_minus_utc();
        let (sign, oh, om) = (
            if off < 0 { '-' } else { '+' },
            off.abs() / 3600,
            off.abs() % 3600 / 60,
        );
        out.push_str(&match (c, run) {
            ('Y', 4) => format!("{:04}", t.year()),
            ('Y', 2) => format!("{:02}", t.year() % 100),
            ('M', 4) => t.format("%B").to_string(),
            ('M', 3) => t.format("%b").to_string(),
            ('M', 2) => format!("{:02}", t.month()),
            ('M', 1) => t.month().to_string(),
            ('D', 2) => format!("{:02}", t.day()),
            ('D', 1) => t.day().to_string(),
            ('E', 4) => t.format("%A").to_string(),
            ('E', 3) => t.format("%a").to_string(),
            ('h', 2) => format!("{:02}", t.hour()),
            ('h', 1) => t.hour().to_string(),
            ('H', 2) => format!("{h12:02}"),
            ('H', 1) => h12.to_string(),
            ('A', 2) => if t.hour() < 12 { "AM" } else { "PM" }.to_string(),
            ('a', 2) => if t.hour() < 12 { "am" } else { "pm" }.to_string(),
            ('m', 2) => format!("{:02}", t.minute()),
            ('m', 1) => t.minute().to_string(),
            ('s', 2) => format!("{:02}", t.second()),
            ('s', 1) => t.second().to_string(),
            ('Z', 5) => format!("{sign}{oh:02}:{om:02}"),
            ('Z', 4) => format!("{sign}{oh:02}{om:02}"),
            ('Z', 3) if off == 0 => "UTC".to_string(),
            ('Z', 3) => format!("{sign}{oh:02}{om:02}"),
            ('Z', 1) if off == 0 => "Z".to_string(),
            ('Z', 1) => format!("{sign}{oh:02}:{om:02}"),
            _ => {
                return Err(format!(
                    "invalid date format verb \"{}\"",
                    c.to_string().repeat(run)
                ))
            }
        });
        i += run;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_like_packer() {
        let t = chrono::DateTime::parse_from_rfc3339("2020-01-02T03:04:05Z").unwrap();
        assert_eq!(
            super::formatdate("YYYY-MM-DD hh:mm:ss ZZZ", &t).unwrap(),
            "2020-01-02 03:04:05 UTC"
        );
        assert_eq!(
            super::formatdate("EEE, DD MMM YY 'at' H:mmaa", &t).unwrap(),
            "Thu, 02 Jan 20 at 3:04am"
        );
        assert!(super::formatdate("YYY", &t).is_err());
    }
}
