//! Scopes beyond the matrix: a live subscriber receives only alerts inside its scope (and,
//! for a department, of its own department); a department of a whole city sees and acts on
//! its own department's cases only; an action records the principal who called, not one
//! the caller names.

use std::collections::BTreeSet;

use casewatch_domain::access::Role;
use casewatch_proto::pb;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::Edge;
use casewatch_server::auth::Authenticator;
use casewatch_tests::{dept, scenario};
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support;
use support::{Harness, principal};

const OWN: &str = "330106";
const OTHER: &str = "330102";

/// A node with a monitor of the county `330106`, a department of the whole city `330100`
/// (the department of `330106`'s offices), and an administrator.
async fn start() -> Harness {
    let auth = Authenticator::new(vec![
        principal("monitor", Role::Monitor, OWN, None),
        principal("department", Role::Department, "330100", Some(dept(OWN))),
        principal("admin", Role::Admin, "000000", None),
    ])
    .expect("valid principals");
    Harness::start_with(Edge { auth, tls: None }, "t-admin").await
}

async fn alerts(
    monitor: &mut MonitorServiceClient<support::Authorized>,
    request: pb::ListAlertsRequest,
) -> Result<Vec<pb::Alert>, tonic::Status> {
    monitor
        .list_alerts(pb::ListAlertsRequest {
            page_size: 1000,
            ..request
        })
        .await
        .map(|response| response.into_inner().alerts)
}

fn acknowledge(event_id: &str, alert_id: &str, note: &str) -> pb::ActOnAlertRequest {
    pb::ActOnAlertRequest {
        event_id: event_id.to_owned(),
        alert_id: alert_id.to_owned(),
        action: Some(pb::act_on_alert_request::Action::Acknowledge(
            pb::supervision_event::Acknowledge {
                note: note.to_owned(),
            },
        )),
        await_projection: true,
    }
}

/// Reads `feed` until the alert `last` arrives acknowledged, checking every alert on the
/// way; returns the ids seen.
async fn read_until_acknowledged(
    feed: &mut tonic::Streaming<pb::Alert>,
    last: &str,
    within: impl Fn(&pb::Alert) -> bool,
    who: &str,
) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    loop {
        let alert = feed
            .next()
            .await
            .expect("the feed stays open")
            .expect("a readable alert");
        assert!(
            within(&alert),
            "{who} received alert `{}` of {}/{}",
            alert.id,
            alert.region_code,
            alert.dept_code
        );
        seen.insert(alert.id.clone());
        if alert.id == last && alert.state == i32::from(pb::AlertState::Acknowledged) {
            return seen;
        }
    }
}

#[tokio::test]
async fn live_subscribers_receive_only_alerts_inside_their_scope() {
    let harness = start().await;
    let mut monitor = harness.monitor_as("monitor").await;
    let mut department = harness.monitor_as("department").await;
    // Subscribed before anything happens: every alert below reaches them live.
    let mut monitor_feed = monitor
        .subscribe_alerts(pb::AlertFilter::default())
        .await
        .expect("a monitor subscribes")
        .into_inner();
    let mut department_feed = department
        .subscribe_alerts(pb::AlertFilter::default())
        .await
        .expect("a department subscribes")
        .into_inner();

    harness.play(&scenario()).await;
    let mut admin = harness.monitor();
    let everything = alerts(&mut admin, pb::ListAlertsRequest::default())
        .await
        .expect("the administrator lists alerts");
    let inside: BTreeSet<String> = everything
        .iter()
        .filter(|alert| alert.region_code.starts_with(OWN))
        .map(|alert| alert.id.clone())
        .collect();
    assert!(
        everything
            .iter()
            .any(|alert| alert.region_code.starts_with(OTHER)),
        "the scenario raises alerts outside the scope too"
    );
    // The last change of all: both subscribers see it after everything before it.
    let marker = inside.iter().next().expect("an alert inside").clone();
    admin
        .act_on_alert(acknowledge("scopes-marker", &marker, "seen"))
        .await
        .expect("the administrator acknowledges");

    let seen = read_until_acknowledged(
        &mut monitor_feed,
        &marker,
        |alert| alert.region_code.starts_with(OWN),
        "the county monitor",
    )
    .await;
    assert_eq!(
        seen, inside,
        "the monitor receives every alert inside its scope"
    );
    let own_dept = dept(OWN);
    let seen = read_until_acknowledged(
        &mut department_feed,
        &marker,
        |alert| alert.dept_code == own_dept,
        "the department",
    )
    .await;
    let own: BTreeSet<String> = everything
        .iter()
        .filter(|alert| alert.dept_code == own_dept)
        .map(|alert| alert.id.clone())
        .collect();
    assert_eq!(
        seen, own,
        "the department receives every alert of its department"
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn a_department_sees_and_acts_on_its_own_department_only() {
    let harness = start().await;
    harness.play(&scenario()).await;
    let mut department = harness.monitor_as("department").await;
    let own_dept = dept(OWN);

    let listed = alerts(&mut department, pb::ListAlertsRequest::default())
        .await
        .expect("a department lists its alerts");
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|alert| alert.dept_code == own_dept),
        "{listed:?}"
    );
    let cases = department
        .list_cases(pb::ListCasesRequest {
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("a department lists its cases")
        .into_inner()
        .cases;
    assert!(!cases.is_empty());
    assert!(
        cases.iter().all(|case| case.dept_code == own_dept),
        "{cases:?}"
    );

    // Inside its region, but another department's.
    let other_case = department
        .get_case(pb::GetCaseRequest {
            case_no: "330102-D-FEE".into(),
            consistency: None,
        })
        .await
        .expect_err("another department's case");
    assert_eq!(other_case.code(), Code::PermissionDenied, "{other_case:?}");
    let other_dept = alerts(
        &mut department,
        pb::ListAlertsRequest {
            dept_code: dept(OTHER),
            ..Default::default()
        },
    )
    .await
    .expect_err("another department's alerts");
    assert_eq!(other_dept.code(), Code::PermissionDenied, "{other_dept:?}");

    let mut admin = harness.monitor();
    let theirs = alerts(
        &mut admin,
        pb::ListAlertsRequest {
            region_prefix: OTHER.into(),
            ..Default::default()
        },
    )
    .await
    .expect("the administrator lists alerts");
    let refused = department
        .act_on_alert(acknowledge("dept-theirs", &theirs[0].id, "not ours"))
        .await
        .expect_err("another department's alert");
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
    department
        .act_on_alert(acknowledge("dept-ours", &listed[0].id, "ours"))
        .await
        .expect("its own department's alert");
    harness.node.stop().await;
}

#[tokio::test]
async fn an_action_records_the_principal_who_called() {
    let harness = start().await;
    harness.play(&scenario()).await;
    let mut monitor = harness.monitor_as("monitor").await;
    let alert = alerts(
        &mut monitor,
        pb::ListAlertsRequest {
            states: vec![pb::AlertState::Raised.into()],
            ..Default::default()
        },
    )
    .await
    .expect("the monitor lists alerts")
    .into_iter()
    .next()
    .expect("an open alert inside");
    monitor
        .act_on_alert(acknowledge("monitor-ack", &alert.id, "on it"))
        .await
        .expect("the monitor acknowledges");

    let steps: Vec<pb::RecordedStep> = harness
        .audit()
        .replay_case(pb::ReplayCaseRequest {
            case_no: alert.case_no.clone(),
        })
        .await
        .expect("the administrator replays")
        .into_inner()
        .collect::<Result<_, _>>()
        .await
        .expect("readable steps");
    let action = steps
        .iter()
        .find_map(|step| match &step.event {
            Some(pb::recorded_step::Event::SupervisionEvent(event))
                if event.event_id == "monitor-ack" =>
            {
                Some(event)
            }
            _ => None,
        })
        .expect("the acknowledgement is on the case's record");
    let principal = action.principal.as_ref().expect("a principal");
    assert_eq!(principal.id, "monitor");
    assert_eq!(principal.name, "monitor of 330106");
    assert_eq!(principal.role, i32::from(pb::Role::Monitor));
    harness.node.stop().await;
}
