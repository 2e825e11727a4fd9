//! The ingest scenarios: throughput of concurrent `AppendStream` clients against the log
//! alone and against a raw PostgreSQL insert, `Append` latency at a fixed offered load, and
//! memory under a tenfold overload.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use casewatch_log::EventLog;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_server::{IngestState, ServerOptions, Services, SystemClock};
use casewatch_store::postgres::testing::TestSchema;
use futures::StreamExt;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::report::{Latencies, Report, rss_bytes};
use super::workload::{Step, step_record};
use super::{Bench, append_all};

/// A client of the ingest service, with the bench's credentials.
type IngestClient = IngestServiceClient<casewatch_proto::client::Authorized<Channel>>;

/// Requests a stream client may have sent and not yet seen answered.
const WINDOW: usize = 8;

/// An ingest service alone, over a log, on a free loopback port.
struct IngestServer {
    addr: SocketAddr,
    /// The development administrator's, which every client sends.
    token: String,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), casewatch_server::ServeError>>,
}

impl IngestServer {
    async fn start(log: Arc<dyn EventLog>) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let (auth, token) = casewatch_server::auth::Authenticator::development();
        let services = Services {
            ingest: Some(IngestState {
                log,
                clock: Arc::new(SystemClock),
                options: ServerOptions::default(),
                shutdown: shutdown.clone(),
            }),
            views: None,
            edge: casewatch_server::Edge { auth, tls: None },
        };
        let task = tokio::spawn(casewatch_server::serve(
            listener,
            services,
            shutdown.clone(),
        ));
        Ok(Self {
            addr,
            token,
            shutdown,
            task,
        })
    }

    /// `count` clients, each on a connection of its own.
    async fn clients(&self, count: usize) -> anyhow::Result<Vec<IngestClient>> {
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let channel = crate::client::connect_local(self.addr, &self.token).await?;
            clients.push(IngestServiceClient::new(channel));
        }
        Ok(clients)
    }

    async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}

/// What the stream clients did.
#[derive(Debug)]
struct Streamed {
    appended: u64,
    elapsed: Duration,
    latencies: Latencies,
}

/// The steps as append requests of `batch` events.
fn requests(steps: &[Step], batch: usize) -> Vec<pb::AppendRequest> {
    steps
        .chunks(batch.max(1))
        .map(|chunk| pb::AppendRequest {
            request_id: String::new(),
            events: chunk.iter().map(|step| step.event.clone()).collect(),
        })
        .collect()
}

/// One `AppendStream` client: sends `requests` (until `deadline`, if any) with at most
/// [`WINDOW`] unanswered, and measures each request's acknowledgement.
async fn stream_client(
    mut client: IngestClient,
    requests: impl Iterator<Item = pb::AppendRequest> + Send + 'static,
    deadline: Option<Instant>,
) -> anyhow::Result<(u64, Latencies)> {
    let window = Arc::new(Semaphore::new(WINDOW));
    let (sent, mut sent_at) = mpsc::unbounded_channel::<Instant>();
    let (outgoing, stream) = mpsc::channel(WINDOW);
    let sender_window = window.clone();
    tokio::spawn(async move {
        for request in requests {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break;
            }
            let Ok(permit) = sender_window.acquire().await else {
                break;
            };
            permit.forget();
            // Answers come in request order, so the send instants queue up the same way.
            if sent.send(Instant::now()).is_err() || outgoing.send(request).await.is_err() {
                break;
            }
        }
    });
    let mut responses = client
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(stream))
        .await
        .context("open an append stream")?
        .into_inner();
    let mut latencies = Latencies::new();
    let mut appended = 0;
    while let Some(response) = responses.message().await.context("append stream")? {
        let sent = sent_at
            .recv()
            .await
            .context("an answer to a request never sent")?;
        latencies.record(sent.elapsed());
        window.add_permits(1);
        for result in response.results {
            match result.outcome {
                Some(pb::append_result::Outcome::Appended(_)) => appended += 1,
                other => bail!("event `{}` not appended: {other:?}", result.event_id),
            }
        }
    }
    Ok((appended, latencies))
}

/// `clients` stream clients sharing `steps`, each sending its share once.
async fn stream_once(
    server: &IngestServer,
    steps: &[Step],
    bench: &Bench,
) -> anyhow::Result<Streamed> {
    let clients = server.clients(bench.args.clients).await?;
    let share = steps.len().div_ceil(clients.len().max(1));
    let shares: Vec<Vec<pb::AppendRequest>> = steps
        .chunks(share.max(1))
        .map(|steps| requests(steps, bench.args.batch))
        .collect();
    let started = Instant::now();
    let mut running = JoinSet::new();
    for (client, share) in clients.into_iter().zip(shares) {
        running.spawn(stream_client(client, share.into_iter(), None));
    }
    collect(running, started).await
}

async fn collect(
    mut running: JoinSet<anyhow::Result<(u64, Latencies)>>,
    started: Instant,
) -> anyhow::Result<Streamed> {
    let mut streamed = Streamed {
        appended: 0,
        elapsed: Duration::ZERO,
        latencies: Latencies::new(),
    };
    while let Some(done) = running.join_next().await {
        let (appended, latencies) = done??;
        streamed.appended += appended;
        streamed.latencies.add(&latencies);
    }
    streamed.elapsed = started.elapsed();
    Ok(streamed)
}

/// Scenario 1: stream ingest on each log backend, beside its storage limit and a raw
/// PostgreSQL insert of the same bytes.
pub(super) async fn stream(bench: &Bench) -> anyhow::Result<Vec<Report>> {
    let steps = &bench.workload.steps;
    let mut reports = Vec::new();

    let mut report = Report::new("stream_ingest", "embedded");
    describe(&mut report, bench, steps.len());
    let streamed = measure_stream(&mut report, bench.embedded_log("stream")?, steps, bench).await?;
    let storage = storage_limit(
        &mut report,
        bench.embedded_log("stream-storage")?,
        steps,
        bench,
    )
    .await?;
    let ratio = report.ratio(
        "storage_ratio",
        "Casewatch / storage limit",
        streamed,
        storage,
    );
    report.target("≥ 150,000 events/s", streamed >= 150_000.0);
    report.target("≥ 0.8 × the storage limit", ratio >= 0.8);
    match raw_postgres(bench, steps).await? {
        Some((inserted, elapsed)) => {
            let raw = report.rate(
                "postgres_events_per_s",
                "reference: raw multi-row INSERT into PostgreSQL",
                inserted,
                elapsed,
            );
            let ratio = report.ratio(
                "postgres_ratio",
                "Casewatch / raw PostgreSQL",
                streamed,
                raw,
            );
            report.target("≥ 2 × the raw PostgreSQL insert", ratio >= 2.0);
        }
        None => report.skipped("postgres", "PostgreSQL not reachable"),
    }
    reports.push(report);

    if let Some(broker) = &bench.args.kafka {
        let mut report = Report::new("stream_ingest", "kafka");
        describe(&mut report, bench, steps.len());
        report.value("broker", "broker", broker.clone());
        let streamed = measure_stream(
            &mut report,
            bench.kafka_log(broker, "stream").await?,
            steps,
            bench,
        )
        .await?;
        let storage = storage_limit(
            &mut report,
            bench.kafka_log(broker, "stream-storage").await?,
            steps,
            bench,
        )
        .await?;
        report.ratio(
            "storage_ratio",
            "Casewatch / the broker's limit",
            streamed,
            storage,
        );
        reports.push(report);
    }
    Ok(reports)
}

fn describe(report: &mut Report, bench: &Bench, events: usize) {
    report.value("events", "events", events);
    report.value("clients", "AppendStream clients", bench.args.clients);
    report.value("batch", "events per request", bench.args.batch);
    report.value("window", "requests in flight per client", WINDOW);
}

/// Casewatch's own figure: the stream clients through gRPC into `log`; events/s.
async fn measure_stream(
    report: &mut Report,
    log: Arc<dyn EventLog>,
    steps: &[Step],
    bench: &Bench,
) -> anyhow::Result<f64> {
    let server = IngestServer::start(log).await?;
    let streamed = stream_once(&server, steps, bench).await?;
    server.stop().await?;
    let rate = report.rate(
        "events_per_s",
        "Casewatch: AppendStream over gRPC, durable acks",
        streamed.appended,
        streamed.elapsed,
    );
    report.latencies(
        "ack",
        "acknowledgement latency per request",
        &streamed.latencies,
    );
    Ok(rate)
}

/// The storage limit: the same records appended straight to `log`, with as many appends
/// in flight as the clients have requests, no gRPC and no validation; events/s.
async fn storage_limit(
    report: &mut Report,
    log: Arc<dyn EventLog>,
    steps: &[Step],
    bench: &Bench,
) -> anyhow::Result<f64> {
    let now = chrono::Utc::now();
    let batches: Vec<_> = steps
        .chunks(bench.args.batch.max(1))
        .map(|chunk| chunk.iter().map(|step| step_record(step, now)).collect())
        .collect();
    let (appended, elapsed) =
        append_all(log, batches.into_iter(), bench.args.clients * WINDOW).await?;
    Ok(report.rate(
        "storage_events_per_s",
        "reference: the log backend alone (no gRPC, no checks)",
        appended,
        elapsed,
    ))
}

/// What an operator would build instead: the same record bytes, multi-row INSERTs into a
/// plain table, as many connections as the clients have requests in flight (at most 16).
async fn raw_postgres(bench: &Bench, steps: &[Step]) -> anyhow::Result<Option<(u64, Duration)>> {
    let Some(url) = &bench.postgres else {
        return Ok(None);
    };
    let schema = TestSchema::create(url).await?;
    let connections = u32::try_from((bench.args.clients * WINDOW).min(16)).unwrap_or(16);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(connections)
        .connect(&schema.url)
        .await?;
    sqlx::query(
        "CREATE TABLE events (id BIGSERIAL PRIMARY KEY, case_no TEXT NOT NULL, bytes BYTEA NOT NULL)",
    )
    .execute(&pool)
    .await?;
    let now = chrono::Utc::now();
    let batches: Vec<Vec<(String, Vec<u8>)>> = steps
        .chunks(bench.args.batch.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .map(|step| (step.event.case_no.clone(), step_record(step, now).bytes))
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut inserted = 0;
    let mut inserts = futures::stream::iter(batches.into_iter().map(|batch| {
        let pool = pool.clone();
        async move {
            let mut insert = sqlx::QueryBuilder::new("INSERT INTO events (case_no, bytes) ");
            insert.push_values(&batch, |mut row, (case_no, bytes)| {
                row.push_bind(case_no).push_bind(bytes);
            });
            insert
                .build()
                .execute(&pool)
                .await
                .map(|done| done.rows_affected())
        }
    }))
    .buffer_unordered(connections as usize);
    while let Some(done) = inserts.next().await {
        inserted += done?;
    }
    let elapsed = started.elapsed();
    pool.close().await;
    schema.remove().await?;
    Ok(Some((inserted, elapsed)))
}

/// Scenario 2: one-event `Append` calls at a fixed offered load; latency.
pub(super) async fn unary(bench: &Bench) -> anyhow::Result<Vec<Report>> {
    let rate = bench.args.unary_rate.max(1);
    let seconds = if bench.quick() { 3 } else { 10 };
    let calls = (rate as usize * seconds).min(bench.workload.steps.len());
    let mut report = Report::new("unary_ingest", "embedded");
    report.value(
        "offered_per_s",
        "offered load (calls/s, one event each)",
        rate,
    );
    let server = IngestServer::start(bench.embedded_log("unary")?).await?;
    let clients = server.clients(4).await?;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let started = tokio::time::Instant::now();
    let mut running = JoinSet::new();
    let mut latencies = Latencies::new();
    for (index, step) in bench.workload.steps[..calls].iter().enumerate() {
        tokio::time::sleep_until(started + interval * u32::try_from(index)?).await;
        let mut client = clients[index % clients.len()].clone();
        let request = pb::AppendRequest {
            request_id: String::new(),
            events: vec![step.event.clone()],
        };
        running.spawn(async move {
            let sent = Instant::now();
            client.append(request).await.map(|_| sent.elapsed())
        });
        while let Some(done) = running.try_join_next() {
            latencies.record(done??);
        }
    }
    while let Some(done) = running.join_next().await {
        latencies.record(done??);
    }
    let elapsed = started.elapsed();
    server.stop().await?;
    report.rate("achieved_per_s", "achieved", latencies.count(), elapsed);
    report.latencies("latency", "Append latency", &latencies);
    report.target("p99 ≤ 2 ms", latencies.millis(0.99) <= 2.0);
    let dir = bench.scratch("unary-disk")?;
    let flushes = tokio::task::spawn_blocking(move || disk_flushes(&dir, 200)).await??;
    report.latencies(
        "disk_flush",
        "reference: 4 KiB written and flushed to this disk",
        &flushes,
    );
    Ok(vec![report])
}

/// Scenario 6b: ten times the stream clients, each sending as fast as the server lets it,
/// while the resident set size is sampled: it must stay flat (backpressure, not buffering).
pub(super) async fn overload(bench: &Bench) -> anyhow::Result<Report> {
    let duration = Duration::from_secs(if bench.quick() { 4 } else { 20 });
    let clients = bench.args.clients * 10;
    let mut report = Report::new("ingest_overload", "embedded");
    report.value(
        "clients",
        "AppendStream clients (10 × the stream scenario)",
        clients,
    );
    report.value("seconds", "duration (s)", duration.as_secs());
    let server = IngestServer::start(bench.embedded_log("overload")?).await?;
    let connections = server.clients(clients).await?;
    let requests = Arc::new(requests(&bench.workload.steps, bench.args.batch));
    let before = rss_bytes().unwrap_or(0);
    let started = Instant::now();
    let deadline = started + duration;
    let mut running = JoinSet::new();
    for (index, client) in connections.into_iter().enumerate() {
        // Each client goes round the workload from its own starting point; after the first
        // round its events are re-sends, which the log answers as duplicates.
        let requests = requests.clone();
        let cycle = (0..).map(move |n| requests[(index * 997 + n) % requests.len()].clone());
        running.spawn(stream_client(client, cycle, Some(deadline)));
    }
    let mut samples = Vec::new();
    let mut every = tokio::time::interval(Duration::from_millis(200));
    let collecting = collect(running, started);
    tokio::pin!(collecting);
    let streamed = loop {
        tokio::select! {
            _ = every.tick() => samples.push((started.elapsed(), rss_bytes().unwrap_or(0))),
            done = &mut collecting => break done?,
        }
    };
    server.stop().await?;
    let mib = |bytes: u64| (bytes as f64 / (1024.0 * 1024.0) * 10.0).round() / 10.0;
    let half = duration / 2;
    let first = samples
        .iter()
        .filter(|(at, _)| *at < half)
        .map(|(_, rss)| *rss)
        .max();
    let second = samples
        .iter()
        .filter(|(at, _)| *at >= half)
        .map(|(_, rss)| *rss)
        .max();
    report.rate(
        "events_per_s",
        "acknowledged",
        streamed.appended,
        streamed.elapsed,
    );
    report.latencies(
        "ack",
        "acknowledgement latency per request",
        &streamed.latencies,
    );
    report.value("rss_before_mib", "RSS before (MiB)", mib(before));
    let (first, second) = (first.unwrap_or(before), second.unwrap_or(before));
    report.value(
        "rss_first_half_max_mib",
        "RSS, largest in the first half (MiB)",
        mib(first),
    );
    report.value(
        "rss_second_half_max_mib",
        "RSS, largest in the second half (MiB)",
        mib(second),
    );
    report.target(
        "flat RSS: the second half grows < 10 % over the first",
        second as f64 <= first as f64 * 1.1,
    );
    Ok(report)
}

/// The disk's own floor under a durable acknowledgement: `count` times, 4 KiB appended to a
/// file and flushed to the disk (`fdatasync`), as every commit of the log does at least once.
fn disk_flushes(dir: &std::path::Path, count: usize) -> anyhow::Result<Latencies> {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("flush-probe"))?;
    let page = [0u8; 4096];
    let mut latencies = Latencies::new();
    for _ in 0..count {
        let started = Instant::now();
        file.write_all(&page)?;
        file.sync_data()?;
        latencies.record(started.elapsed());
    }
    Ok(latencies)
}
