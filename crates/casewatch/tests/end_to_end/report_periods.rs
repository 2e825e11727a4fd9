//! The report periods against the views (issue 13): each period's figures hold exactly
//! its days — February's eight-day last 旬, a 29 February, the eleven-day 旬 of a 31-day
//! month, a week across two months, and local days (+08:00) whose UTC date is the day
//! before — and, for simulated workloads, a month's (旬's, week's) flows are the sum of
//! its days' flows and its gauges those of its last day, per county and per department.

use std::collections::BTreeMap;

use casewatch_domain::report::{Grouping, Period, PeriodKind};
use casewatch_domain::stats::Counters;
use casewatch_proto::pb;
use casewatch_proto::pb::case_event::{Rejected, Step};
use casewatch_server::reports::{self, Reach};
use casewatch_store::ViewStore;
use casewatch_tests::month::By;
use casewatch_tests::{Input, Scripted, local, simulated, submission};
use chrono::NaiveDate;
use proptest::prelude::*;

use crate::support;

/// Boundary instants (local time), each the submission and rejection of a case of its
/// own item, so that the items of a period's figures name the instants it holds.
/// 2028 is not in the shipped calendar (its days count Monday to Friday); report periods
/// do not depend on it.
const INSTANTS: &[(&str, &str)] = &[
    // 春节 (15–23 February): the middle 旬 of February runs into it, the last starts in it.
    ("feb-20", "2026-02-20 12:00"),
    ("feb-21", "2026-02-21 00:10"),
    // A make-up working day (春节调休), the last day of February.
    ("feb-28", "2026-02-28 23:50"),
    // 16:10 on 28 February in UTC.
    ("mar-01", "2026-03-01 00:10"),
    ("mar-10", "2026-03-10 23:50"),
    ("mar-11", "2026-03-11 00:10"),
    ("oct-20", "2026-10-20 23:50"),
    ("oct-21", "2026-10-21 00:10"),
    ("oct-25", "2026-10-25 12:00"),
    ("oct-30", "2026-10-30 23:50"),
    ("oct-31", "2026-10-31 23:50"),
    ("nov-01", "2026-11-01 00:10"),
    ("2028-feb-21", "2028-02-21 00:10"),
    ("2028-feb-29", "2028-02-29 23:50"),
    ("2028-mar-01", "2028-03-01 00:10"),
];

/// Each period (kind and first day) and the instants it holds.
const PERIODS: &[(PeriodKind, &str, &[&str])] = &[
    (PeriodKind::Day, "2026-02-28", &["feb-28"]),
    (PeriodKind::Day, "2026-03-01", &["mar-01"]),
    (PeriodKind::Xun, "2026-02-11", &["feb-20"]),
    // 21–28 February: eight days.
    (PeriodKind::Xun, "2026-02-21", &["feb-21", "feb-28"]),
    (
        PeriodKind::Month,
        "2026-02-01",
        &["feb-20", "feb-21", "feb-28"],
    ),
    // Monday 23 February to Sunday 1 March.
    (PeriodKind::Week, "2026-02-23", &["feb-28", "mar-01"]),
    (PeriodKind::Xun, "2026-03-01", &["mar-01", "mar-10"]),
    (PeriodKind::Xun, "2026-03-11", &["mar-11"]),
    (
        PeriodKind::Month,
        "2026-03-01",
        &["mar-01", "mar-10", "mar-11"],
    ),
    (PeriodKind::Xun, "2026-10-11", &["oct-20"]),
    // 21–31 October: eleven days.
    (
        PeriodKind::Xun,
        "2026-10-21",
        &["oct-21", "oct-25", "oct-30", "oct-31"],
    ),
    (
        PeriodKind::Month,
        "2026-10-01",
        &["oct-20", "oct-21", "oct-25", "oct-30", "oct-31"],
    ),
    (
        PeriodKind::Week,
        "2026-10-19",
        &["oct-20", "oct-21", "oct-25"],
    ),
    // Monday 26 October to Sunday 1 November.
    (
        PeriodKind::Week,
        "2026-10-26",
        &["oct-30", "oct-31", "nov-01"],
    ),
    (PeriodKind::Day, "2026-10-30", &["oct-30"]),
    (PeriodKind::Day, "2026-10-31", &["oct-31"]),
    (PeriodKind::Month, "2026-11-01", &["nov-01"]),
    // 21–29 February 2028: nine days.
    (
        PeriodKind::Xun,
        "2028-02-21",
        &["2028-feb-21", "2028-feb-29"],
    ),
    (
        PeriodKind::Month,
        "2028-02-01",
        &["2028-feb-21", "2028-feb-29"],
    ),
    (PeriodKind::Day, "2028-02-29", &["2028-feb-29"]),
    (PeriodKind::Month, "2028-03-01", &["2028-mar-01"]),
];

fn item(label: &str) -> String {
    format!("BOUNDARY-{label}")
}

/// A case submitted and rejected at each boundary instant, reported a minute later.
fn boundary_script() -> Vec<Scripted> {
    INSTANTS
        .iter()
        .flat_map(|(label, at)| {
            let at = local(at);
            let submitted = pb::CaseEvent {
                item_code: item(label),
                ..submission(&format!("B-{label}"), "330106", at)
            };
            let rejected = pb::CaseEvent {
                event_id: format!("B-{label}-2"),
                seq: 2,
                step: Some(Step::Rejected(Rejected {
                    reason: "不属于受理范围".into(),
                })),
                ..submitted.clone()
            };
            [submitted, rejected].map(|event| {
                Scripted::Input(Input::Step {
                    event: Box::new(event),
                    recorded_at: at + chrono::Duration::minutes(1),
                })
            })
        })
        .collect()
}

#[tokio::test]
async fn each_period_holds_exactly_its_days() {
    let store = support::fold_into_views(&boundary_script(), 2).await;
    for (kind, first, labels) in PERIODS {
        let period = Period::containing(*kind, first.parse().expect("a date")).expect("a period");
        assert_eq!(period.first.to_string(), *first, "{kind:?} {first}");
        let rows = reports::statistics(
            &*store,
            &Reach::default(),
            period.first,
            period.last,
            Grouping::Item,
        )
        .await
        .expect("statistics");
        let held: BTreeMap<String, i64> = rows
            .iter()
            .map(|(key, counters)| (key.clone(), counters.rejected))
            .collect();
        let expected: BTreeMap<String, i64> = labels.iter().map(|label| (item(label), 1)).collect();
        assert_eq!(held, expected, "{}", period.label());
    }
}

/// The periods around October 2026 whose figures the property checks, and their days.
fn october_periods() -> (Vec<Period>, Vec<NaiveDate>) {
    let day = |text: &str| -> NaiveDate { text.parse().expect("a date") };
    let mut periods =
        vec![Period::containing(PeriodKind::Month, day("2026-10-01")).expect("a month")];
    for first in ["2026-10-01", "2026-10-11", "2026-10-21"] {
        periods.push(Period::containing(PeriodKind::Xun, day(first)).expect("a 旬"));
    }
    for monday in [
        "2026-09-28",
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
        "2026-10-26",
    ] {
        periods.push(Period::containing(PeriodKind::Week, day(monday)).expect("a week"));
    }
    let days = day("2026-09-28")
        .iter_days()
        .take_while(|date| *date <= day("2026-11-01"))
        .collect();
    (periods, days)
}

/// `rows` without their gauges: the flows alone.
fn flows(rows: &BTreeMap<String, Counters>) -> BTreeMap<String, Counters> {
    rows.iter()
        .map(|(key, counters)| (key.clone(), counters.with_gauges(&Counters::default())))
        .collect()
}

async fn assert_periods_are_their_days(store: &dyn ViewStore) -> Result<(), TestCaseError> {
    let (periods, days) = october_periods();
    let reach = Reach::default();
    for by in By::BOTH {
        let mut daily: BTreeMap<NaiveDate, BTreeMap<String, Counters>> = BTreeMap::new();
        for &day in &days {
            let rows = reports::statistics(store, &reach, day, day, by.grouping())
                .await
                .expect("statistics");
            for counters in rows.values() {
                prop_assert!(counters.open_cases() >= 0 && counters.open_overdue_promised >= 0);
            }
            daily.insert(day, rows);
        }
        for period in &periods {
            let mut expected: BTreeMap<String, Counters> = BTreeMap::new();
            for (_, rows) in daily.range(period.first..=period.last) {
                for (key, counters) in flows(rows) {
                    *expected.entry(key).or_default() += &counters;
                }
            }
            let last = &daily[&period.last];
            for key in last.keys() {
                expected.entry(key.clone()).or_default();
            }
            for (key, counters) in expected.iter_mut() {
                let gauges = last.get(key).copied().unwrap_or_default();
                *counters = counters.with_gauges(&gauges);
            }
            expected.retain(|_, counters| !counters.is_zero());
            let whole =
                reports::statistics(store, &reach, period.first, period.last, by.grouping())
                    .await
                    .expect("statistics");
            prop_assert_eq!(
                &whole,
                &expected,
                "{} by {}: the period against its days",
                period.label(),
                by
            );
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

proptest! {
    // Each case folds a simulated city of up to 135 cases into views: a dozen keep the
    // test to a few seconds in a debug build.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn a_period_s_flows_are_its_days_flows_and_its_gauges_its_last_day_s(
        seed in any::<u64>(),
        start_day in 0i64..45,
        days in 1u32..=15,
        counties in 1usize..=3,
        cases_per_county_day in 1u32..=3,
        tick_hours in 2i64..=6,
    ) {
        let start = local("2026-09-14 08:30") + chrono::Duration::days(start_day);
        let config = casewatch_sim::SimConfig {
            seed,
            start,
            days,
            counties,
            cases_per_county_day,
            tick_every: chrono::Duration::hours(tick_hours),
            run: None,
        };
        let script: Vec<Scripted> = simulated(config).into_iter().map(Scripted::Input).collect();
        runtime().block_on(async {
            let store = support::fold_into_views(&script, 2).await;
            assert_periods_are_their_days(&*store).await
        })?;
    }
}
