//! A county system streaming far beyond what the server can take, on every stream its
//! limits allow, re-sending the same cases: the server's memory stays bounded — its ingest capacity holds the flood
//! back and HTTP/2 flow control pushes back on the sender — and other principals are still
//! served meanwhile. Prints the server's peak memory for the record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use casewatch_proto::client::Authorized;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{generate_token, token_digest};
use casewatch_tests::{local, submission};
use tokio_stream::StreamExt;
use tonic::Code;
use tonic::transport::Channel;

use crate::support::child;
use child::Role;

/// The flooding principal's streams: all its limit allows.
const FLOOD_STREAMS: usize = 4;
const EVENTS_PER_REQUEST: usize = 500;
/// Each stream sends the same requests over and over, as a county system stuck re-sending
/// would: the flood is in the traffic, not in new cases (whose views the projector keeps).
const DISTINCT_REQUESTS: usize = 20;
/// Calls the other principals make while the flood goes on.
const OTHER_CALLS: usize = 60;
/// The server's append capacity in this test.
const INFLIGHT: &str = "8MiB";
/// The most the server may hold at its peak (its resident set's high-water mark): the
/// log's and the views' caches, the projector's cases and the capacity above. The flood
/// offers more than this in the time the other calls take (about 2 million events of some
/// 330 bytes), so a server that buffered it would not stay below.
const MEMORY_BOUND_MIB: u64 = 512;

struct Tokens {
    flooder: String,
    county: String,
    monitor: String,
}

fn configure(dir: &std::path::Path) -> (std::path::PathBuf, Tokens) {
    let tokens = Tokens {
        flooder: generate_token(),
        county: generate_token(),
        monitor: generate_token(),
    };
    let digest = |token: &str| hex::encode(token_digest(token));
    let config = dir.join("casewatch.toml");
    std::fs::write(
        &config,
        format!(
            r#"data = "{data}"
[log]
partitions = 4
[server]
max_inflight_appends = "{INFLIGHT}"
[[principals]]
name = "flooder"
role = "county_system"
regions = ["330106"]
token_sha256 = "{flooder}"
events_per_second = 0
streams = {FLOOD_STREAMS}
[[principals]]
name = "county-330102"
role = "county_system"
regions = ["330102"]
token_sha256 = "{county}"
[[principals]]
name = "monitor"
role = "monitor"
regions = ["000000"]
token_sha256 = "{monitor}"
"#,
            data = dir.join("data").display(),
            flooder = digest(&tokens.flooder),
            county = digest(&tokens.county),
            monitor = digest(&tokens.monitor),
        ),
    )
    .expect("the configuration is written");
    (config, tokens)
}

async fn channel(role: &Role, token: &str) -> Authorized<Channel> {
    casewatch_proto::client::connect(&format!("http://{}", role.addr), token)
        .await
        .expect("the server accepts connections")
}

/// The resident set's high-water mark of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("a VmHWM line")
}

/// What the flooding streams share: how much they sent, how much was acknowledged, and
/// whether to stop.
#[derive(Default)]
struct Flood {
    sent: AtomicU64,
    acked: AtomicU64,
    stop: AtomicBool,
}

/// One flooding stream: requests made as fast as the transport takes them until the flood
/// stops; says when the server has opened the stream, and ends when every request sent is
/// answered.
fn flood(
    mut ingest: IngestServiceClient<Authorized<Channel>>,
    stream: usize,
    flood: Arc<Flood>,
    opened: tokio::sync::mpsc::Sender<()>,
) -> tokio::task::JoinHandle<Result<(), tonic::Status>> {
    let at = local("2026-03-02 09:00");
    let (stopping, counting) = (flood.clone(), flood.clone());
    let requests = tokio_stream::iter(0..)
        .take_while(move |_| !stopping.stop.load(Ordering::Relaxed))
        .map(move |request: usize| {
            let events = (0..EVENTS_PER_REQUEST)
                .map(|n| {
                    submission(
                        &format!("330106-FLOOD-{stream}-{}-{n}", request % DISTINCT_REQUESTS),
                        "330106",
                        at,
                    )
                })
                .collect();
            counting.sent.fetch_add(1, Ordering::Relaxed);
            pb::AppendRequest {
                events,
                request_id: request.to_string(),
            }
        });
    tokio::spawn(async move {
        let mut responses = ingest.append_stream(requests).await?.into_inner();
        let _ = opened.send(()).await;
        while let Some(response) = responses.next().await {
            let appended = response?
                .results
                .iter()
                .filter(|result| {
                    matches!(
                        result.outcome,
                        Some(pb::append_result::Outcome::Appended(_))
                    )
                })
                .count();
            flood.acked.fetch_add(appended as u64, Ordering::Relaxed);
        }
        Ok(())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_is_held_back_and_others_are_still_served() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (config, tokens) = configure(dir.path());
    let server = Role::spawn(&["serve"], &config);
    let before_kib = peak_kib(server.pid());

    let counts = Arc::new(Flood::default());
    let mut floods = Vec::new();
    let (opened, mut open) = tokio::sync::mpsc::channel(FLOOD_STREAMS);
    for stream in 0..FLOOD_STREAMS {
        // A connection each, as separate county front ends would have.
        let ingest = IngestServiceClient::new(channel(&server, &tokens.flooder).await);
        floods.push(flood(ingest, stream, counts.clone(), opened.clone()));
    }
    for _ in 0..FLOOD_STREAMS {
        open.recv().await.expect("every flood stream opens");
    }
    // One stream more than the flooder's limit is refused.
    let mut extra = IngestServiceClient::new(channel(&server, &tokens.flooder).await);
    let refused = extra
        .append_stream(tokio_stream::pending::<pb::AppendRequest>())
        .await;
    let refused = match refused {
        Err(status) => status,
        Ok(responses) => responses
            .into_inner()
            .next()
            .await
            .expect("an answer")
            .expect_err("a stream over the limit"),
    };
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");

    let mut county = IngestServiceClient::new(channel(&server, &tokens.county).await);
    let mut monitor = MonitorServiceClient::new(channel(&server, &tokens.monitor).await);
    let mut slowest = Duration::ZERO;
    for call in 0..OTHER_CALLS {
        let started = Instant::now();
        let event = submission(
            &format!("330102-OTHER-{call}"),
            "330102",
            local("2026-03-02 10:00"),
        );
        let response = county
            .append(pb::AppendRequest {
                events: vec![event],
                request_id: String::new(),
            })
            .await
            .expect("the other county is served")
            .into_inner();
        casewatch_tests::assert_appended(&response);
        monitor
            .list_alerts(pb::ListAlertsRequest {
                page_size: 10,
                ..Default::default()
            })
            .await
            .expect("the monitor is served");
        slowest = slowest.max(started.elapsed());
    }
    assert!(
        floods.iter().all(|flood| !flood.is_finished()),
        "the flood kept going while the others were served"
    );
    counts.stop.store(true, Ordering::Relaxed);
    for flood in floods {
        flood
            .await
            .expect("the stream's task")
            .expect("every request of the flood is answered");
    }
    let peak = peak_kib(server.pid());
    let sent = counts.sent.load(Ordering::Relaxed) * EVENTS_PER_REQUEST as u64;
    let acked = counts.acked.load(Ordering::Relaxed);
    eprintln!(
        "flood: {FLOOD_STREAMS} streams took {sent} events from the flooder and acknowledged \
         {acked}; {OTHER_CALLS} appends and reads of others, the slowest {slowest:?}; server \
         memory peak {} MiB (at start {} MiB), capacity {INFLIGHT}",
        peak / 1024,
        before_kib / 1024
    );
    assert!(acked > 0, "the flood was appended, not only refused");
    assert!(
        peak / 1024 < MEMORY_BOUND_MIB,
        "the server's peak memory {} MiB is over {MEMORY_BOUND_MIB} MiB",
        peak / 1024
    );
    server.terminate();
}
