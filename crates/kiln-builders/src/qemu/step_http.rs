//! With `http_directory`: serves it to the machine on a free port in `http_port_min` to
//! `http_port_max` (on `http_bind_address`) until the build ends. The machine reaches the
//! host as 10.0.2.2 on QEMU's user network (`{{.HTTPIP}}`).

use super::builder::State;
use super::step_connect_ports::listen_in;
use crate::http_server::HttpServer;
use async_trait::async_trait;
use kiln_core::plugin::BuildCx;
use kiln_core::step::Step;
use kiln_core::{Error, Result};

/// The host's address on QEMU's user network.
pub const USER_NET_HOST: &str = "10.0.2.2";

/// Starts the HTTP server.
pub struct StepHttpServer;

#[async_trait]
impl Step<State> for StepHttpServer {
    fn name(&self) -> &'static str {
        "StepHTTPServer"
    }

    async fn run(&mut self, cx: &BuildCx, s: &mut State) -> Result<()> {
        let c = &s.settings.c;
        if c.http_directory.is_empty() {
            return Ok(());
        }
        let dir = std::path::PathBuf::from(&c.http_directory);
        if !dir.is_dir() {
            return Err(Error::msg(format!(
                "http_directory: {} is not a directory",
                dir.display()
            )));
        }
        let listener = listen_in(&c.http_bind_address, c.http_port_min, c.http_port_max)
            .ok_or_else(|| {
                Error::msg(format!(
                    "Error finding port: no free port between {} and {} on {}",
                    c.http_port_min, c.http_port_max, c.http_bind_address
                ))
            })?;
        let server = HttpServer::start(listener, dir)
            .map_err(|e| Error::msg(format!("starting the HTTP server: {e}")))?;
        cx.ui
            .say(&format!("Starting HTTP server on port {}", server.port));
        s.http = Some(server);
        Ok(())
    }

    async fn cleanup(&mut self, _cx: &BuildCx, s: &mut State) {
        s.http = None;
    }
}
