//! The long-running roles: `serve` (everything in one process), `ingest`, `project` and
//! `api`. Each opens the backends its configuration names and wires the parts together;
//! none holds a rule of its own.

use std::sync::Arc;

use anyhow::Context;
use casewatch_domain::policy::PolicyInForce;
use casewatch_projector::{Progress, Projector};
use casewatch_server::node::{Node, NodeOptions};
use casewatch_server::{AppState, CommitRelay, IngestState, Services, TaskFailed, Tasks};
use clap::Args;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::backends::{Log, Views};
use crate::config::{Config, GroupArgs, RoleArgs, TickArgs};
use crate::lock::DataLock;

/// How often an api process re-reads progress and alerts without a commit notice.
const RESYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) tick: TickArgs,
    #[command(flatten)]
    pub(crate) group: GroupArgs,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) tick: TickArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ProjectArgs {
    #[command(flatten)]
    pub(crate) role: RoleArgs,
    #[command(flatten)]
    pub(crate) group: GroupArgs,
}

impl ServeArgs {
    /// The configuration `serve` runs with.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        self.role.load_with(|config| {
            self.tick.apply(config);
            self.group.apply(config);
        })
    }
}

impl IngestArgs {
    /// The configuration `ingest` runs with.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        self.role.load_with(|config| self.tick.apply(config))
    }
}

impl ProjectArgs {
    /// The configuration `project` runs with.
    pub(crate) fn config(&self) -> anyhow::Result<Config> {
        self.role.load_with(|config| self.group.apply(config))
    }
}

/// Every role in one process.
pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let _lock = DataLock::for_config(&config)?;
    let log = Log::open(&config).await?;
    let views = Views::open(&config).await?;
    let node = Node::start_on(
        log.shared(),
        views.shared(),
        config.server.listen,
        config.clock(),
        PolicyInForce::shipped(),
        NodeOptions {
            tick_every: config.ticks(),
            server: config.server_options(),
            projector_batch: config.projector.batch_size,
            edge: crate::access::edge(&config)?,
        },
    )
    .await
    .context("start the node")?;
    let signal = stop_on_signal(node.shutdown_token());
    println!(
        "casewatch serving every role on {} ({} partitions)",
        node.addr,
        log.shared().partitions()
    );
    stopped("serve", &signal, node.stopped().await)
}

/// `IngestService` and the clock ticker.
pub(crate) async fn ingest(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let _lock = DataLock::for_config(&config)?;
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
    let signal = stop_on_signal(tasks.shutdown_token());
    println!("casewatch ingest on {addr}");
    stopped("ingest", &signal, tasks.stopped().await)
}

/// A projector over the partitions the consumer group assigns; health on the listen
/// address.
pub(crate) async fn project(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let _lock = DataLock::for_config(&config)?;
    let log = Log::open(&config).await?;
    let views = Views::open(&config).await?;
    let mut tasks = Tasks::new(CancellationToken::new());
    let assignment = log.assignment(&config, &tasks.shutdown_token())?;
    let shared = log.shared();
    let projector = Projector::builder(shared.clone(), views.shared())
        .batch_size(config.projector.batch_size)
        .open()
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
    let signal = stop_on_signal(tasks.shutdown_token());
    println!("casewatch projector running (health on {addr})");
    let outcome = tasks.stopped().await;
    let left = assignment.leave().await;
    stopped("project", &signal, outcome)?;
    left
}

/// `MonitorService` and `AuditService`, with the alerts and progress of every projector
/// relayed from the views.
pub(crate) async fn api(config: Config) -> anyhow::Result<()> {
    config.check_listen()?;
    let _lock = DataLock::for_config(&config)?;
    let edge = crate::access::edge(&config)?;
    let log = Log::open(&config).await?.shared();
    let views = Views::open(&config).await?;
    casewatch_projector::bind_views(log.as_ref(), views.shared().as_ref()).await?;
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
        policy: PolicyInForce::shipped(),
        clock: config.clock(),
        progress,
        alerts,
        options: config.server_options(),
        shutdown: tasks.shutdown_token(),
    };
    let listener = listen(&config).await?;
    let addr = listener.local_addr()?;
    tasks.spawn(
        "the calendar watch",
        casewatch_server::watch_calendar(state.clone(), tasks.shutdown_token()),
    );
    let services = Services {
        ingest: None,
        views: Some(state),
        edge,
    };
    tasks.spawn(
        "the gRPC server",
        casewatch_server::serve(listener, services, tasks.shutdown_token()),
    );
    let signal = stop_on_signal(tasks.shutdown_token());
    println!("casewatch api on {addr}");
    stopped("api", &signal, tasks.stopped().await)
}

async fn listen(config: &Config) -> anyhow::Result<TcpListener> {
    TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listen on {}", config.server.listen))
}

/// The signal that stopped a role, once one has.
type StopSignal = Arc<std::sync::OnceLock<&'static str>>;

/// Ctrl-C or SIGTERM (what Kubernetes sends) stops the process gracefully: a projector
/// leaves its consumer group, so its partitions move at once. The signal's name is kept
/// for [`stopped`]. The handlers are installed before this returns, so call it before
/// the role says where it serves: a signal sent as soon as it has is then caught, rather
/// than ending the process on the spot.
fn stop_on_signal(shutdown: CancellationToken) -> StopSignal {
    use tokio::signal::unix::{Signal, SignalKind, signal};
    async fn received(signal: Option<Signal>) {
        match signal {
            Some(mut signal) => {
                signal.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    let interrupt = received(signal(SignalKind::interrupt()).ok());
    let terminate = received(signal(SignalKind::terminate()).ok());
    let stopped_by = StopSignal::default();
    let signal = stopped_by.clone();
    tokio::spawn(async move {
        let name = tokio::select! {
            () = interrupt => "SIGINT",
            () = terminate => "SIGTERM",
        };
        let _ = signal.set(name);
        shutdown.cancel();
    });
    stopped_by
}

/// The role's last line on standard output once it has stopped, and its outcome: `casewatch
/// api stopped (SIGTERM)`; or, when a part of it failed, `casewatch api stopped: the gRPC
/// server failed` and that failure, which ends the process non-zero with its causes on
/// standard error, so a service manager (`Restart=on-failure`) sees it. A standard output
/// nobody reads any more (a closed pipe) is no reason to fail on the way out.
fn stopped(role: &str, signal: &StopSignal, outcome: Result<(), TaskFailed>) -> anyhow::Result<()> {
    use std::io::Write as _;
    let said = match &outcome {
        Ok(()) => format!(
            "casewatch {role} stopped ({})",
            signal.get().copied().unwrap_or("asked to")
        ),
        Err(failed) => format!("casewatch {role} stopped: {failed}"),
    };
    let _ = writeln!(std::io::stdout().lock(), "{said}");
    Ok(outcome?)
}
