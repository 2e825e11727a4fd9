//! The embedded node end to end, in-process on port 0: the scripted scenario over a real
//! gRPC client, the resumable alert feed, and deterministic rebuild and verification.
//! Time is driven explicitly: the server's clock is set before each input, clock ticks are
//! appended to the log by the test, and reads wait for the views through the API.

use std::collections::BTreeSet;
use std::sync::Arc;

use casewatch_domain::catalogue::Level;
use casewatch_projector::{Projector, audit};
use casewatch_proto::pb;
use casewatch_store::ViewStore;
use casewatch_store::sqlite::SqliteStore;
use casewatch_tests::{Input, alert_key, expected_alerts, local, scenario};
use prost::Message;

use crate::support;
use support::{Harness, next_alert};

#[tokio::test]
async fn the_scenario_over_grpc_raises_exactly_the_expected_alerts() {
    let harness = Harness::start().await;
    harness.play(&scenario()).await;
    let mut monitor = harness.monitor();
    let alerts = monitor
        .list_alerts(pb::ListAlertsRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("alerts list")
        .into_inner()
        .alerts;
    let mut raised: Vec<_> = alerts.iter().map(alert_key).collect();
    raised.sort();
    assert_eq!(raised, expected_alerts());

    let light = |case_no: &str| {
        let mut monitor = harness.monitor();
        let case_no = case_no.to_owned();
        async move {
            monitor
                .get_case(pb::GetCaseRequest {
                    case_no,
                    consistency: None,
                })
                .await
                .expect("the case exists")
                .into_inner()
                .case_view
                .expect("a view")
                .light
        }
    };
    assert_eq!(light("330106-B-LATE").await, i32::from(pb::Light::Yellow));
    assert_eq!(light("330102-D-FEE").await, i32::from(pb::Light::Red));
    assert_eq!(light("330106-A-CLEAN").await, i32::from(pb::Light::Green));

    let statistics = monitor
        .get_statistics(pb::GetStatisticsRequest {
            from: Some(casewatch_proto::convert::date_to_pb(
                "2026-03-01".parse().expect("a date"),
            )),
            to: Some(casewatch_proto::convert::date_to_pb(
                "2026-03-31".parse().expect("a date"),
            )),
            group_by: pb::StatisticsGroupBy::RegionLevel.into(),
            ..Default::default()
        })
        .await
        .expect("statistics")
        .into_inner();
    let total = statistics
        .total
        .and_then(|total| total.counters)
        .expect("a total");
    assert_eq!((total.accepted, total.completed), (7, 3));
    assert_eq!((total.warnings_raised, total.cards_raised), (1, 5));
    assert_eq!(
        (total.open_green, total.open_yellow, total.open_red),
        (1, 1, 2)
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn a_bad_event_does_not_fail_its_neighbours_and_a_resend_is_a_duplicate() {
    let harness = Harness::start().await;
    let steps: Vec<pb::CaseEvent> = scenario()
        .into_iter()
        .filter_map(|input| match input {
            Input::Step { event, .. } => Some(*event),
            Input::Tick(_) => None,
        })
        .take(3)
        .collect();
    let mut bad = steps[1].clone();
    bad.region_code = "3301".into();
    harness.clock.set(local("2026-03-02 09:30"));
    let mut ingest = harness.ingest();
    let response = ingest
        .append(pb::AppendRequest {
            events: vec![steps[0].clone(), bad, steps[2].clone()],
            request_id: "batch-1".into(),
        })
        .await
        .expect("append answers")
        .into_inner();
    assert_eq!(response.request_id, "batch-1");
    let outcomes: Vec<_> = response
        .results
        .iter()
        .map(|result| &result.outcome)
        .collect();
    assert!(matches!(outcomes[0], Some(pb::append_result::Outcome::Appended(a)) if !a.duplicate));
    match outcomes[1] {
        Some(pb::append_result::Outcome::Error(error)) => {
            assert_eq!(error.field, "region_code");
            assert_eq!(
                error.code,
                i32::from(pb::event_error::Code::InvalidArgument)
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }
    assert!(matches!(
        outcomes[2],
        Some(pb::append_result::Outcome::Appended(_))
    ));
    let again = ingest
        .append(pb::AppendRequest {
            events: vec![steps[0].clone()],
            request_id: String::new(),
        })
        .await
        .expect("append answers")
        .into_inner();
    match (&again.results[0].outcome, outcomes[0]) {
        (
            Some(pb::append_result::Outcome::Appended(resent)),
            Some(pb::append_result::Outcome::Appended(first)),
        ) => {
            assert!(resent.duplicate);
            assert_eq!(resent.position, first.position);
        }
        other => panic!("unexpected outcomes {other:?}"),
    }
    harness.node.stop().await;
}

#[tokio::test]
async fn the_log_keeps_the_bytes_received_and_an_undecodable_event_fails_alone() {
    let harness = Harness::start().await;
    let step = scenario()
        .into_iter()
        .find_map(|input| match input {
            Input::Step { event, .. } => Some(*event),
            Input::Tick(_) => None,
        })
        .expect("the scenario has a step");
    // A newer sender's event: field 99 is unknown to this build.
    let mut sent = step.encode_to_vec();
    sent.extend_from_slice(&[0x9a, 0x06, 3, b'n', b'e', b'w']);
    let request = casewatch_proto::received::AppendRequest {
        events: vec![vec![0x0a, 0xff], sent.clone()],
        request_id: "raw".into(),
    };
    harness.clock.set(local("2026-03-02 09:30"));
    let mut grpc = tonic::client::Grpc::new(harness.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let response: pb::AppendResponse = grpc
        .unary(
            tonic::Request::new(request),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/casewatch.v1.IngestService/Append",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("append answers")
        .into_inner();
    match &response.results[0].outcome {
        Some(pb::append_result::Outcome::Error(error)) => {
            assert_eq!(
                error.code,
                i32::from(pb::event_error::Code::InvalidArgument)
            );
            assert!(error.message.contains("event 0"), "{}", error.message);
        }
        other => panic!("expected the undecodable event refused, got {other:?}"),
    }
    let Some(pb::append_result::Outcome::Appended(appended)) = &response.results[1].outcome else {
        panic!("expected the event appended, got {response:?}");
    };
    let position = appended.position.expect("a position");
    let record = harness
        .node
        .state
        .log
        .read(position.partition, position.offset, 1)
        .await
        .expect("the log reads")
        .remove(0);
    let envelope = pb::Record::decode(record.bytes.as_slice()).expect("an envelope");
    assert_eq!(envelope.payload, sent, "the payload is the bytes received");
    harness.node.stop().await;
}

#[tokio::test]
async fn a_subscriber_that_resumes_with_its_cursor_misses_nothing_and_gets_nothing_twice() {
    let harness = Harness::start().await;
    let mut monitor = harness.monitor();
    let mut feed = monitor
        .subscribe_alerts(pb::AlertFilter::default())
        .await
        .expect("subscribed")
        .into_inner();
    let inputs = scenario();
    let (first_half, second_half) = inputs.split_at(inputs.len() / 2);
    harness.play(first_half).await;
    let first = next_alert(&mut feed).await;
    let second = next_alert(&mut feed).await;
    drop(feed);
    // More alerts are committed while the subscriber is away.
    harness.play(second_half).await;
    let all = harness
        .node
        .state
        .store
        .alert_changes_after(0, &Default::default(), 10_000)
        .await
        .expect("the views answer");
    let mut resumed = monitor
        .subscribe_alerts(pb::AlertFilter {
            after_cursor: second.cursor,
            ..Default::default()
        })
        .await
        .expect("subscribed again")
        .into_inner();
    let mut received = vec![first.cursor, second.cursor];
    while received.len() < all.len() {
        received.push(next_alert(&mut resumed).await.cursor);
    }
    let committed: Vec<u64> = all.iter().map(|change| change.cursor).collect();
    assert_eq!(received, committed);
    // A filtered subscription sees only red and worse, still in cursor order.
    let mut red = monitor
        .subscribe_alerts(pb::AlertFilter {
            min_level: pb::AlertLevel::Red.into(),
            from_beginning: true,
            ..Default::default()
        })
        .await
        .expect("subscribed")
        .into_inner();
    let reds = all
        .iter()
        .filter(|change| change.row.change.alert.level >= Level::Red)
        .count();
    for _ in 0..reds {
        let alert = next_alert(&mut red).await;
        assert!(alert.level >= i32::from(pb::AlertLevel::Red), "{alert:?}");
    }
    harness.node.stop().await;
}

#[tokio::test]
async fn a_rebuild_gives_the_live_digest_and_a_flipped_byte_is_named() {
    let harness = Harness::start().await;
    harness.play(&scenario()).await;
    let state = harness.node.state.clone();
    let live = state.store.digest().await.expect("a digest");

    let rebuilt_dir = tempfile::tempdir().expect("a temporary directory");
    let rebuilt = Arc::new(
        SqliteStore::open(&rebuilt_dir.path().join("views.db"))
            .await
            .expect("a fresh store"),
    );
    let mut projector = Projector::builder(state.log.clone(), rebuilt.clone())
        .policy(state.policy.clone())
        .partitions(0..state.log.partitions())
        .batch_size(7)
        .open()
        .await
        .expect("a projector");
    projector
        .run_until_caught_up()
        .await
        .expect("the rebuild folds");
    assert_eq!(rebuilt.digest().await.expect("a digest"), live);

    // The audit service agrees the chains hold.
    let mut audit = harness.audit();
    let report = audit
        .verify_log(pb::VerifyLogRequest::default())
        .await
        .expect("verification runs")
        .into_inner();
    assert!(report.first_mismatch.is_none(), "{report:?}");
    assert!(report.records_checked > 100);

    // Flip one byte of one record of the clean case, straight in the log's file.
    let steps = state
        .store
        .steps("330106-A-CLEAN")
        .await
        .expect("the archive");
    let target = steps[2].position;
    let data_dir = harness.data.path().to_owned();
    harness.node.stop().await;
    casewatch_log::embedded::tamper::flip_byte(&data_dir.join("log"), target);

    let log = casewatch_log::embedded::EmbeddedLog::open(&data_dir.join("log"), 4)
        .expect("the log reopens");
    let store = SqliteStore::open(&data_dir.join("views.db"))
        .await
        .expect("the views reopen");
    let report = audit::verify_log(&log, &store, &[])
        .await
        .expect("verification runs");
    let mismatch = report.first_mismatch.expect("the flipped byte is found");
    assert_eq!(
        (mismatch.position.partition, mismatch.position.offset),
        (target.partition, target.offset)
    );
    assert_eq!(mismatch.case_no, "330106-A-CLEAN");
    let case_report = audit::verify_case(&log, &store, "330106-A-CLEAN")
        .await
        .expect("verification runs");
    assert_eq!(
        case_report.first_mismatch.map(|mismatch| mismatch.position),
        Some(target)
    );
    let untouched: BTreeSet<_> = ["330106-B-LATE", "330102-D-FEE"].into();
    for case_no in untouched {
        let report = audit::verify_case(&log, &store, case_no)
            .await
            .expect("verification runs");
        assert!(report.first_mismatch.is_none(), "{case_no}: {report:?}");
    }
}
