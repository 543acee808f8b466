//! Waiting for cloud state changes as time budgets: poll fast first, back off, slow down when
//! throttled, and on timeout say what state the resource was in.

use kiln_core::{Error, Result};
use std::future::Future;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How to wait.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    /// The whole budget.
    pub budget: Duration,
    /// First delay between polls.
    pub first: Duration,
    /// Largest delay between polls.
    pub max: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            budget: Duration::from_secs(30 * 60),
            first: Duration::from_millis(200),
            max: Duration::from_secs(2),
        }
    }
}

/// Polls in a row that may fail before the wait gives up.
const MAX_POLL_FAILURES: u32 = 3;

/// What one poll saw.
pub enum Poll<T> {
    /// Done, with a value.
    Ready(T),
    /// Not yet; the current state, for messages.
    Pending(String),
    /// The API throttled the call: slow down.
    Throttled,
}

/// Polls `check` until it is ready, the budget runs out, or `cancel` fires.
pub async fn until<T, F, Fut>(
    what: &str,
    wait: Wait,
    cancel: &CancellationToken,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let start = Instant::now();
    let mut delay = wait.first;
    let mut last = String::from("unknown");
    let mut failures = 0;
    loop {
        match check().await {
            Ok(Poll::Ready(v)) => return Ok(v),
            Ok(Poll::Pending(state)) => {
                failures = 0;
                last = state;
                delay = (delay.mul_f32(1.5)).min(wait.max);
            }
            Ok(Poll::Throttled) => delay = (delay * 2).min(Duration::from_secs(30)),
            // One failed look is not a verdict on the resource: look again, a few times.
            Err(e) => {
                failures += 1;
                if failures >= MAX_POLL_FAILURES {
                    return Err(e);
                }
                kiln_core::log::log(format_args!(
                    "[WARN] waiting for {what}: poll {failures} failed, trying again: {e}"
                ));
            }
        }
        if start.elapsed() + delay > wait.budget {
            return Err(Error::msg(format!(
                "timed out after {} waiting for {what}; its state was \"{last}\"",
                kiln_template::duration::format_go_duration(start.elapsed())
            )));
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => return Err(Error::Cancelled),
        }
    }
}
