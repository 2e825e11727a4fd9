//! Which failures the projector waits out, and for how long.

use std::time::Duration;

use backon::{BackoffBuilder as _, ExponentialBackoff, ExponentialBuilder};
use casewatch_log::LogError;
use tracing::warn;

use crate::{ProjectError, Result};

/// Whether an error may pass by itself: the log or the views are unreachable or busy for
/// now. Anything else stops the projector, and with it the process.
pub(crate) fn is_transient(error: &ProjectError) -> bool {
    match error {
        ProjectError::Log(LogError::Unavailable(_)) => true,
        ProjectError::Store(error) => error.is_transient(),
        _ => false,
    }
}

/// Keeps a transient failure of a reload for the run loop's pauses.
pub(crate) fn transient(error: ProjectError) -> Result<()> {
    if is_transient(&error) {
        warn!(%error, "partition not reloaded yet");
        Ok(())
    } else {
        Err(error)
    }
}

/// The pauses between tries while transient failures last: doubling from 100 ms to 5 s,
/// with jitter so that projectors do not retry in step, and adding up to at most the
/// bound it was made with. Past it the failure is no longer waited out: it stops the
/// projector, so that a supervisor (systemd, Kubernetes) sees it.
#[derive(Debug)]
pub(crate) struct Patience {
    builder: ExponentialBuilder,
    pauses: ExponentialBackoff,
}

impl Patience {
    pub(crate) fn new(bound: Duration) -> Self {
        let builder = ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .with_total_delay(Some(bound));
        Self {
            builder,
            pauses: builder.build(),
        }
    }

    /// The pause before the next try; `None` once the failures have lasted too long.
    pub(crate) fn next(&mut self) -> Option<Duration> {
        self.pauses.next()
    }

    /// A try succeeded: the next failure starts from the shortest pause again.
    pub(crate) fn reset(&mut self) {
        self.pauses = self.builder.build();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_grow_to_five_seconds_and_end_at_the_bound() {
        let mut patience = Patience::new(Duration::from_secs(30));
        let pauses: Vec<Duration> = std::iter::from_fn(|| patience.next()).collect();
        let total: Duration = pauses.iter().sum();
        assert!(total <= Duration::from_secs(30), "{pauses:?}");
        assert!(
            total >= Duration::from_secs(20),
            "waits most of its bound: {pauses:?}"
        );
        assert!(pauses.iter().all(|pause| *pause <= Duration::from_secs(10)));
        patience.reset();
        assert!(
            patience.next().expect("a pause after a reset") < Duration::from_millis(250),
            "a reset starts from the shortest pause"
        );
    }
}
