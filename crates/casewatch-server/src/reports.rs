//! The reports of a supervision office (日统计、周排名、旬调度、月通报), read from the views of
//! any backend: the one report module behind `MonitorService`'s statistics, ranking,
//! dispatch list and bulletin, and the `casewatch report` command. The figures themselves
//! are put together by `casewatch_domain::report`; this module only reads what they need.

use std::collections::{BTreeMap, BTreeSet};

use casewatch_domain::Timestamp;
use casewatch_domain::alert::Alert;
use casewatch_domain::case::Policy;
use casewatch_domain::catalogue::Level;
use casewatch_domain::ids::{AlertId, RegionCode, RegionLevel};
use casewatch_domain::report::{
    CardLine, DailyReport, DispatchList, DispatchTotals, FigureRow, Grouping, MonthlyBulletin,
    OverdueCase, Period, PeriodKind, WeeklyRanking, best_and_worst, child_level, figure_rows,
    figures, standings, total,
};
use casewatch_domain::stats::{Counters, RankRow, StatKey, rank};
use casewatch_store::{StoreError, ViewStore};
use chrono::NaiveDate;

/// The first day with statistics: gauges are their changes summed from it.
fn beginning() -> NaiveDate {
    NaiveDate::from_ymd_opt(2000, 1, 1).expect("a valid date")
}

/// Whose figures a report shows: the rows within the caller's reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    /// Region prefixes the rows must lie in (as `CaseFilter::region_prefixes`); `None`:
    /// every region.
    pub prefixes: Option<Vec<String>>,
    /// Only this department's rows (a department reads its own).
    pub dept: Option<String>,
}

impl Reach {
    /// Everything under `region`.
    pub fn region(region: &RegionCode) -> Self {
        let prefix = region.significant().to_owned();
        Reach {
            prefixes: (!prefix.is_empty()).then(|| vec![prefix]),
            dept: None,
        }
    }

    fn dept(&self) -> Option<&str> {
        self.dept.as_deref()
    }
}

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("date: no {0:?} period contains it")]
    OutOfRange(PeriodKind),
}

type Result<T> = std::result::Result<T, ReportError>;

/// Statistics rows of `reach` for every day up to `last`, one read: flows of any period
/// up to `last` and the gauges at its end and at its start are all in them.
struct History {
    rows: Vec<(StatKey, Counters)>,
}

impl History {
    async fn read(store: &dyn ViewStore, reach: &Reach, last: NaiveDate) -> Result<Self> {
        let rows = store
            .statistics(beginning(), last, reach.prefixes.as_deref())
            .await?
            .into_iter()
            .filter(|(key, _)| {
                reach
                    .dept()
                    .is_none_or(|dept| key.dept_code.as_str() == dept)
            })
            .collect();
        Ok(History { rows })
    }

    fn between(&self, first: NaiveDate, last: NaiveDate) -> Vec<(StatKey, Counters)> {
        self.rows
            .iter()
            .filter(|(key, _)| first <= key.day && key.day <= last)
            .cloned()
            .collect()
    }

    /// The figures of `period` per group: flows over its days, gauges at its end.
    fn figures(&self, period: &Period, grouping: Grouping) -> BTreeMap<String, Counters> {
        let flows = self.between(period.first, period.last);
        let to_end = self.between(beginning(), period.last);
        figures(&flows, &to_end, grouping)
    }

    /// The period's ranking by `grouping`.
    fn ranking(&self, period: &Period, grouping: Grouping) -> Vec<RankRow<String>> {
        let before_start = period
            .day_before()
            .map(|day| self.between(beginning(), day))
            .unwrap_or_default();
        rank(standings(
            &self.figures(period, grouping),
            &before_start,
            grouping,
        ))
    }
}

fn period(kind: PeriodKind, day: NaiveDate) -> Result<(Period, Period)> {
    let period = Period::containing(kind, day).ok_or(ReportError::OutOfRange(kind))?;
    let previous = period.previous().ok_or(ReportError::OutOfRange(kind))?;
    Ok((period, previous))
}

/// Figures of `reach` over `from..=to` per group: flows summed, gauges at `to`.
pub async fn statistics(
    store: &dyn ViewStore,
    reach: &Reach,
    from: NaiveDate,
    to: NaiveDate,
    grouping: Grouping,
) -> Result<BTreeMap<String, Counters>> {
    let history = History::read(store, reach, to).await?;
    Ok(figures(&history.between(from, to), &history.rows, grouping))
}

/// The ranking of the week (Monday to Sunday) that holds `day`.
pub async fn ranking(
    store: &dyn ViewStore,
    reach: &Reach,
    day: NaiveDate,
    grouping: Grouping,
) -> Result<(Period, Vec<RankRow<String>>)> {
    let (week, _) = period(PeriodKind::Week, day)?;
    let history = History::read(store, reach, week.last).await?;
    Ok((week, history.ranking(&week, grouping)))
}

/// The daily statistics (日统计) of `day`.
pub async fn daily(
    store: &dyn ViewStore,
    region: &RegionCode,
    reach: &Reach,
    day: NaiveDate,
) -> Result<DailyReport> {
    let (today, yesterday) = period(PeriodKind::Day, day)?;
    let history = History::read(store, reach, today.last).await?;
    let rows = |grouping| {
        figure_rows(
            &history.figures(&today, grouping),
            &history.figures(&yesterday, grouping),
        )
    };
    let regions = rows(Grouping::Region(child_level(region)));
    let departments = rows(Grouping::Department);
    Ok(DailyReport {
        region: region.clone(),
        period: today,
        previous: yesterday,
        total: total_row(&regions),
        regions,
        departments,
    })
}

/// The weekly ranking (周排名) of the week that holds `day`.
pub async fn weekly(
    store: &dyn ViewStore,
    region: &RegionCode,
    reach: &Reach,
    day: NaiveDate,
) -> Result<WeeklyRanking> {
    let (week, _) = period(PeriodKind::Week, day)?;
    let history = History::read(store, reach, week.last).await?;
    Ok(WeeklyRanking {
        region: region.clone(),
        period: week,
        departments: history.ranking(&week, Grouping::Department),
        counties: history.ranking(&week, Grouping::Region(RegionLevel::County)),
    })
}

fn total_row(rows: &[FigureRow]) -> FigureRow {
    FigureRow::new(
        String::new(),
        total(rows.iter().map(|row| &row.counters)),
        total(rows.iter().map(|row| &row.previous)),
    )
}

/// The views' time: the newest time any partition has folded, `None` before any.
pub async fn views_time(store: &dyn ViewStore) -> Result<Option<Timestamp>> {
    Ok(store
        .checkpoints()
        .await?
        .into_iter()
        .filter_map(|checkpoint| checkpoint.clock)
        .max())
}

/// The instant a report on `period` is as of: the period's end, or the views' time while
/// the period runs.
fn as_of(policy: &Policy, period: &Period, views_time: Option<Timestamp>) -> Timestamp {
    let calendar = policy.calendars.national();
    let end = period
        .last
        .succ_opt()
        .map_or_else(casewatch_domain::calendar::end_of_calendar, |next| {
            calendar.start_of(next)
        });
    views_time.map_or(end, |now| now.min(end))
}

/// Every alert of `reach` as it stood at `at` (warnings and cards, open or not): one read
/// for all the lists of a report.
async fn alerts_at(store: &dyn ViewStore, reach: &Reach, at: Timestamp) -> Result<Vec<Alert>> {
    Ok(store
        .alerts_as_of(reach.prefixes.as_deref(), reach.dept(), Level::Warning, at)
        .await?)
}

/// Open cases past their promised limit at `at`, with their cards as they stood then
/// (`alerts`: [`alerts_at`] `at`).
async fn overdue_cases(
    store: &dyn ViewStore,
    policy: &Policy,
    reach: &Reach,
    at: Timestamp,
    alerts: &[Alert],
) -> Result<Vec<OverdueCase>> {
    let mut by_case: BTreeMap<&str, Vec<&Alert>> = BTreeMap::new();
    for alert in alerts {
        by_case
            .entry(alert.id.case_no.as_str())
            .or_default()
            .push(alert);
    }
    let mut cases: Vec<OverdueCase> = store
        .overdue_cases(reach.prefixes.as_deref(), reach.dept(), at)
        .await?
        .iter()
        .map(|row| {
            let calendar = policy.calendars.for_region(&row.case.region_code);
            let cards = by_case
                .get(row.case.case_no.as_str())
                .map_or(&[][..], Vec::as_slice);
            OverdueCase::of(
                &row.case,
                row.promised_due,
                row.legal_due,
                calendar,
                cards,
                at,
            )
        })
        .collect();
    cases.sort_by(|a, b| {
        (&a.county, &a.dept_code, -a.days_overdue, &a.case_no).cmp(&(
            &b.county,
            &b.dept_code,
            -b.days_overdue,
            &b.case_no,
        ))
    });
    Ok(cases)
}

/// The red cards (or worse) open among `alerts`, by county, department and case.
fn open_red_cards(alerts: &[Alert]) -> Vec<CardLine> {
    let mut cards: Vec<CardLine> = alerts
        .iter()
        .filter(|alert| {
            alert.level >= Level::Red && alert.state.is_open() && !alert.rule().is_system()
        })
        .map(CardLine::of)
        .collect();
    cards.sort_by(|a, b| {
        (county_of(&a.region_code), &a.dept_code, &a.alert_id).cmp(&(
            county_of(&b.region_code),
            &b.dept_code,
            &b.alert_id,
        ))
    });
    cards
}

fn county_of(region: &RegionCode) -> RegionCode {
    region
        .ancestor(RegionLevel::County)
        .unwrap_or_else(|| region.clone())
}

/// The ten-day dispatch list (旬调度) of the 旬 that holds `day`.
pub async fn dispatch_list(
    store: &dyn ViewStore,
    policy: &Policy,
    region: &RegionCode,
    reach: &Reach,
    day: NaiveDate,
) -> Result<DispatchList> {
    let (xun, previous) = period(PeriodKind::Xun, day)?;
    let views_time = views_time(store).await?;
    let at = as_of(policy, &xun, views_time);
    let history = History::read(store, reach, xun.last).await?;
    let counties = Grouping::Region(RegionLevel::County);
    let totals = figure_rows(
        &history.figures(&xun, counties),
        &history.figures(&previous, counties),
    )
    .into_iter()
    .map(|row| DispatchTotals {
        county: row.key.clone(),
        overdue_open: row.counters.open_overdue_promised,
        overdue_open_legal: row.counters.open_overdue_legal,
        open_red: row.counters.open_red,
        previous_overdue_open: row.previous.open_overdue_promised,
        previous_overdue_open_legal: row.previous.open_overdue_legal,
        previous_open_red: row.previous.open_red,
        figures: row,
    })
    .collect();
    let alerts = alerts_at(store, reach, at).await?;
    Ok(DispatchList {
        region: region.clone(),
        period: xun,
        previous,
        as_of: at,
        overdue_cases: overdue_cases(store, policy, reach, at, &alerts).await?,
        red_cards: open_red_cards(&alerts),
        totals,
    })
}

/// The monthly bulletin (月通报) of the month that holds `day`.
pub async fn monthly_bulletin(
    store: &dyn ViewStore,
    policy: &Policy,
    region: &RegionCode,
    reach: &Reach,
    day: NaiveDate,
) -> Result<MonthlyBulletin> {
    const BEST_AND_WORST: usize = 5;
    let (month, previous) = period(PeriodKind::Month, day)?;
    let views_time = views_time(store).await?;
    let at = as_of(policy, &month, views_time);
    let history = History::read(store, reach, month.last).await?;
    let rows = |grouping| {
        figure_rows(
            &history.figures(&month, grouping),
            &history.figures(&previous, grouping),
        )
    };
    let regions = rows(Grouping::Region(child_level(region)));
    let departments = rows(Grouping::Department);
    let (best_departments, worst_departments, mut nothing_handled) = best_and_worst(
        history.ranking(&month, Grouping::Department),
        BEST_AND_WORST,
    );
    let (best_counties, worst_counties, idle_counties) = best_and_worst(
        history.ranking(&month, Grouping::Region(RegionLevel::County)),
        BEST_AND_WORST,
    );
    nothing_handled.extend(idle_counties);
    let start = policy.calendars.national().start_of(month.first);
    let marked: BTreeSet<AlertId> = store
        .alert_changes_between(reach.prefixes.as_deref(), reach.dept(), start, at)
        .await?
        .into_iter()
        .map(|committed| committed.row.change)
        .filter(|change| {
            let escalated = change
                .previous
                .is_some_and(|(_, level)| change.alert.level > level);
            let raised_red = change.previous.is_none() && change.alert.level >= Level::Red;
            !change.alert.rule().is_system() && (escalated || raised_red)
        })
        .map(|change| change.alert.id)
        .collect();
    // Each with its outcome: the alert as it stands at the bulletin's instant.
    let alerts = alerts_at(store, reach, at).await?;
    let red_cards_and_escalations = alerts
        .iter()
        .filter(|alert| marked.contains(&alert.id))
        .map(CardLine::of)
        .collect();
    Ok(MonthlyBulletin {
        region: region.clone(),
        period: month,
        previous,
        as_of: at,
        total: total_row(&regions),
        regions,
        departments,
        best_departments,
        worst_departments,
        best_counties,
        worst_counties,
        nothing_handled,
        red_cards_and_escalations,
        overdue_cases: overdue_cases(store, policy, reach, at, &alerts).await?,
    })
}
