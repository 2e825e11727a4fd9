//! A stopping node does not wait on its callers for ever: an open append stream stops
//! reading, answers what it read, and ends.

use std::time::Duration;

use casewatch_proto::pb;
use casewatch_server::auth::Authenticator;
use casewatch_server::node::NodeOptions;
use casewatch_server::{Edge, ServerOptions};
use casewatch_tests::{local, submission};
use tokio_stream::StreamExt;

use crate::support;
use support::Harness;

/// Longer than any stop in these tests may take; a stop that reaches it has hung.
const HUNG: Duration = Duration::from_secs(60);

async fn start(grace: Duration) -> Harness {
    let (auth, token) = Authenticator::development();
    Harness::start_configured(
        NodeOptions {
            edge: Edge { auth, tls: None },
            server: ServerOptions {
                shutdown_grace: grace,
                ..ServerOptions::default()
            },
            ..NodeOptions::default()
        },
        &token,
    )
    .await
}

#[tokio::test]
async fn an_open_append_stream_is_answered_and_ends_when_the_node_stops() {
    // A grace period longer than the test: the stream must end by itself.
    let harness = start(HUNG * 10).await;
    let request = pb::AppendRequest {
        events: vec![submission(
            "330106-STOP-1",
            "330106",
            local("2026-03-02 07:00"),
        )],
        request_id: "1".into(),
    };
    // One request, then the county system keeps the stream open, sending nothing.
    let requests = tokio_stream::iter([request]).chain(tokio_stream::pending());
    let mut answers = harness
        .ingest()
        .append_stream(requests)
        .await
        .expect("the stream opens")
        .into_inner();
    let first = answers
        .next()
        .await
        .expect("an answer")
        .expect("the request is answered");
    assert_eq!(first.request_id, "1");

    let Harness { node, .. } = harness;
    tokio::time::timeout(HUNG, node.stop())
        .await
        .expect("the node stops though the stream is open");
    let after = answers.next().await;
    assert!(
        !matches!(after, Some(Ok(_))),
        "nothing more is answered: {after:?}"
    );
}
