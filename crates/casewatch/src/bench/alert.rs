//! Scenario 4: from an ingest call whose event makes a rule fire to the alert arriving at a
//! `SubscribeAlerts` subscriber, on a whole node under background load.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use casewatch_domain::case::{Case, Policy};
use casewatch_domain::event::CaseEvent;
use casewatch_domain::policy::PolicyInForce;
use casewatch_log::EventLog;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::ManualClock;
use casewatch_server::node::{Node, NodeOptions, open_storage};
use casewatch_store::ViewStore;
use tokio_util::sync::CancellationToken;

use super::report::{Latencies, Report};
use super::workload::Step;
use super::{Bench, PARTITIONS};

/// Background loads on the node while the probes run, in events per second: a busy
/// province's peak many times over, and about what one node's live projector folds into
/// SQLite views at most (each step rewrites its case's row and index pages).
const LOADS: [u32; 2] = [1_000, 10_000];
/// Time between two probes.
const PROBE_EVERY: Duration = Duration::from_millis(20);
/// How long the last probe's alert may take before the scenario fails.
const GIVE_UP_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn push_to_alert(bench: &Bench) -> anyhow::Result<Vec<Report>> {
    let probe = Probe::find(&bench.workload.steps)?;
    let mut reports = Vec::new();
    for load in LOADS {
        let (log, store) =
            open_storage(&bench.scratch(&format!("alert-{load}"))?, PARTITIONS).await?;
        reports.push(measure(bench, &probe, log, store, "embedded", load).await?);
    }
    let Some(broker) = &bench.args.kafka else {
        return Ok(reports);
    };
    for load in LOADS {
        match bench.postgres_views().await? {
            Some((store, schema)) => {
                let log = bench.kafka_log(broker, &format!("alert-{load}")).await?;
                let store = Arc::new(store);
                let backend = "kafka + postgres";
                reports.push(measure(bench, &probe, log, store.clone(), backend, load).await?);
                store.close().await;
                schema.remove().await?;
            }
            None => {
                let mut report = Report::new("push_alert", "kafka + postgres");
                report.skipped("kafka_postgres", "PostgreSQL not reachable");
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

/// The steps of one simulated case whose last step makes a rule fire, sent again and again
/// under new case numbers.
struct Probe {
    steps: Vec<Step>,
}

impl Probe {
    /// The first case of the workload with a step that raises an alert as soon as it is
    /// folded, with its steps up to that one, all recorded at that step's instant.
    fn find(workload: &[Step]) -> anyhow::Result<Self> {
        let policy = Policy::default();
        let mut cases: HashMap<&str, Vec<&Step>> = HashMap::new();
        let mut order = Vec::new();
        for step in workload {
            let steps = cases.entry(step.event.case_no.as_str()).or_default();
            if steps.is_empty() {
                order.push(step.event.case_no.as_str());
            }
            steps.push(step);
        }
        for case_no in order {
            let steps = &cases[case_no];
            for last in 0..steps.len() {
                let candidate: Vec<Step> = steps[..=last]
                    .iter()
                    .map(|step| Step {
                        event: step.event.clone(),
                        recorded_at: steps[last].recorded_at,
                    })
                    .collect();
                if raises_alert(&candidate, &policy)? {
                    return Ok(Self { steps: candidate });
                }
            }
        }
        bail!("no case of the workload raises an alert")
    }

    /// The probe's case number for the `index`th probe.
    fn case_no(&self, index: usize) -> String {
        format!("{}-P{index:05}", self.steps[0].event.case_no)
    }

    fn request(&self, index: usize) -> pb::AppendRequest {
        let case_no = self.case_no(index);
        pb::AppendRequest {
            request_id: String::new(),
            events: self
                .steps
                .iter()
                .map(|step| pb::CaseEvent {
                    event_id: format!("{case_no}-{}", step.event.seq),
                    case_no: case_no.clone(),
                    ..step.event.clone()
                })
                .collect(),
        }
    }
}

/// Whether folding `steps` (in order, from nothing) raises an alert at the last one.
fn raises_alert(steps: &[Step], policy: &Policy) -> anyhow::Result<bool> {
    let mut case: Option<Case> = None;
    let mut raised = false;
    for step in steps {
        let event = CaseEvent::try_from(step.event.clone())
            .map_err(|error| anyhow::anyhow!("a simulated event is invalid: {error}"))?;
        let case = case.get_or_insert_with(|| Case::new(&event));
        raised = !case
            .handle_step(&event, step.recorded_at, policy)
            .alerts
            .is_empty();
    }
    Ok(raised)
}

/// Probes sent and not yet answered by an alert, and the latencies of those answered.
struct Waiting {
    sent: HashMap<String, Instant>,
    latencies: Option<Latencies>,
    /// The rule the probes' first alert came from.
    rule: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn measure(
    bench: &Bench,
    probe: &Probe,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ViewStore>,
    backend: &str,
    load: u32,
) -> anyhow::Result<Report> {
    let probes = if bench.quick() { 100 } else { 500 };
    let mut report = Report::new("push_alert", backend);
    report.value(
        "probes",
        "probes (each an Append whose last event fires a rule)",
        probes,
    );
    report.value("background_per_s", "background load (events/s)", load);
    let clock = Arc::new(ManualClock::new(probe.steps[0].recorded_at));
    let (auth, token) = casewatch_server::auth::Authenticator::development();
    let node = Node::start_on(
        log,
        store,
        "127.0.0.1:0".parse()?,
        clock,
        PolicyInForce::shipped(),
        NodeOptions {
            tick_every: None,
            edge: casewatch_server::Edge { auth, tls: None },
            ..NodeOptions::default()
        },
    )
    .await?;
    let channel = crate::client::connect_local(node.addr, &token).await?;

    let waiting = Arc::new(Mutex::new(Waiting {
        sent: HashMap::new(),
        latencies: Some(Latencies::new()),
        rule: None,
    }));
    let mut alerts = MonitorServiceClient::new(channel.clone())
        .subscribe_alerts(pb::AlertFilter::default())
        .await?
        .into_inner();
    let subscriber = {
        let waiting = waiting.clone();
        tokio::spawn(async move {
            let mut answered = 0;
            while answered < probes {
                let Some(alert) = alerts.message().await? else {
                    bail!("the alert feed ended after {answered} probes");
                };
                let mut waiting = lock(&waiting);
                if let Some(sent) = waiting.sent.remove(&alert.case_no) {
                    let latency = sent.elapsed();
                    waiting
                        .latencies
                        .as_mut()
                        .context("the latencies are taken only at the end")?
                        .record(latency);
                    waiting.rule.get_or_insert(alert.rule);
                    answered += 1;
                }
            }
            Ok(())
        })
    };

    let stop_load = CancellationToken::new();
    let load = tokio::spawn(background_load(
        IngestServiceClient::new(channel.clone()),
        Arc::clone(&bench.workload.steps),
        bench.args.batch,
        load,
        stop_load.clone(),
    ));
    let mut ingest = IngestServiceClient::new(channel);
    let started = tokio::time::Instant::now();
    for index in 0..probes {
        tokio::time::sleep_until(started + PROBE_EVERY * u32::try_from(index)?).await;
        lock(&waiting)
            .sent
            .insert(probe.case_no(index), Instant::now());
        ingest.append(probe.request(index)).await?;
    }
    tokio::time::timeout(GIVE_UP_AFTER, subscriber)
        .await
        .context("the probes' alerts did not all arrive")???;
    stop_load.cancel();
    let loaded = load.await??;
    node.stop().await;

    let (latencies, rule) = {
        let mut waiting = lock(&waiting);
        let latencies = waiting.latencies.take();
        (
            latencies.context("the latencies were taken twice")?,
            waiting.rule.take(),
        )
    };
    report.value("rule", "the rule the probes fire", rule.unwrap_or_default());
    report.value("background_events", "background events appended", loaded);
    report.latencies("latency", "push → alert latency", &latencies);
    let limit = if backend == "embedded" { 20.0 } else { 100.0 };
    report.target(
        &format!("p99 ≤ {limit} ms"),
        latencies.millis(0.99) <= limit,
    );
    Ok(report)
}

/// Appends the workload's steps at `load` events per second until `stop`; returns how
/// many.
async fn background_load(
    mut ingest: IngestServiceClient<casewatch_proto::client::Authorized<tonic::transport::Channel>>,
    steps: Arc<[Step]>,
    batch: usize,
    load: u32,
    stop: CancellationToken,
) -> anyhow::Result<u64> {
    let batch = batch.max(1);
    let every = Duration::from_secs_f64(batch as f64 / f64::from(load));
    let mut interval = tokio::time::interval(every);
    let mut appended = 0;
    for chunk in steps.chunks(batch) {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = interval.tick() => {}
        }
        let request = pb::AppendRequest {
            request_id: String::new(),
            events: chunk.iter().map(|step| step.event.clone()).collect(),
        };
        appended += ingest.append(request).await?.into_inner().results.len() as u64;
    }
    Ok(appended)
}
