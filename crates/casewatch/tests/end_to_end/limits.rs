//! The edge's limits over gRPC: a principal over its event rate is refused by name while
//! another is served; a request with too many events or too many bytes is refused before
//! anything is appended; a principal's streams beyond its limit are refused.

use std::num::NonZeroU32;

use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::RegionCode;
use casewatch_proto::client::Bearer;
use casewatch_proto::pb;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_server::auth::{Authenticator, Limits, PrincipalSpec, Rate, token_digest};
use casewatch_server::node::NodeOptions;
use casewatch_server::{Edge, ServerOptions};
use casewatch_tests::{assert_appended, local, submission};
use tonic::Code;

use crate::support;
use support::{Authorized, Harness};

const MAX_EVENTS: usize = 50;
const MAX_MESSAGE: usize = 32 << 10;
/// The slow county's burst, and a rate so low that nothing refills during the test.
const BURST: u32 = 10;

fn county(id: &str, limits: Limits) -> PrincipalSpec {
    PrincipalSpec {
        grant: Grant {
            principal: Principal {
                id: id.to_owned(),
                name: String::new(),
                role: Role::CountySystem,
            },
            scope: RegionScope::new(&[RegionCode::parse("330106").expect("a region")])
                .expect("a scope"),
            dept: None,
        },
        token_sha256: Some(token_digest(&format!("t-{id}"))),
        cert_subject: None,
        limits,
    }
}

async fn start() -> Harness {
    let slow = Limits {
        events: Some(Rate {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(BURST).expect("not zero"),
        }),
        streams: 1,
        ..Limits::UNLIMITED
    };
    let auth = Authenticator::new(vec![
        county("slow", slow),
        county("other", Limits::UNLIMITED),
        PrincipalSpec::unlimited("admin", Role::Admin, "t-admin"),
    ])
    .expect("valid principals");
    Harness::start_configured(
        NodeOptions {
            edge: Edge { auth, tls: None },
            server: ServerOptions {
                max_events_per_request: MAX_EVENTS,
                max_message_bytes: MAX_MESSAGE,
                ..ServerOptions::default()
            },
            ..NodeOptions::default()
        },
        "t-admin",
    )
    .await
}

async fn ingest_as(harness: &Harness, id: &str) -> IngestServiceClient<Authorized> {
    let bearer = Bearer::new(&format!("t-{id}")).expect("a token");
    IngestServiceClient::new(harness.channel_as(bearer).await)
}

/// A request of `count` new cases, numbered from `tag`.
fn request(tag: &str, count: usize) -> pb::AppendRequest {
    pb::AppendRequest {
        events: (0..count)
            .map(|n| {
                submission(
                    &format!("330106-{tag}-{n}"),
                    "330106",
                    local("2026-03-02 07:00"),
                )
            })
            .collect(),
        request_id: String::new(),
    }
}

#[tokio::test]
async fn a_principal_over_its_event_rate_is_refused_by_name_and_others_are_served() {
    let harness = start().await;
    let mut slow = ingest_as(&harness, "slow").await;
    let whole_burst = slow
        .append(request("BURST", BURST as usize))
        .await
        .expect("the burst is admitted")
        .into_inner();
    assert_appended(&whole_burst);

    let over = slow
        .append(request("OVER", 1))
        .await
        .expect_err("the rate is spent");
    assert_eq!(over.code(), Code::ResourceExhausted, "{over:?}");
    assert!(
        over.message()
            .starts_with("`slow` is over its rate of 1 events/s: retry in "),
        "{over:?}"
    );
    let too_many = slow
        .append(request("HUGE", BURST as usize + 1))
        .await
        .expect_err("more than the burst at once");
    assert_eq!(too_many.code(), Code::ResourceExhausted, "{too_many:?}");
    assert!(
        too_many.message().contains("at most 10 events at once"),
        "{too_many:?}"
    );

    let other = ingest_as(&harness, "other")
        .await
        .append(request("OTHER", 5))
        .await
        .expect("another principal is served")
        .into_inner();
    assert_appended(&other);
    harness.node.stop().await;
}

#[tokio::test]
async fn too_many_events_or_bytes_are_refused_whole() {
    let harness = start().await;
    let mut other = ingest_as(&harness, "other").await;
    let many = other
        .append(request("MANY", MAX_EVENTS + 1))
        .await
        .expect_err("too many events");
    assert_eq!(many.code(), Code::ResourceExhausted, "{many:?}");
    assert!(
        many.message()
            .contains("at most 50 events, this one has 51"),
        "{many:?}"
    );

    let mut large = request("LARGE", 1);
    large.request_id = "x".repeat(MAX_MESSAGE);
    let bytes = other.append(large).await.expect_err("too many bytes");
    assert_eq!(bytes.code(), Code::ResourceExhausted, "{bytes:?}");

    let state = &harness.node.state;
    for partition in 0..state.log.partitions() {
        assert_eq!(
            state.log.high_water(partition).await.expect("a high water"),
            0,
            "nothing of a refused request is appended"
        );
    }
    harness.node.stop().await;
}

#[tokio::test]
async fn streams_beyond_a_principal_s_limit_are_refused() {
    let harness = start().await;
    let mut slow = ingest_as(&harness, "slow").await;
    let (_keep, open) = tokio::sync::mpsc::channel::<pb::AppendRequest>(1);
    let _first = slow
        .append_stream(tokio_stream::wrappers::ReceiverStream::new(open))
        .await
        .expect("the first stream opens");
    let second = slow
        .append_stream(tokio_stream::pending::<pb::AppendRequest>())
        .await
        .expect_err("the limit is one stream");
    assert_eq!(second.code(), Code::ResourceExhausted, "{second:?}");
    assert!(
        second.message().contains("already has 1 streams open"),
        "{second:?}"
    );
    harness.node.stop().await;
}
