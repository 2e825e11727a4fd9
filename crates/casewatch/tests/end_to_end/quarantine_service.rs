//! `AuditService/ListQuarantine` against an in-process node on port 0: records a foreign
//! producer left on the log unreadable are listed, page by page, to an auditor of every
//! region, and refused with a reason to everybody else. The records are appended to the
//! node's log directly, as such a producer would, and the test waits for the projector to
//! fold them through the progress it reports.

use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::RegionCode;
use casewatch_log::{Destination, NewRecord};
use casewatch_proto::client::Bearer;
use casewatch_proto::pb;
use casewatch_proto::pb::audit_service_client::AuditServiceClient;
use casewatch_server::Edge;
use casewatch_server::auth::{Authenticator, Limits, PrincipalSpec, token_digest};
use casewatch_tests::{Input, record_bytes, scenario};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support;
use support::Harness;

type Client = AuditServiceClient<support::Authorized>;

const KNOWN: &str = "330106-A-CLEAN";
const NATIONAL: &str = "cw_national_auditor_token";
const CITY: &str = "cw_city_auditor_token";
const MONITOR: &str = "cw_national_monitor_token";

fn principals() -> Vec<PrincipalSpec> {
    let city = RegionCode::parse("330100").expect("a region code");
    vec![
        PrincipalSpec::unlimited("national-auditor", Role::Auditor, NATIONAL),
        PrincipalSpec::unlimited("national-monitor", Role::Monitor, MONITOR),
        PrincipalSpec {
            grant: Grant {
                principal: Principal {
                    id: "city-auditor".to_owned(),
                    name: String::new(),
                    role: Role::Auditor,
                },
                scope: RegionScope::new(&[city]).expect("a scope"),
                dept: None,
            },
            token_sha256: Some(token_digest(CITY)),
            cert_subject: None,
            limits: Limits::UNLIMITED,
        },
    ]
}

fn record(destination: Destination, bytes: Vec<u8>) -> NewRecord {
    NewRecord {
        destination,
        bytes,
        idempotency_key: None,
        headers: Vec::new(),
    }
}

/// A node whose log holds the known case's first steps with three unreadable records
/// after them, all folded.
async fn start() -> Harness {
    let auth = Authenticator::new(principals()).expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, NATIONAL).await;
    let mut records = Vec::new();
    for input in scenario() {
        if let Input::Step { event, recorded_at } = &input
            && event.case_no == KNOWN
        {
            records.push(record(
                Destination::Key(KNOWN.to_owned()),
                record_bytes(&input),
            ));
            if records.len() == 2 {
                let invalid = pb::CaseEvent {
                    seq: 0,
                    ..(**event).clone()
                };
                records.push(record(
                    Destination::Key(KNOWN.to_owned()),
                    casewatch_proto::encode_record(
                        pb::RecordKind::CaseEvent,
                        *recorded_at,
                        &invalid.encode_to_vec(),
                    ),
                ));
                break;
            }
        }
    }
    records.push(record(
        Destination::Key("330106-Z-NOBODY".to_owned()),
        b"\xff\x00 not a record".to_vec(),
    ));
    records.push(record(
        Destination::Partition(0),
        b"\xff\x01 not a record either".to_vec(),
    ));
    harness
        .node
        .state
        .log
        .append(records)
        .await
        .expect("the records append");
    harness.wait_until_projected().await;
    harness
}

async fn client(harness: &Harness, token: &str) -> Client {
    AuditServiceClient::new(
        harness
            .channel_as(Bearer::new(token).expect("a token"))
            .await,
    )
}

async fn page(
    client: &mut Client,
    page_size: u32,
    page_token: &str,
) -> Result<pb::ListQuarantineResponse, tonic::Status> {
    client
        .list_quarantine(pb::ListQuarantineRequest {
            page_size,
            page_token: page_token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_of_every_region_lists_the_quarantine_page_by_page() {
    let harness = start().await;
    let mut national = client(&harness, NATIONAL).await;

    let all = page(&mut national, 0, "")
        .await
        .expect("the quarantine lists");
    assert_eq!(all.next_page_token, "", "one page holds them all");
    assert_eq!(all.records.len(), 3);
    let positions: Vec<(u32, u64)> = all
        .records
        .iter()
        .map(|record| {
            let position = record.position.expect("a position");
            (position.partition, position.offset)
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "in log order");
    for record in &all.records {
        assert_eq!(record.record_length, record.record.len() as u64);
        assert!(!record.reason.is_empty());
    }
    let invalid = all
        .records
        .iter()
        .find(|record| record.case_no == KNOWN)
        .expect("the known case's record");
    assert_eq!(
        invalid.reason,
        "invalid record: payload.seq: must be 1 to 100000, got 0"
    );
    assert!(
        all.records
            .iter()
            .any(|record| record.case_no == "330106-Z-NOBODY"
                && record.record == b"\xff\x00 not a record")
    );
    assert!(all.records.iter().any(|record| record.case_no.is_empty()));

    // Page by page, the same records.
    let mut paged = Vec::new();
    let mut token = String::new();
    loop {
        let response = page(&mut national, 1, &token).await.expect("a page");
        assert!(response.records.len() <= 1);
        paged.extend(response.records);
        if response.next_page_token.is_empty() {
            break;
        }
        token = response.next_page_token;
    }
    assert_eq!(paged, all.records);

    let error = page(&mut national, 1, "not-a-token")
        .await
        .expect_err("a token this service never gave");
    assert_eq!(error.code(), Code::InvalidArgument);
    assert!(
        error.message().starts_with("page_token:"),
        "{}",
        error.message()
    );

    // The known case's replay shows the hole.
    let mut steps = national
        .replay_case(pb::ReplayCaseRequest {
            case_no: KNOWN.to_owned(),
        })
        .await
        .expect("the replay starts")
        .into_inner();
    let mut dispositions = Vec::new();
    while let Some(step) = steps.next().await {
        dispositions.push(step.expect("a step").disposition());
    }
    assert_eq!(
        dispositions,
        [
            pb::Disposition::Applied,
            pb::Disposition::Applied,
            pb::Disposition::Unreadable
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quarantine_is_refused_to_scoped_callers_and_to_other_roles_with_a_reason() {
    let harness = start().await;

    let error = page(&mut client(&harness, CITY).await, 0, "")
        .await
        .expect_err("a city auditor");
    assert_eq!(error.code(), Code::PermissionDenied);
    assert_eq!(
        error.message(),
        "records that cannot be placed in a region (quarantined ones) are for principals of \
         every region (`000000`) and no single department; `city-auditor` covers `3301`"
    );

    let error = page(&mut client(&harness, MONITOR).await, 0, "")
        .await
        .expect_err("a monitor");
    assert_eq!(error.code(), Code::PermissionDenied);
    assert_eq!(error.message(), "a monitor may not audit");

    let error = page(&mut client(&harness, "cw_nobody").await, 0, "")
        .await
        .expect_err("an unknown token");
    assert_eq!(error.code(), Code::Unauthenticated);
}
