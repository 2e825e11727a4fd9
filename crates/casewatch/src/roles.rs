//! The long-running roles: `serve` (everything in one process), `ingest`, `project` and
//! `api`. Each opens the backends its configuration names and wires the parts together;
//! none holds a rule of its own.

use std::sync::Arc;

use anyhow::Context;
use casewatch_domain::case::Policy;
use casewatch_projector::{Mode, Progress, Projector, ProjectorOptions};
use casewatch_server::node::{Node, NodeOptions};
use casewatch_server::{AppState, CommitRelay, IngestState, Services, Tasks};
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::backends::{Log, Views};
use crate::config::Config;

/// How often an api process re-reads progress and alerts without a commit notice.
const RESYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Every role in one process.
pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let log = Log::open(&config).await?;
    let views = Views::open(&config).await?;
    let node = Node::start_on(
        log.shared(),
        views.shared(),
        config.server.listen,
        config.clock(),
        Arc::new(Policy::default()),
        NodeOptions {
            tick_every: config.ticks(),
            server: config.server_options(),
            projector_batch: config.projector.batch_size,
            edge: crate::access::edge(&config)?,
        },
    )
    .await
    .context("start the node")?;
    println!(
        "casewatch serving every role on {} ({} partitions)",
        node.addr,
        log.shared().partitions()
    );
    stop_on_signal(node.shutdown_token());
    node.stopped().await;
    Ok(())
}

/// `IngestService` and the clock ticker.
pub(crate) async fn ingest(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let edge = crate::access::edge(&config)?;
    let log = Log::open(&config).await?.shared();
    let clock = config.clock();
    let mut tasks = Tasks::new(CancellationToken::new());
    let listener = listen(&config).await?;
    let addr = listener.local_addr()?;
    if let Some(every) = config.ticks() {
        tasks.spawn(
            "the clock ticker",
            casewatch_server::run_ticker(
                log.clone(),
                clock.clone(),
                every,
                format!("ingest {addr}"),
                tasks.shutdown_token(),
            ),
        );
    }
    let services = Services {
        ingest: Some(IngestState {
            log,
            clock,
            options: config.server_options(),
            shutdown: tasks.shutdown_token(),
        }),
        views: None,
        edge,
    };
    tasks.spawn(
        "the gRPC server",
        casewatch_server::serve(listener, services, tasks.shutdown_token()),
    );
    println!("casewatch ingest on {addr}");
    stop_on_signal(tasks.shutdown_token());
    tasks.stopped().await;
    Ok(())
}

/// A projector over the partitions the consumer group assigns; health on the listen
/// address.
pub(crate) async fn project(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let log = Log::open(&config).await?;
    let views = Views::open(&config).await?;
    let mut tasks = Tasks::new(CancellationToken::new());
    let assignment = log.assignment(&config, &tasks.shutdown_token())?;
    let shared = log.shared();
    let projector = Projector::new(
        shared.clone(),
        views.shared(),
        Arc::new(Policy::default()),
        &[],
        ProjectorOptions {
            batch_size: config.projector.batch_size,
            mode: Mode::Live,
        },
        None,
        Progress::new(shared.partitions()),
    )
    .await?;
    let listener = listen(&config).await?;
    let addr = listener.local_addr()?;
    tasks.spawn(
        "the projector",
        projector.run_assigned(assignment.partitions.clone(), tasks.shutdown_token()),
    );
    tasks.spawn(
        "the health server",
        casewatch_server::serve(
            listener,
            Services {
                edge: casewatch_server::Edge {
                    tls: crate::access::tls(&config)?,
                    ..Default::default()
                },
                ..Default::default()
            },
            tasks.shutdown_token(),
        ),
    );
    println!("casewatch projector running (health on {addr})");
    stop_on_signal(tasks.shutdown_token());
    tasks.stopped().await;
    assignment.leave().await
}

/// `MonitorService` and `AuditService`, with the alerts and progress of every projector
/// relayed from the views.
pub(crate) async fn api(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let edge = crate::access::edge(&config)?;
    let log = Log::open(&config).await?.shared();
    let views = Views::open(&config).await?;
    let feed = views.commit_feed().await?;
    let store = views.shared();
    let mut tasks = Tasks::new(CancellationToken::new());
    let (alerts, _) = broadcast::channel(4096);
    let progress = Progress::new(log.partitions());
    let relay = CommitRelay {
        store: store.clone(),
        progress: progress.clone(),
        alerts: alerts.clone(),
        resync_every: RESYNC_EVERY,
    };
    tasks.spawn("the commit relay", relay.run(feed, tasks.shutdown_token()));
    let state = AppState {
        log,
        store,
        policy: Arc::new(Policy::default()),
        clock: config.clock(),
        progress,
        alerts,
        options: config.server_options(),
        shutdown: tasks.shutdown_token(),
    };
    let listener = listen(&config).await?;
    let addr = listener.local_addr()?;
    let services = Services {
        ingest: None,
        views: Some(state),
        edge,
    };
    tasks.spawn(
        "the gRPC server",
        casewatch_server::serve(listener, services, tasks.shutdown_token()),
    );
    println!("casewatch api on {addr}");
    stop_on_signal(tasks.shutdown_token());
    tasks.stopped().await;
    Ok(())
}

async fn listen(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listen on {}", config.server.listen))
}

/// Ctrl-C or SIGTERM (what Kubernetes sends) stops the process gracefully: a projector
/// leaves its consumer group, so its partitions move at once.
fn stop_on_signal(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        shutdown.cancel();
    });
}
