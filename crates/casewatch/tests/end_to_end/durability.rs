//! `casewatch serve` as a child process, killed with SIGKILL while a client streams case
//! steps at it: after a restart every acknowledged step is on the log and in the views.

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use casewatch_proto::client::{Authorized, Bearer};
use casewatch_proto::pb;
use casewatch_proto::pb::audit_service_client::AuditServiceClient;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_sim::{Output, SimConfig, Simulator};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::support::child;

fn serve(data: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_casewatch"))
        .args(["serve", "--data"])
        .arg(data)
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--partitions",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("casewatch starts")
}

/// Connects once the child listens, with the development token it wrote before listening;
/// gives up after 60 seconds.
async fn connect(data: &std::path::Path, port: u16) -> Authorized<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("a valid address");
    for _ in 0..600 {
        if let Ok(channel) = endpoint.connect().await {
            let token = std::fs::read_to_string(data.join("dev-token")).expect("the token");
            let bearer = Bearer::new(&token).expect("an ascii token");
            return tonic::service::interceptor::InterceptedService::new(channel, bearer);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("casewatch did not start listening on port {port}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_acknowledged_step_survives_a_kill() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let port = child::free_port();
    let mut child = serve(data.path(), port);
    let mut ingest = IngestServiceClient::new(connect(data.path(), port).await);

    let events: Vec<pb::CaseEvent> = Simulator::new(SimConfig {
        days: 5,
        counties: 3,
        cases_per_county_day: 40,
        ..SimConfig::default()
    })
    .filter_map(|output| match output {
        Output::Step { event, .. } => Some(pb::CaseEvent::from(*event)),
        Output::Tick(_) => None,
    })
    .collect();
    let batches: Vec<pb::AppendRequest> = events
        .chunks(20)
        .enumerate()
        .map(|(index, chunk)| pb::AppendRequest {
            events: chunk.to_vec(),
            request_id: index.to_string(),
        })
        .collect();
    let total = batches.len();
    let (sender, receiver) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        for batch in batches {
            if sender.send(batch).await.is_err() {
                return;
            }
        }
    });
    let mut responses = ingest
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("the stream opens")
        .into_inner();
    // event id -> (case number, position), for every acknowledged step.
    let mut acked: BTreeMap<String, (String, pb::LogPosition)> = BTreeMap::new();
    let case_of: BTreeMap<String, String> = events
        .iter()
        .map(|event| (event.event_id.clone(), event.case_no.clone()))
        .collect();
    let mut answered = 0;
    while let Some(Ok(response)) = responses.next().await {
        assert_eq!(
            response.request_id,
            answered.to_string(),
            "the answers come in the order of the requests"
        );
        answered += 1;
        for result in response.results {
            if let Some(pb::append_result::Outcome::Appended(appended)) = result.outcome {
                let case_no = case_of[&result.event_id].clone();
                acked.insert(
                    result.event_id,
                    (case_no, appended.position.expect("a position")),
                );
            }
        }
        if answered == total / 2 {
            child.kill().expect("SIGKILL");
        }
    }
    child.wait().expect("the child is reaped");
    assert!(
        answered >= total / 2 && answered < total,
        "killed mid-stream: {answered} of {total}"
    );

    let mut child = serve(data.path(), port);
    let channel = connect(data.path(), port).await;
    let mut audit = AuditServiceClient::new(channel);
    let mut on_log = BTreeSet::new();
    let mut log = audit
        .read_log(pb::ReadLogRequest {
            kinds: vec![pb::RecordKind::CaseEvent.into()],
            ..Default::default()
        })
        .await
        .expect("the log reads")
        .into_inner();
    while let Some(record) = log.next().await {
        let record =
            pb::Record::decode(record.expect("a record").record.as_slice()).expect("an envelope");
        let event = pb::CaseEvent::decode(record.payload.as_slice()).expect("an event");
        on_log.insert(event.event_id);
    }
    let missing_from_log: Vec<_> = acked.keys().filter(|id| !on_log.contains(*id)).collect();
    assert!(
        missing_from_log.is_empty(),
        "acknowledged but lost: {missing_from_log:?}"
    );

    // The views catch up after the restart: every acknowledged step is in its case's
    // archive, at the position it was acknowledged with.
    let mut by_case: BTreeMap<&str, Vec<&pb::LogPosition>> = BTreeMap::new();
    for (case_no, position) in acked.values() {
        by_case.entry(case_no).or_default().push(position);
    }
    let mut monitor =
        pb::monitor_service_client::MonitorServiceClient::new(connect(data.path(), port).await);
    let mut found = 0;
    for (case_no, positions) in &by_case {
        monitor
            .get_case(pb::GetCaseRequest {
                case_no: (*case_no).to_owned(),
                consistency: Some(pb::ReadConsistency {
                    at_least: positions.iter().map(|position| **position).collect(),
                }),
            })
            .await
            .expect("the case is in the views");
        let archived: BTreeSet<(u32, u64)> = audit
            .replay_case(pb::ReplayCaseRequest {
                case_no: (*case_no).to_owned(),
            })
            .await
            .expect("the case replays")
            .into_inner()
            .map(|step| {
                let position = step.expect("a step").position.expect("a position");
                (position.partition, position.offset)
            })
            .collect()
            .await;
        for position in positions {
            assert!(
                archived.contains(&(position.partition, position.offset)),
                "{case_no}"
            );
            found += 1;
        }
    }
    eprintln!(
        "durability: {} steps acknowledged before the kill, {} found on the log, {found} in the views",
        acked.len(),
        acked.keys().filter(|id| on_log.contains(*id)).count()
    );
    assert_eq!(found, acked.len());
    child.kill().expect("SIGKILL");
    child.wait().expect("the child is reaped");
}
