//! The two host ports the VM is reached on, each a free one picked at random in its range
//! (as Packer does; the range's end excluded): the port forwarded to the guest's SSH port
//! (`host_port_min` to `host_port_max`, on 127.0.0.1) and the VNC port (`vnc_port_min` to
//! `vnc_port_max`, on `vnc_bind_address`).

use super::builder::State;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// A listener on a free port of `addr` in `min..max` (as Packer's range: `max` excluded, unless
/// it equals `min`), ports tried in random order.
pub(super) fn listen_in(addr: &str, min: u16, max: u16) -> Option<std::net::TcpListener> {
    let span = u32::from(max.saturating_sub(min)).max(1);
    let start = uuid::Uuid::new_v4().as_u128() as u32 % span;
    (0..span.min(1000))
        .map(|i| min + ((start + i) % span) as u16)
        .find_map(|p| std::net::TcpListener::bind((addr, p)).ok())
}

/// A claim on a port for one build, held until the build ends: an abstract Unix socket named
/// after the port, which no other kiln process (nor another build of this one) can bind while
/// it is held, and which the kernel releases when the process dies. It closes the gap between
/// finding the port free and QEMU binding it (Packer uses lock files for the same).
pub struct PortClaim(#[allow(dead_code)] std::os::unix::net::UnixListener);

fn claim(addr: &str, port: u16) -> Option<PortClaim> {
    use std::os::linux::net::SocketAddrExt;
    let name = format!("kiln-port-{addr}-{port}");
    let sa = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).ok()?;
    std::os::unix::net::UnixListener::bind_addr(&sa)
        .ok()
        .map(PortClaim)
}

/// A port in `min..max` on `addr` that nothing listens on now and no other build holds a
/// claim on, with the claim (QEMU is given the port to listen on).
fn free_port(addr: &str, min: u16, max: u16) -> Option<(u16, PortClaim)> {
    // Held while looking, so a port found taken by a claim is not found again.
    let mut held = vec![];
    for _ in 0..16 {
        let l = listen_in(addr, min, max)?;
        let port = l.local_addr().ok()?.port();
        if let Some(c) = claim(addr, port) {
            return Some((port, c));
        }
        held.push(l);
    }
    None
}

/// Picks the forwarded SSH port.
pub struct StepPortForward;

#[async_trait]
impl Step<State> for StepPortForward {
    fn name(&self) -> &'static str {
        "stepPortForward"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if s.comm_config.communicator == "none" {
            cx.ui
                .message("No communicator is set; skipping port forwarding setup.");
            return Ok(());
        }
        if c.skip_nat_mapping {
            return Ok(());
        }
        let (port, held) =
            free_port("127.0.0.1", c.host_port_min, c.host_port_max).ok_or_else(|| {
                Error::msg(format!(
                    "Error finding port: no free port between {} and {}",
                    c.host_port_min, c.host_port_max
                ))
            })?;
        cx.ui.say(&format!(
            "Found port for communicator (SSH, WinRM, etc): {port}."
        ));
        s.host_port = Some(port);
        s.port_claims.push(held);
        Ok(())
    }
}

/// A random password of Packer's form: 8 letters and digits (VNC reads no more than 8).
fn vnc_password() -> String {
    const CHARS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    // Random bytes from v4 UUIDs (the system's random source), but bytes 6 and 8, which hold
    // the version and variant bits; a byte past 4 × 62 is dropped, so each character is as
    // likely as another.
    let mut out = String::new();
    while out.len() < 8 {
        let id = uuid::Uuid::new_v4();
        for (i, b) in id.as_bytes().iter().enumerate() {
            if i != 6 && i != 8 && usize::from(*b) < 4 * CHARS.len() && out.len() < 8 {
                out.push(CHARS[usize::from(*b) % CHARS.len()] as char);
            }
        }
    }
    out
}

/// Picks the VNC port (none with `disable_vnc`), and the password with `vnc_use_password`.
pub struct StepConfigureVnc;

#[async_trait]
impl Step<State> for StepConfigureVnc {
    fn name(&self) -> &'static str {
        "stepConfigureVNC"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if c.disable_vnc {
            return Ok(());
        }
        cx.ui.say(&format!(
            "Looking for available port between {} and {} on {}",
            c.vnc_port_min, c.vnc_port_max, c.vnc_bind_address
        ));
        let (port, held) = free_port(&c.vnc_bind_address, c.vnc_port_min, c.vnc_port_max)
            .ok_or_else(|| {
                Error::msg(format!(
                    "Error finding VNC port: no free port between {} and {}",
                    c.vnc_port_min, c.vnc_port_max
                ))
            })?;
        s.vnc_port = Some(port);
        s.port_claims.push(held);
        if c.vnc_use_password {
            s.vnc_password = Some(vnc_password());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{claim, free_port, vnc_password};

    #[test]
    fn vnc_passwords_are_eight_letters_and_digits_each_spread_over_all_62() {
        let many: Vec<String> = (0..400).map(|_| vnc_password()).collect();
        for p in &many {
            assert!(
                p.len() == 8 && p.chars().all(|c| c.is_ascii_alphanumeric()),
                "{p}"
            );
        }
        for i in 0..8 {
            let seen: std::collections::BTreeSet<char> =
                many.iter().map(|p| p.as_bytes()[i] as char).collect();
            assert!(
                seen.len() > 40,
                "position {i}: only {} characters",
                seen.len()
            );
        }
    }

    #[test]
    fn a_free_port_is_in_range_and_a_taken_or_claimed_one_is_skipped() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = taken.local_addr().unwrap().port();
        assert!(free_port("127.0.0.1", p, p).is_none());
        let (got, _held) = free_port("127.0.0.1", p.saturating_sub(5), p + 1).unwrap();
        assert!(got >= p.saturating_sub(5) && got < p, "{got}");
        // A port free for TCP but claimed by another build is not given out until released.
        drop(taken);
        let held = claim("127.0.0.1", p).unwrap();
        assert!(free_port("127.0.0.1", p, p).is_none());
        drop(held);
        assert_eq!(free_port("127.0.0.1", p, p).map(|(port, _)| port), Some(p));
    }
}
