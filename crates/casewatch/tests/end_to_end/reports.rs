//! The published figures over gRPC, from the scripted scenario (seven cases in three
//! counties of Hangzhou, Monday 2 to Monday 9 March 2026): due instants by the statute,
//! the overdue filter, the weekly ranking, the ten-day dispatch list and the monthly
//! bulletin, asserted number by number.

use casewatch_proto::convert::{date_to_pb, timestamp_to_pb};
use casewatch_proto::pb;
use casewatch_tests::{local, scenario};

use crate::support;
use support::Harness;

fn date(text: &str) -> Option<pb::Date> {
    Some(date_to_pb(text.parse().expect("a date")))
}

async fn played() -> Harness {
    let harness = Harness::start().await;
    harness.play(&scenario()).await;
    harness
}

/// `330106-B-LATE` was accepted Monday 2 March 09:00 with 3 working days promised: the day
/// of acceptance does not count, so it is due at the close of office on Thursday 5 March,
/// and from Friday it is an open case past its promised limit.
#[tokio::test]
async fn the_late_case_is_due_by_the_statute_and_listed_as_overdue() {
    let harness = played().await;
    let mut monitor = harness.monitor();
    let view = monitor
        .get_case(pb::GetCaseRequest {
            case_no: "330106-B-LATE".into(),
            consistency: None,
        })
        .await
        .expect("the case")
        .into_inner()
        .case_view
        .expect("a view");
    assert_eq!(
        view.promised_due,
        Some(timestamp_to_pb(local("2026-03-05 17:30")))
    );
    assert!(view.past_promised);
    assert!(!view.past_legal);

    let listed = |overdue: pb::OverdueFilter| {
        let mut monitor = harness.monitor();
        async move {
            monitor
                .list_cases(pb::ListCasesRequest {
                    overdue: overdue.into(),
                    ..Default::default()
                })
                .await
                .expect("a list")
                .into_inner()
                .cases
                .into_iter()
                .map(|case| case.case_no)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed(pb::OverdueFilter::PastPromised).await,
        ["330106-B-LATE"]
    );
    assert!(listed(pb::OverdueFilter::PastLegal).await.is_empty());
    assert_eq!(listed(pb::OverdueFilter::Unspecified).await.len(), 7);
}

#[tokio::test]
async fn the_weekly_ranking_counts_cases_in_hand_and_late_ones() {
    let harness = played().await;
    let ranking = harness
        .monitor()
        .get_ranking(pb::GetRankingRequest {
            week: date("2026-03-04"),
            kind: pb::RankingKind::Counties.into(),
            region_prefix: "3301".into(),
            consistency: None,
        })
        .await
        .expect("a ranking")
        .into_inner();
    assert_eq!(ranking.week_start, date("2026-03-02"));
    let rows: Vec<_> = ranking
        .rows
        .iter()
        .map(|row| {
            (
                row.rank,
                row.key.as_str(),
                row.in_hand,
                row.late,
                row.late_rate,
                row.alert_rate,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            // 西湖区 330106: three in hand; the late case open past its promise on Sunday,
            // and its yellow card.
            // 上城区 330102: two in hand, none late; a yellow card (P2) and a red (F1).
            // 拱墅区 330105: two in hand, none late; a red card (C3).
            (1, "330105", 2, 0, Some(0.0), Some(0.5)),
            (2, "330102", 2, 0, Some(0.0), Some(1.0)),
            (3, "330106", 3, 1, Some(1.0 / 3.0), Some(1.0 / 3.0)),
        ]
    );
}

#[tokio::test]
async fn the_dispatch_list_names_the_overdue_case_and_the_open_red_cards() {
    let harness = played().await;
    let list = harness
        .monitor()
        .get_dispatch_list(pb::GetReportRequest {
            region: "330100".into(),
            date: date("2026-03-09"),
            consistency: None,
        })
        .await
        .expect("a dispatch list")
        .into_inner();
    let period = list.period.expect("a period");
    assert_eq!(
        (period.first, period.last),
        (date("2026-03-01"), date("2026-03-10"))
    );
    assert_eq!(period.label, "2026-03 上旬");
    // The 旬 is still running: the list is as of the views' time, the last tick.
    assert_eq!(list.as_of, Some(timestamp_to_pb(local("2026-03-10 10:00"))));
    let overdue: Vec<_> = list
        .overdue_cases
        .iter()
        .map(|case| {
            let cards: Vec<_> = case.cards.iter().map(|card| card.rule.as_str()).collect();
            (
                case.case_no.as_str(),
                case.county.as_str(),
                case.days_overdue,
                cards,
            )
        })
        .collect();
    // Friday's and Monday's 7 hours and Tuesday's first up to the last tick: 2 working
    // days and an hour, 3 started days.
    assert_eq!(overdue, [("330106-B-LATE", "330106", 3, vec!["T1", "T2"])]);
    let red: Vec<_> = list
        .red_cards
        .iter()
        .map(|card| (card.alert_id.as_str(), card.feedback_received))
        .collect();
    assert_eq!(
        red,
        [
            ("330102-D-FEE/F1/1", false),
            ("330105-E-CONFLICT/C3/1", false)
        ]
    );
    let totals: Vec<_> = list
        .totals
        .iter()
        .map(|totals| {
            (
                totals.county.as_str(),
                totals.overdue_open,
                totals.previous_overdue_open,
            )
        })
        .collect();
    assert_eq!(
        totals,
        [("330102", 0, 0), ("330105", 0, 0), ("330106", 1, 0)]
    );
}

#[tokio::test]
async fn the_monthly_bulletin_adds_up_the_month() {
    let harness = played().await;
    let bulletin = harness
        .monitor()
        .get_monthly_bulletin(pb::GetReportRequest {
            region: "330100".into(),
            date: date("2026-03-15"),
            consistency: None,
        })
        .await
        .expect("a bulletin")
        .into_inner();
    let total = bulletin.total.expect("a total");
    let counters = total.counters.expect("counters");
    assert_eq!(counters.accepted, 7);
    assert_eq!(counters.completed, 3);
    assert_eq!(counters.completed_early + counters.completed_on_time, 3);
    assert_eq!(counters.warnings_raised, 1);
    assert_eq!(counters.cards_raised, 5);
    assert_eq!(counters.cards_revoked, 0);
    assert_eq!(counters.open_overdue_promised, 1);
    assert_eq!(counters.open_overdue_legal, 0);
    assert_eq!(total.rates.expect("rates").on_time_rate, Some(1.0));
    let regions: Vec<_> = bulletin
        .regions
        .iter()
        .map(|row| row.key.as_str())
        .collect();
    assert_eq!(regions, ["330102", "330105", "330106"]);
    let marked: Vec<_> = bulletin
        .red_cards_and_escalations
        .iter()
        .map(|card| card.alert_id.as_str())
        .collect();
    assert_eq!(marked, ["330102-D-FEE/F1/1", "330105-E-CONFLICT/C3/1"]);
    let overdue: Vec<_> = bulletin
        .overdue_cases
        .iter()
        .map(|case| case.case_no.as_str())
        .collect();
    assert_eq!(overdue, ["330106-B-LATE"]);
    let best: Vec<_> = bulletin
        .best_counties
        .iter()
        .map(|row| row.key.as_str())
        .collect();
    let worst: Vec<_> = bulletin
        .worst_counties
        .iter()
        .map(|row| row.key.as_str())
        .collect();
    assert_eq!((best, worst), (vec!["330105", "330102"], vec!["330106"]));
}

#[tokio::test]
async fn a_report_names_a_missing_or_bad_region() {
    let harness = played().await;
    let refused = harness
        .monitor()
        .get_dispatch_list(pb::GetReportRequest {
            region: String::new(),
            date: date("2026-03-09"),
            consistency: None,
        })
        .await
        .expect_err("a region is required");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert_eq!(refused.message(), "region: required");
    let refused = harness
        .monitor()
        .get_monthly_bulletin(pb::GetReportRequest {
            region: "33x".into(),
            date: date("2026-03-09"),
            consistency: None,
        })
        .await
        .expect_err("not a region code");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    assert!(
        refused.message().starts_with("region: "),
        "{}",
        refused.message()
    );
}
