//! What auditors read of the past, over gRPC against an in-process node: a case as it stood
//! at several past instants (`GetCaseAsOf`), held both to the records of its partition up
//! to each instant folded straight through the domain and to the key fields worked out by
//! hand; and a what-if run (`WhatIf`) under a rule book with a regional override, held to
//! the alert diff worked out by hand in `casewatch_tests::what_if`.

use casewatch_domain::Timestamp;
use casewatch_domain::case::{Case, Policy};
use casewatch_domain::clock::{Measure, whole_units};
use casewatch_domain::event::LimitUnit;
use casewatch_domain::record::PartitionFold;
use casewatch_log::EventLog;
use casewatch_proto::convert::{ProtoEnum, timestamp_to_pb};
use casewatch_proto::{pb, read_record};
use casewatch_tests::month::scripted_month;
use casewatch_tests::{local, what_if};

use crate::support::Harness;

/// The case of the scripted month looked at: accepted Mon 12 Oct 2026 09:00 with 5
/// promised working days, warned (T1) Fri 16 Oct, a yellow card (T2) Tue 20 Oct, which its
/// department appeals Wed 21 Oct and which is revoked Thu 22 Oct; completed Fri 23 Oct
/// 10:00.
const CASE: &str = "M08";

/// `CASE` at an instant, by hand (office hours 7 a day, from the acceptance instant on):
/// its status, working days used (rounded up), light, and alerts with their states.
struct AsOf {
    at: &'static str,
    status: pb::CaseStatus,
    used_working_days: u32,
    light: pb::Light,
    alerts: &'static [(&'static str, pb::AlertState)],
}

const AS_OF: &[AsOf] = &[
    // Reviewed at 10:00; 3 + 4 hours on Monday and 3 on Tuesday.
    AsOf {
        at: "2026-10-13 12:00",
        status: pb::CaseStatus::Accepted,
        used_working_days: 2,
        light: pb::Light::Green,
        alerts: &[],
    },
    // Five whole days; the 18:00 tick found a day left and warned.
    AsOf {
        at: "2026-10-16 20:00",
        status: pb::CaseStatus::Accepted,
        used_working_days: 5,
        light: pb::Light::Yellow,
        alerts: &[("M08/T1/1", pb::AlertState::Raised)],
    },
    // Seven days and three hours; the card of Tuesday's tick appealed at 10:00.
    AsOf {
        at: "2026-10-21 12:00",
        status: pb::CaseStatus::Accepted,
        used_working_days: 8,
        light: pb::Light::Yellow,
        alerts: &[
            ("M08/T1/1", pb::AlertState::Raised),
            ("M08/T2/1", pb::AlertState::Appealed),
        ],
    },
    // Completed at 10:00 after nine days and an hour: the warning resolved with the end,
    // the card revoked the day before.
    AsOf {
        at: "2026-10-23 12:00",
        status: pb::CaseStatus::Completed,
        used_working_days: 10,
        light: pb::Light::Green,
        alerts: &[
            ("M08/T1/1", pb::AlertState::Resolved),
            ("M08/T2/1", pb::AlertState::Revoked),
        ],
    },
];

/// `case_no` as the records of its partition recorded up to `at` make it, folded through
/// the domain's own partition fold, with time then advanced to `at`.
async fn prefix_folded(log: &dyn EventLog, case_no: &str, at: Timestamp) -> Case {
    let partition = log.partition_of(case_no);
    let mut fold = PartitionFold::default();
    let mut from = 0;
    'log: loop {
        let page = log
            .read(partition, from, 1000)
            .await
            .expect("the log reads");
        let Some(last) = page.last() else {
            break;
        };
        from = last.position.offset + 1;
        for stored in page {
            let record = read_record(&stored.bytes, &stored.key);
            if record.clock_after(None).is_some_and(|time| time > at) {
                break 'log;
            }
            let _ = fold.fold(&record, &stored.bytes);
        }
    }
    fold.into_cases_as_of(at)
        .1
        .find(|case| case.case_no.as_str() == case_no)
        .expect("the case was reported by then")
}

#[tokio::test]
async fn a_case_as_of_past_instants_is_its_folded_prefix_and_as_worked_out_by_hand() {
    let harness = Harness::start().await;
    harness.play_script(&scripted_month()).await;
    let mut audit = harness.audit();
    let log = &*harness.node.state.log;
    let policy = Policy::default();
    for expected in AS_OF {
        let at = local(expected.at);
        let response = audit
            .get_case_as_of(pb::GetCaseAsOfRequest {
                case_no: CASE.into(),
                at: Some(timestamp_to_pb(at)),
            })
            .await
            .unwrap_or_else(|status| panic!("{CASE} as of {}: {status}", expected.at))
            .into_inner();
        let view = response.case_view.expect("a case view");
        let alerts: Vec<(&str, pb::AlertState)> = response
            .alerts
            .iter()
            .map(|alert| (alert.id.as_str(), alert.state()))
            .collect();
        assert_eq!(
            (
                view.status(),
                view.used_working_days,
                view.light(),
                alerts.as_slice()
            ),
            (
                expected.status,
                expected.used_working_days,
                expected.light,
                expected.alerts
            ),
            "{CASE} as of {}, by hand",
            expected.at
        );

        let folded = prefix_folded(log, CASE, at).await;
        let calendar = policy.calendars.for_region(&folded.region_code);
        let used = whole_units(
            folded.clock.used(Measure::Working, calendar, at),
            LimitUnit::WorkingDays,
            calendar,
        );
        assert_eq!(
            (
                view.status,
                i64::from(view.used_working_days),
                view.light,
                view.accepted_at,
                view.ended_at
            ),
            (
                folded.status.to_pb(),
                used,
                folded.light().to_pb(),
                folded.accepted_at.map(timestamp_to_pb),
                folded.ended_at.map(timestamp_to_pb)
            ),
            "{CASE} as of {}, against its prefix folded",
            expected.at
        );
        let folded_alerts: Vec<pb::Alert> = folded.alerts.iter().map(pb::Alert::from).collect();
        assert_eq!(
            response.alerts, folded_alerts,
            "{CASE}'s alerts as of {}, against its prefix folded",
            expected.at
        );
    }
    harness.node.stop().await;
}

#[tokio::test]
async fn what_if_keeps_the_regional_override_and_re_runs_the_cases_accepted_in_the_period() {
    let harness = Harness::start_with_policy(what_if::policy()).await;
    harness.play(&what_if::fortnight()).await;
    let response = harness
        .audit()
        .what_if(pb::WhatIfRequest {
            thresholds: Some(what_if::trial()),
            from: Some(what_if::period()),
            to: Some(what_if::period()),
            region_prefix: String::new(),
            limit: 0,
        })
        .await
        .expect("what-if runs")
        .into_inner();
    let ids = |alerts: &[pb::Alert]| -> Vec<String> {
        alerts.iter().map(|alert| alert.id.clone()).collect()
    };
    assert_eq!(response.only_in_what_if, what_if::ONLY_IN_TRIAL);
    assert_eq!(response.only_in_actual, what_if::ONLY_IN_FACT);
    assert_eq!(ids(&response.would_raise), what_if::TRIAL_RAISES);
    assert_eq!(ids(&response.actually_raised), what_if::FACT_RAISED);
    assert_eq!(
        response.counts,
        Some(pb::WhatIfCounts {
            cases: what_if::CASES_RE_RUN,
            would_raise: what_if::TRIAL_RAISES.len() as u64,
            actually_raised: what_if::FACT_RAISED.len() as u64,
            only_in_what_if: what_if::ONLY_IN_TRIAL.len() as u64,
            only_in_actual: what_if::ONLY_IN_FACT.len() as u64,
        })
    );
    assert!(!response.truncated);
    harness.node.stop().await;
}
