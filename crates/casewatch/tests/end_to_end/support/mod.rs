//! What the end-to-end suites share. Here, the in-process node: embedded storage in a
//! temporary directory, a manual clock, and clients that call with a principal's token;
//! and the scenario folded into views as a node folds it. Beside it, `casewatch` as a child
//! process ([`child`]), a data directory holding the scenario ([`data`]), and, for the
//! suite on the production backends, a tansu broker and the roles as processes on it and
//! PostgreSQL ([`cluster`]) and the README's deployment section as a script ([`readme`]).

pub(crate) mod child;
#[cfg(feature = "kafka")]
pub(crate) mod cluster;
pub(crate) mod data;
#[cfg(feature = "kafka")]
pub(crate) mod readme;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::{DeptCode, RegionCode};
use casewatch_domain::policy::PolicyInForce;
use casewatch_log::EventLog;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_projector::Projector;
use casewatch_proto::client::Bearer;
use casewatch_proto::pb;
use casewatch_proto::pb::audit_service_client::AuditServiceClient;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::Edge;
use casewatch_server::auth::{Authenticator, Limits, PrincipalSpec, token_digest};
use casewatch_server::node::{Node, NodeConfig, NodeOptions};
use casewatch_server::{ManualClock, append_ticks};
use casewatch_store::ViewStore;
use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::{Input, Scripted, local, log_records};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

/// Partitions of the logs the suites make: the in-process node's, the data directories'
/// and the end-to-end cluster's.
pub(crate) const PARTITIONS: u32 = 4;

/// A channel whose calls carry a token.
pub(crate) type Authorized = casewatch_proto::client::Authorized<Channel>;

/// An embedded node on port 0 with a manual clock, and an operator's channel to it.
pub(crate) struct Harness {
    pub(crate) node: Node,
    pub(crate) clock: Arc<ManualClock>,
    /// An administrator's channel.
    pub(crate) channel: Authorized,
    pub(crate) data: tempfile::TempDir,
}

impl Harness {
    /// A node whose only principal is a development administrator.
    pub(crate) async fn start() -> Harness {
        let (auth, token) = Authenticator::development();
        Self::start_with(Edge { auth, tls: None }, &token).await
    }

    /// A node behind `edge`; `operator` is the token of an administrator of every region,
    /// which [`play`](Self::play) and the harness's own clients use.
    pub(crate) async fn start_with(edge: Edge, operator: &str) -> Harness {
        Self::start_configured(
            NodeOptions {
                edge,
                ..NodeOptions::default()
            },
            operator,
        )
        .await
    }

    /// A node with `options`, except that it appends no clock ticks of its own.
    pub(crate) async fn start_configured(options: NodeOptions, operator: &str) -> Harness {
        Self::start_under(PolicyInForce::shipped(), options, operator).await
    }

    /// A node whose only principal is a development administrator, judging by `policy`.
    pub(crate) async fn start_with_policy(policy: PolicyInForce) -> Harness {
        let (auth, token) = Authenticator::development();
        let options = NodeOptions {
            edge: Edge { auth, tls: None },
            ..NodeOptions::default()
        };
        Self::start_under(policy, options, &token).await
    }

    /// A node with `options` judging by `policy`, except that it appends no clock ticks of
    /// its own.
    async fn start_under(policy: PolicyInForce, options: NodeOptions, operator: &str) -> Harness {
        let data = tempfile::tempdir().expect("a temporary directory");
        let mut config = NodeConfig::new(data.path());
        config.partitions = PARTITIONS;
        config.options = NodeOptions {
            tick_every: None,
            ..options
        };
        let clock = Arc::new(ManualClock::new(local("2026-03-02 08:00")));
        let node = Node::start(
            config,
            "127.0.0.1:0".parse().expect("an address"),
            clock.clone(),
            policy,
        )
        .await
        .expect("the node starts");
        let channel = casewatch_proto::client::connect(&format!("http://{}", node.addr), operator)
            .await
            .expect("the node accepts connections");
        Harness {
            node,
            clock,
            channel,
            data,
        }
    }

    /// A channel whose calls carry `bearer` (or nothing).
    pub(crate) async fn channel_as(&self, bearer: Bearer) -> Authorized {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.node.addr))
            .expect("a valid address")
            .connect()
            .await
            .expect("the node accepts connections");
        tonic::service::interceptor::InterceptedService::new(channel, bearer)
    }

    /// A monitor client calling as the principal `id` of [`principal`].
    pub(crate) async fn monitor_as(&self, id: &str) -> MonitorServiceClient<Authorized> {
        MonitorServiceClient::new(
            self.channel_as(Bearer::new(&format!("t-{id}")).expect("a token"))
                .await,
        )
    }

    pub(crate) fn ingest(&self) -> IngestServiceClient<Authorized> {
        IngestServiceClient::new(self.channel.clone())
    }

    pub(crate) fn monitor(&self) -> MonitorServiceClient<Authorized> {
        MonitorServiceClient::new(self.channel.clone())
    }

    pub(crate) fn audit(&self) -> AuditServiceClient<Authorized> {
        AuditServiceClient::new(self.channel.clone())
    }

    /// Plays inputs: each step over gRPC at its time, each tick onto every partition.
    pub(crate) async fn play(&self, inputs: &[Input]) {
        let mut ingest = self.ingest();
        for input in inputs {
            self.play_input(&mut ingest, input).await;
        }
        self.wait_until_projected().await;
    }

    /// Plays a script: its inputs as [`play`](Self::play) does, and each action over
    /// `ActOnAlert` at its time, once the views hold everything before it (the service
    /// checks an action against them).
    pub(crate) async fn play_script(&self, script: &[Scripted]) {
        let mut ingest = self.ingest();
        let mut monitor = self.monitor();
        for scripted in script {
            match scripted {
                Scripted::Input(input) => self.play_input(&mut ingest, input).await,
                Scripted::Act { at, request } => {
                    self.wait_until_projected().await;
                    self.clock.set(*at);
                    monitor
                        .act_on_alert(request.clone())
                        .await
                        .unwrap_or_else(|status| {
                            panic!("`{}` refused: {status}", request.event_id)
                        });
                }
            }
        }
        self.wait_until_projected().await;
    }

    async fn play_input(&self, ingest: &mut IngestServiceClient<Authorized>, input: &Input) {
        match input {
            Input::Step { event, recorded_at } => {
                self.clock.set(*recorded_at);
                let response = ingest
                    .append(pb::AppendRequest {
                        events: vec![(**event).clone()],
                        request_id: String::new(),
                    })
                    .await
                    .expect("append answers")
                    .into_inner();
                casewatch_tests::assert_appended(&response);
            }
            Input::Tick(at) => {
                self.clock.set(*at);
                append_ticks(&*self.node.state.log, *at, "test")
                    .await
                    .expect("ticks append");
            }
        }
    }

    pub(crate) async fn wait_until_projected(&self) {
        let state = &self.node.state;
        for partition in 0..state.log.partitions() {
            let high_water = state.log.high_water(partition).await.expect("a high water");
            if high_water > 0 {
                assert!(
                    state
                        .progress
                        .wait_for(partition, high_water - 1, Duration::from_secs(30))
                        .await,
                    "partition {partition} was not folded"
                );
            }
        }
    }
}

/// A principal `id` of `role` over `region`, speaking for the department `dept_code` if
/// one is given, whose token is `t-{id}`.
pub(crate) fn principal(
    id: &str,
    role: Role,
    region: &str,
    dept_code: Option<String>,
) -> PrincipalSpec {
    PrincipalSpec {
        grant: Grant {
            principal: Principal {
                id: id.to_owned(),
                name: format!("{id} of {region}"),
                role,
            },
            scope: RegionScope::new(&[RegionCode::parse(region).expect("a region")])
                .expect("a scope"),
            dept: dept_code.map(|code| DeptCode::parse(code).expect("a department code")),
        },
        token_sha256: Some(token_digest(&format!("t-{id}"))),
        cert_subject: None,
        limits: Limits::UNLIMITED,
    }
}

/// The views of `script` folded in-process, as a node folds its log: every record on an
/// embedded log of `partitions` partitions (a tick onto each), and a projector run until
/// it has caught up into an in-memory SQLite store.
pub(crate) async fn fold_into_views(script: &[Scripted], partitions: u32) -> Arc<SqliteStore> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = Arc::new(SqliteStore::open_in_memory().await.expect("a store"));
    fold(
        script.iter().cloned(),
        partitions,
        dir.path(),
        store.clone(),
    )
    .await;
    store
}

/// Folds `script` as a node folds its log: every record onto an embedded log of
/// `partitions` partitions in `log_dir` (a tick onto each), then a projector of every
/// partition run until it has caught up into `store`.
pub(crate) async fn fold<S: ViewStore>(
    script: impl IntoIterator<Item = Scripted>,
    partitions: u32,
    log_dir: &Path,
    store: Arc<S>,
) {
    let log = Arc::new(EmbeddedLog::open(log_dir, partitions).expect("the log opens"));
    log.append(log_records(script, partitions))
        .await
        .expect("the script appends");
    Projector::builder(log, store)
        .partitions(0..partitions)
        .open()
        .await
        .expect("a projector")
        .run_until_caught_up()
        .await
        .expect("the projector catches up");
}

/// Reads one alert from a feed, failing the test rather than hanging if none comes.
pub(crate) async fn next_alert(feed: &mut tonic::Streaming<pb::Alert>) -> pb::Alert {
    tokio::time::timeout(Duration::from_secs(30), feed.next())
        .await
        .expect("an alert within the deadline")
        .expect("the feed is open")
        .expect("a good message")
}
