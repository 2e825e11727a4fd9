//! The gRPC contract as an outside client meets it: each test plays one promise of the
//! proto's comments against a node over gRPC — a retried action answered as a duplicate,
//! a feed that starts where it is asked to and lets its stream go with its client, a
//! corrected re-send kept as a conflict, working time counted to the moment of reading,
//! the status codes of requests the server cannot read, and instants stated as the
//! counties read them.

use std::time::Duration;

use casewatch_domain::access::Role;
use casewatch_proto::client::Bearer;
use casewatch_proto::convert::timestamp_to_pb;
use casewatch_proto::pb;
use casewatch_proto::pb::append_result::Outcome;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::auth::{Authenticator, Limits, PrincipalSpec};
use casewatch_server::node::NodeOptions;
use casewatch_server::{Edge, ServerOptions};
use casewatch_tests::{acceptance, local, scenario, submission};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support;
use support::{Authorized, Harness, next_alert};

const REGION: &str = "330106";

/// The one outcome of a single-event append.
async fn append_one(ingest: &mut IngestServiceClient<Authorized>, event: pb::CaseEvent) -> Outcome {
    ingest
        .append(pb::AppendRequest {
            events: vec![event],
            request_id: String::new(),
        })
        .await
        .expect("append answers")
        .into_inner()
        .results
        .remove(0)
        .outcome
        .expect("an outcome")
}

fn appended(outcome: Outcome) -> pb::Appended {
    match outcome {
        Outcome::Appended(appended) => appended,
        Outcome::Error(error) => panic!("refused: {error:?}"),
    }
}

fn refused(outcome: Outcome) -> pb::EventError {
    match outcome {
        Outcome::Error(error) => error,
        Outcome::Appended(appended) => panic!("appended: {appended:?}"),
    }
}

/// An alert the scenario raised that nobody has acted on.
async fn raised_alert(monitor: &mut MonitorServiceClient<Authorized>) -> pb::Alert {
    monitor
        .list_alerts(pb::ListAlertsRequest {
            states: vec![pb::AlertState::Raised.into()],
            ..Default::default()
        })
        .await
        .expect("alerts list")
        .into_inner()
        .alerts
        .into_iter()
        .next()
        .expect("the scenario raises alerts")
}

fn acknowledge(event_id: &str, alert_id: &str) -> pb::ActOnAlertRequest {
    pb::ActOnAlertRequest {
        event_id: event_id.into(),
        alert_id: alert_id.into(),
        action: Some(pb::act_on_alert_request::Action::Acknowledge(
            pb::supervision_event::Acknowledge {
                note: "收到".into(),
            },
        )),
        await_projection: true,
    }
}

#[tokio::test]
async fn a_retried_action_is_answered_with_its_original_position_as_a_duplicate() {
    let harness = Harness::start().await;
    harness.play(&scenario()).await;
    let mut monitor = harness.monitor();
    let alert = raised_alert(&mut monitor).await;
    let first = monitor
        .act_on_alert(acknowledge("desk-1", &alert.id))
        .await
        .expect("the desk acknowledges")
        .into_inner();
    assert!(!first.duplicate);
    let position = first.position.expect("a position");
    let high_water = harness
        .node
        .state
        .log
        .high_water(position.partition)
        .await
        .expect("a high water");

    // The desk's call timed out and it retries: the same action, answered as the first.
    let retry = monitor
        .act_on_alert(acknowledge("desk-1", &alert.id))
        .await
        .expect("a retry is answered, not refused")
        .into_inner();
    assert!(retry.duplicate, "{retry:?}");
    assert_eq!(retry.position, Some(position), "the original position");
    assert_eq!(
        retry.alert.expect("the alert as it stands").state,
        i32::from(pb::AlertState::Acknowledged)
    );
    assert_eq!(
        harness
            .node
            .state
            .log
            .high_water(position.partition)
            .await
            .expect("a high water"),
        high_water,
        "a retry appends nothing"
    );

    // Another action of the same kind is a new action, and the lifecycle refuses it.
    let other = monitor
        .act_on_alert(acknowledge("desk-2", &alert.id))
        .await
        .expect_err("an acknowledged alert cannot be acknowledged again");
    assert_eq!(other.code(), Code::FailedPrecondition, "{other:?}");
    harness.node.stop().await;
}

#[tokio::test]
async fn a_feed_starts_from_now_unless_asked_for_the_whole_history() {
    let harness = Harness::start().await;
    let inputs = scenario();
    let (first_half, second_half) = inputs.split_at(inputs.len() / 2);
    harness.play(first_half).await;
    let history = harness
        .node
        .state
        .store
        .alert_changes_after(0, &Default::default(), 10_000)
        .await
        .expect("the views answer");
    let newest = history.last().expect("the first half raises alerts").cursor;

    let mut monitor = harness.monitor();
    let mut from_now = monitor
        .subscribe_alerts(pb::AlertFilter::default())
        .await
        .expect("a desk subscribes")
        .into_inner();
    let mut full_sync = monitor
        .subscribe_alerts(pb::AlertFilter {
            from_beginning: true,
            ..Default::default()
        })
        .await
        .expect("a client syncs")
        .into_inner();
    harness.play(second_half).await;

    let first_live = next_alert(&mut from_now).await;
    assert!(
        first_live.cursor > newest,
        "a desk opening its screen gets changes from now on: got cursor {} where the \
         history ends at {newest}",
        first_live.cursor
    );
    // Each message says what its change was: the first of an alert, its raise.
    let mut seen = std::collections::BTreeSet::new();
    for change in &history {
        let alert = next_alert(&mut full_sync).await;
        assert_eq!(alert.cursor, change.cursor);
        let kind = if seen.insert(alert.id.clone()) {
            pb::AlertChangeKind::Raised
        } else {
            alert.change()
        };
        assert_eq!(alert.change(), kind, "{alert:?}");
        assert_ne!(kind, pb::AlertChangeKind::Unspecified, "{alert:?}");
    }
    assert_eq!(
        next_alert(&mut full_sync).await.cursor,
        first_live.cursor,
        "the full sync goes on live"
    );

    let both = monitor
        .subscribe_alerts(pb::AlertFilter {
            after_cursor: newest,
            from_beginning: true,
            ..Default::default()
        })
        .await
        .expect_err("a cursor and the beginning contradict each other");
    assert_eq!(both.code(), Code::InvalidArgument);
    assert!(both.message().starts_with("after_cursor:"), "{both:?}");
    harness.node.stop().await;
}

#[tokio::test]
async fn a_cancelled_feed_lets_its_stream_and_task_go_at_once() {
    const STREAMS: u32 = 2;
    let mut desk = PrincipalSpec::unlimited("desk", Role::Monitor, "t-desk");
    desk.limits = Limits {
        streams: STREAMS,
        ..Limits::UNLIMITED
    };
    let auth = Authenticator::new(vec![
        desk,
        PrincipalSpec::unlimited("admin", Role::Admin, "t-admin"),
    ])
    .expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, "t-admin").await;
    let mut monitor = MonitorServiceClient::new(
        harness
            .channel_as(Bearer::new("t-desk").expect("a token"))
            .await,
    );
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();

    // No alert is committed throughout: nothing but the client going away can end a feed.
    for round in 0..25 {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut feeds = Vec::new();
        while feeds.len() < STREAMS as usize {
            match monitor.subscribe_alerts(pb::AlertFilter::default()).await {
                Ok(feed) => feeds.push(feed.into_inner()),
                Err(status)
                    if status.code() == Code::ResourceExhausted
                        && tokio::time::Instant::now() < deadline =>
                {
                    // The server has not yet seen the last round's feeds go.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err(status) => panic!("round {round}: the desk cannot subscribe: {status}"),
            }
        }
        let beyond = monitor
            .subscribe_alerts(pb::AlertFilter::default())
            .await
            .expect_err("the limit holds while both feeds are open");
        assert_eq!(beyond.code(), Code::ResourceExhausted);
        drop(feeds);
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metrics.num_alive_tasks() > tasks_before && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        metrics.num_alive_tasks() <= tasks_before,
        "the feeds' tasks ended: {} alive, {tasks_before} before",
        metrics.num_alive_tasks()
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn only_the_same_content_is_a_duplicate_and_a_correction_is_kept_as_a_conflict() {
    let harness = Harness::start().await;
    let mut ingest = harness.ingest();
    let at = local("2026-03-02 09:00");
    harness.clock.set(at + chrono::Duration::minutes(1));
    let original = submission("330106-C-FIX", REGION, at);
    let first = appended(append_one(&mut ingest, original.clone()).await);
    assert!(!first.duplicate);

    let resent = appended(append_one(&mut ingest, original.clone()).await);
    assert!(resent.duplicate, "the same bytes again are a re-send");
    assert_eq!(resent.position, first.position);

    // The county corrects the step and re-sends it under the same key, as events.proto
    // tells it to: a higher source version, and other content.
    let mut corrected = original;
    corrected.source_version += 1;
    corrected.occurred_at = Some(timestamp_to_pb(at - chrono::Duration::minutes(30)));
    let correction = appended(append_one(&mut ingest, corrected).await);
    assert!(!correction.duplicate, "a correction is not a duplicate");
    assert_ne!(correction.position, first.position);

    harness.wait_until_projected().await;
    let case = harness
        .monitor()
        .get_case(pb::GetCaseRequest {
            case_no: "330106-C-FIX".into(),
            consistency: None,
        })
        .await
        .expect("the case is there")
        .into_inner();
    assert!(
        case.alerts.iter().any(|alert| alert.rule == "C3"),
        "the conflict is kept for auditors: {:?}",
        case.alerts
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn working_time_used_is_counted_to_the_moment_the_view_is_read() {
    let harness = Harness::start().await;
    let mut ingest = harness.ingest();
    let case_no = "330106-C-CLOCK";
    harness.clock.set(local("2026-03-02 09:01"));
    appended(
        append_one(
            &mut ingest,
            submission(case_no, REGION, local("2026-03-02 09:00")),
        )
        .await,
    );
    appended(
        append_one(
            &mut ingest,
            acceptance(case_no, REGION, local("2026-03-02 09:00"), 5),
        )
        .await,
    );
    harness.wait_until_projected().await;

    // A day and a half later, with no step since: Monday's office hours (09:00–12:00 and
    // 13:30–17:30) and Tuesday's until 15:00 are 7 h + 4.5 h.
    harness.clock.set(local("2026-03-03 15:00"));
    let request = pb::GetCaseRequest {
        case_no: case_no.into(),
        consistency: None,
    };
    let view = harness
        .monitor()
        .get_case(request.clone())
        .await
        .expect("the case is there")
        .into_inner()
        .case_view
        .expect("a view");
    assert_eq!(view.used_working_seconds, 11 * 3600 + 1800);
    assert_eq!(view.used_working_days, 2, "rounded up to working days");
    let listed = harness
        .monitor()
        .list_cases(pb::ListCasesRequest::default())
        .await
        .expect("cases list")
        .into_inner()
        .cases;
    assert_eq!(listed[0].used_working_seconds, view.used_working_seconds);
    harness.node.stop().await;
}

/// A request message whose field 1 is raw bytes: what a client with a wrong or broken
/// encoder sends where a text is expected.
#[derive(Clone, PartialEq, prost::Message)]
struct RawText {
    #[prost(bytes = "vec", tag = "1")]
    field: Vec<u8>,
}

/// A request message whose field 1 is a number: not the message the method takes.
#[derive(Clone, PartialEq, prost::Message)]
struct Number {
    #[prost(uint64, tag = "1")]
    field: u64,
}

/// Calls `GetCase` with any message.
async fn get_case_raw<M: prost::Message + Send + Sync + 'static>(
    harness: &Harness,
    message: M,
) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(harness.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    grpc.unary::<M, pb::GetCaseResponse, _>(
        tonic::Request::new(message),
        tonic::codegen::http::uri::PathAndQuery::from_static(
            "/casewatch.v1.MonitorService/GetCase",
        ),
        tonic_prost::ProstCodec::default(),
    )
    .await
    .expect_err("the server cannot read it")
}

#[tokio::test]
async fn a_request_the_server_cannot_read_is_answered_as_the_caller_s_fault() {
    const LIMIT: usize = 32 << 10;
    let (auth, token) = Authenticator::development();
    let harness = Harness::start_configured(
        NodeOptions {
            edge: Edge { auth, tls: None },
            server: ServerOptions {
                max_message_bytes: LIMIT,
                ..ServerOptions::default()
            },
            ..NodeOptions::default()
        },
        &token,
    )
    .await;

    // Too big: RESOURCE_EXHAUSTED, as gRPC's convention and the other servers answer.
    let big = "x".repeat(LIMIT + 1);
    let oversized = harness
        .monitor()
        .get_case(pb::GetCaseRequest {
            case_no: big.clone(),
            consistency: None,
        })
        .await
        .expect_err("over the limit");
    assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
    let mut too_big_event = submission("330106-C-BIG", REGION, local("2026-03-02 09:00"));
    too_big_event.source_system = big;
    let (sender, receiver) = tokio::sync::mpsc::channel(1);
    sender
        .send(pb::AppendRequest {
            events: vec![too_big_event],
            request_id: "big".into(),
        })
        .await
        .expect("the request is queued");
    let mut answers = harness
        .ingest()
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(receiver))
        .await
        .expect("the stream opens")
        .into_inner();
    let streamed = match answers.next().await {
        Some(Ok(answer)) => panic!("an answer to an oversized request: {answer:?}"),
        Some(Err(status)) => status,
        None => panic!("the stream ended without a status"),
    };
    assert_eq!(streamed.code(), Code::ResourceExhausted, "{streamed:?}");

    // Not the message the method takes: INVALID_ARGUMENT naming the field.
    let garbage = get_case_raw(&harness, Number { field: 7 }).await;
    assert_eq!(garbage.code(), Code::InvalidArgument, "{garbage:?}");
    assert!(garbage.message().starts_with("case_no: "), "{garbage:?}");

    // A text that is not UTF-8, in a request and in an event.
    let not_text = get_case_raw(
        &harness,
        RawText {
            field: vec![0xff, 0xfe],
        },
    )
    .await;
    assert_eq!(not_text.code(), Code::InvalidArgument, "{not_text:?}");
    assert!(
        not_text
            .message()
            .starts_with("case_no: invalid string value"),
        "{not_text:?}"
    );
    let event = RawText {
        field: vec![0xff, 0xfe],
    };
    // Field 1 of a `CaseEvent` is `event_id`.
    let mut grpc = tonic::client::Grpc::new(harness.channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let response = grpc
        .unary::<RawEvents, pb::AppendResponse, _>(
            tonic::Request::new(RawEvents {
                events: vec![prost::Message::encode_to_vec(&event)],
            }),
            tonic::codegen::http::uri::PathAndQuery::from_static(
                "/casewatch.v1.IngestService/Append",
            ),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .expect("append answers")
        .into_inner();
    let error = refused(response.results[0].outcome.clone().expect("an outcome"));
    assert_eq!(error.field, "event_id", "{error:?}");
    harness.node.stop().await;
}

/// An `AppendRequest` with each event's bytes as given.
#[derive(Clone, PartialEq, prost::Message)]
struct RawEvents {
    #[prost(bytes = "vec", repeated, tag = "1")]
    events: Vec<Vec<u8>>,
}

#[tokio::test]
async fn instants_are_stated_in_china_time_and_implausible_ones_are_refused() {
    let harness = Harness::start().await;
    let mut ingest = harness.ingest();
    harness.clock.set(local("2026-10-12 09:00"));

    let future = submission("330106-C-LATER", REGION, local("2026-10-12 17:01"));
    let error = refused(append_one(&mut ingest, future).await);
    assert_eq!(error.field, "occurred_at");
    assert!(
        error.message.starts_with(
            "`2026-10-12T17:01:00+08:00` is in the future: received at `2026-10-12T09:00:00+08:00`"
        ),
        "{error:?}"
    );

    let mut ancient = submission("330106-C-ANCIENT", REGION, local("2026-10-12 08:00"));
    ancient.occurred_at = Some(prost_types::Timestamp {
        seconds: -62_135_596_800,
        nanos: 0,
    });
    let error = refused(append_one(&mut ingest, ancient).await);
    assert_eq!(error.field, "occurred_at");
    assert!(
        error
            .message
            .contains("is before `2000-01-01T00:00:00+08:00`, the earliest step Casewatch accepts"),
        "{error:?}"
    );
    harness.node.stop().await;
}
