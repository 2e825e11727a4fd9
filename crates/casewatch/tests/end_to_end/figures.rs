//! The published figures of `GetStatistics` and `GetRanking` over gRPC, number by number,
//! from the scripted week (`casewatch_tests::week`, whose module doc tables the cases):
//! every counter and rate of each row, grouped by county, township, city, department and
//! item; flows over a period's days beside gauges at its end; a revoke counted on the day
//! its card was raised; a department reading only its own figures beside another
//! department of its county; the weekly ranking's rows and its rule for a row that handled
//! nothing; weeks that run Monday to Sunday in China time.
//!
//! Every expected figure is worked out by hand from the script, in the comment beside it;
//! none is computed by the code under test.

use casewatch_domain::access::Role;
use casewatch_proto::convert::date_to_pb;
use casewatch_proto::pb;
use casewatch_proto::pb::StatisticsGroupBy as By;
use casewatch_proto::pb::monitor_service_client::MonitorServiceClient;
use casewatch_server::Edge;
use casewatch_server::auth::Authenticator;
use casewatch_tests::month::{Dept, SHANGCHENG, XIHU, XIHU_TOWNSHIP};
use casewatch_tests::week::{GONGSHU, scripted_week, week_boundary};
use tonic::Code;

use crate::support;
use support::{Authorized, Harness, principal};

type Monitor = MonitorServiceClient<Authorized>;

/// The week of the script, Monday to Sunday.
const MONDAY: &str = "2026-03-02";
const SUNDAY: &str = "2026-03-08";

fn date(text: &str) -> Option<pb::Date> {
    Some(date_to_pb(text.parse().expect("a date")))
}

/// A request for the statistics of `from..=to` grouped by `group_by` (regions by county).
fn asking(from: &str, to: &str, group_by: By) -> pb::GetStatisticsRequest {
    pb::GetStatisticsRequest {
        from: date(from),
        to: date(to),
        group_by: group_by.into(),
        region_level: pb::RegionLevel::County.into(),
        ..Default::default()
    }
}

async fn statistics(
    monitor: &mut Monitor,
    request: pb::GetStatisticsRequest,
) -> pb::GetStatisticsResponse {
    monitor
        .get_statistics(request)
        .await
        .expect("statistics")
        .into_inner()
}

async fn ranking(
    monitor: &mut Monitor,
    week: &str,
    kind: pb::RankingKind,
) -> pb::GetRankingResponse {
    monitor
        .get_ranking(pb::GetRankingRequest {
            week: date(week),
            kind: kind.into(),
            region_prefix: "3301".into(),
            consistency: None,
        })
        .await
        .expect("a ranking")
        .into_inner()
}

/// A group's figures: its counters, and the rates they give.
#[derive(Debug, Clone)]
struct Figures {
    counters: pb::Counters,
    rates: pb::Rates,
}

impl Figures {
    fn row(&self, key: &str) -> pb::StatisticsRow {
        pb::StatisticsRow {
            key: key.to_owned(),
            counters: Some(self.counters),
            rates: Some(self.rates),
        }
    }
}

/// Rates that are all unset: every denominator is zero.
const NO_RATES: pb::Rates = pb::Rates {
    on_time_rate: None,
    alert_rate: None,
    window_direct_signoff_rate: None,
    online_rate: None,
    average_working_days: None,
};

/// Working time used, in seconds and thousandths of a 7-hour working day (rounded), by
/// the completed cases: W01 3 h (09:30–12:00, 13:30–14:00) = 10 800 s, 429; W02 25½ h
/// (Mon 6 h, Tue 7, Wed 7, Thu 5½) = 91 800 s, 3 643; W04 18½ h (Mon 3½ h, Tue 7, Wed 7,
/// Thu 1) = 66 600 s, 2 643; W09 16 h (Tue 7 h, Wed 7, Thu 2) = 57 600 s, 2 286.
const W01: (u64, u64) = (10_800, 429);
const W02: (u64, u64) = (91_800, 3_643);
const W04: (u64, u64) = (66_600, 2_643);
const W09: (u64, u64) = (57_600, 2_286);

/// Every case of the week.
fn total() -> Figures {
    Figures {
        counters: pb::Counters {
            // W01, W02, W03, W04, W05, W07, W08, W09, W10.
            accepted: 9,
            // W01, W02, W04, W09.
            completed: 4,
            // W01 (none of its limit used), W09 (9 h of 35: 2 days of 5).
            completed_early: 2,
            // W02 (19½ h of 21: 3 days of 3).
            completed_on_time: 1,
            // W04 (8 h of 7 at its decision, completed a day later).
            completed_overdue: 1,
            // W06, W11.
            rejected: 2,
            // W07.
            withdrawn: 1,
            used_working_seconds: W01.0 + W02.0 + W04.0 + W09.0,
            // Open on Sunday: W05 (no alert), W08 (its F1 closed).
            open_green: 2,
            // W10: its T1 made a yellow card.
            open_yellow: 1,
            // W03: T2 escalated to red, T3.
            open_red: 1,
            // T1 of W02, W03, W10.
            warnings_raised: 3,
            // W03's T2 and T3, W04's T2, W08's F1, W10's T1 made a card.
            cards_raised: 5,
            // W04's T2.
            cards_revoked: 1,
            // W03's T2 to red, W10's T1 to yellow.
            cards_escalated: 2,
            // W08's F1.
            alerts_closed: 1,
            // W01, W05.
            queries: 2,
            // W04.
            appeals: 1,
            // W01, W09.
            rating_1: 2,
            // W02.
            rating_2: 1,
            // W08.
            rating_3: 1,
            // W05.
            rating_4: 1,
            // W04.
            rating_5: 1,
            // W01, W02, W04, W09.
            decisions: 4,
            // W01, W09.
            direct_decisions: 2,
            // W01 (web), W03 (mobile), W04 (web), W07 (web), W09 (mobile).
            online_accepted: 5,
            // W08's ticket.
            fees_charged_fen: 5_000,
            // W08's F1.
            fee_anomalies: 1,
            // W03 (promised 2 days: past since Thursday).
            open_overdue_promised: 1,
            // W03 (legal 3 days: past since Friday).
            open_overdue_legal: 1,
            used_working_millidays: W01.1 + W02.1 + W04.1 + W09.1,
        },
        rates: pb::Rates {
            // (2 early + 1 on time) / 4 completed.
            on_time_rate: Some(0.75),
            // (5 raised - 1 revoked) / 9 accepted.
            alert_rate: Some(4.0 / 9.0),
            // 2 at the window / 4 decisions.
            window_direct_signoff_rate: Some(0.5),
            // 5 online / 9 accepted.
            online_rate: Some(5.0 / 9.0),
            // (429 + 3 643 + 2 643 + 2 286) / 1000 / 4 completed.
            average_working_days: Some(9_001.0 / 4_000.0),
        },
    }
}

/// 西湖区 330106 with its township 330106004: W01 to W08.
fn xihu() -> Figures {
    Figures {
        counters: pb::Counters {
            // W01, W02, W03, W04, W05, W07, W08.
            accepted: 7,
            // W01 early, W02 on time, W04 late.
            completed: 3,
            completed_early: 1,
            completed_on_time: 1,
            completed_overdue: 1,
            // W06.
            rejected: 1,
            // W07.
            withdrawn: 1,
            used_working_seconds: W01.0 + W02.0 + W04.0,
            // W05, W08.
            open_green: 2,
            // W03.
            open_red: 1,
            // W02, W03.
            warnings_raised: 2,
            // W03 twice, W04, W08.
            cards_raised: 4,
            // W04.
            cards_revoked: 1,
            // W03.
            cards_escalated: 1,
            // W08.
            alerts_closed: 1,
            // W01, W05.
            queries: 2,
            // W04.
            appeals: 1,
            // W01, W02, W08, W05, W04.
            rating_1: 1,
            rating_2: 1,
            rating_3: 1,
            rating_4: 1,
            rating_5: 1,
            // W01 (at the window), W02, W04.
            decisions: 3,
            direct_decisions: 1,
            // W01, W03, W04, W07.
            online_accepted: 4,
            // W08.
            fees_charged_fen: 5_000,
            fee_anomalies: 1,
            // W03.
            open_overdue_promised: 1,
            open_overdue_legal: 1,
            used_working_millidays: W01.1 + W02.1 + W04.1,
            ..Default::default()
        },
        rates: pb::Rates {
            // (1 + 1) / 3.
            on_time_rate: Some(2.0 / 3.0),
            // (4 - 1) / 7.
            alert_rate: Some(3.0 / 7.0),
            // 1 / 3.
            window_direct_signoff_rate: Some(1.0 / 3.0),
            // 4 / 7.
            online_rate: Some(4.0 / 7.0),
            // (429 + 3 643 + 2 643) / 3 000.
            average_working_days: Some(6_715.0 / 3_000.0),
        },
    }
}

/// 上城区 330102: W09 and W10, both the market department's.
fn shangcheng() -> Figures {
    Figures {
        counters: pb::Counters {
            // W09, W10.
            accepted: 2,
            // W09, early.
            completed: 1,
            completed_early: 1,
            used_working_seconds: W09.0,
            // W10.
            open_yellow: 1,
            // W10's T1, made a card.
            warnings_raised: 1,
            cards_raised: 1,
            cards_escalated: 1,
            // W09.
            rating_1: 1,
            // W09, at the window.
            decisions: 1,
            direct_decisions: 1,
            // W09 (mobile).
            online_accepted: 1,
            used_working_millidays: W09.1,
            ..Default::default()
        },
        rates: pb::Rates {
            // 1 / 1.
            on_time_rate: Some(1.0),
            // 1 card / 2 accepted.
            alert_rate: Some(0.5),
            // 1 / 1.
            window_direct_signoff_rate: Some(1.0),
            // 1 / 2.
            online_rate: Some(0.5),
            // 2 286 / 1 000.
            average_working_days: Some(2.286),
        },
    }
}

/// 拱墅区 330105, and the housing department: W11, rejected; no rate has a denominator.
fn rejected_only() -> Figures {
    Figures {
        counters: pb::Counters {
            rejected: 1,
            ..Default::default()
        },
        rates: NO_RATES,
    }
}

/// The market department: W01, W02, W03, W07, W08 in 西湖区, W09, W10 in 上城区.
fn market() -> Figures {
    Figures {
        counters: pb::Counters {
            // W01, W02, W03, W07, W08, W09, W10.
            accepted: 7,
            // W01 early, W02 on time, W09 early.
            completed: 3,
            completed_early: 2,
            completed_on_time: 1,
            // W07.
            withdrawn: 1,
            used_working_seconds: W01.0 + W02.0 + W09.0,
            // W08, W10, W03.
            open_green: 1,
            open_yellow: 1,
            open_red: 1,
            // W02, W03, W10.
            warnings_raised: 3,
            // W03 twice, W08, W10.
            cards_raised: 4,
            // W03, W10.
            cards_escalated: 2,
            // W08.
            alerts_closed: 1,
            // W01.
            queries: 1,
            // W01 and W09, W02, W08.
            rating_1: 2,
            rating_2: 1,
            rating_3: 1,
            // W01, W02, W09; W01 and W09 at the window.
            decisions: 3,
            direct_decisions: 2,
            // W01, W03, W07, W09.
            online_accepted: 4,
            // W08.
            fees_charged_fen: 5_000,
            fee_anomalies: 1,
            // W03.
            open_overdue_promised: 1,
            open_overdue_legal: 1,
            used_working_millidays: W01.1 + W02.1 + W09.1,
            ..Default::default()
        },
        rates: pb::Rates {
            // 3 / 3.
            on_time_rate: Some(1.0),
            // 4 / 7.
            alert_rate: Some(4.0 / 7.0),
            // 2 / 3.
            window_direct_signoff_rate: Some(2.0 / 3.0),
            // 4 / 7.
            online_rate: Some(4.0 / 7.0),
            // (429 + 3 643 + 2 286) / 3 000.
            average_working_days: Some(6_358.0 / 3_000.0),
        },
    }
}

/// The market department in 西湖区 only: W01, W02, W03, W07, W08.
fn market_in_xihu() -> Figures {
    Figures {
        counters: pb::Counters {
            // W01, W02, W03, W07, W08.
            accepted: 5,
            // W01 early, W02 on time.
            completed: 2,
            completed_early: 1,
            completed_on_time: 1,
            // W07.
            withdrawn: 1,
            used_working_seconds: W01.0 + W02.0,
            // W08, W03.
            open_green: 1,
            open_red: 1,
            // W02, W03.
            warnings_raised: 2,
            // W03 twice, W08.
            cards_raised: 3,
            // W03.
            cards_escalated: 1,
            // W08.
            alerts_closed: 1,
            // W01.
            queries: 1,
            // W01, W02, W08.
            rating_1: 1,
            rating_2: 1,
            rating_3: 1,
            // W01 (at the window), W02.
            decisions: 2,
            direct_decisions: 1,
            // W01, W03, W07.
            online_accepted: 3,
            // W08.
            fees_charged_fen: 5_000,
            fee_anomalies: 1,
            // W03.
            open_overdue_promised: 1,
            open_overdue_legal: 1,
            used_working_millidays: W01.1 + W02.1,
            ..Default::default()
        },
        rates: pb::Rates {
            // 2 / 2.
            on_time_rate: Some(1.0),
            // 3 / 5.
            alert_rate: Some(0.6),
            // 1 / 2.
            window_direct_signoff_rate: Some(0.5),
            // 3 / 5.
            online_rate: Some(0.6),
            // (429 + 3 643) / 2 000.
            average_working_days: Some(4_072.0 / 2_000.0),
        },
    }
}

/// The labour department, all in 西湖区: W04, W05, W06.
fn labour() -> Figures {
    Figures {
        counters: pb::Counters {
            // W04, W05.
            accepted: 2,
            // W04, late.
            completed: 1,
            completed_overdue: 1,
            // W06.
            rejected: 1,
            used_working_seconds: W04.0,
            // W05.
            open_green: 1,
            // W04's T2, revoked.
            cards_raised: 1,
            cards_revoked: 1,
            // W05.
            queries: 1,
            // W04.
            appeals: 1,
            // W05, W04.
            rating_4: 1,
            rating_5: 1,
            // W04, not at the window.
            decisions: 1,
            // W04 (web).
            online_accepted: 1,
            used_working_millidays: W04.1,
            ..Default::default()
        },
        rates: pb::Rates {
            // 0 / 1.
            on_time_rate: Some(0.0),
            // (1 - 1) / 2.
            alert_rate: Some(0.0),
            // 0 / 1.
            window_direct_signoff_rate: Some(0.0),
            // 1 / 2.
            online_rate: Some(0.5),
            // 2 643 / 1 000.
            average_working_days: Some(2.643),
        },
    }
}

/// A node holding the scripted week, with department principals of the market and the
/// labour department and a monitor, all of 西湖区, and an administrator of every region.
async fn the_week() -> Harness {
    let auth = Authenticator::new(vec![
        principal("market", Role::Department, XIHU, Some(Dept::Market.code())),
        principal("labour", Role::Department, XIHU, Some(Dept::Labour.code())),
        principal("monitor", Role::Monitor, XIHU, None),
        principal("admin", Role::Admin, "000000", None),
    ])
    .expect("valid principals");
    let harness = Harness::start_with(Edge { auth, tls: None }, "t-admin").await;
    harness.play_script(&scripted_week()).await;
    harness
}

/// An item's row as the week's test compares it: accepted, completed, warnings, cards,
/// on-time rate and alert rate.
type ItemFigures<'a> = (&'a str, u64, u64, u64, u64, Option<f64>, Option<f64>);

fn item_figures(row: &pb::StatisticsRow) -> ItemFigures<'_> {
    let counters = row.counters.expect("counters");
    let rates = row.rates.expect("rates");
    (
        &row.key,
        counters.accepted,
        counters.completed,
        counters.warnings_raised,
        counters.cards_raised,
        rates.on_time_rate,
        rates.alert_rate,
    )
}

#[tokio::test]
async fn the_weeks_statistics_give_every_counter_and_rate_by_hand() {
    let harness = the_week().await;
    let mut admin = harness.monitor();

    let by_county = statistics(&mut admin, asking(MONDAY, SUNDAY, By::RegionLevel)).await;
    assert_eq!(
        by_county.rows,
        [
            shangcheng().row(SHANGCHENG),
            rejected_only().row(GONGSHU),
            // 330106004's W08 counts in its county.
            xihu().row(XIHU),
        ]
    );
    assert_eq!(by_county.total, Some(total().row("")));

    let by_department = statistics(&mut admin, asking(MONDAY, SUNDAY, By::Department)).await;
    assert_eq!(
        by_department.rows,
        [
            // Ordered by key: the codes end in 1, 2 and 3 (and a check character).
            market().row(&Dept::Market.code()),
            labour().row(&Dept::Labour.code()),
            rejected_only().row(&Dept::Housing.code()),
        ]
    );
    assert_eq!(by_department.total, Some(total().row("")));

    // The whole city in one row.
    let by_city = statistics(
        &mut admin,
        pb::GetStatisticsRequest {
            region_level: pb::RegionLevel::City.into(),
            ..asking(MONDAY, SUNDAY, By::RegionLevel)
        },
    )
    .await;
    assert_eq!(by_city.rows, [total().row("330100")]);

    // By township: a county's own offices stay under the county's code, the township
    // office has its row.
    let by_township = statistics(
        &mut admin,
        pb::GetStatisticsRequest {
            region_level: pb::RegionLevel::Township.into(),
            ..asking(MONDAY, SUNDAY, By::RegionLevel)
        },
    )
    .await;
    let figures = |row: &pb::StatisticsRow| {
        let counters = row.counters.expect("counters");
        (
            row.key.clone(),
            counters.accepted,
            counters.cards_raised,
            counters.fees_charged_fen,
        )
    };
    assert_eq!(
        by_township.rows.iter().map(figures).collect::<Vec<_>>(),
        [
            (SHANGCHENG.to_owned(), 2, 1, 0),
            (GONGSHU.to_owned(), 0, 0, 0),
            // W01 to W07: six accepted (not W06); W03's two cards and W04's.
            (XIHU.to_owned(), 6, 3, 0),
            // W08: accepted, its ticket and its F1.
            (XIHU_TOWNSHIP.to_owned(), 1, 1, 5_000),
        ]
    );

    let by_item = statistics(&mut admin, asking(MONDAY, SUNDAY, By::Item)).await;
    assert_eq!(
        by_item.rows.iter().map(item_figures).collect::<Vec<_>>(),
        [
            // W04, W05, W06: labour's figures.
            ("330000-RSJ-0001", 2, 1, 0, 1, Some(0.0), Some(0.0)),
            // W01, W03, W08, W10: W01 completed early; T1 of W03 and W10; W03's two
            // cards, W08's, W10's: 4 valid of 4 accepted.
            ("330000-SCJG-0001", 4, 1, 2, 4, Some(1.0), Some(1.0)),
            // W02, W07, W09: W02 on time, W09 early; W02's T1; no card.
            ("330000-SCJG-0002", 3, 2, 1, 0, Some(1.0), Some(0.0)),
            // W11.
            ("330000-ZJJ-0001", 0, 0, 0, 0, None, None),
        ]
    );
    assert_eq!(by_item.total, Some(total().row("")));

    // Only cases under a prefix.
    let shangcheng_only = statistics(
        &mut admin,
        pb::GetStatisticsRequest {
            region_prefix: SHANGCHENG.into(),
            ..asking(MONDAY, SUNDAY, By::Department)
        },
    )
    .await;
    assert_eq!(
        shangcheng_only.rows,
        [shangcheng().row(&Dept::Market.code())]
    );
    assert_eq!(shangcheng_only.total, Some(shangcheng().row("")));
    harness.node.stop().await;
}

#[tokio::test]
async fn flows_count_over_the_periods_days_and_gauges_at_its_end() {
    let harness = the_week().await;
    let mut admin = harness.monitor();
    let xihu_row = |response: &pb::GetStatisticsResponse| {
        response
            .rows
            .iter()
            .find(|row| row.key == XIHU)
            .and_then(|row| row.counters)
            .expect("a row of 西湖区")
    };

    // Monday and Tuesday: W01, W02, W03, W04, W08 accepted on Monday, W07 on Tuesday; W01
    // completed; W06 rejected; W03's T1 and W08's F1 on Tuesday. Open at Tuesday's end:
    // W02, W04, W07 green, W03 yellow (T1), W08 red (F1); W04 has used exactly its 7 hours,
    // not more.
    let tuesday =
        xihu_row(&statistics(&mut admin, asking(MONDAY, "2026-03-03", By::RegionLevel)).await);
    assert_eq!(
        (
            tuesday.accepted,
            tuesday.completed,
            tuesday.rejected,
            tuesday.warnings_raised,
            tuesday.cards_raised,
        ),
        (6, 1, 1, 1, 1)
    );
    assert_eq!(
        (
            tuesday.open_green,
            tuesday.open_yellow,
            tuesday.open_red,
            tuesday.open_overdue_promised,
            tuesday.open_overdue_legal,
        ),
        (3, 1, 1, 0, 0)
    );
    // Monday to Thursday: W02 and W04 completed, W07 withdrawn, W08's F1 closed on
    // Thursday. Open at Thursday's end: W08 green, W03 yellow (T1, and T2 since 18:00) and
    // past its promise, not yet past the law.
    let thursday =
        xihu_row(&statistics(&mut admin, asking(MONDAY, "2026-03-05", By::RegionLevel)).await);
    assert_eq!(
        (
            thursday.open_green,
            thursday.open_yellow,
            thursday.open_red,
            thursday.open_overdue_promised,
            thursday.open_overdue_legal,
        ),
        (1, 1, 0, 1, 0)
    );

    // The weekend: no flow; a group with open cases has a row of its gauges, 拱墅区 (its
    // only case rejected on Wednesday) has none.
    let weekend = statistics(&mut admin, asking("2026-03-07", SUNDAY, By::RegionLevel)).await;
    assert_eq!(
        weekend.rows,
        [
            Figures {
                // W10.
                counters: pb::Counters {
                    open_yellow: 1,
                    ..Default::default()
                },
                rates: NO_RATES,
            }
            .row(SHANGCHENG),
            Figures {
                // W05 and W08 green, W03 red and past both limits.
                counters: pb::Counters {
                    open_green: 2,
                    open_red: 1,
                    open_overdue_promised: 1,
                    open_overdue_legal: 1,
                    ..Default::default()
                },
                rates: NO_RATES,
            }
            .row(XIHU),
        ]
    );

    // W04's card was raised on Wednesday and revoked on Friday: the revoke counts on
    // Wednesday, so the day's valid cards are 0 and Friday's are not below zero.
    let labour_on = |day: &'static str| {
        let mut admin = harness.monitor();
        async move {
            statistics(&mut admin, asking(day, day, By::Department))
                .await
                .rows
                .into_iter()
                .find(|row| row.key == Dept::Labour.code())
                .expect("a row of the labour department")
        }
    };
    let wednesday = labour_on("2026-03-04").await;
    let counters = wednesday.counters.expect("counters");
    assert_eq!((counters.cards_raised, counters.cards_revoked), (1, 1));
    // W04's decision, its only one that day.
    assert_eq!(counters.decisions, 1);
    // No acceptance on Wednesday: no alert rate.
    assert_eq!(wednesday.rates.expect("rates").alert_rate, None);
    let friday = labour_on("2026-03-06").await;
    let counters = friday.counters.expect("counters");
    // W05 accepted, queried and rated 4; nothing raised, nothing revoked.
    assert_eq!(
        (
            counters.accepted,
            counters.queries,
            counters.rating_4,
            counters.cards_raised,
            counters.cards_revoked,
        ),
        (1, 1, 1, 0, 0)
    );
    // 0 valid cards / 1 accepted.
    assert_eq!(friday.rates.expect("rates").alert_rate, Some(0.0));

    // Friday for everyone: W10's warning made a card (raised and escalated), W03's T2
    // escalated to red, W03's T3 raised at 18:00.
    let friday = statistics(
        &mut admin,
        asking("2026-03-06", "2026-03-06", By::RegionLevel),
    )
    .await
    .total
    .and_then(|total| total.counters)
    .expect("a total");
    assert_eq!(
        (
            friday.warnings_raised,
            friday.cards_raised,
            friday.cards_escalated,
            friday.cards_revoked,
        ),
        (0, 2, 2, 0)
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn a_department_reads_only_its_own_figures_and_its_countys_staff_read_both() {
    let harness = the_week().await;
    let week = |group_by| asking(MONDAY, SUNDAY, group_by);

    let mut market_staff = harness.monitor_as("market").await;
    let own = statistics(&mut market_staff, week(By::Department)).await;
    assert_eq!(own.rows, [market_in_xihu().row(&Dept::Market.code())]);
    assert_eq!(own.total, Some(market_in_xihu().row("")));
    // By region too: its county's row holds its own cases only (W08 in the township).
    let own = statistics(&mut market_staff, week(By::RegionLevel)).await;
    assert_eq!(own.rows, [market_in_xihu().row(XIHU)]);

    let mut labour_staff = harness.monitor_as("labour").await;
    let own = statistics(&mut labour_staff, week(By::Department)).await;
    assert_eq!(own.rows, [labour().row(&Dept::Labour.code())]);
    assert_eq!(own.total, Some(labour().row("")));

    // The county's monitor, and an administrator asking for the county, read both.
    let both = [
        market_in_xihu().row(&Dept::Market.code()),
        labour().row(&Dept::Labour.code()),
    ];
    let mut monitor = harness.monitor_as("monitor").await;
    let county = statistics(&mut monitor, week(By::Department)).await;
    assert_eq!(county.rows, both);
    assert_eq!(county.total, Some(xihu().row("")));
    let county = statistics(
        &mut harness.monitor(),
        pb::GetStatisticsRequest {
            region_prefix: XIHU.into(),
            ..week(By::Department)
        },
    )
    .await;
    assert_eq!(county.rows, both);
    harness.node.stop().await;
}

/// A ranking row with the counters of `figures`.
fn ranked(key: &str, figures: Figures, rank: u32, (in_hand, late): (u64, u64)) -> pb::RankingRow {
    pb::RankingRow {
        rank,
        key: key.to_owned(),
        on_time_rate: figures.rates.on_time_rate,
        alert_rate: None,
        counters: Some(figures.counters),
        in_hand,
        late,
        late_rate: None,
        nothing_handled: false,
    }
}

#[tokio::test]
async fn the_weekly_ranking_ranks_late_cards_then_on_time_and_puts_the_idle_last() {
    let harness = the_week().await;
    let mut admin = harness.monitor();

    // Nothing was open before Monday: in hand = accepted. Late = completed late + open past
    // the promise on Sunday.
    let counties = ranking(&mut admin, "2026-03-05", pb::RankingKind::Counties).await;
    assert_eq!(counties.week_start, date(MONDAY));
    assert_eq!(
        counties.rows,
        [
            pb::RankingRow {
                // 2 in hand, none late; W10's card: 1 / 2.
                late_rate: Some(0.0),
                alert_rate: Some(0.5),
                ..ranked(SHANGCHENG, shangcheng(), 1, (2, 0))
            },
            pb::RankingRow {
                // 7 in hand; W04 completed late, W03 open past its promise: 2 / 7; valid
                // cards (4 - 1) / 7.
                late_rate: Some(2.0 / 7.0),
                alert_rate: Some(3.0 / 7.0),
                ..ranked(XIHU, xihu(), 2, (7, 2))
            },
            pb::RankingRow {
                // Nothing in hand (W11 was never accepted): no rate, and with nothing late
                // and no card it would otherwise come first.
                nothing_handled: true,
                ..ranked(GONGSHU, rejected_only(), 3, (0, 0))
            },
        ]
    );

    let departments = ranking(&mut admin, SUNDAY, pb::RankingKind::Departments).await;
    assert_eq!(departments.week_start, date(MONDAY));
    assert_eq!(
        departments.rows,
        [
            pb::RankingRow {
                // 7 in hand; W03 open past its promise: 1 / 7; 4 valid cards / 7.
                late_rate: Some(1.0 / 7.0),
                alert_rate: Some(4.0 / 7.0),
                ..ranked(&Dept::Market.code(), market(), 1, (7, 1))
            },
            pb::RankingRow {
                // 2 in hand; W04 late: 1 / 2, worse than the market's 1 / 7 though its
                // only card was revoked: 0 / 2.
                late_rate: Some(0.5),
                alert_rate: Some(0.0),
                ..ranked(&Dept::Labour.code(), labour(), 2, (2, 1))
            },
            pb::RankingRow {
                nothing_handled: true,
                ..ranked(&Dept::Housing.code(), rejected_only(), 3, (0, 0))
            },
        ]
    );

    // Under a prefix, only its cases: the market department in 上城区.
    let narrowed = admin
        .get_ranking(pb::GetRankingRequest {
            week: date(MONDAY),
            kind: pb::RankingKind::Departments.into(),
            region_prefix: SHANGCHENG.into(),
            consistency: None,
        })
        .await
        .expect("a ranking")
        .into_inner();
    assert_eq!(
        narrowed.rows,
        [pb::RankingRow {
            late_rate: Some(0.0),
            alert_rate: Some(0.5),
            ..ranked(&Dept::Market.code(), shangcheng(), 1, (2, 0))
        }]
    );
    harness.node.stop().await;
}

#[tokio::test]
async fn weeks_run_monday_to_sunday_in_china_time() {
    let harness = Harness::start().await;
    harness.play(&week_boundary()).await;
    let mut admin = harness.monitor();

    // Sunday 23:59 counts on Sunday, Monday 00:00 (still Sunday in UTC) on Monday.
    for day in [SUNDAY, "2026-03-09"] {
        let counters = statistics(&mut admin, asking(day, day, By::RegionLevel))
            .await
            .total
            .and_then(|total| total.counters)
            .expect("a total");
        let open = if day == SUNDAY { 1 } else { 2 };
        assert_eq!(
            (counters.accepted, counters.open_green),
            (1, open),
            "on {day}"
        );
    }

    let market = |response: &pb::GetRankingResponse| {
        let [row] = response.rows.as_slice() else {
            panic!("one department: {response:?}");
        };
        assert_eq!(row.key, Dept::Market.code());
        let counters = row.counters.expect("counters");
        (row.in_hand, counters.accepted, counters.open_green)
    };
    // Any day names its week, Sunday the one that ends with it: B-SUNDAY accepted in it.
    let ending = ranking(&mut admin, SUNDAY, pb::RankingKind::Departments).await;
    assert_eq!(ending.week_start, date(MONDAY));
    assert_eq!(market(&ending), (1, 1, 1));
    // Monday starts the next: B-SUNDAY open at its start, B-MONDAY accepted in it.
    let starting = ranking(&mut admin, "2026-03-09", pb::RankingKind::Departments).await;
    assert_eq!(starting.week_start, date("2026-03-09"));
    assert_eq!(market(&starting), (2, 1, 2));
    let later = ranking(&mut admin, "2026-03-15", pb::RankingKind::Departments).await;
    assert_eq!(later.week_start, date("2026-03-09"));
    harness.node.stop().await;
}

/// `GetStatisticsRequest.group_by` and `GetRankingRequest.kind` are required: a request
/// without one is refused rather than answered with a grouping it did not ask for.
#[tokio::test]
async fn statistics_and_rankings_without_their_grouping_are_refused() {
    let harness = Harness::start().await;
    let mut admin = harness.monitor();
    for group_by in [i32::from(By::Unspecified), 99] {
        let refused = admin
            .get_statistics(pb::GetStatisticsRequest {
                group_by,
                ..asking(MONDAY, SUNDAY, By::RegionLevel)
            })
            .await
            .expect_err("no grouping");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(refused.message(), "group_by: must be specified");
    }
    for kind in [i32::from(pb::RankingKind::Unspecified), 99] {
        let refused = admin
            .get_ranking(pb::GetRankingRequest {
                week: date(MONDAY),
                kind,
                region_prefix: String::new(),
                consistency: None,
            })
            .await
            .expect_err("nothing to rank");
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert_eq!(refused.message(), "kind: must be specified");
    }
    harness.node.stop().await;
}
