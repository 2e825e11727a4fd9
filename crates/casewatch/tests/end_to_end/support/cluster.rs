//! The machinery of the end-to-end suite: a tansu broker process, a fresh PostgreSQL
//! database, the `casewatch` roles as child processes, and an embedded node to compare
//! with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use casewatch_domain::record::Content;
use casewatch_log::kafka::{KafkaConfig, KafkaLog};
use casewatch_log::{EventLog, Position};
use casewatch_proto::decode_record;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{generate_token, token_digest};
use casewatch_server::{FileClock, append_ticks};
use casewatch_store::ViewStore;
use casewatch_store::postgres::PgStore;
use casewatch_tests::Call;

use sqlx::Connection;

use super::child::{Role, free_port, signal};
use super::{Authorized, Harness, PARTITIONS};

/// The source named in the test's clock ticks (part of the record bytes, so the same in
/// every run compared).
const TICK_SOURCE: &str = "e2e";
/// `retention.ms` of the suite's topics: tansu 0.6 empties a topic whose retention is -1
/// (for ever, to Kafka) when it restarts, so 100 years instead.
const TANSU_RETENTION_MS: i64 = 3_153_600_000_000;
/// How long the suite waits for anything, at most.
const PATIENCE: Duration = Duration::from_secs(180);

/// Runs a command and insists it succeeds.
pub(crate) fn run(command: &[String]) {
    let status = Command::new(&command[0])
        .args(&command[1..])
        .status()
        .unwrap_or_else(|error| panic!("{command:?} does not run: {error}"));
    assert!(status.success(), "{command:?} failed: {status}");
}

/// The command that restarts this machine's PostgreSQL, where it has one.
pub(crate) fn postgres_restart_command() -> Option<Vec<String>> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .max()?;
    Command::new("pg_ctlcluster").arg("--help").output().ok()?;
    Some(
        [
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            &version,
            "main",
            "restart",
        ]
        .map(str::to_owned)
        .to_vec(),
    )
}

/// A tansu broker with its SQLite storage in a temporary directory, so it survives a
/// SIGKILL and restart.
pub(crate) struct Broker {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Broker {
    pub(crate) async fn start() -> Broker {
        let mut broker = Broker {
            child: None,
            port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
        };
        broker.spawn().await;
        broker
    }

    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let tansu = std::env::var("CASEWATCH_TANSU").unwrap_or_else(|_| "tansu".to_owned());
        let url = format!("tcp://{}", self.address());
        let child = Command::new(&tansu)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            // tansu resolves the SQLite path against its working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("`{tansu}` does not start ({error}): install it with `cargo install tansu --locked --features dynostore,libsql`")
            });
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while tokio::net::TcpStream::connect(self.address())
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "tansu did not listen"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("the broker runs").id()
    }

    /// SIGSTOP: the broker holds its connections but answers nothing.
    pub(crate) fn pause(&self) {
        signal(self.pid(), "STOP");
    }

    /// SIGCONT.
    pub(crate) fn resume(&self) {
        signal(self.pid(), "CONT");
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port and storage.
    pub(crate) async fn restart(&mut self) {
        self.kill();
        self.spawn().await;
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The log conformance suite's harness on a tansu broker: a topic per case.
pub(crate) struct TansuHarness {
    config: KafkaConfig,
    created: bool,
}

impl TansuHarness {
    pub(crate) fn new(broker: &Broker, case: &str) -> Self {
        Self {
            config: KafkaConfig {
                retention_ms: TANSU_RETENTION_MS,
                ..KafkaConfig::new(
                    broker.address(),
                    format!("conformance.{case}.{}", rand_suffix()),
                    8,
                )
            },
            created: false,
        }
    }
}

#[async_trait::async_trait]
impl casewatch_log::conformance::Harness for TansuHarness {
    type Log = KafkaLog;

    async fn open(&mut self, partitions: u32) -> KafkaLog {
        self.config.partitions = partitions;
        if !self.created {
            casewatch_log::kafka::ensure_topic(&self.config)
                .await
                .expect("the topic is created");
            self.created = true;
        }
        KafkaLog::connect(self.config.clone())
            .await
            .expect("the log connects")
    }

    fn deduplicates(&self) -> bool {
        false
    }

    fn atomic_appends(&self) -> bool {
        false
    }
}

/// A fresh PostgreSQL database; its URL.
async fn fresh_database(tag: &str) -> String {
    let base = std::env::var("CASEWATCH_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!(
        "casewatch_e2e_{tag}_{}_{}",
        std::process::id(),
        rand_suffix()
    );
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|error| panic!("PostgreSQL is not reachable at {base}: {error}"));
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("the database is created");
    let (prefix, _) = base.rsplit_once('/').expect("a database in the URL");
    format!("{prefix}/{name}")
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| u64::from(elapsed.subsec_nanos()))
}

/// What sending some appends came to.
#[derive(Debug, Default)]
pub(crate) struct Sent {
    /// Event id → where the ack said it lies.
    pub(crate) acknowledged: BTreeMap<String, Position>,
    /// Events refused as unavailable (or whose call failed as such).
    pub(crate) unavailable: usize,
}

/// Ingest, api and the projectors started so far, on one broker and one database.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    config: PathBuf,
    clock: PathBuf,
    views_url: String,
    tag: String,
    log: KafkaLog,
    ingest: IngestServiceClient<Authorized>,
    monitor: MonitorServiceClient<Authorized>,
    /// The highest offset appended per partition.
    high: BTreeMap<u32, u64>,
    _roles: Vec<Role>,
}

impl Cluster {
    pub(crate) async fn start(broker: &Broker, tag: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let views_url = fresh_database(tag).await;
        let clock = dir.path().join("clock");
        FileClock::write(&clock, casewatch_tests::local("2026-03-02 08:00")).expect("clock");
        let topic = format!("casewatch.e2e.{tag}");
        let counties = generate_token();
        let admin = generate_token();
        let config = dir.path().join("casewatch.toml");
        std::fs::write(
            &config,
            format!(
                r#"data = "{data}"
[log]
backend = "kafka"
partitions = {PARTITIONS}
[log.kafka]
brokers = "{brokers}"
topic = "{topic}"
group = "casewatch-e2e-{tag}"
append_timeout = "4s"
retention_ms = {TANSU_RETENTION_MS}
[log.kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
[views]
backend = "postgres"
url = "{views_url}"
[server]
tick_interval = "0s"
clock_file = "{clock}"
max_consistency_wait = "60s"
[server.limits]
requests_per_second = 0
events_per_second = 0
[[principals]]
name = "e2e-counties"
role = "county_system"
regions = ["000000"]
token_sha256 = "{counties}"
[[principals]]
name = "e2e-admin"
role = "admin"
regions = ["000000"]
token_sha256 = "{admin}"
"#,
                data = dir.path().join("data").display(),
                brokers = broker.address(),
                clock = clock.display(),
                counties = hex::encode(token_digest(&counties)),
                admin = hex::encode(token_digest(&admin)),
            ),
        )
        .expect("the configuration is written");
        let migrate = Command::new(env!("CARGO_BIN_EXE_casewatch"))
            .args(["migrate", "--config"])
            .arg(&config)
            .status()
            .expect("casewatch migrate runs");
        assert!(migrate.success(), "casewatch migrate failed");
        let ingest = Role::spawn(&["ingest"], &config);
        let api = Role::spawn(&["api"], &config);
        let log = KafkaLog::connect(KafkaConfig::new(broker.address(), topic, PARTITIONS))
            .await
            .expect("the test reaches the log");
        Cluster {
            ingest: IngestServiceClient::new(connect(&ingest.addr, &counties).await),
            monitor: MonitorServiceClient::new(connect(&api.addr, &admin).await),
            dir,
            config,
            clock,
            views_url,
            tag: tag.to_owned(),
            log,
            high: BTreeMap::new(),
            _roles: vec![ingest, api],
        }
    }

    /// Starts one more projector.
    pub(crate) async fn project(&self) -> Role {
        Role::spawn(&["project"], &self.config)
    }

    /// Subscribes to every alert change from the start.
    pub(crate) async fn subscribe(&self) -> tonic::Streaming<pb::Alert> {
        self.subscribe_after(0).await
    }

    /// Subscribes to alert changes after `cursor`, retrying while the api cannot answer.
    pub(crate) async fn subscribe_after(&self, cursor: u64) -> tonic::Streaming<pb::Alert> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut monitor = self.monitor.clone();
            match monitor
                .subscribe_alerts(pb::AlertFilter {
                    after_cursor: cursor,
                    from_beginning: cursor == 0,
                    ..Default::default()
                })
                .await
            {
                Ok(stream) => return stream.into_inner(),
                Err(status) if tokio::time::Instant::now() < deadline => {
                    eprintln!("subscribe: {status}; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(status) => panic!("cannot subscribe: {status}"),
            }
        }
    }

    /// Plays calls; every event must be acknowledged.
    pub(crate) async fn play(&mut self, calls: &[Call]) {
        for call in calls {
            match call {
                Call::Tick(at) => {
                    for appended in append_ticks(&self.log, *at, TICK_SOURCE)
                        .await
                        .expect("ticks append")
                    {
                        self.saw(appended.position);
                    }
                }
                Call::Append { .. } => {
                    let sent = self.try_send(std::slice::from_ref(call)).await;
                    assert_eq!(sent.unavailable, 0, "every event is acknowledged");
                }
            }
        }
    }

    /// Sends appends, retrying each until it is acknowledged.
    pub(crate) async fn send(&mut self, calls: &[Call]) -> BTreeMap<String, Position> {
        let mut acknowledged = BTreeMap::new();
        for call in calls {
            let deadline = tokio::time::Instant::now() + PATIENCE;
            loop {
                let sent = self.try_send(std::slice::from_ref(call)).await;
                let done = sent.unavailable == 0;
                acknowledged.extend(sent.acknowledged);
                if done {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "ingest never recovered"
                );
            }
        }
        acknowledged
    }

    /// Sends appends once each; reports what was acknowledged.
    pub(crate) async fn try_send(&mut self, calls: &[Call]) -> Sent {
        let mut sent = Sent::default();
        for call in calls {
            let Call::Append {
                recorded_at,
                events,
            } = call
            else {
                continue;
            };
            FileClock::write(&self.clock, *recorded_at).expect("the clock file is written");
            let mut request = tonic::Request::new(pb::AppendRequest {
                events: events.clone(),
                request_id: String::new(),
            });
            request.set_timeout(Duration::from_secs(15));
            let response = match self.ingest.append(request).await {
                Ok(response) => response.into_inner(),
                Err(status) => {
                    eprintln!("append failed: {status}");
                    sent.unavailable += events.len();
                    continue;
                }
            };
            for result in response.results {
                match result.outcome {
                    Some(pb::append_result::Outcome::Appended(appended)) => {
                        let position = appended.position.expect("a position");
                        let position = Position {
                            partition: position.partition,
                            offset: position.offset,
                        };
                        self.saw(position);
                        sent.acknowledged.insert(result.event_id, position);
                    }
                    Some(pb::append_result::Outcome::Error(error))
                        if error.code == i32::from(pb::event_error::Code::Unavailable) =>
                    {
                        sent.unavailable += 1;
                    }
                    other => panic!("event {} refused: {other:?}", result.event_id),
                }
            }
        }
        sent
    }

    fn saw(&mut self, position: Position) {
        let high = self.high.entry(position.partition).or_default();
        *high = (*high).max(position.offset);
    }

    fn consistency(&self) -> pb::ReadConsistency {
        pb::ReadConsistency {
            at_least: self
                .high
                .iter()
                .map(|(partition, offset)| pb::LogPosition {
                    partition: *partition,
                    offset: *offset,
                })
                .collect(),
        }
    }

    /// Waits until the api's views hold everything appended so far.
    pub(crate) async fn wait_until_projected(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let mut monitor = self.monitor.clone();
            let request = pb::ListAlertsRequest {
                page_size: 1,
                consistency: Some(self.consistency()),
                ..Default::default()
            };
            match monitor.list_alerts(request).await {
                Ok(_) => return,
                Err(status) if tokio::time::Instant::now() < deadline => {
                    eprintln!("views not there yet: {status}");
                }
                Err(status) => panic!("the views never caught up: {status}"),
            }
        }
    }

    /// Every alert, as the api lists it once the views hold everything appended.
    pub(crate) async fn alerts(&self) -> Vec<pb::Alert> {
        self.wait_until_projected().await;
        let mut monitor = self.monitor.clone();
        monitor
            .list_alerts(pb::ListAlertsRequest {
                page_size: 1000,
                consistency: Some(self.consistency()),
                ..Default::default()
            })
            .await
            .expect("alerts list")
            .into_inner()
            .alerts
    }

    async fn views(&self) -> PgStore {
        PgStore::connect(&self.views_url)
            .await
            .expect("the test reaches the views")
    }

    /// Every alert cursor in the views, in order.
    pub(crate) async fn stored_cursors(&self) -> Vec<u64> {
        let views = self.views().await;
        let changes = views
            .alert_changes_after(0, &casewatch_store::AlertFilter::default(), u32::MAX)
            .await
            .expect("alert changes read");
        views.close().await;
        changes.iter().map(|change| change.cursor).collect()
    }

    /// The live views' digest.
    pub(crate) async fn digest(&self) -> String {
        let views = self.views().await;
        let digest = views.digest().await.expect("a digest");
        views.close().await;
        hex::encode(digest)
    }

    /// Positions of the step archive.
    pub(crate) async fn archived_positions(&self) -> BTreeSet<Position> {
        let mut connection = sqlx::PgConnection::connect(&self.views_url)
            .await
            .expect("the test reaches the views");
        let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT partition, log_offset FROM steps")
            .fetch_all(&mut connection)
            .await
            .expect("the archive reads");
        rows.into_iter()
            .map(|(partition, offset)| Position {
                partition: u32::try_from(partition).expect("a partition"),
                offset: u64::try_from(offset).expect("an offset"),
            })
            .collect()
    }

    /// Event id → position of every case step on the log.
    pub(crate) async fn log_events(&self) -> BTreeMap<String, Position> {
        let mut events = BTreeMap::new();
        for partition in 0..PARTITIONS {
            let end = self.log.high_water(partition).await.expect("a high water");
            let mut next = 0;
            while next < end {
                for record in self.log.read(partition, next, 1000).await.expect("a read") {
                    next = record.position.offset + 1;
                    if let Ok((_, Content::Step(event))) = decode_record(&record.bytes) {
                        events.insert(event.event_id.to_string(), record.position);
                    }
                }
            }
        }
        events
    }

    /// `casewatch rebuild` of the log into a fresh PostgreSQL database; the rebuilt digest.
    pub(crate) async fn rebuild_into_postgres(&self) -> String {
        let target = fresh_database(&format!("{}_rebuild", self.tag)).await;
        self.rebuild(&target)
    }

    /// `casewatch rebuild` of the log into a fresh SQLite file; the rebuilt digest.
    pub(crate) async fn rebuild_into_sqlite(&self) -> String {
        let target = self
            .dir
            .path()
            .join(format!("rebuilt-{}.db", rand_suffix()));
        self.rebuild(&target.display().to_string())
    }

    fn rebuild(&self, target: &str) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_casewatch"))
            .args(["rebuild", "--config"])
            .arg(&self.config)
            .args(["--into", target])
            .stderr(Stdio::inherit())
            .output()
            .expect("casewatch rebuild runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "casewatch rebuild failed: {stdout}"
        );
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("rebuilt digest "))
            .unwrap_or_else(|| panic!("no digest in `{stdout}`"))
            .trim()
            .to_owned()
    }
}

/// Connects once the role listens, calling with `token`.
async fn connect(addr: &str, token: &str) -> Authorized {
    casewatch_proto::client::connect(&format!("http://{addr}"), token)
        .await
        .unwrap_or_else(|error| panic!("casewatch does not answer on {addr}: {error}"))
}

/// The digest of an embedded node's views after the same calls, the node the in-process
/// suites start.
pub(crate) async fn embedded_digest(calls: &[Call]) -> String {
    let harness = Harness::start().await;
    let mut ingest = harness.ingest();
    for call in calls {
        match call {
            Call::Append {
                recorded_at,
                events,
            } => {
                harness.clock.set(*recorded_at);
                ingest
                    .append(pb::AppendRequest {
                        events: events.clone(),
                        request_id: String::new(),
                    })
                    .await
                    .expect("the embedded node appends");
            }
            Call::Tick(at) => {
                append_ticks(&*harness.node.state.log, *at, TICK_SOURCE)
                    .await
                    .expect("ticks append");
            }
        }
    }
    harness.wait_until_projected().await;
    let digest = hex::encode(harness.node.state.store.digest().await.expect("a digest"));
    harness.node.stop().await;
    digest
}
