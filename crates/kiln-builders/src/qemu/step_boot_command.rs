//! Types `boot_command` over VNC, after `boot_wait`: its lines joined, rendered with
//! `{{.HTTPIP}}`, `{{.HTTPPort}}` and `{{.Name}}`, each key event followed by the key
//! interval (`boot_key_interval`, `PACKER_KEY_INTERVAL`, 100ms). Skipped without VNC or
//! without a command (kiln then does not wait `boot_wait` either: nothing would be typed).

use super::boot_command::{char_keysym, parse, special_keysym, Action, Expr, LEFT_SHIFT};
use super::builder::State;
use super::step_http::USER_NET_HOST;
use super::vnc::Vnc;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};
use kiln_template::interp::TVal;
use std::time::Duration;

/// Types the boot command.
pub struct StepTypeBootCommand;

/// Sleeps `d` unless the build is cancelled first.
async fn sleep(cx: &BuildCx, d: Duration) -> Result<()> {
    tokio::select! {
        _ = tokio::time::sleep(d) => Ok(()),
        _ = cx.cancel.cancelled() => Err(Error::Cancelled),
    }
}

/// Sends the key events of `keys`, in order.
async fn type_keys(cx: &BuildCx, vnc: &mut Vnc, keys: &[Expr], interval: Duration) -> Result<()> {
    for expr in keys {
        let events: Vec<(u32, bool)> = match *expr {
            Expr::Wait(d) => {
                kiln_core::log::log(format_args!("[INFO] Waiting {d:?}"));
                sleep(cx, d).await?;
                continue;
            }
            Expr::Char(c, action) => {
                let (key, shift) = char_keysym(c);
                let mut ev = vec![];
                match action {
                    Action::On => {
                        if shift {
                            ev.push((LEFT_SHIFT, true));
                        }
                        ev.push((key, true));
                    }
                    Action::Off => {
                        if shift {
                            ev.push((LEFT_SHIFT, false));
                        }
                        ev.push((key, false));
                    }
                    Action::Press => {
                        if shift {
                            ev.push((LEFT_SHIFT, true));
                        }
                        ev.extend([(key, true), (key, false)]);
                        if shift {
                            ev.push((LEFT_SHIFT, false));
                        }
                    }
                }
                ev
            }
            Expr::Special(name, action) => {
                let key = special_keysym(name);
                match action {
                    Action::On => vec![(key, true)],
                    Action::Off => vec![(key, false)],
                    Action::Press => vec![(key, true), (key, false)],
                }
            }
        };
        for (key, down) in events {
            vnc.key(key, down)
                .await
                .map_err(|e| Error::msg(format!("Error running boot command: {e}")))?;
            sleep(cx, interval).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl Step<State> for StepTypeBootCommand {
    fn name(&self) -> &'static str {
        "stepTypeBootCommand"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        let Some(vnc_port) = s.vnc_port else {
            return Ok(());
        };
        if c.boot_command.is_empty() {
            return Ok(());
        }
        let wait = s.settings.boot_wait;
        if !wait.is_zero() {
            cx.ui.say(&format!(
                "Waiting {} for boot...",
                kiln_template::duration::format_go_duration(wait)
            ));
            sleep(cx, wait).await?;
        }
        let addr = format!("{}:{vnc_port}", c.vnc_bind_address);
        cx.ui.say(&format!("Connecting to VM via VNC ({addr})"));
        let mut vnc = Vnc::connect(&addr, s.vnc_password.as_deref())
            .await
            .map_err(Error::msg)?;
        kiln_core::log::log(format_args!(
            "[INFO] Connected to VNC desktop: {}",
            vnc.desktop
        ));
        let data = cx.info.interp.with_data([
            ("HTTPIP", TVal::Str(USER_NET_HOST.into())),
            (
                "HTTPPort",
                TVal::Str(s.http.as_ref().map(|h| h.port).unwrap_or(0).to_string()),
            ),
            ("Name", TVal::Str(c.vm_name.clone())),
        ]);
        cx.ui.say("Typing the boot command over VNC...");
        let command = kiln_template::interp::render(&c.boot_command.concat(), &data)
            .map_err(|e| Error::msg(format!("Error preparing boot command: {}", e.message)))?;
        let keys = parse(&command)
            .map_err(|e| Error::msg(format!("Error generating boot command: {e}")))?;
        type_keys(cx, &mut vnc, &keys, s.settings.key_interval).await
    }
}
