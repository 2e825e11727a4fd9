//! One Casewatch node on one machine: the embedded log, the SQLite views, a projector over
//! every partition, the clock ticker and the gRPC services, started together and stopped
//! together. `casewatch serve` and the in-process test servers are this.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::case::Policy;
use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_projector::{Mode, Progress, Projector, ProjectorOptions};
use casewatch_store::ViewStore;
use casewatch_store::sqlite::SqliteStore;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

use crate::{AppState, Clock, ServerOptions};

/// How to run a node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where the log and the views live.
    pub data_dir: PathBuf,
    /// Partitions of a new log (an existing log keeps its own).
    pub partitions: u32,
    /// How often a clock tick is appended to every partition; `None` appends none (tests
    /// append their own).
    pub tick_every: Option<Duration>,
    pub server: ServerOptions,
    pub projector_batch: usize,
}

impl NodeConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            partitions: 8,
            tick_every: Some(Duration::from_secs(5)),
            server: ServerOptions::default(),
            projector_batch: 1000,
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

/// The log and views of a data directory, opened (and created on first use).
pub async fn open_storage(
    config: &NodeConfig,
) -> Result<(Arc<EmbeddedLog>, Arc<SqliteStore>), NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| NodeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let log = EmbeddedLog::open(&config.data_dir.join("log"), config.partitions)?;
    let store = SqliteStore::open(&config.data_dir.join("views.db")).await?;
    Ok((Arc::new(log), Arc::new(store)))
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    /// The address the gRPC services listen on.
    pub addr: SocketAddr,
    pub state: AppState,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Node {
    /// Starts a node listening on `listen` (port 0 picks a free port).
    pub async fn start(
        config: NodeConfig,
        listen: SocketAddr,
        clock: Arc<dyn Clock>,
        policy: Arc<Policy>,
    ) -> Result<Node, NodeError> {
        let (log, store) = open_storage(&config).await?;
        let log: Arc<dyn EventLog> = log;
        let store: Arc<dyn ViewStore> = store;
        let partitions: Vec<u32> = (0..log.partitions()).collect();
        let progress = Progress::new(log.partitions());
        let (alerts, _) = broadcast::channel(4096);
        let projector = Projector::new(
            log.clone(),
            store.clone(),
            policy.clone(),
            &partitions,
            ProjectorOptions {
                batch_size: config.projector_batch,
                mode: Mode::Live,
            },
            Some(alerts.clone()),
            progress.clone(),
        )
        .await?;
        let shutdown = CancellationToken::new();
        let state = AppState {
            shutdown: shutdown.clone(),
            log: log.clone(),
            store,
            policy,
            clock: clock.clone(),
            progress,
            alerts,
            options: config.server.clone(),
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(NodeError::Listen)?;
        let addr = listener.local_addr().map_err(NodeError::Listen)?;
        let mut tasks = Vec::new();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = projector.run(stop.clone()).await {
                error!(%error, "the projector stopped");
                stop.cancel();
            }
        }));
        if let Some(every) = config.tick_every {
            tasks.push(tokio::spawn(crate::run_ticker(
                log,
                clock,
                every,
                format!("node {addr}"),
                shutdown.clone(),
            )));
        }
        let serving = state.clone();
        let stop = shutdown.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(error) = crate::serve(listener, serving, stop.clone()).await {
                error!(%error, "the gRPC server stopped");
                stop.cancel();
            }
        }));
        info!(%addr, data = %config.data_dir.display(), "casewatch node started");
        Ok(Node {
            addr,
            state,
            shutdown,
            tasks,
        })
    }

    /// A token that stops the node when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Resolves when the node has stopped (after its shutdown token is cancelled, or a
    /// part of it failed).
    pub async fn stopped(self) {
        self.shutdown.cancelled().await;
        for task in self.tasks {
            let _ = task.await;
        }
    }

    /// Stops the node and waits for it.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.stopped().await;
    }
}
