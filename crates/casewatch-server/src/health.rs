//! Health that follows the views: the services that read them (monitor and audit) are
//! reported NOT_SERVING while the views do not answer, and SERVING again once they do, so
//! a readiness probe or load balancer sends callers elsewhere rather than letting their
//! reads wait on a database that is away. Ingest needs only the log and is left as it is.

use std::sync::Arc;
use std::time::Duration;

use casewatch_store::ViewStore;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tracing::{info, warn};

/// How often the views are probed. A probe of views that are away takes up to the store's
/// connect timeout on top.
pub(crate) const PROBE_EVERY: Duration = Duration::from_secs(2);

/// Probes `store` every `every` until `shutdown`, and reports each of `services` as the
/// views answer or not; it starts from SERVING (the views answered when the process
/// started).
pub(crate) async fn follow_views(
    reporter: HealthReporter,
    store: Arc<dyn ViewStore>,
    services: Vec<&'static str>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut serving = true;
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let probe = tokio::select! {
            () = shutdown.cancelled() => return,
            probe = async {
                ticks.tick().await;
                store.ping().await
            } => probe,
        };
        let status = match (serving, probe) {
            (true, Err(error)) => {
                warn!(%error, ?services, "the views do not answer: reporting NOT_SERVING");
                ServingStatus::NotServing
            }
            (false, Ok(())) => {
                info!(?services, "the views answer again: reporting SERVING");
                ServingStatus::Serving
            }
            _ => continue,
        };
        serving = status == ServingStatus::Serving;
        for service in &services {
            reporter.set_service_status(service, status).await;
        }
    }
}
