//! The scripted month of issue 13 (`casewatch_tests::month`): October 2026 in two
//! counties of Hangzhou and three city departments, National Day included. Its daily,
//! weekly, ten-day and monthly figures, the rankings, the dispatch lists and the bulletin
//! were worked out by hand; three readers are held to the same tables: the statistics
//! deltas of the domain, the report functions over the views a projector folded, and
//! the reports over gRPC.

use std::collections::BTreeMap;

use casewatch_domain::case::Policy;
use casewatch_domain::ids::RegionCode;
use casewatch_domain::record::{PartitionFold, Record};
use casewatch_domain::report::{Grouping, Period, PeriodKind, figures, standings};
use casewatch_domain::stats::{Counters, StatKey, rank};
use casewatch_proto::convert::date_to_pb;
use casewatch_proto::{decode_record, pb};
use casewatch_server::reports::{self, Reach};
use casewatch_tests::month::{
    BulletinLines, By, DispatchLines, FigureLine, Figures, HANGZHOU, Standing, assert_bulletin,
    assert_dispatch, assert_figures, assert_ranking, figure_tables, october, october_xun,
    ranking_tables, scripted_month,
};
use chrono::NaiveDate;

use crate::support;
use support::Harness;

/// Statistics rows, one per day × region × department × item.
type Rows = Vec<(StatKey, Counters)>;

/// Folds the script through the domain's one entry, record by record as the log carries
/// it, and keeps the statistics deltas.
fn fold_through_the_domain() -> Rows {
    let mut cases = PartitionFold::default();
    let mut rows = Rows::new();
    for scripted in scripted_month() {
        let bytes = scripted.record_bytes();
        let (recorded_at, content) = decode_record(&bytes).expect("a valid record");
        let record = Record::Read {
            recorded_at,
            content,
        };
        for effects in cases.fold(&record, &bytes) {
            let effects = effects.unwrap_or_else(|error| panic!("{record:?} refused: {error}"));
            rows.extend(
                effects
                    .stats
                    .into_iter()
                    .map(|delta| (delta.key, delta.counters)),
            );
        }
    }
    rows
}

fn days(rows: &Rows, first: NaiveDate, last: NaiveDate) -> Rows {
    rows.iter()
        .filter(|(key, _)| first <= key.day && key.day <= last)
        .cloned()
        .collect()
}

/// The figures of `period` from the deltas: its days' flows, the gauges at its end.
fn period_figures(rows: &Rows, period: &Period, grouping: Grouping) -> BTreeMap<String, Counters> {
    figures(
        &days(rows, period.first, period.last),
        &days(rows, NaiveDate::MIN, period.last),
        grouping,
    )
}

fn named(rows: &BTreeMap<String, Counters>) -> impl Iterator<Item = (String, Figures)> + '_ {
    rows.iter()
        .map(|(key, counters)| (key.clone(), Figures::from(counters)))
}

#[test]
fn the_domains_deltas_add_up_to_the_hand_worked_figures_and_rankings() {
    let rows = fold_through_the_domain();
    for (period, by) in figure_tables() {
        let observed = period_figures(&rows, &period, by.grouping());
        assert_figures("domain", &period, by, named(&observed));
    }
    for (period, by) in ranking_tables() {
        let before = days(
            &rows,
            NaiveDate::MIN,
            period.first.pred_opt().expect("a day"),
        );
        let ranked = rank(standings(
            &period_figures(&rows, &period, by.grouping()),
            &before,
            by.grouping(),
        ));
        assert_ranking(
            "domain",
            &period,
            by,
            ranked.iter().map(Standing::of).collect(),
        );
    }
}

fn city() -> RegionCode {
    RegionCode::parse(HANGZHOU).expect("a region code")
}

/// The month's ranking as the bulletin splits it: the best, then the worst turned round.
fn month_ranking<T>(best: &[T], worst: &[T], standing: fn(&T) -> Standing) -> Vec<Standing> {
    best.iter()
        .chain(worst.iter().rev())
        .map(standing)
        .collect()
}

#[tokio::test]
async fn the_report_functions_over_the_views_give_the_hand_worked_figures() {
    let store = support::fold_into_views(&scripted_month(), 4).await;
    let store: &dyn casewatch_store::ViewStore = &*store;
    let policy = Policy::default();
    let region = city();
    let reach = Reach::region(&region);
    const READER: &str = "report functions";

    for (period, by) in figure_tables() {
        let observed = reports::statistics(store, &reach, period.first, period.last, by.grouping())
            .await
            .expect("statistics");
        assert_figures(READER, &period, by, named(&observed));
    }

    let bulletin = reports::monthly_bulletin(store, &policy, &region, &reach, october().first)
        .await
        .expect("a bulletin");
    for (period, by) in ranking_tables() {
        let observed = match (period.kind, by) {
            (PeriodKind::Month, By::County) => month_ranking(
                &bulletin.best_counties,
                &bulletin.worst_counties,
                Standing::of,
            ),
            (PeriodKind::Month, By::Department) => month_ranking(
                &bulletin.best_departments,
                &bulletin.worst_departments,
                Standing::of,
            ),
            _ => {
                let (week, rows) = reports::ranking(store, &reach, period.first, by.grouping())
                    .await
                    .expect("a ranking");
                assert_eq!(week, period);
                rows.iter().map(Standing::of).collect::<Vec<_>>()
            }
        };
        assert_ranking(READER, &period, by, observed);
    }
    let lines = |rows: &[casewatch_domain::report::FigureRow]| -> Vec<FigureLine> {
        rows.iter().map(FigureLine::of).collect()
    };
    assert_bulletin(
        READER,
        &BulletinLines::of(&bulletin),
        &lines(&bulletin.regions),
        &lines(&bulletin.departments),
        &FigureLine::of(&bulletin.total),
    );

    for first in october_xun() {
        let list = reports::dispatch_list(store, &policy, &region, &reach, first)
            .await
            .expect("a dispatch list");
        let figures: Vec<FigureLine> = list
            .totals
            .iter()
            .map(|totals| FigureLine::of(&totals.figures))
            .collect();
        assert_dispatch(READER, first, &DispatchLines::of(&list), &figures);
    }
}

fn date(day: NaiveDate) -> Option<pb::Date> {
    Some(date_to_pb(day))
}

fn report_request(day: NaiveDate) -> pb::GetReportRequest {
    pb::GetReportRequest {
        region: HANGZHOU.into(),
        date: date(day),
        consistency: None,
    }
}

#[tokio::test]
async fn the_reports_over_grpc_give_the_hand_worked_figures() {
    let harness = Harness::start().await;
    harness.play_script(&scripted_month()).await;
    let mut monitor = harness.monitor();
    const READER: &str = "gRPC";
    let prefix = city().significant().to_owned();

    for (period, by) in figure_tables() {
        let (group_by, region_level) = match by {
            By::County => (
                pb::StatisticsGroupBy::RegionLevel,
                pb::RegionLevel::County.into(),
            ),
            By::Department => (pb::StatisticsGroupBy::Department, 0),
        };
        let response = monitor
            .get_statistics(pb::GetStatisticsRequest {
                from: date(period.first),
                to: date(period.last),
                group_by: group_by.into(),
                region_level,
                region_prefix: prefix.clone(),
                consistency: None,
            })
            .await
            .expect("statistics")
            .into_inner();
        let rows = response.rows.iter().map(|row| {
            (
                row.key.clone(),
                Figures::from(row.counters.as_ref().expect("counters")),
            )
        });
        assert_figures(READER, &period, by, rows);
    }

    let bulletin = monitor
        .get_monthly_bulletin(report_request(october().first))
        .await
        .expect("a bulletin")
        .into_inner();
    for (period, by) in ranking_tables() {
        let observed = match (period.kind, by) {
            (PeriodKind::Month, By::County) => month_ranking(
                &bulletin.best_counties,
                &bulletin.worst_counties,
                Standing::of_pb,
            ),
            (PeriodKind::Month, By::Department) => month_ranking(
                &bulletin.best_departments,
                &bulletin.worst_departments,
                Standing::of_pb,
            ),
            _ => {
                let kind = match by {
                    By::County => pb::RankingKind::Counties,
                    By::Department => pb::RankingKind::Departments,
                };
                let ranking = monitor
                    .get_ranking(pb::GetRankingRequest {
                        week: date(period.first),
                        kind: kind.into(),
                        region_prefix: prefix.clone(),
                        consistency: None,
                    })
                    .await
                    .expect("a ranking")
                    .into_inner();
                assert_eq!(ranking.week_start, date(period.first));
                ranking.rows.iter().map(Standing::of_pb).collect()
            }
        };
        assert_ranking(READER, &period, by, observed);
    }
    let lines = |rows: &[pb::FigureRow]| -> Vec<FigureLine> {
        rows.iter().map(FigureLine::of_pb).collect()
    };
    assert_bulletin(
        READER,
        &BulletinLines::of_pb(&bulletin),
        &lines(&bulletin.regions),
        &lines(&bulletin.departments),
        &FigureLine::of_pb(bulletin.total.as_ref().expect("a total")),
    );

    for first in october_xun() {
        let list = monitor
            .get_dispatch_list(report_request(first))
            .await
            .expect("a dispatch list")
            .into_inner();
        let figures: Vec<FigureLine> = list
            .totals
            .iter()
            .map(|totals| FigureLine::of_pb(totals.figures.as_ref().expect("figures")))
            .collect();
        assert_dispatch(READER, first, &DispatchLines::of_pb(&list), &figures);
    }
    harness.node.stop().await;
}
