//! One Casewatch node running every role in one process: the log, the views, a projector
//! over every partition, the clock ticker and the gRPC services, started together and
//! stopped together. `casewatch serve` and the in-process test servers are this; the
//! backends are whatever the caller opened (the embedded ones by default).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::policy::PolicyInForce;
use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_projector::{Progress, Projector};
use casewatch_store::ViewStore;
use casewatch_store::sqlite::SqliteStore;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::tasks::Tasks;
use crate::{AppState, Clock, Edge, ServerOptions, Services};

/// How a node runs, whatever its backends.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// How often a clock tick is appended to every partition; `None` appends none (tests
    /// append their own).
    pub tick_every: Option<Duration>,
    pub server: ServerOptions,
    pub projector_batch: usize,
    /// Who may call, over what; by default nobody.
    pub edge: Edge,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            tick_every: Some(Duration::from_secs(5)),
            server: ServerOptions::default(),
            projector_batch: 1000,
            edge: Edge::default(),
        }
    }
}

/// How to run a node on the embedded backends.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the log and the views live.
    pub data_dir: PathBuf,
    /// Partitions of a new log (an existing log keeps its own).
    pub partitions: u32,
    pub options: NodeOptions,
}

impl NodeConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            partitions: 8,
            options: NodeOptions::default(),
        }
    }
}

/// Why a node could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot create the data directory `{path}`: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] casewatch_log::LogError),
    #[error(transparent)]
    Store(#[from] casewatch_store::StoreError),
    #[error(transparent)]
    Project(#[from] casewatch_projector::ProjectError),
    #[error(transparent)]
    Serve(#[from] crate::ServeError),
    #[error("cannot listen: {0}")]
    Listen(std::io::Error),
}

/// The embedded log and SQLite views of a data directory, opened (and created on first
/// use).
pub async fn open_storage(
    data_dir: &std::path::Path,
    partitions: u32,
) -> Result<(Arc<EmbeddedLog>, Arc<SqliteStore>), NodeError> {
    std::fs::create_dir_all(data_dir).map_err(|source| NodeError::DataDir {
        path: data_dir.to_owned(),
        source,
    })?;
    let log = EmbeddedLog::open(&data_dir.join("log"), partitions)?;
    let store = SqliteStore::open(&data_dir.join("views.db")).await?;
    Ok((Arc::new(log), Arc::new(store)))
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    /// The address the gRPC services listen on.
    pub addr: SocketAddr,
    pub state: AppState,
    tasks: Tasks,
}

impl Node {
    /// Starts a node on the embedded backends of `config.data_dir`, listening on `listen`
    /// (port 0 picks a free port).
    pub async fn start(
        config: NodeConfig,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
        policy: PolicyInForce,
    ) -> Result<Node, NodeError> {
        let (log, store) = open_storage(&config.data_dir, config.partitions).await?;
        let node = Self::start_on(log, store, listen, clock, policy, config.options).await?;
        info!(data = %config.data_dir.display(), "embedded storage");
        Ok(node)
    }

    /// Starts a node on `log` and `store`: a projector owning every partition, the ticker
    /// and every service.
    pub async fn start_on(
        log: Arc<dyn EventLog>,
        store: Arc<dyn ViewStore>,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
        policy: PolicyInForce,
        options: NodeOptions,
    ) -> Result<Node, NodeError> {
        let progress = Progress::new(log.partitions());
        let (alerts, _) = broadcast::channel(4096);
        let projector = Projector::builder(log.clone(), store.clone())
            .policy(policy.clone())
            .partitions(0..log.partitions())
            .batch_size(options.projector_batch)
            .alerts(alerts.clone())
            .progress(progress.clone())
            .open()
            .await?;
        let mut tasks = Tasks::new(CancellationToken::new());
        let state = AppState {
            shutdown: tasks.shutdown_token(),
            log: log.clone(),
            store,
            policy,
            clock: clock.clone(),
            progress,
            alerts,
            options: options.server.clone(),
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(NodeError::Listen)?;
        let addr = listener.local_addr().map_err(NodeError::Listen)?;
        tasks.spawn("the projector", projector.run(tasks.shutdown_token()));
        tasks.spawn(
            "the calendar watch",
            crate::watch_calendar(state.clone(), tasks.shutdown_token()),
        );
        if let Some(every) = options.tick_every {
            tasks.spawn(
                "the clock ticker",
                crate::run_ticker(
                    log,
                    clock,
                    every,
                    format!("node {addr}"),
                    tasks.shutdown_token(),
                ),
            );
        }
        tasks.spawn(
            "the gRPC server",
            crate::serve(
                listener,
                Services::all(state.clone(), options.edge),
                tasks.shutdown_token(),
            ),
        );
        info!(%addr, "casewatch node started");
        Ok(Node { addr, state, tasks })
    }

    /// A token that stops the node when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.tasks.shutdown_token()
    }

    /// Resolves when the node has stopped: `Ok` after its shutdown token was cancelled,
    /// or the failure of the part that stopped it.
    pub async fn stopped(self) -> Result<(), crate::TaskFailed> {
        self.tasks.stopped().await
    }

    /// Stops the node and waits for it (a part that failed before has been logged).
    pub async fn stop(self) {
        self.tasks.shutdown_token().cancel();
        let _ = self.stopped().await;
    }
}
