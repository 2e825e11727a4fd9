//! The gRPC services of Casewatch — ingest, monitor and audit — with the standard health
//! service and reflection, over any [`EventLog`] and [`ViewStore`].
//!
//! The services hold no business rules: they convert protobuf to domain values at the
//! edge, append records to the log, and read the views. Every staff action goes through
//! the log like a case step.

use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::policy::PolicyInForce;
use casewatch_log::{EventLog, LogError};
use casewatch_projector::Progress;
use casewatch_proto::pb;
use casewatch_store::{CommittedAlert, StoreError, ViewStore};
use tokio::sync::broadcast;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::Status;

mod audit;
pub mod auth;
mod calendar_watch;
pub mod clock;
mod fault;
mod health;
mod ingest;
mod monitor;
pub mod node;
mod policy;
mod relay;
pub mod reports;
mod tasks;
mod ticker;
mod views;

pub use calendar_watch::watch_calendar;
pub use clock::{AcceleratedClock, Clock, FileClock, ManualClock, SystemClock};
pub use ingest::case_event_record;
pub use relay::CommitRelay;
pub use tasks::{TaskFailed, Tasks};
pub use ticker::{append_ticks, run_ticker};

/// Everything the services share.
#[derive(Clone)]
pub struct AppState {
    pub log: Arc<dyn EventLog>,
    pub store: Arc<dyn ViewStore>,
    /// The policy the log starts from, before its policy records.
    pub policy: PolicyInForce,
    /// Where `recorded_at` and clock ticks come from.
    pub clock: Arc<dyn Clock>,
    /// How far the projector has folded, for reads that wait for their own writes.
    pub progress: Arc<Progress>,
    /// Alert changes as the projector commits them.
    pub alerts: broadcast::Sender<Arc<CommittedAlert>>,
    pub options: ServerOptions,
    /// Cancelled when the node stops: long-lived streams end so the server can drain.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// The policy in force as the views hold it: as the first partition folded the
    /// changes on the log (every partition folds the same ones), or the start before any.
    pub(crate) async fn policy_in_force(&self) -> Result<PolicyInForce, Status> {
        casewatch_projector::audit::policy_in_force(self.store.as_ref(), &self.policy)
            .await
            .map_err(|error| match error {
                casewatch_projector::ProjectError::Store(error) => store_status(error),
                error => Status::internal(error.to_string()),
            })
    }

    /// What the ingest service needs of this state, to serve it beside the views.
    pub fn ingest(&self) -> IngestState {
        IngestState {
            log: self.log.clone(),
            clock: self.clock.clone(),
            options: self.options.clone(),
            shutdown: self.shutdown.clone(),
        }
    }
}

/// What the ingest service needs: the log and a clock, no views. An ingest-only process
/// (`casewatch ingest`) is stateless.
#[derive(Clone)]
pub struct IngestState {
    pub log: Arc<dyn EventLog>,
    /// Where `recorded_at` comes from.
    pub clock: Arc<dyn Clock>,
    pub options: ServerOptions,
    /// Cancelled when the process stops: append streams stop reading, answer what they
    /// have read, and end.
    pub shutdown: CancellationToken,
}

impl std::fmt::Debug for IngestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestState")
            .field("partitions", &self.log.partitions())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The services one process serves; health and reflection are always served, to anyone.
#[derive(Debug, Clone, Default)]
pub struct Services {
    /// `IngestService`.
    pub ingest: Option<IngestState>,
    /// `MonitorService`, `AuditService` and `PolicyService`, over the views.
    pub views: Option<AppState>,
    /// How callers are identified and kept apart.
    pub edge: Edge,
}

impl Services {
    /// How long the services' options let a stopping server wait for open calls.
    fn shutdown_grace(&self) -> Duration {
        self.views
            .as_ref()
            .map(|state| &state.options)
            .or(self.ingest.as_ref().map(|state| &state.options))
            .map_or(ServerOptions::default().shutdown_grace, |options| {
                options.shutdown_grace
            })
    }

    /// Every service, over one state: the single-process node.
    pub fn all(state: AppState, edge: Edge) -> Self {
        Self {
            ingest: Some(state.ingest()),
            views: Some(state),
            edge,
        }
    }
}

/// The edge of a server: who may call (the principals), and over what (plain HTTP/2 on a
/// trusted network, TLS, or mutual TLS).
#[derive(Debug, Clone, Default)]
pub struct Edge {
    pub auth: auth::Authenticator,
    /// The certificate and key the server presents, and the authority its clients'
    /// certificates must be signed by for mutual TLS; `None`: plain text.
    pub tls: Option<tonic::transport::ServerTlsConfig>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("partitions", &self.log.partitions())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Limits and waits of the services.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The longest a read waits for the views to reach a position it asked for.
    pub max_consistency_wait: Duration,
    /// Events in one append request, at most.
    pub max_events_per_request: usize,
    /// The largest request message, in bytes.
    pub max_message_bytes: usize,
    /// The bytes of append requests the server holds at once, across every caller.
    pub max_inflight_bytes: usize,
    /// How far ahead of the server's clock a step may be dated (a source's clock that
    /// runs a little fast).
    pub max_clock_skew: chrono::TimeDelta,
    /// How long a stopping server waits for its calls to finish before it stops without
    /// those still open (a client that stopped reading, say).
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_consistency_wait: Duration::from_secs(10),
            max_events_per_request: 10_000,
            max_message_bytes: 4 << 20,
            max_inflight_bytes: 64 << 20,
            max_clock_skew: chrono::TimeDelta::minutes(5),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Maps a log failure to the status a caller sees.
pub(crate) fn log_status(error: LogError) -> Status {
    match error {
        LogError::Unavailable(_) | LogError::Closed => Status::unavailable(error.to_string()),
        LogError::NoSuchPartition { .. } => Status::invalid_argument(error.to_string()),
        LogError::PartitionCount { .. } => Status::internal(error.to_string()),
    }
}

/// Maps a view store failure to the status a caller sees.
pub(crate) fn store_status(error: StoreError) -> Status {
    if error.is_transient() {
        Status::unavailable(error.to_string())
    } else {
        Status::internal(error.to_string())
    }
}

/// Waits until the views have folded every position of `consistency`, within the
/// caller's limit.
pub(crate) async fn await_consistency(
    state: &AppState,
    consistency: Option<&pb::ReadConsistency>,
) -> Result<(), Status> {
    let Some(consistency) = consistency else {
        return Ok(());
    };
    for position in &consistency.at_least {
        let reached = state
            .progress
            .wait_for(
                position.partition,
                position.offset,
                state.options.max_consistency_wait,
            )
            .await;
        if !reached {
            return Err(Status::deadline_exceeded(format!(
                "the views have not reached partition {} offset {} yet",
                position.partition, position.offset
            )));
        }
    }
    Ok(())
}

/// The gRPC router with `services`, health and reflection. Health reports SERVING for
/// each service served here, so a readiness probe can ask for the one it needs, and
/// NOT_SERVING for monitor, audit and policy while the views do not answer; every other service
/// authenticates its callers first.
async fn router(services: Services) -> Result<Router, BuildError> {
    use tonic::service::interceptor::InterceptedService;
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(casewatch_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|error| BuildError(error.to_string()))?;
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = services.edge.tls {
        builder = builder
            .tls_config(tls)
            .map_err(|error| BuildError(error.to_string()))?;
    }
    let auth = services.edge.auth;
    let serves_ingest = services.ingest.is_some();
    let mut router = builder
        .layer(fault::layer())
        .trace_fn(|request| {
            let path = request.uri().path();
            let span = tracing::info_span!("rpc", otel.name = %path, otel.kind = "server", rpc.system = "grpc", path = %path);
            // A county system that traces its calls becomes this span's parent.
            casewatch_telemetry::set_remote_parent(&span, request.headers());
            span
        })
        .add_service(health_service)
        .add_service(reflection)
        .add_optional_service(services.ingest.map(|state| {
            let limit = state.options.max_message_bytes;
            InterceptedService::new(
                casewatch_proto::received::ingest_service_server::IngestServiceServer::new(
                    ingest::Ingest::new(state),
                )
                .max_decoding_message_size(limit),
                auth.clone(),
            )
        }));
    if serves_ingest {
        health_reporter
            .set_serving::<casewatch_proto::received::ingest_service_server::IngestServiceServer<
                ingest::Ingest,
            >>()
            .await;
    }
    if let Some(state) = services.views {
        health_reporter
            .set_serving::<pb::monitor_service_server::MonitorServiceServer<monitor::Monitor>>()
            .await;
        health_reporter
            .set_serving::<pb::audit_service_server::AuditServiceServer<audit::Audit>>()
            .await;
        health_reporter
            .set_serving::<pb::policy_service_server::PolicyServiceServer<policy::Policies>>()
            .await;
        // While the views are away, the services that read them say so.
        use tonic::server::NamedService as _;
        type MonitorServer = pb::monitor_service_server::MonitorServiceServer<monitor::Monitor>;
        type AuditServer = pb::audit_service_server::AuditServiceServer<audit::Audit>;
        type PolicyServer = pb::policy_service_server::PolicyServiceServer<policy::Policies>;
        tokio::spawn(health::follow_views(
            health_reporter.clone(),
            state.store.clone(),
            vec![MonitorServer::NAME, AuditServer::NAME, PolicyServer::NAME],
            health::PROBE_EVERY,
            state.shutdown.clone(),
        ));
        let limit = state.options.max_message_bytes;
        router = router
            .add_service(InterceptedService::new(
                pb::monitor_service_server::MonitorServiceServer::new(monitor::Monitor::new(
                    state.clone(),
                ))
                .max_decoding_message_size(limit),
                auth.clone(),
            ))
            .add_service(InterceptedService::new(
                pb::audit_service_server::AuditServiceServer::new(audit::Audit::new(state.clone()))
                    .max_decoding_message_size(limit),
                auth.clone(),
            ))
            .add_service(InterceptedService::new(
                PolicyServer::new(policy::Policies::new(state)).max_decoding_message_size(limit),
                auth,
            ));
    }
    Ok(router)
}

/// The server's routes, behind the layer that answers unreadable requests as the caller's
/// fault.
type Router = tonic::transport::server::Router<
    tower::layer::util::Stack<fault::Layer, tower::layer::util::Identity>,
>;

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the gRPC server: {0}")]
pub struct BuildError(String);

/// Serves `services` on `listener` until `shutdown`, then lets the calls in progress finish
/// for at most the options' `shutdown_grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    services: Services,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let grace = services.shutdown_grace();
    // Small messages (an acknowledgement, a pushed alert) go out at once: with Nagle's
    // algorithm each would wait for the peer's delayed acknowledgement, about 40 ms.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        accepted.and_then(|stream| {
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    });
    let server = router(services)
        .await?
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
    let overdue = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served?,
        () = overdue => tracing::warn!(
            ?grace,
            "calls still open after the shutdown grace period: stopping without them"
        ),
    }
    Ok(())
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("the gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}
