//! Health follows the views: a node on PostgreSQL views reports its monitor and audit
//! services NOT_SERVING while the database does not answer, its reads fail within the
//! store's connect timeout rather than hanging, and it reports SERVING again once the
//! database is back. The database is taken away and brought back by a TCP relay between
//! the store and PostgreSQL.
//!
//! Skips, saying so on stderr, when the test database does not answer, unless
//! `CASEWATCH_REQUIRE_POSTGRES=1` (see `casewatch_store::postgres::testing`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use casewatch_domain::access::Role;
use casewatch_domain::policy::PolicyInForce;
use casewatch_log::embedded::EmbeddedLog;
use casewatch_proto::pb;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{Authenticator, PrincipalSpec, generate_token};
use casewatch_server::node::{Node, NodeOptions};
use casewatch_server::{Edge, SystemClock};
use casewatch_store::postgres::PgStore;
use casewatch_store::postgres::testing::{self, TestSchema};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

const SUITE: &str = "views_health";

/// The store's connect timeout in this test: how long a read waits for a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the test waits for a status it expects, at most.
const PATIENCE: Duration = Duration::from_secs(30);

/// A TCP relay to PostgreSQL on a port of its own; stopping it closes the port and every
/// connection through it, as a database going away would.
struct Relay {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(listener: TcpListener, upstream: SocketAddr) -> Relay {
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let task = tokio::spawn(async move {
            // Dropped with the task: every relayed connection is aborted.
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    () = stopped.cancelled() => return,
                    accepted = listener.accept() => {
                        let Ok((mut inbound, _)) = accepted else { continue };
                        connections.spawn(async move {
                            if let Ok(mut outbound) = TcpStream::connect(upstream).await {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound)
                                    .await;
                            }
                        });
                    }
                }
            }
        });
        Relay { stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.expect("the relay stops");
    }
}

/// The next status the watch reports.
async fn next_status(
    statuses: &mut tonic::Streaming<HealthCheckResponse>,
    expected: ServingStatus,
) -> ServingStatus {
    let response = tokio::time::timeout(PATIENCE, statuses.next())
        .await
        .unwrap_or_else(|_| {
            panic!("no health change within {PATIENCE:?}, waiting for {expected:?}")
        })
        .expect("the watch goes on")
        .expect("a status");
    ServingStatus::try_from(response.status).expect("a known status")
}

async fn status_of(
    health: &mut HealthClient<tonic::transport::Channel>,
    service: &str,
) -> ServingStatus {
    let response = health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .expect("health answers")
        .into_inner();
    ServingStatus::try_from(response.status).expect("a known status")
}

#[tokio::test(flavor = "multi_thread")]
async fn monitor_and_audit_are_not_serving_while_the_views_are_away() {
    let Some(base_url) = testing::reachable_database(SUITE).await else {
        return;
    };
    let schema = TestSchema::create(&base_url)
        .await
        .expect("test schema creates");
    let options = schema.connect_options().expect("the schema's options");
    let upstream: SocketAddr = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("the test database's address resolves")
        .next()
        .expect("an address");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let relay_addr = listener.local_addr().expect("its address");
    let relay = Relay::start(listener, upstream).await;
    let store = PgStore::connect_within(
        options.host("127.0.0.1").port(relay_addr.port()),
        CONNECT_TIMEOUT,
    )
    .await
    .expect("the store connects through the relay");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let log = EmbeddedLog::open(&dir.path().join("log"), 2).expect("the log opens");
    let token = generate_token();
    let node = Node::start_on(
        Arc::new(log),
        Arc::new(store.clone()),
        "127.0.0.1:0".parse().expect("an address"),
        Arc::new(SystemClock),
        PolicyInForce::shipped(),
        NodeOptions {
            tick_every: None,
            edge: Edge {
                auth: Authenticator::new(vec![PrincipalSpec::unlimited(
                    "office",
                    Role::Monitor,
                    &token,
                )])
                .expect("a valid principal"),
                tls: None,
            },
            ..NodeOptions::default()
        },
    )
    .await
    .expect("the node starts");
    let url = format!("http://{}", node.addr);
    let mut health = HealthClient::new(
        tonic::transport::Endpoint::from_shared(url.clone())
            .expect("a valid address")
            .connect()
            .await
            .expect("health connects"),
    );
    let mut monitor = MonitorServiceClient::new(
        casewatch_proto::client::connect(&url, &token)
            .await
            .expect("connects"),
    );
    let monitor_name = "casewatch.v1.MonitorService";
    let mut statuses = health
        .watch(HealthCheckRequest {
            service: monitor_name.to_owned(),
        })
        .await
        .expect("the watch opens")
        .into_inner();
    assert_eq!(
        next_status(&mut statuses, ServingStatus::Serving).await,
        ServingStatus::Serving
    );
    monitor
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .expect("the views answer through the relay");

    // The database goes away.
    relay.stop().await;
    assert_eq!(
        next_status(&mut statuses, ServingStatus::NotServing).await,
        ServingStatus::NotServing
    );
    assert_eq!(
        status_of(&mut health, "casewatch.v1.AuditService").await,
        ServingStatus::NotServing
    );
    assert_eq!(
        status_of(&mut health, "casewatch.v1.IngestService").await,
        ServingStatus::Serving,
        "ingest needs only the log"
    );
    let asked = Instant::now();
    let refused = monitor
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .expect_err("no views to read");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert!(
        asked.elapsed() < CONNECT_TIMEOUT * 4,
        "a read waited {:?} for views that are away",
        asked.elapsed()
    );

    // And comes back on the same address.
    let listener = TcpListener::bind(relay_addr)
        .await
        .expect("the relay's port again");
    let relay = Relay::start(listener, upstream).await;
    assert_eq!(
        next_status(&mut statuses, ServingStatus::Serving).await,
        ServingStatus::Serving
    );
    monitor
        .list_alerts(pb::ListAlertsRequest::default())
        .await
        .expect("the views answer again");

    // The open watch would hold the stopping server for its grace period.
    drop((statuses, health, monitor));
    node.stop().await;
    store.close().await;
    relay.stop().await;
    schema.remove().await.expect("test schema drops");
}
