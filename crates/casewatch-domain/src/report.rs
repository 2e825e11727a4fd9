//! The reports a supervision office publishes (日统计、周排名、旬调度、月通报): their periods,
//! and how their figures are put together from the statistics, cases and alerts of the
//! views. The views are read elsewhere and handed in; every figure follows DOMAIN.md
//! "Statistics".

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::alert::{Alert, AlertState};
use crate::calendar::WorkingCalendar;
use crate::case::Case;
use crate::catalogue::{Level, RuleId};
use crate::clock::whole_units;
use crate::event::LimitUnit;
use crate::ids::{AlertId, DeptCode, RegionCode, RegionLevel};
use crate::stats::{Counters, RankRow, Rates, Standing, StatKey};

/// The kinds of period the reports cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodKind {
    /// One day (日).
    Day,
    /// Monday to Sunday (周).
    Week,
    /// A ten-day period (旬): days 1–10, 11–20, or 21 to the end of the month.
    Xun,
    /// A calendar month (月).
    Month,
}

/// A period of local days, `first..=last`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// A day, week, ten-day period or month.
    pub kind: PeriodKind,
    /// Its first local day.
    pub first: NaiveDate,
    /// Its last local day.
    pub last: NaiveDate,
}

impl Period {
    /// The period of `kind` that contains `day`; `None` at the edges of the calendar.
    pub fn containing(kind: PeriodKind, day: NaiveDate) -> Option<Period> {
        let (first, last) = match kind {
            PeriodKind::Day => (day, day),
            PeriodKind::Week => {
                let first = day
                    .checked_sub_days(Days::new(u64::from(day.weekday().num_days_from_monday())))?;
                (first, first.checked_add_days(Days::new(6))?)
            }
            PeriodKind::Xun => {
                let (from, to) = match day.day() {
                    1..=10 => (1, Some(10)),
                    11..=20 => (11, Some(20)),
                    _ => (21, None),
                };
                let first = day.with_day(from)?;
                let last = match to {
                    Some(to) => day.with_day(to)?,
                    None => last_of_month(day)?,
                };
                (first, last)
            }
            PeriodKind::Month => (day.with_day(1)?, last_of_month(day)?),
        };
        Some(Period { kind, first, last })
    }

    /// The period of the same kind just before this one.
    pub fn previous(&self) -> Option<Period> {
        Period::containing(self.kind, self.first.pred_opt()?)
    }

    /// The days of the period.
    pub fn days(&self) -> i64 {
        (self.last - self.first).num_days() + 1
    }

    /// The day before the period: its gauges are the period's opening figures.
    pub fn day_before(&self) -> Option<NaiveDate> {
        self.first.pred_opt()
    }

    /// How reports name the period: `2026-03-02`, `2026-03-02 — 2026-03-08`,
    /// `2026-03 上旬`, `2026-03`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Day => self.first.to_string(),
            PeriodKind::Week => format!("{} — {}", self.first, self.last),
            PeriodKind::Xun => {
                let part = match self.first.day() {
                    1 => "上旬",
                    11 => "中旬",
                    _ => "下旬",
                };
                format!("{} {part}", self.first.format("%Y-%m"))
            }
            PeriodKind::Month => self.first.format("%Y-%m").to_string(),
        }
    }
}

fn last_of_month(day: NaiveDate) -> Option<NaiveDate> {
    let next = if day.month() == 12 {
        NaiveDate::from_ymd_opt(day.year().checked_add(1)?, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(day.year(), day.month() + 1, 1)?
    };
    next.pred_opt()
}

/// The level of the regions a report on `region` breaks its figures down by: the next
/// level down (a city's counties, a county's townships).
pub fn child_level(region: &RegionCode) -> RegionLevel {
    match region.level() {
        RegionLevel::National => RegionLevel::Province,
        RegionLevel::Province => RegionLevel::City,
        RegionLevel::City => RegionLevel::County,
        RegionLevel::County => RegionLevel::Township,
        RegionLevel::Township | RegionLevel::Village => RegionLevel::Village,
    }
}

/// How statistics rows are grouped into a report's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// By the region of this level that holds the case's office (the office's own code
    /// when it is above that level).
    Region(RegionLevel),
    /// By the department handling the case.
    Department,
    /// By the item (事项) applied for.
    Item,
}

impl Grouping {
    /// The row a statistics key belongs to.
    pub fn key(self, key: &StatKey) -> String {
        match self {
            Grouping::Region(level) => key
                .region_code
                .ancestor(level)
                .unwrap_or_else(|| key.region_code.clone())
                .to_string(),
            Grouping::Department => key.dept_code.to_string(),
            Grouping::Item => key.item_code.to_string(),
        }
    }
}

/// Statistics rows as the views give them (one per day × region × department × item),
/// with their flows and gauge changes.
pub type StatRows = [(StatKey, Counters)];

/// Sums rows per group.
pub fn sum_by(rows: &StatRows, grouping: Grouping) -> BTreeMap<String, Counters> {
    let mut groups: BTreeMap<String, Counters> = BTreeMap::new();
    for (key, counters) in rows {
        *groups.entry(grouping.key(key)).or_default() += counters;
    }
    groups
}

/// The figures of a period per group: the flows of `flows` (the period's days) with the
/// gauges of `to_end` (every day up to the period's end). A group with gauges but no
/// flows (open cases carried over) has a row too.
pub fn figures(
    flows: &StatRows,
    to_end: &StatRows,
    grouping: Grouping,
) -> BTreeMap<String, Counters> {
    let mut rows = sum_by(flows, grouping);
    for (key, gauges) in sum_by(to_end, grouping) {
        let row = rows.entry(key).or_default();
        *row = row.with_gauges(&gauges);
    }
    rows.retain(|_, counters| !counters.is_zero());
    rows
}

/// The total of rows.
pub fn total<'a>(rows: impl IntoIterator<Item = &'a Counters>) -> Counters {
    let mut total = Counters::default();
    for counters in rows {
        total += counters;
    }
    total
}

/// The standings of a period to rank: its figures, and the open cases at its start
/// (`before_start`: every day before the period).
pub fn standings(
    figures: &BTreeMap<String, Counters>,
    before_start: &StatRows,
    grouping: Grouping,
) -> Vec<Standing<String>> {
    let opening = sum_by(before_start, grouping);
    let mut keys: Vec<&String> = figures.keys().chain(opening.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| Standing {
            key: key.clone(),
            counters: figures.get(key).copied().unwrap_or_default(),
            open_at_start: opening.get(key).map_or(0, Counters::open_cases),
        })
        .collect()
}

/// A change between two figures: absolute, and relative to the earlier one (`None` when
/// the earlier one is zero).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Now minus before.
    pub absolute: f64,
    /// The absolute change as a fraction of the earlier figure's size.
    pub relative: Option<f64>,
}

impl Change {
    /// From `before` to `now`; `None` when either is unknown.
    pub fn between(now: Option<f64>, before: Option<f64>) -> Option<Change> {
        let (now, before) = (now?, before?);
        Some(Change {
            absolute: now - before,
            relative: (before != 0.0).then(|| (now - before) / before.abs()),
        })
    }
}

/// One row of a report: a group's figures in a period and in the period before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRow {
    /// A region code, a department code or an item code; empty for the total.
    pub key: String,
    /// The period's figures (flows, with the gauges at its end).
    pub counters: Counters,
    /// The rates of those figures.
    pub rates: Rates,
    /// The figures of the period before.
    pub previous: Counters,
    /// Their rates.
    pub previous_rates: Rates,
}

impl FigureRow {
    /// The row of `key`, its rates computed from the figures.
    pub fn new(key: String, counters: Counters, previous: Counters) -> Self {
        FigureRow {
            key,
            rates: counters.rates(),
            previous_rates: previous.rates(),
            counters,
            previous,
        }
    }
}

/// Rows for every group of either period, this period's figures beside the previous one's.
pub fn figure_rows(
    now: &BTreeMap<String, Counters>,
    before: &BTreeMap<String, Counters>,
) -> Vec<FigureRow> {
    let mut keys: Vec<&String> = now.keys().chain(before.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| {
            FigureRow::new(
                key.clone(),
                now.get(key).copied().unwrap_or_default(),
                before.get(key).copied().unwrap_or_default(),
            )
        })
        .collect()
}

/// A card (or warning) as a report lists it, with its supervision state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardLine {
    /// The alert.
    pub alert_id: AlertId,
    /// The rule that raised it.
    pub rule: RuleId,
    /// Its level as of the report.
    pub level: Level,
    /// Its lifecycle state as of the report.
    pub state: AlertState,
    /// The region of the case's office.
    pub region_code: RegionCode,
    /// The department answering for it.
    pub dept_code: DeptCode,
    /// When it was raised.
    pub raised_at: Timestamp,
    /// When a supervision notice (督办) was issued, if one was.
    pub notice_issued_at: Option<Timestamp>,
    /// When the notice's feedback (回告) is due.
    pub feedback_due: Option<Timestamp>,
    /// Whether the department has answered (回告) — the alert moved past the notice.
    pub feedback_received: bool,
    /// What the rule found, in words.
    pub detail: String,
}

impl CardLine {
    /// The line of an alert as it stands.
    pub fn of(alert: &Alert) -> Self {
        CardLine {
            alert_id: alert.id.clone(),
            rule: alert.rule(),
            level: alert.level,
            state: alert.state,
            region_code: alert.region_code.clone(),
            dept_code: alert.dept_code.clone(),
            raised_at: alert.raised_at,
            notice_issued_at: alert.notice.as_ref().map(|notice| notice.issued_at),
            feedback_due: alert.notice.as_ref().map(|notice| notice.feedback_due),
            feedback_received: matches!(
                alert.state,
                AlertState::FeedbackReceived | AlertState::Closed
            ) && alert.notice.is_some(),
            detail: alert.detail.clone(),
        }
    }
}

/// An open case past its promised limit, as the dispatch list and the bulletin list it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OverdueCase {
    /// The case number.
    pub case_no: String,
    /// The region of its office.
    pub region_code: RegionCode,
    /// The county (区县) of the office, the list's first grouping.
    pub county: RegionCode,
    /// The department handling it.
    pub dept_code: DeptCode,
    /// The item (事项) applied for.
    pub item_code: String,
    /// When it was accepted.
    pub accepted_at: Option<Timestamp>,
    /// When its promised limit ran out.
    pub promised_due: Option<Timestamp>,
    /// When its legal limit runs (or ran) out.
    pub legal_due: Option<Timestamp>,
    /// Past the legal limit too, as of the report.
    pub past_legal: bool,
    /// Working days past the promised due instant at the report's instant, a started
    /// day counting as a day.
    pub days_overdue: i64,
    /// The case's cards and warnings open at the report's instant.
    pub cards: Vec<CardLine>,
}

impl OverdueCase {
    /// `case` as of `at`, with its due instants (as the views computed them) and its
    /// alerts then open.
    pub fn of(
        case: &Case,
        promised_due: Option<Timestamp>,
        legal_due: Option<Timestamp>,
        calendar: &WorkingCalendar,
        alerts: &[&Alert],
        at: Timestamp,
    ) -> Self {
        let past = |due: Option<Timestamp>| due.map_or(0, |due| calendar.working_seconds(due, at));
        OverdueCase {
            case_no: case.case_no.to_string(),
            region_code: case.region_code.clone(),
            county: case
                .region_code
                .ancestor(RegionLevel::County)
                .unwrap_or_else(|| case.region_code.clone()),
            dept_code: case.dept_code.clone(),
            item_code: case.item_code.to_string(),
            accepted_at: case.accepted_at,
            promised_due,
            legal_due,
            past_legal: case.overdue_legal_at.is_some_and(|since| since <= at),
            days_overdue: whole_units(past(promised_due), LimitUnit::WorkingDays, calendar),
            cards: alerts
                .iter()
                .filter(|alert| alert.state.is_open() && !alert.rule().is_system())
                .map(|alert| CardLine::of(alert))
                .collect(),
        }
    }
}

/// The totals of one county in a dispatch period and the one before.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchTotals {
    /// The county's region code.
    pub county: String,
    /// Open cases past their promised limit at the period's end.
    pub overdue_open: i64,
    /// Of those, open cases past their legal limit.
    pub overdue_open_legal: i64,
    /// Open cases with a red light at the period's end.
    pub open_red: i64,
    /// `overdue_open` at the end of the previous period.
    pub previous_overdue_open: i64,
    /// `overdue_open_legal` at the end of the previous period.
    pub previous_overdue_open_legal: i64,
    /// `open_red` at the end of the previous period.
    pub previous_open_red: i64,
    /// The period's figures beside the previous period's.
    pub figures: FigureRow,
}

/// The ten-day dispatch list (旬调度) of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchList {
    /// The region the list covers.
    pub region: RegionCode,
    /// The ten-day period (旬).
    pub period: Period,
    /// The ten-day period before it, for the totals' comparison.
    pub previous: Period,
    /// The instant the lists are as of: the period's end, or the views' time while the
    /// period is still running.
    pub as_of: Timestamp,
    /// Every open case past its promised limit at `as_of`, by county, department, and
    /// most days overdue first.
    pub overdue_cases: Vec<OverdueCase>,
    /// Every red card (or worse) open at `as_of`, by county, department and case.
    pub red_cards: Vec<CardLine>,
    /// Per county: the period's totals against the previous period's.
    pub totals: Vec<DispatchTotals>,
}

/// The daily statistics (日统计) of a region: the day's figures per child region and per
/// department, beside the day before's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailyReport {
    /// The region reported on.
    pub region: RegionCode,
    /// The day.
    pub period: Period,
    /// The day before.
    pub previous: Period,
    /// Per child region.
    pub regions: Vec<FigureRow>,
    /// Per department.
    pub departments: Vec<FigureRow>,
    /// The whole region.
    pub total: FigureRow,
}

/// The weekly ranking (周排名) of a region's departments and counties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyRanking {
    /// The region whose departments and counties are ranked.
    pub region: RegionCode,
    /// The week, Monday to Sunday.
    pub period: Period,
    /// Its departments, best first.
    pub departments: Vec<RankRow<String>>,
    /// Its counties, best first.
    pub counties: Vec<RankRow<String>>,
}

/// The monthly bulletin (月通报) of a region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyBulletin {
    /// The region reported on.
    pub region: RegionCode,
    /// The month.
    pub period: Period,
    /// The month before.
    pub previous: Period,
    /// The instant the lists are as of: the month's end, or the views' time while the
    /// month is still running.
    pub as_of: Timestamp,
    /// Per child region: the month's figures and last month's.
    pub regions: Vec<FigureRow>,
    /// Per department.
    pub departments: Vec<FigureRow>,
    /// The whole region.
    pub total: FigureRow,
    /// The month's best and worst departments and counties by the ranking's rule (at most
    /// five each; worst first in the worst lists). Rows that handled nothing are in
    /// neither: they are listed in `nothing_handled`.
    pub best_departments: Vec<RankRow<String>>,
    /// The worst departments, worst first.
    pub worst_departments: Vec<RankRow<String>>,
    /// The best counties.
    pub best_counties: Vec<RankRow<String>>,
    /// The worst counties, worst first.
    pub worst_counties: Vec<RankRow<String>>,
    /// The departments and counties that handled nothing in the month.
    pub nothing_handled: Vec<String>,
    /// Cards that became red (or worse) in the month, or were escalated in it, with
    /// their outcome as of the bulletin.
    pub red_cards_and_escalations: Vec<CardLine>,
    /// Open cases past their promised limit at the month's end.
    pub overdue_cases: Vec<OverdueCase>,
}

/// Splits a ranking into its best and worst (at most `n` each, half the ranked rows each
/// when there are fewer than `2n`), and the keys of the rows that handled nothing.
pub fn best_and_worst<K: Clone>(
    ranked: Vec<RankRow<K>>,
    n: usize,
) -> (Vec<RankRow<K>>, Vec<RankRow<K>>, Vec<K>) {
    let (ranked, empty): (Vec<_>, Vec<_>) =
        ranked.into_iter().partition(|row| !row.nothing_handled);
    let best_count = ranked.len().div_ceil(2).min(n);
    let worst_count = (ranked.len() / 2).min(n);
    let best = ranked[..best_count].to_vec();
    let worst = ranked[ranked.len() - worst_count..]
        .iter()
        .rev()
        .cloned()
        .collect();
    (best, worst, empty.into_iter().map(|row| row.key).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        text.parse().expect("a date")
    }

    fn period(kind: PeriodKind, day: &str) -> (NaiveDate, NaiveDate) {
        let period = Period::containing(kind, date(day)).expect("in range");
        (period.first, period.last)
    }

    #[test]
    fn periods_follow_the_calendar() {
        assert_eq!(
            period(PeriodKind::Week, "2026-03-04"),
            (date("2026-03-02"), date("2026-03-08"))
        );
        assert_eq!(
            period(PeriodKind::Week, "2026-03-08"),
            (date("2026-03-02"), date("2026-03-08"))
        );
        // The third 旬 runs to the month's end: 8 days in a February, 11 in a 31-day month.
        assert_eq!(
            period(PeriodKind::Xun, "2026-02-25"),
            (date("2026-02-21"), date("2026-02-28"))
        );
        assert_eq!(
            period(PeriodKind::Xun, "2028-02-29"),
            (date("2028-02-21"), date("2028-02-29"))
        );
        assert_eq!(
            period(PeriodKind::Xun, "2026-03-31"),
            (date("2026-03-21"), date("2026-03-31"))
        );
        assert_eq!(
            period(PeriodKind::Xun, "2026-03-10"),
            (date("2026-03-01"), date("2026-03-10"))
        );
        assert_eq!(
            period(PeriodKind::Xun, "2026-03-11"),
            (date("2026-03-11"), date("2026-03-20"))
        );
        assert_eq!(
            period(PeriodKind::Month, "2026-12-31"),
            (date("2026-12-01"), date("2026-12-31"))
        );
    }

    #[test]
    fn the_previous_period_is_of_the_same_kind() {
        let first = Period::containing(PeriodKind::Xun, date("2026-03-05")).expect("in range");
        let previous = first.previous().expect("in range");
        assert_eq!(
            (previous.first, previous.last),
            (date("2026-02-21"), date("2026-02-28"))
        );
        assert_eq!(previous.label(), "2026-02 下旬");
        let january = Period::containing(PeriodKind::Month, date("2026-01-15"))
            .and_then(|month| month.previous())
            .expect("in range");
        assert_eq!(
            (january.first, january.last),
            (date("2025-12-01"), date("2025-12-31"))
        );
        assert_eq!(january.days(), 31);
    }

    #[test]
    fn changes_are_absolute_and_relative() {
        let change = Change::between(Some(12.0), Some(8.0)).expect("both known");
        assert_eq!((change.absolute, change.relative), (4.0, Some(0.5)));
        let from_zero = Change::between(Some(3.0), Some(0.0)).expect("both known");
        assert_eq!(from_zero.relative, None);
        assert_eq!(Change::between(None, Some(1.0)), None);
    }

    #[test]
    fn best_and_worst_split_the_ranking() {
        let row = |key: &str, rank: u32, nothing_handled: bool| RankRow {
            key: key.to_owned(),
            rank,
            in_hand: 1,
            late: 0,
            late_rate: None,
            on_time_rate: None,
            alert_rate: None,
            nothing_handled,
            counters: Counters::default(),
        };
        let ranked = vec![
            row("a", 1, false),
            row("b", 2, false),
            row("c", 3, false),
            row("z", 4, true),
        ];
        let (best, worst, empty) = best_and_worst(ranked, 5);
        let keys =
            |rows: &[RankRow<String>]| rows.iter().map(|row| row.key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&best), ["a", "b"]);
        assert_eq!(keys(&worst), ["c"]);
        assert_eq!(empty, ["z"]);
    }
}
