//! Ingest over gRPC when the embedded log is full (at its size limit): every valid event
//! is answered `UNAVAILABLE` on its own, so the county re-sends it later, while the call
//! itself succeeds and a bad event beside them still gets its own `INVALID_ARGUMENT`.

use std::sync::Arc;

use casewatch_domain::policy::PolicyInForce;
use casewatch_log::embedded::{EmbeddedLog, EmbeddedOptions};
use casewatch_log::{Destination, EventLog, LogError, NewRecord};
use casewatch_proto::pb;
use casewatch_proto::pb::event_error::Code;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_server::ManualClock;
use casewatch_server::node::{Node, NodeOptions};
use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::{Input, local, scenario};

const PARTITIONS: u32 = 2;

#[tokio::test]
async fn appends_to_a_full_log_are_answered_unavailable_event_by_event() {
    let data = tempfile::tempdir().expect("a temporary directory");
    let options = EmbeddedOptions {
        max_bytes: Some(128 * 1024),
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(
        EmbeddedLog::open_with(&data.path().join("log"), PARTITIONS, options)
            .expect("the log opens"),
    );
    fill(&log).await;
    let high_water = high_waters(&log).await;
    let (auth, token) = casewatch_server::auth::Authenticator::development();
    let store = SqliteStore::open(&data.path().join("views.db"))
        .await
        .expect("the views open");
    let node = Node::start_on(
        log.clone(),
        Arc::new(store),
        "127.0.0.1:0".parse().expect("an address"),
        Arc::new(ManualClock::new(local("2026-03-02 09:00"))),
        PolicyInForce::shipped(),
        NodeOptions {
            tick_every: None,
            edge: casewatch_server::Edge { auth, tls: None },
            ..NodeOptions::default()
        },
    )
    .await
    .expect("the node starts");

    let mut steps = scenario().into_iter().filter_map(|input| match input {
        Input::Step { event, .. } => Some(*event),
        Input::Tick(_) => None,
    });
    let mut events: Vec<pb::CaseEvent> = steps.by_ref().take(2).collect();
    events.insert(
        1,
        pb::CaseEvent {
            event_id: "no-case-number".into(),
            ..pb::CaseEvent::default()
        },
    );
    let channel = casewatch_proto::client::connect(&format!("http://{}", node.addr), &token)
        .await
        .expect("the node accepts connections");
    let mut ingest = IngestServiceClient::new(channel);
    let response = ingest
        .append(pb::AppendRequest {
            events: events.clone(),
            request_id: "full-log".into(),
        })
        .await
        .expect("the call succeeds even though the log takes nothing")
        .into_inner();

    let answers: Vec<(String, Code, String)> = response
        .results
        .into_iter()
        .map(|result| match result.outcome {
            Some(pb::append_result::Outcome::Error(error)) => {
                (result.event_id, error.code(), error.message)
            }
            other => panic!("event `{}` was not refused: {other:?}", result.event_id),
        })
        .collect();
    let ids: Vec<&str> = events.iter().map(|event| event.event_id.as_str()).collect();
    assert_eq!(
        answers
            .iter()
            .map(|(id, ..)| id.as_str())
            .collect::<Vec<_>>(),
        ids
    );
    assert_eq!(
        answers.iter().map(|(_, code, _)| *code).collect::<Vec<_>>(),
        [Code::Unavailable, Code::InvalidArgument, Code::Unavailable]
    );
    assert!(
        answers[0].2.contains("size limit"),
        "unexpected reason: {}",
        answers[0].2
    );
    assert_eq!(high_waters(&log).await, high_water, "nothing was appended");

    node.shutdown_token().cancel();
    node.stopped().await.expect("the node stopped as asked");
}

/// Appends filler until the log refuses even the smallest record on either partition: no
/// page is left, and the last page of each partition is full.
async fn fill(log: &EmbeddedLog) {
    for (partition, size) in [(0, 4096), (0, 1), (1, 1)] {
        loop {
            let filler = NewRecord {
                destination: Destination::Partition(partition),
                bytes: vec![0; size],
                idempotency_key: None,
                headers: Vec::new(),
            };
            match log.append(vec![filler]).await {
                Ok(_) => {}
                Err(LogError::Unavailable(_)) => break,
                Err(other) => panic!("expected the log to fill up, got {other}"),
            }
        }
    }
}

async fn high_waters(log: &EmbeddedLog) -> Vec<u64> {
    let mut marks = Vec::new();
    for partition in 0..PARTITIONS {
        marks.push(log.high_water(partition).await.expect("a high water"));
    }
    marks
}
