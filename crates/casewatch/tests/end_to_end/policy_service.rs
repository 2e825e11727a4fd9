//! The policy changed over gRPC while the node runs (`PolicyService`): a region's calendar
//! corrected moves an open case's due instant, the history and the policy in force say so,
//! and a change that is malformed, out of date or beyond the caller's regions is refused
//! by name with nothing appended.

use casewatch_domain::access::Role;
use casewatch_proto::client::Bearer;
use casewatch_proto::convert::timestamp_to_pb;
use casewatch_proto::pb;
use casewatch_proto::pb::policy_service_client::PolicyServiceClient;
use casewatch_server::Edge;
use casewatch_server::auth::Authenticator;
use casewatch_tests::{Input, acceptance, local, submission};
use std::process::{Command, Output};
use tonic::Code;

use crate::support::{Authorized, Harness, PARTITIONS, principal};

const CASE: &str = "330106-P-RETIMED";
/// 西湖区.
const REGION: &str = "330106";

/// Thursday 12 March a local rest day in 西湖区.
fn correction(version: u32, dry_run: bool) -> pb::ApplyPolicyRequest {
    pb::ApplyPolicyRequest {
        part: pb::PolicyPart::RegionCalendar.into(),
        version,
        document: format!(
            "region = \"{REGION}\"\n\
             holidays = [{{ name = \"local festival\", from = \"2026-03-12\", to = \"2026-03-12\" }}]\n"
        ),
        reason: "西湖区政府办〔2026〕2号".into(),
        applies_from: None,
        dry_run,
    }
}

/// `CASE` reported and accepted Monday 2 March 09:00 with 10 promised working days: due
/// Monday 16 March 17:30 under the shipped calendar.
async fn open_the_case(harness: &Harness) {
    harness
        .play(&[
            Input::Step {
                event: Box::new(submission(CASE, REGION, local("2026-03-02 09:00"))),
                recorded_at: local("2026-03-02 09:00"),
            },
            Input::Step {
                event: Box::new(acceptance(CASE, REGION, local("2026-03-02 09:00"), 10)),
                recorded_at: local("2026-03-02 09:01"),
            },
        ])
        .await;
}

async fn history(policy: &mut PolicyServiceClient<Authorized>) -> Vec<pb::PolicyRecord> {
    policy
        .list_policy_history(pb::ListPolicyHistoryRequest {})
        .await
        .expect("the history reads")
        .into_inner()
        .records
}

#[tokio::test]
async fn an_operator_corrects_a_region_s_calendar_while_the_node_runs() {
    let harness = Harness::start().await;
    open_the_case(&harness).await;
    let mut policy = PolicyServiceClient::new(harness.channel.clone());
    let shipped = policy
        .get_policy(pb::GetPolicyRequest {})
        .await
        .expect("the policy reads")
        .into_inner();
    assert_eq!(
        (shipped.rule_book_version, shipped.calendar_version),
        (1, 1)
    );
    assert!(shipped.national_calendar.contains("year = 2026"));
    assert_eq!(
        shipped.calendar_ends,
        Some(pb::Date {
            year: 2026,
            month: 12,
            day: 31
        })
    );
    assert!(shipped.regions.is_empty());

    // Refused by name, nothing appended.
    let mut unknown_key = correction(2, false);
    unknown_key.document.push_str("holiday = []\n");
    let status = policy
        .apply_policy(unknown_key)
        .await
        .expect_err("an unknown key");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(status.message().starts_with("document:"), "{status:?}");
    let status = policy
        .apply_policy(correction(1, false))
        .await
        .expect_err("not after version 1");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let dry = policy
        .apply_policy(correction(2, true))
        .await
        .expect("a dry run")
        .into_inner();
    assert!(dry.positions.is_empty());
    assert_eq!(dry.change.expect("the change").author, "dev-admin");
    harness.wait_until_projected().await;
    assert!(history(&mut policy).await.is_empty(), "nothing appended");

    let applied = policy
        .apply_policy(correction(2, false))
        .await
        .expect("the change applies")
        .into_inner();
    assert_eq!(
        applied.positions.len(),
        PARTITIONS as usize,
        "every partition"
    );
    harness.wait_until_projected().await;

    let records = history(&mut policy).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].outcome(), pb::PolicyOutcome::Applied);
    let change = records[0].change.as_ref().expect("the change");
    assert_eq!(
        (
            change.author.as_str(),
            change.version,
            change.reason.as_str()
        ),
        ("dev-admin", 2, "西湖区政府办〔2026〕2号")
    );
    let changed = policy
        .get_policy(pb::GetPolicyRequest {})
        .await
        .expect("the policy reads")
        .into_inner();
    assert_eq!(
        (changed.rule_book_version, changed.calendar_version),
        (1, 2)
    );
    assert_eq!(changed.regions.len(), 1);
    assert_eq!(changed.regions[0].region, REGION);

    // Read on Friday 13 March 10:00: eight days and an hour of office time used since the
    // acceptance on Monday 2 March (the view counts from the instant), Thursday 12 March a
    // rest day now; nine days and an hour under the calendar before.
    harness.clock.set(local("2026-03-13 10:00"));
    let case = harness
        .monitor()
        .get_case(pb::GetCaseRequest {
            case_no: CASE.into(),
            ..pb::GetCaseRequest::default()
        })
        .await
        .expect("the case reads")
        .into_inner()
        .case_view
        .expect("a case view");
    assert_eq!(
        (case.promised_due, case.used_working_days),
        (Some(timestamp_to_pb(local("2026-03-17 17:30"))), 9),
        "a day later than Monday 16 March, a day less used"
    );
    let status = policy
        .apply_policy(correction(2, false))
        .await
        .expect_err("version 2 is in force");
    assert_eq!(status.code(), Code::FailedPrecondition);
    harness.node.stop().await;
}

#[tokio::test]
async fn a_city_administrator_changes_its_own_calendars_and_nothing_else() {
    let auth = Authenticator::new(vec![
        principal("province", Role::Admin, "000000", None),
        principal("hangzhou", Role::Admin, "330100", None),
    ])
    .expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, "t-province").await;
    let mut city = PolicyServiceClient::new(
        harness
            .channel_as(Bearer::new("t-hangzhou").expect("a token"))
            .await,
    );
    assert!(
        city.apply_policy(correction(2, true)).await.is_ok(),
        "a county of its city"
    );
    let mut province_calendar = correction(2, true);
    province_calendar.document = province_calendar.document.replace(REGION, "330000");
    let rule_book = pb::ApplyPolicyRequest {
        part: pb::PolicyPart::RuleBook.into(),
        document: "version = 2\n".into(),
        ..correction(2, true)
    };
    for (what, request) in [
        ("the province's", province_calendar),
        ("the rule book", rule_book),
    ] {
        let status = city
            .apply_policy(request)
            .await
            .expect_err("beyond the city");
        assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    }
    harness.node.stop().await;
}

/// Years of national calendar data for the test (not a real notice): New Year's Day 2027
/// off, Saturday 9 January worked.
const NEXT_YEAR: &str = r#"
[[year]]
year = 2027
notice = "a notice for the test"

[[year.holiday]]
name = "元旦"
from = "2027-01-01"
to = "2027-01-03"

[[year.workday]]
date = "2027-01-09"
reason = "元旦"
"#;

/// Runs `casewatch policy ARGS` against the node at `url` as the administrator `token`.
async fn policy_command(args: &[&str], url: &str, token: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casewatch"));
    command
        .arg("policy")
        .args(args)
        .args(["--server", url, "--token", token])
        .env("CASEWATCH_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output().expect("casewatch policy runs"))
        .await
        .expect("the command's thread")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_adds_next_year_s_calendar_from_the_command_line() {
    let auth = Authenticator::new(vec![principal("province", Role::Admin, "000000", None)])
        .expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, "t-province").await;
    let url = format!("http://{}", harness.node.addr);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let file = dir.path().join("2027.toml");
    std::fs::write(&file, NEXT_YEAR).expect("the file writes");
    let file = file.to_str().expect("a UTF-8 path");
    let change = [
        "--part",
        "national-calendar",
        "--reason",
        "2027年节假日安排",
    ];

    let checked = stdout(
        &policy_command(
            &[
                &["apply", file][..],
                &change,
                &["--dry-run", "--from", "2027-01-01T00:00:00+08:00"],
            ]
            .concat(),
            &url,
            "t-province",
        )
        .await,
    );
    assert!(checked.contains("+year = 2027"), "{checked}");
    assert!(
        checked.contains("checked: calendar version 2 from 2027-01-01T00:00:00+08:00 by province")
            && checked.contains("nothing applied"),
        "{checked}"
    );
    let applied = stdout(
        &policy_command(
            &[&["apply", file][..], &change].concat(),
            &url,
            "t-province",
        )
        .await,
    );
    assert!(
        applied.contains("applied: calendar version 2 from ")
            && applied.contains(&format!("by province, on {PARTITIONS} partitions")),
        "{applied}"
    );
    harness.wait_until_projected().await;

    let history = stdout(&policy_command(&["history"], &url, "t-province").await);
    assert!(
        history.contains("national calendar version 2 by province: 2027年节假日安排 — applied"),
        "{history}"
    );
    let shown = stdout(&policy_command(&["show"], &url, "t-province").await);
    assert!(
        shown.contains("# national calendar, version 2 (data to 2027-12-31)"),
        "{shown}"
    );
    let unchanged = stdout(
        &policy_command(
            &[&["diff", file][..], &change[..2]].concat(),
            &url,
            "t-province",
        )
        .await,
    );
    assert_eq!(unchanged, "calendar: no change\n");

    std::fs::write(
        dir.path().join("typo.toml"),
        NEXT_YEAR.replace("[[year.workday]]", "[[year.workdays]]"),
    )
    .expect("the file writes");
    let typo = dir.path().join("typo.toml");
    let refused = policy_command(
        &[
            &["apply", typo.to_str().expect("a UTF-8 path")][..],
            &change,
        ]
        .concat(),
        &url,
        "t-province",
    )
    .await;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("typo.toml") && said.contains("workdays"),
        "{said}"
    );
    harness.node.stop().await;
}

/// The calendar running out, as the node's watch sees it (and warns and gauges daily): in
/// March nothing to say; on 7 December 2026 24 days left; nothing once 2027 is applied.
#[tokio::test]
async fn the_node_says_when_the_calendar_runs_out_until_next_year_is_applied() {
    let harness = Harness::start().await;
    let state = &harness.node.state;
    assert_eq!(
        state.calendar_notice().await.expect("the views answer"),
        None
    );
    harness.clock.set(local("2026-12-07 10:00"));
    let (left, notice) = state
        .calendar_notice()
        .await
        .expect("the views answer")
        .expect("the calendar runs out");
    assert_eq!(left, 24);
    assert!(
        notice.contains("ends on 2026-12-31, in 24 days"),
        "{notice}"
    );
    PolicyServiceClient::new(harness.channel.clone())
        .apply_policy(pb::ApplyPolicyRequest {
            part: pb::PolicyPart::NationalCalendar.into(),
            version: 2,
            document: NEXT_YEAR.into(),
            reason: "2027年节假日安排".into(),
            applies_from: None,
            dry_run: false,
        })
        .await
        .expect("the change applies");
    harness.wait_until_projected().await;
    assert_eq!(
        state.calendar_notice().await.expect("the views answer"),
        None
    );
    harness.node.stop().await;
}

/// Runs `casewatch report dispatch` for 西湖区's 中旬 of March 2026 with `how` (a server,
/// or a data directory) and returns the Markdown.
async fn dispatch_list(how: Vec<String>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_casewatch"));
    command
        .args([
            "report",
            "dispatch",
            "--region",
            REGION,
            "--date",
            "2026-03-20",
        ])
        .args(how)
        .env("CASEWATCH_LOG", "warn");
    stdout(
        &tokio::task::spawn_blocking(move || command.output().expect("casewatch report runs"))
            .await
            .expect("the command's thread"),
    )
}

/// A report read from a data directory judges by the policy its views folded from the log,
/// as the server does: with Thursday 19 March a rest day in 西湖区, the dispatch list of
/// 11–20 March from the stopped node's views is the one the running node gave, its case
/// (due Monday 16 March 17:30) 3 working days overdue at the period's end, not the 4 of the
/// shipped calendar.
#[tokio::test(flavor = "multi_thread")]
async fn a_report_read_offline_judges_by_the_policy_on_the_log() {
    let auth = Authenticator::new(vec![principal("province", Role::Admin, "000000", None)])
        .expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, "t-province").await;
    open_the_case(&harness).await;
    let mut rest_day = correction(2, false);
    rest_day.document = rest_day.document.replace("2026-03-12", "2026-03-19");
    PolicyServiceClient::new(harness.channel.clone())
        .apply_policy(rest_day)
        .await
        .expect("the change applies");
    harness
        .play(&[Input::Tick(local("2026-03-20 18:00"))])
        .await;
    let served = dispatch_list(vec![
        "--server".into(),
        format!("http://{}", harness.node.addr),
        "--token".into(),
        "t-province".into(),
    ])
    .await;
    let row = served
        .lines()
        .find(|line| line.contains(CASE))
        .unwrap_or_else(|| panic!("the overdue case listed: {served}"));
    assert!(row.contains("| 3 |"), "3 working days overdue: {row}");
    let data = harness.data.path().to_owned();
    harness.node.stop().await;
    let offline = dispatch_list(vec!["--data".into(), data.display().to_string()]).await;
    assert_eq!(offline, served);
}
