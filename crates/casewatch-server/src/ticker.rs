//! Clock ticks: the passing of time, appended to every partition so that projectors, which
//! never read a clock, see time move even when no case step arrives.

use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::Timestamp;
use casewatch_log::{Appended, Destination, EventLog, NewRecord};
use tokio_util::sync::CancellationToken;
use tracing::warn;

use crate::Clock;

/// Appends a tick at `at` to every partition.
pub async fn append_ticks(
    log: &dyn EventLog,
    at: Timestamp,
    source: &str,
) -> casewatch_log::Result<Vec<Appended>> {
    let bytes = casewatch_proto::encode_tick(at, source);
    let records = (0..log.partitions())
        .map(|partition| NewRecord {
            destination: Destination::Partition(partition),
            bytes: bytes.clone(),
            idempotency_key: None,
            headers: Vec::new(),
        })
        .collect();
    log.append(records).await
}

/// Appends a tick to every partition every `every` until `shutdown`. A failed append is
/// logged and retried at the next tick: time on the log only ever moves forward. Several
/// tickers on one log (ingest replicas) are harmless: a tick earlier than what a case has
/// seen changes nothing, and one that changes nothing leaves the views as they were.
pub async fn run_ticker(
    log: Arc<dyn EventLog>,
    clock: Arc<dyn Clock>,
    every: Duration,
    source: String,
    shutdown: CancellationToken,
) -> Result<(), std::convert::Infallible> {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            _ = interval.tick() => {
                if let Err(error) = append_ticks(&*log, clock.now(), &source).await {
                    warn!(%error, "clock tick not appended");
                }
            }
        }
    }
}
