//! Packer version constraints (`required_version`, `min_packer_version`) against the Packer
//! kiln follows. kiln reproduces Packer 1.6.6 and reads the HCL2 templates of the 1.x
//! releases after it, so a template that asks for a later 1.x release is built with a warning
//! (what kiln lacks then fails by name, where the template uses it); one that no 1.x release
//! from 1.6.6 on can meet (Packer 2, or older than 1.6.6) is refused.

use crate::PACKER_COMPAT_VERSION;

/// What a constraint means for kiln.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Packer 1.6.6 meets it.
    Met,
    /// Only a later 1.x release meets it: build, with this warning.
    Later(String),
    /// Refused, with this message.
    Refused(String),
}

/// A version (`1.7.0`, `v1.8`, `1.9.0-beta`) as major, minor, patch.
pub fn parse(v: &str) -> Option<[u64; 3]> {
    let parts: Vec<u64> = v
        .trim()
        .trim_start_matches('v')
        .split('-')
        .next()?
        .split('.')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut out = [0; 3];
    out[..parts.len()].copy_from_slice(&parts);
    Some(out)
}

/// One part of a constraint: operator, version, how many parts the version was written with.
type Part = (String, [u64; 3], usize);

/// A constraint list such as `">= 1.5.0, < 2"`, or None if it is not one.
fn parts(constraint: &str) -> Option<Vec<Part>> {
    constraint
        .split(',')
        .map(|part| {
            let part = part.trim();
            let (op, v) = ["~>", ">=", "<=", "!=", ">", "<", "="]
                .iter()
                .find_map(|op| part.strip_prefix(op).map(|rest| (*op, rest)))
                .unwrap_or(("=", part));
            let written = v.trim().split('.').count();
            Some((op.to_string(), parse(v)?, written))
        })
        .collect()
}

fn meets(have: [u64; 3], parts: &[Part]) -> bool {
    parts.iter().all(|(op, want, written)| match op.as_str() {
        ">=" => have >= *want,
        "<=" => have <= *want,
        ">" => have > *want,
        "<" => have < *want,
        "!=" => have != *want,
        // `~> 1.2.3` allows 1.2.x from 1.2.3; `~> 1.2` allows 1.x from 1.2.
        "~>" => {
            let fixed = written.saturating_sub(1).clamp(1, 3);
            have >= *want && have[..fixed] == want[..fixed]
        }
        _ => have == *want,
    })
}

/// Checks `constraint` (a `required_version`); `what` names it in messages.
pub fn check(constraint: &str, what: &str) -> Verdict {
    let Some(parts) = parts(constraint) else {
        return Verdict::Refused(format!(
            "{what}: \"{constraint}\" is not a version constraint"
        ));
    };
    let ours = parse(PACKER_COMPAT_VERSION).unwrap_or([1, 6, 6]);
    if meets(ours, &parts) {
        return Verdict::Met;
    }
    // Any 1.x release from ours on: every minor and patch up to 1.99.99, and the versions the
    // constraint names.
    let named = parts.iter().map(|(_, v, _)| *v);
    let later = (ours[1]..100)
        .flat_map(|minor| (0..100).map(move |patch| [1, minor, patch]))
        .chain(named)
        .filter(|v| *v >= ours && v[0] == 1)
        .any(|v| meets(v, &parts));
    if later {
        Verdict::Later(format!(
            "This template requires Packer version {constraint}; kiln follows Packer \
             {PACKER_COMPAT_VERSION} and reads the templates of later 1.x releases: building it \
             (a feature kiln lacks is an error where it is used)"
        ))
    } else {
        Verdict::Refused(format!(
            "This template requires Packer version {constraint}; kiln implements Packer \
             {PACKER_COMPAT_VERSION} (and the HCL2 templates of the 1.x releases after it)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_1x_releases_warn_and_packer_2_is_refused() {
        for c in [
            ">= 1.5.0",
            "1.6.6",
            "~> 1.6",
            "~> 1.6.0",
            ">= 1.6.6, < 2",
            "!= 1.7.0",
        ] {
            assert_eq!(check(c, "required_version"), Verdict::Met, "{c}");
        }
        for c in [
            ">= 1.7.0",
            "~> 1.9",
            ">= 1.8.0, < 2.0.0",
            "1.10.3",
            "~> 1.11.2",
            "> 1.6.6",
        ] {
            assert!(
                matches!(check(c, "required_version"), Verdict::Later(_)),
                "{c}"
            );
        }
        for c in [
            ">= 2.0.0",
            "101.0.0",
            "< 1.6.0",
            "~> 1.5.0",
            "= 1.6.5",
            ">= 1.8, < 1.7",
        ] {
            assert!(
                matches!(check(c, "required_version"), Verdict::Refused(_)),
                "{c}"
            );
        }
        assert_eq!(
            check("~> 1.2.3.4.5", "required_version"),
            Verdict::Refused(
                "required_version: \"~> 1.2.3.4.5\" is not a version constraint".into()
            )
        );
    }
}
