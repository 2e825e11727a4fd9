//! Who may do what, over gRPC: every RPC, called by every role (and by callers with no or
//! an unknown token), on a case, alert or region inside the caller's scope and outside it,
//! against the code the rules promise. Reads that succeed must hold nothing outside the
//! caller's reach, and a subscriber never receives an alert outside it.

use casewatch_domain::access::{Grant, Principal, RegionScope, Role};
use casewatch_domain::ids::{DeptCode, RegionCode};
use casewatch_proto::client::Bearer;
use casewatch_proto::convert::{date_to_pb, timestamp_to_pb};
use casewatch_proto::pb;
use casewatch_proto::pb::audit_service_client::AuditServiceClient;
use casewatch_proto::pb::ingest_service_client::IngestServiceClient;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_proto::pb::policy_service_client::PolicyServiceClient;
use casewatch_server::auth::{Authenticator, Limits, PrincipalSpec, token_digest};
use casewatch_server::{Clock, Edge};
use casewatch_tests::{dept, local, scenario, submission};
use prost::Message;
use tokio_stream::StreamExt;
use tonic::Code;

use crate::support;
use support::{Authorized, Harness};

/// The case and region every scoped principal covers, and one none of them does.
const INSIDE_CASE: &str = "330106-B-LATE";
const OUTSIDE_CASE: &str = "330102-D-FEE";
const INSIDE: &str = "330106";
const OUTSIDE: &str = "330102";

/// Whether a call targets the caller's scope or lies outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Inside,
    Outside,
}

impl Place {
    fn case_no(self) -> &'static str {
        match self {
            Place::Inside => INSIDE_CASE,
            Place::Outside => OUTSIDE_CASE,
        }
    }

    fn region(self) -> &'static str {
        match self {
            Place::Inside => INSIDE,
            Place::Outside => OUTSIDE,
        }
    }
}

/// Every RPC of the four services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rpc {
    Append,
    AppendStream,
    GetCase,
    ListCases,
    ListAlerts,
    SubscribeAlerts,
    ActOnAlert,
    GetStatistics,
    GetRanking,
    GetDailyReport,
    GetWeeklyRanking,
    GetDispatchList,
    GetMonthlyBulletin,
    ReplayCase,
    ReadLog,
    GetCaseAsOf,
    VerifyCase,
    VerifyLog,
    WhatIf,
    ListQuarantine,
    GetPolicy,
    ListPolicyHistory,
    ApplyPolicy,
}

const RPCS: [Rpc; 23] = [
    Rpc::Append,
    Rpc::AppendStream,
    Rpc::GetCase,
    Rpc::ListCases,
    Rpc::ListAlerts,
    Rpc::SubscribeAlerts,
    Rpc::ActOnAlert,
    Rpc::GetStatistics,
    Rpc::GetRanking,
    Rpc::GetDailyReport,
    Rpc::GetWeeklyRanking,
    Rpc::GetDispatchList,
    Rpc::GetMonthlyBulletin,
    Rpc::ReplayCase,
    Rpc::ReadLog,
    Rpc::GetCaseAsOf,
    Rpc::VerifyCase,
    Rpc::VerifyLog,
    Rpc::WhatIf,
    Rpc::ListQuarantine,
    Rpc::GetPolicy,
    Rpc::ListPolicyHistory,
    Rpc::ApplyPolicy,
];

impl Rpc {
    /// The roles that may call it, as SECURITY.md promises them (written out here, not
    /// taken from the code under test).
    fn roles(self) -> &'static [Role] {
        use Role::*;
        match self {
            Rpc::Append | Rpc::AppendStream => &[CountySystem, Admin],
            Rpc::GetCase | Rpc::ListCases => &[CountySystem, Department, Monitor, Auditor, Admin],
            Rpc::ListAlerts
            | Rpc::SubscribeAlerts
            | Rpc::GetStatistics
            | Rpc::GetDailyReport
            | Rpc::GetDispatchList
            | Rpc::GetMonthlyBulletin => &[Department, Monitor, Auditor, Admin],
            Rpc::ActOnAlert => &[Department, Monitor, Admin],
            Rpc::GetRanking | Rpc::GetWeeklyRanking => &[Monitor, Auditor, Admin],
            Rpc::ReplayCase
            | Rpc::ReadLog
            | Rpc::GetCaseAsOf
            | Rpc::VerifyCase
            | Rpc::VerifyLog
            | Rpc::WhatIf
            | Rpc::ListQuarantine
            | Rpc::ListPolicyHistory => &[Auditor, Admin],
            Rpc::GetPolicy => &[Monitor, Auditor, Admin],
            Rpc::ApplyPolicy => &[Admin],
        }
    }

    /// Whether the call names a case, alert or region (`VerifyLog` checks the whole log;
    /// the policy and its history are every region's).
    fn scoped(self) -> bool {
        !matches!(
            self,
            Rpc::VerifyLog | Rpc::ListQuarantine | Rpc::GetPolicy | Rpc::ListPolicyHistory
        )
    }

    /// Whether only a caller of every region may make it (quarantined records cannot be
    /// placed in one).
    fn needs_every_region(self) -> bool {
        self == Rpc::ListQuarantine
    }
}

/// A caller of the matrix.
struct Caller {
    name: &'static str,
    /// `None`: the caller is not a principal.
    role: Option<Role>,
    bearer: Bearer,
}

fn grant(name: &str, role: Role, regions: &[&str], dept: Option<String>) -> Grant {
    let regions: Vec<RegionCode> = regions
        .iter()
        .map(|code| RegionCode::parse(*code).expect("a region code"))
        .collect();
    Grant {
        principal: Principal {
            id: name.to_owned(),
            name: String::new(),
            role,
        },
        scope: RegionScope::new(&regions).expect("a scope"),
        dept: dept.map(|code| DeptCode::parse(code).expect("a department code")),
    }
}

fn spec(grant: Grant, token: &str) -> PrincipalSpec {
    PrincipalSpec {
        grant,
        token_sha256: Some(token_digest(token)),
        cert_subject: None,
        limits: Limits::UNLIMITED,
    }
}

/// The principals of the matrix: each scoped to the county `330106` (the department to its
/// own department too), and an administrator of every region.
fn principals() -> Vec<PrincipalSpec> {
    vec![
        spec(
            grant("county", Role::CountySystem, &[INSIDE], None),
            "t-county",
        ),
        spec(
            grant(
                "department",
                Role::Department,
                &[INSIDE],
                Some(dept(INSIDE)),
            ),
            "t-department",
        ),
        spec(
            grant("monitor", Role::Monitor, &[INSIDE], None),
            "t-monitor",
        ),
        spec(
            grant("auditor", Role::Auditor, &[INSIDE], None),
            "t-auditor",
        ),
        spec(grant("admin", Role::Admin, &["000000"], None), "t-admin"),
    ]
}

fn callers() -> Vec<Caller> {
    let principal = |name, role, token: &str| Caller {
        name,
        role: Some(role),
        bearer: Bearer::new(token).expect("an ascii token"),
    };
    vec![
        principal("county", Role::CountySystem, "t-county"),
        principal("department", Role::Department, "t-department"),
        principal("monitor", Role::Monitor, "t-monitor"),
        principal("auditor", Role::Auditor, "t-auditor"),
        principal("admin", Role::Admin, "t-admin"),
        Caller {
            name: "anonymous",
            role: None,
            bearer: Bearer::none(),
        },
        Caller {
            name: "impostor",
            role: None,
            bearer: Bearer::new("t-nobody").expect("an ascii token"),
        },
    ]
}

/// What the rules promise for `rpc` called by `role` at `place`.
fn expected(role: Option<Role>, rpc: Rpc, place: Place) -> Code {
    let Some(role) = role else {
        return Code::Unauthenticated;
    };
    let refused_role = !rpc.roles().contains(&role);
    let outside = place == Place::Outside && rpc.scoped() && role != Role::Admin;
    let unplaced = rpc.needs_every_region() && role != Role::Admin;
    if refused_role || outside || unplaced {
        Code::PermissionDenied
    } else {
        Code::Ok
    }
}

/// The code of a call, or of its one event.
fn appended(result: Result<pb::AppendResponse, tonic::Status>) -> Code {
    let response = match result {
        Ok(response) => response,
        Err(status) => return status.code(),
    };
    match &response.results[0].outcome {
        Some(pb::append_result::Outcome::Appended(_)) => Code::Ok,
        Some(pb::append_result::Outcome::Error(error)) => match error.code() {
            pb::event_error::Code::PermissionDenied => Code::PermissionDenied,
            other => panic!("an unexpected refusal: {other:?} {}", error.message),
        },
        None => panic!("no outcome"),
    }
}

fn code<T>(result: Result<T, tonic::Status>) -> Code {
    result.map_or_else(|status| status.code(), |_| Code::Ok)
}

/// Whether a region and department lie within what the matrix's scoped principals reach.
fn within(role: Role, region: &str, dept_code: &str) -> bool {
    role == Role::Admin
        || (region.starts_with(INSIDE) && (role != Role::Department || dept_code == dept(INSIDE)))
}

/// The matrix's node: the scenario played by the administrator.
struct World {
    harness: Harness,
    /// Open alerts inside the scope, one for each caller that may act on one.
    inside_alerts: std::sync::Mutex<Vec<String>>,
    /// An alert inside, for the callers refused whatever the alert.
    any_inside_alert: String,
    outside_alert: String,
}

impl World {
    async fn start() -> World {
        let auth = Authenticator::new(principals()).expect("valid principals");
        let harness = Harness::start_with(Edge { auth, tls: None }, "t-admin").await;
        harness.play(&scenario()).await;
        let open = |region: &str| {
            let mut monitor = harness.monitor();
            let region = region.to_owned();
            async move {
                monitor
                    .list_alerts(pb::ListAlertsRequest {
                        region_prefix: region,
                        states: vec![pb::AlertState::Raised.into()],
                        page_size: 100,
                        ..Default::default()
                    })
                    .await
                    .expect("alerts list")
                    .into_inner()
                    .alerts
                    .into_iter()
                    .map(|alert| alert.id)
                    .collect::<Vec<_>>()
            }
        };
        let inside_alerts = open(INSIDE).await;
        assert!(
            inside_alerts.len() >= 3,
            "the scenario leaves an open alert inside for each caller that acts: {inside_alerts:?}"
        );
        let outside_alert = open(OUTSIDE)
            .await
            .into_iter()
            .next()
            .expect("an alert outside");
        World {
            harness,
            any_inside_alert: inside_alerts[0].clone(),
            inside_alerts: std::sync::Mutex::new(inside_alerts),
            outside_alert,
        }
    }

    /// Calls `rpc` as `caller` at `place`, checking that whatever it returns lies within
    /// the caller's reach; returns the code.
    async fn call(&self, caller: &Caller, rpc: Rpc, place: Place, serial: usize) -> Code {
        let channel: Authorized = self.harness.channel_as(caller.bearer.clone()).await;
        let mut ingest = IngestServiceClient::new(channel.clone());
        let mut monitor = MonitorServiceClient::new(channel.clone());
        let mut audit = AuditServiceClient::new(channel.clone());
        let mut policy = PolicyServiceClient::new(channel);
        let role = caller.role;
        let reach = |region: &str, dept_code: &str| {
            let role = role.expect("only principals get answers");
            assert!(
                within(role, region, dept_code),
                "{} received `{region}`/`{dept_code}` calling {rpc:?} at {place:?}",
                caller.name
            );
        };
        let region = place.region().to_owned();
        let day = date_to_pb(local("2026-03-02 12:00").date_naive());
        match rpc {
            Rpc::Append => {
                let event = self.new_case(caller, place, serial);
                appended(
                    ingest
                        .append(pb::AppendRequest {
                            events: vec![event],
                            request_id: String::new(),
                        })
                        .await
                        .map(tonic::Response::into_inner),
                )
            }
            Rpc::AppendStream => {
                let request = pb::AppendRequest {
                    events: vec![self.new_case(caller, place, serial)],
                    request_id: String::new(),
                };
                match ingest.append_stream(tokio_stream::iter([request])).await {
                    Err(status) => status.code(),
                    Ok(responses) => {
                        let first = responses.into_inner().next().await.expect("an answer");
                        appended(first)
                    }
                }
            }
            Rpc::GetCase => {
                let result = monitor
                    .get_case(pb::GetCaseRequest {
                        case_no: place.case_no().into(),
                        consistency: None,
                    })
                    .await;
                if let Ok(response) = &result {
                    let case = response.get_ref().case_view.as_ref().expect("a view");
                    reach(&case.region_code, &case.dept_code);
                }
                code(result)
            }
            Rpc::ListCases => {
                let result = monitor
                    .list_cases(pb::ListCasesRequest {
                        region_prefix: region,
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await;
                if let Ok(response) = &result {
                    for case in &response.get_ref().cases {
                        reach(&case.region_code, &case.dept_code);
                    }
                }
                code(result)
            }
            Rpc::ListAlerts => {
                let result = monitor
                    .list_alerts(pb::ListAlertsRequest {
                        region_prefix: region,
                        page_size: 1000,
                        ..Default::default()
                    })
                    .await;
                if let Ok(response) = &result {
                    for alert in &response.get_ref().alerts {
                        reach(&alert.region_code, &alert.dept_code);
                    }
                }
                code(result)
            }
            Rpc::SubscribeAlerts => {
                let result = monitor
                    .subscribe_alerts(pb::AlertFilter {
                        region_prefix: region,
                        from_beginning: true,
                        ..Default::default()
                    })
                    .await;
                // Inside, the scenario's alerts are there to catch up with.
                match result {
                    Ok(feed) if place == Place::Inside => {
                        let alert = feed
                            .into_inner()
                            .next()
                            .await
                            .expect("an alert")
                            .expect("a readable alert");
                        reach(&alert.region_code, &alert.dept_code);
                        Code::Ok
                    }
                    other => code(other),
                }
            }
            Rpc::ActOnAlert => {
                let may_act = role.is_some_and(|role| Rpc::ActOnAlert.roles().contains(&role));
                let alert_id = match place {
                    Place::Outside => self.outside_alert.clone(),
                    // Each caller that may act gets an alert of its own to acknowledge.
                    Place::Inside if may_act => self
                        .inside_alerts
                        .lock()
                        .expect("not poisoned")
                        .pop()
                        .expect("an open alert left"),
                    Place::Inside => self.any_inside_alert.clone(),
                };
                let result = monitor
                    .act_on_alert(pb::ActOnAlertRequest {
                        event_id: format!("matrix-{serial}"),
                        alert_id,
                        action: Some(pb::act_on_alert_request::Action::Acknowledge(
                            pb::supervision_event::Acknowledge {
                                note: caller.name.into(),
                            },
                        )),
                        await_projection: true,
                    })
                    .await;
                if let Ok(response) = &result {
                    let alert = response.get_ref().alert.as_ref().expect("the alert now");
                    assert_eq!(alert.state, i32::from(pb::AlertState::Acknowledged));
                    reach(&alert.region_code, &alert.dept_code);
                }
                code(result)
            }
            Rpc::GetStatistics => code(
                monitor
                    .get_statistics(pb::GetStatisticsRequest {
                        from: Some(day),
                        to: Some(day),
                        group_by: pb::StatisticsGroupBy::Department.into(),
                        region_prefix: region,
                        ..Default::default()
                    })
                    .await,
            ),
            Rpc::GetRanking => code(
                monitor
                    .get_ranking(pb::GetRankingRequest {
                        week: Some(day),
                        kind: pb::RankingKind::Counties.into(),
                        region_prefix: region,
                        consistency: None,
                    })
                    .await,
            ),
            Rpc::GetDailyReport => code(
                monitor
                    .get_daily_report(pb::GetReportRequest {
                        region,
                        date: Some(day),
                        consistency: None,
                    })
                    .await,
            ),
            Rpc::GetWeeklyRanking => code(
                monitor
                    .get_weekly_ranking(pb::GetReportRequest {
                        region,
                        date: Some(day),
                        consistency: None,
                    })
                    .await,
            ),
            Rpc::GetDispatchList => code(
                monitor
                    .get_dispatch_list(pb::GetReportRequest {
                        region,
                        date: Some(day),
                        consistency: None,
                    })
                    .await,
            ),
            Rpc::GetMonthlyBulletin => code(
                monitor
                    .get_monthly_bulletin(pb::GetReportRequest {
                        region,
                        date: Some(day),
                        consistency: None,
                    })
                    .await,
            ),
            Rpc::ReplayCase => match audit
                .replay_case(pb::ReplayCaseRequest {
                    case_no: place.case_no().into(),
                })
                .await
            {
                Ok(steps) => {
                    let steps: Vec<_> = steps.into_inner().collect().await;
                    assert!(!steps.is_empty() && steps.iter().all(Result::is_ok));
                    Code::Ok
                }
                Err(status) => status.code(),
            },
            Rpc::ReadLog => match audit
                .read_log(pb::ReadLogRequest {
                    region_prefix: region,
                    ..Default::default()
                })
                .await
            {
                Ok(records) => {
                    let records: Vec<_> = records.into_inner().collect().await;
                    assert!(!records.is_empty(), "{} reads the log", caller.name);
                    for record in records {
                        let record = record.expect("a record");
                        let envelope =
                            pb::Record::decode(record.record.as_slice()).expect("an envelope");
                        if let Ok(event) = pb::CaseEvent::decode(envelope.payload.as_slice())
                            && envelope.kind == i32::from(pb::RecordKind::CaseEvent)
                        {
                            reach(&event.region_code, &event.dept_code);
                        }
                    }
                    Code::Ok
                }
                Err(status) => status.code(),
            },
            Rpc::GetCaseAsOf => code(
                audit
                    .get_case_as_of(pb::GetCaseAsOfRequest {
                        case_no: place.case_no().into(),
                        at: Some(timestamp_to_pb(local("2026-03-09 17:00"))),
                    })
                    .await,
            ),
            Rpc::VerifyCase => code(
                audit
                    .verify_case(pb::VerifyCaseRequest {
                        case_no: place.case_no().into(),
                    })
                    .await,
            ),
            Rpc::VerifyLog => code(audit.verify_log(pb::VerifyLogRequest::default()).await),
            Rpc::ListQuarantine => code(
                audit
                    .list_quarantine(pb::ListQuarantineRequest::default())
                    .await,
            ),
            Rpc::GetPolicy => code(policy.get_policy(pb::GetPolicyRequest {}).await),
            Rpc::ListPolicyHistory => code(
                policy
                    .list_policy_history(pb::ListPolicyHistoryRequest {})
                    .await,
            ),
            // A dry run: checked whole, as a change is, and nothing appended.
            Rpc::ApplyPolicy => code(
                policy
                    .apply_policy(pb::ApplyPolicyRequest {
                        part: pb::PolicyPart::RegionCalendar.into(),
                        version: 2,
                        document: format!(
                            "region = \"{region}\"\nholidays = [{{ name = \"local\", \
                             from = \"2026-03-04\", to = \"2026-03-04\" }}]\n"
                        ),
                        reason: "the matrix".into(),
                        applies_from: None,
                        dry_run: true,
                    })
                    .await,
            ),
            Rpc::WhatIf => {
                let result = audit
                    .what_if(pb::WhatIfRequest {
                        from: Some(date_to_pb(local("2026-03-01 12:00").date_naive())),
                        to: Some(date_to_pb(local("2026-03-31 12:00").date_naive())),
                        region_prefix: region,
                        ..Default::default()
                    })
                    .await;
                if let Ok(response) = &result {
                    let response = response.get_ref();
                    for alert in response.would_raise.iter().chain(&response.actually_raised) {
                        reach(&alert.region_code, &alert.dept_code);
                    }
                }
                code(result)
            }
        }
    }

    /// A submission opening a new case at `place`, stamped at the node's present.
    fn new_case(&self, caller: &Caller, place: Place, serial: usize) -> pb::CaseEvent {
        let case_no = format!("{}-M-{}-{serial}", place.region(), caller.name);
        submission(&case_no, place.region(), self.harness.clock.now())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_answers_every_role_inside_and_outside_its_scope_as_promised() {
    let world = World::start().await;
    let mut cells = 0;
    let mut wrong = Vec::new();
    for (index, caller) in callers().iter().enumerate() {
        for (rpc_index, rpc) in RPCS.iter().enumerate() {
            for place in [Place::Inside, Place::Outside] {
                let serial =
                    (index * RPCS.len() + rpc_index) * 2 + usize::from(place == Place::Outside);
                let got = world.call(caller, *rpc, place, serial).await;
                let want = expected(caller.role, *rpc, place);
                cells += 1;
                if got != want {
                    wrong.push(format!(
                        "{:<10} {rpc:<16?} {place:<8?} expected {want:?}, got {got:?}",
                        caller.name
                    ));
                }
            }
        }
    }
    eprintln!(
        "authorization matrix: {cells} cells ({} callers x {} RPCs x 2 places)",
        callers().len(),
        RPCS.len()
    );
    assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    world.harness.node.stop().await;
}
