//! `boot_command`: Packer's key language, parsed and typed as VNC key events.
//!
//! The grammar is Packer's: a `<` that does not open one of the forms below is an ordinary
//! character, as is everything else (spaces included).
//! - `<wait>` (one second), `<waitN>` (N seconds), `<wait1m30s>` (a Go duration);
//! - `<enter>`, `<tab>`, `<f5>`, `<leftShift>`, … (names in any case), each optionally with
//!   `On` or `Off` to hold or release the key (`<leftCtrlOn>c<leftCtrlOff>`);
//! - `<xOn>` / `<xOff>` for one ordinary character `x`.

use std::time::Duration;

/// What a key does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pressed and released.
    Press,
    /// Held down.
    On,
    /// Released.
    Off,
}

/// One element of a boot command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// Waits.
    Wait(Duration),
    /// An ordinary character.
    Char(char, Action),
    /// A named key (lowercase name).
    Special(&'static str, Action),
}

/// The named keys and their X11 keysyms (what VNC sends), longest names first where one is a
/// prefix of another (`f10` before `f1`, `leftAlt` before `left`), as Packer matches them.
const SPECIAL: &[(&str, u32)] = &[
    ("bs", 0xFF08),
    ("del", 0xFFFF),
    ("enter", 0xFF0D),
    ("esc", 0xFF1B),
    ("f10", 0xFFC7),
    ("f11", 0xFFC8),
    ("f12", 0xFFC9),
    ("f1", 0xFFBE),
    ("f2", 0xFFBF),
    ("f3", 0xFFC0),
    ("f4", 0xFFC1),
    ("f5", 0xFFC2),
    ("f6", 0xFFC3),
    ("f7", 0xFFC4),
    ("f8", 0xFFC5),
    ("f9", 0xFFC6),
    ("return", 0xFF0D),
    ("tab", 0xFF09),
    ("up", 0xFF52),
    ("down", 0xFF54),
    ("spacebar", 0x20),
    ("insert", 0xFF63),
    ("home", 0xFF50),
    ("end", 0xFF57),
    ("pageup", 0xFF55),
    ("pagedown", 0xFF56),
    ("leftalt", 0xFFE9),
    ("leftctrl", 0xFFE3),
    ("leftshift", 0xFFE1),
    ("rightalt", 0xFFEA),
    ("rightctrl", 0xFFE4),
    ("rightshift", 0xFFE2),
    ("leftsuper", 0xFFEB),
    ("rightsuper", 0xFFEC),
    ("left", 0xFF51),
    ("right", 0xFF53),
];

/// The left shift key's keysym.
pub const LEFT_SHIFT: u32 = 0xFFE1;

/// Characters typed with shift held, besides capitals (a US keyboard's).
const SHIFTED: &str = "~!@#$%^&*()_+{}|:\"<>?";

/// The keysym of a named key.
pub fn special_keysym(name: &str) -> u32 {
    SPECIAL
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, k)| *k)
        .unwrap_or(0)
}

/// The keysym of a character, and whether shift is held for it (as Packer decides).
pub fn char_keysym(c: char) -> (u32, bool) {
    (c as u32, c.is_uppercase() || SHIFTED.contains(c))
}

/// Parses a boot command (its lines already joined, templates already rendered).
pub fn parse(command: &str) -> Result<Vec<Expr>, String> {
    let chars: Vec<char> = command.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<' {
            if let Some((expr, used)) = form(&chars[i + 1..])? {
                out.push(expr);
                i += 1 + used;
                continue;
            }
        }
        out.push(Expr::Char(chars[i], Action::Press));
        i += 1;
    }
    Ok(out)
}

/// The `<…>` form starting after a `<`, and how many characters it used (with its `>`); None
/// when it is not one (the `<` is then an ordinary character).
fn form(rest: &[char]) -> Result<Option<(Expr, usize)>, String> {
    let Some(end) = rest.iter().position(|c| *c == '>') else {
        return Ok(None);
    };
    let inner: String = rest[..end].iter().collect();
    let lower = inner.to_lowercase();
    let used = end + 1;
    if let Some(arg) = lower.strip_prefix("wait") {
        if let Some(d) = wait_duration(arg)? {
            return Ok(Some((Expr::Wait(d), used)));
        }
    }
    let toggle = |s: &str| -> Option<(String, Action)> {
        if let Some(k) = s.strip_suffix("on") {
            Some((k.to_string(), Action::On))
        } else {
            s.strip_suffix("off").map(|k| (k.to_string(), Action::Off))
        }
    };
    // One character and On/Off (on the original text: the character keeps its case).
    let inner_chars: Vec<char> = inner.chars().collect();
    if inner_chars.len() >= 3 {
        if let Some((k, action)) = toggle(&lower) {
            if k.chars().count() == 1 {
                return Ok(Some((Expr::Char(inner_chars[0], action), used)));
            }
        }
    }
    if let Some((name, _)) = SPECIAL.iter().find(|(n, _)| *n == lower) {
        return Ok(Some((Expr::Special(name, Action::Press), used)));
    }
    if let Some((k, action)) = toggle(&lower) {
        if let Some((name, _)) = SPECIAL.iter().find(|(n, _)| *n == k) {
            return Ok(Some((Expr::Special(name, action), used)));
        }
    }
    Ok(None)
}

/// The wait of `<wait…>` from what follows `wait`: nothing (one second), whole seconds, or a
/// Go duration. None when it is neither (then the text is typed). A wait that is not positive
/// is an error, as in Packer.
fn wait_duration(arg: &str) -> Result<Option<Duration>, String> {
    if arg.is_empty() {
        return Ok(Some(Duration::from_secs(1)));
    }
    if arg.bytes().all(|b| b.is_ascii_digit()) && (arg == "0" || !arg.starts_with('0')) {
        let n: u64 = arg.parse().map_err(|_| format!("wait {arg}: too long"))?;
        if n == 0 {
            return Err("Expecting a positive wait value. Got 0s".into());
        }
        return Ok(Some(Duration::from_secs(n)));
    }
    let has_unit = arg.ends_with(|c: char| c.is_ascii_alphabetic() || c == 'µ');
    if !has_unit {
        return Ok(None);
    }
    if let Some(neg) = arg.strip_prefix('-') {
        if kiln_template::duration::parse_go_duration(neg).is_ok() {
            return Err(format!("Expecting a positive wait value. Got {arg}"));
        }
        return Ok(None);
    }
    match kiln_template::duration::parse_go_duration(arg) {
        Ok(d) if d.is_zero() => Err(format!("Expecting a positive wait value. Got {arg}")),
        Ok(d) => Ok(Some(d)),
        Err(_) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::*;

    fn keys(s: &str) -> Vec<Expr> {
        parse(s).unwrap()
    }

    #[test]
    fn waits_take_seconds_or_go_durations() {
        assert_eq!(keys("<wait>"), vec![Expr::Wait(Duration::from_secs(1))]);
        assert_eq!(keys("<wait5>"), vec![Expr::Wait(Duration::from_secs(5))]);
        assert_eq!(keys("<WAIT10>"), vec![Expr::Wait(Duration::from_secs(10))]);
        assert_eq!(
            keys("<wait1m30s>"),
            vec![Expr::Wait(Duration::from_secs(90))]
        );
        assert_eq!(
            keys("<wait200ms>"),
            vec![Expr::Wait(Duration::from_millis(200))]
        );
        assert!(parse("<wait-1s>").unwrap_err().contains("positive"));
        assert!(parse("<wait0>").unwrap_err().contains("positive"));
    }

    #[test]
    fn named_keys_in_any_case_with_on_and_off() {
        assert_eq!(
            keys("<enter><Tab><F10><f1><leftAltOn><LEFTALTOFF><left><pageUp>"),
            vec![
                Expr::Special("enter", Press),
                Expr::Special("tab", Press),
                Expr::Special("f10", Press),
                Expr::Special("f1", Press),
                Expr::Special("leftalt", On),
                Expr::Special("leftalt", Off),
                Expr::Special("left", Press),
                Expr::Special("pageup", Press),
            ]
        );
        assert_eq!(special_keysym("enter"), 0xFF0D);
        assert_eq!(special_keysym("spacebar"), 0x20);
    }

    #[test]
    fn everything_else_is_typed_as_it_stands() {
        assert_eq!(
            keys("a <b> <waitx>"),
            "a <b> <waitx>"
                .chars()
                .map(|c| Expr::Char(c, Press))
                .collect::<Vec<_>>()
        );
        assert_eq!(keys("<"), vec![Expr::Char('<', Press)]);
        assert_eq!(
            keys("<cOn>x<COff>"),
            vec![
                Expr::Char('c', On),
                Expr::Char('x', Press),
                Expr::Char('C', Off)
            ]
        );
        assert_eq!(char_keysym('a'), (0x61, false));
        assert_eq!(char_keysym('A'), (0x41, true));
        assert_eq!(char_keysym(':'), (0x3a, true));
        assert_eq!(char_keysym('/'), (0x2f, false));
    }
}
