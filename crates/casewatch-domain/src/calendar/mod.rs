//! Working calendars: office hours of working days, with public holidays and make-up
//! working days (调休) as data, per region. The national calendar for the years the State
//! Council has published ships in `data/calendar/cn-national.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Datelike, Days, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Weekday};
use serde::{Deserialize, Serialize};

use crate::ids::RegionCode;
use crate::{Timestamp, china_standard_time};

/// The shipped national calendar data.
const NATIONAL_DATA: &str = include_str!("../../data/calendar/cn-national.toml");

/// Why calendar data or configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The data is not TOML of the calendar's shape; the parser's message says where.
    #[error("calendar data is not valid: {0}")]
    Syntax(String),
    /// An office period that ends when or before it starts.
    #[error("office period {start}–{end} must start before it ends")]
    EmptyPeriod {
        /// The period's start.
        start: NaiveTime,
        /// Its end.
        end: NaiveTime,
    },
    /// Office periods out of order or overlapping; names the start of the offending one.
    #[error("office periods must be in order and must not overlap ({0} starts too early)")]
    Overlap(NaiveTime),
    /// A calendar without office hours would have no working time at all.
    #[error("a calendar needs at least one office period")]
    NoOfficeHours,
    /// A holiday whose last day is before its first.
    #[error("holiday `{name}` ends ({to}) before it starts ({from})")]
    BackwardsHoliday {
        /// The holiday's name.
        name: String,
        /// Its first day as given.
        from: NaiveDate,
        /// Its last day as given.
        to: NaiveDate,
    },
    /// A date in a year's data more than a year away from that year: a typo, not a notice.
    #[error("{date} is in year {year}'s data but more than a year away from it")]
    FarFromYear {
        /// The date.
        date: NaiveDate,
        /// The year whose data lists it.
        year: i32,
    },
    /// A date listed both as a day off and as a make-up working day: one of them is a typo.
    #[error("{date} is both in holiday `{holiday}` and a make-up working day")]
    HolidayAndWorkday {
        /// The date.
        date: NaiveDate,
        /// The holiday that lists it.
        holiday: String,
    },
}

/// Refuses a date that `holidays` give off and `workdays` make a working day.
fn check_disjoint(holidays: &[Holiday], workdays: &[MakeUpWorkday]) -> Result<(), CalendarError> {
    for holiday in holidays {
        if let Some(workday) = workdays
            .iter()
            .find(|workday| (holiday.from..=holiday.to).contains(&workday.date))
        {
            return Err(CalendarError::HolidayAndWorkday {
                date: workday.date,
                holiday: holiday.name.clone(),
            });
        }
    }
    Ok(())
}

/// One office period of a working day, in local time, e.g. 09:00–12:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfficePeriod {
    /// When the office opens, local time.
    pub start: NaiveTime,
    /// When it closes, local time; after `start`.
    pub end: NaiveTime,
}

/// A holiday of one year's notice: `from` and `to` inclusive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Holiday {
    /// Its name, as the notice gives it (e.g. 国庆节).
    pub name: String,
    /// Its first day off.
    pub from: NaiveDate,
    /// Its last day off.
    pub to: NaiveDate,
}

/// A weekend day that is a working day (调休上班).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MakeUpWorkday {
    /// The weekend day worked.
    pub date: NaiveDate,
    /// Which holiday it makes up for, as the notice says.
    pub reason: String,
}

/// One year's arrangement, as a notice publishes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarYear {
    /// The year the notice arranges.
    pub year: i32,
    /// The notice the dates come from.
    pub notice: String,
    /// When the notice was published, if known.
    pub published: Option<NaiveDate>,
    /// The holidays it lists (its `holiday` entries).
    #[serde(default, rename = "holiday")]
    pub holidays: Vec<Holiday>,
    /// The weekend days it makes working days (its `workday` entries).
    #[serde(default, rename = "workday")]
    pub workdays: Vec<MakeUpWorkday>,
}

/// A calendar data file: one entry per year.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarData {
    /// The years of data (`[[year]]`), each replacing any earlier entry of its year.
    #[serde(default, rename = "year")]
    pub years: Vec<CalendarYear>,
}

impl CalendarData {
    /// Parses a calendar data file (TOML).
    pub fn parse(text: &str) -> Result<Self, CalendarError> {
        toml::from_str(text).map_err(|error| CalendarError::Syntax(error.to_string()))
    }

    /// The national data this build ships (`data/calendar/cn-national.toml`).
    pub fn national() -> Self {
        Self::parse(NATIONAL_DATA).expect("the shipped calendar data parses")
    }
}

/// A region's changes to the calendar it inherits: its own office hours, local holidays
/// and working days, and whole years of data that replace the inherited ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionCalendar {
    /// The region (and every region inside it) the calendar applies to.
    pub region: RegionCode,
    /// Office periods, replacing the inherited ones.
    pub office_hours: Option<Vec<OfficePeriod>>,
    /// Local rest days (e.g. a regional festival).
    #[serde(default)]
    pub holidays: Vec<Holiday>,
    /// Local make-up working days.
    #[serde(default)]
    pub workdays: Vec<MakeUpWorkday>,
    /// Years of data that replace the inherited data for those years.
    #[serde(default, rename = "year")]
    pub years: Vec<CalendarYear>,
}

fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).expect("a valid time of day")
}

/// Office hours of a working day, their working time counted to the second.
///
/// A year without data counts Monday to Friday; the calendar says so only when asked
/// ([`covers`](Self::covers)): it logs nothing, and the caller reports the missing year.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkingCalendar {
    utc_offset: FixedOffset,
    office: Vec<OfficePeriod>,
    day_seconds: i64,
    rest_days: BTreeSet<NaiveDate>,
    workdays: BTreeSet<NaiveDate>,
    /// The dates each year's notice listed: a notice may name days of the years beside
    /// its own (the 2019 notice made Saturday 2018-12-29 a working day), and replacing a
    /// year's data removes exactly the dates its notice brought.
    notice_dates: BTreeMap<i32, Vec<NaiveDate>>,
    /// Years with published data; other years count Monday to Friday.
    covered_years: BTreeSet<i32>,
}

impl WorkingCalendar {
    /// The national calendar: the national office hours, with the State Council's holidays
    /// for the years shipped.
    pub fn national() -> Self {
        Self::with_national_hours(&CalendarData::national())
            .expect("the shipped calendar data is valid")
    }

    /// A calendar of `data`'s years, open 09:00–12:00 and 13:30–17:30 in China Standard
    /// Time, as government offices across the country are.
    pub fn with_national_hours(data: &CalendarData) -> Result<Self, CalendarError> {
        Self::new(
            vec![
                OfficePeriod {
                    start: hm(9, 0),
                    end: hm(12, 0),
                },
                OfficePeriod {
                    start: hm(13, 30),
                    end: hm(17, 30),
                },
            ],
            data,
        )
    }

    /// A calendar with these office periods and years of data.
    pub fn new(office: Vec<OfficePeriod>, data: &CalendarData) -> Result<Self, CalendarError> {
        let mut calendar = Self {
            utc_offset: china_standard_time(),
            day_seconds: check_office_hours(&office)?,
            office,
            rest_days: BTreeSet::new(),
            workdays: BTreeSet::new(),
            notice_dates: BTreeMap::new(),
            covered_years: BTreeSet::new(),
        };
        for year in &data.years {
            calendar.replace_year(year)?;
        }
        Ok(calendar)
    }

    /// This calendar with a region's changes applied.
    pub fn with_changes(&self, changes: &RegionCalendar) -> Result<Self, CalendarError> {
        let mut calendar = self.clone();
        if let Some(office) = &changes.office_hours {
            calendar.day_seconds = check_office_hours(office)?;
            calendar.office = office.clone();
        }
        for year in &changes.years {
            calendar.replace_year(year)?;
        }
        check_disjoint(&changes.holidays, &changes.workdays)?;
        for holiday in &changes.holidays {
            calendar.rest_days.extend(holiday_dates(holiday)?);
        }
        for workday in &changes.workdays {
            calendar.rest_days.remove(&workday.date);
            calendar.workdays.insert(workday.date);
        }
        Ok(calendar)
    }

    fn replace_year(&mut self, year: &CalendarYear) -> Result<(), CalendarError> {
        check_disjoint(&year.holidays, &year.workdays)?;
        for date in self.notice_dates.remove(&year.year).unwrap_or_default() {
            self.rest_days.remove(&date);
            self.workdays.remove(&date);
        }
        let near = |date: NaiveDate| {
            if (date.year() - year.year).abs() > 1 {
                Err(CalendarError::FarFromYear {
                    date,
                    year: year.year,
                })
            } else {
                Ok(date)
            }
        };
        let mut dates = Vec::new();
        for holiday in &year.holidays {
            for date in holiday_dates(holiday)? {
                self.rest_days.insert(near(date)?);
                dates.push(date);
            }
        }
        for workday in &year.workdays {
            self.workdays.insert(near(workday.date)?);
            dates.push(workday.date);
        }
        self.notice_dates.insert(year.year, dates);
        self.covered_years.insert(year.year);
        Ok(())
    }

    /// The length of a working day, in seconds (7 hours by default).
    pub fn day_seconds(&self) -> i64 {
        self.day_seconds
    }

    /// Whether the calendar has published data for `year`.
    pub fn covers(&self, year: i32) -> bool {
        self.covered_years.contains(&year)
    }

    /// The last day of the published data: 31 December of the year up to which every year
    /// from `today`'s on is covered; `None` when `today`'s year has no data, for then the
    /// calendar already counts Monday to Friday.
    pub fn data_ends(&self, today: NaiveDate) -> Option<NaiveDate> {
        let mut year = today.year();
        if !self.covers(year) {
            return None;
        }
        while self.covers(year + 1) {
            year += 1;
        }
        NaiveDate::from_ymd_opt(year, 12, 31)
    }

    /// The local date of an instant.
    pub fn local_date(&self, at: Timestamp) -> NaiveDate {
        at.with_timezone(&self.utc_offset).date_naive()
    }

    /// Whether `date` is a working day: a listed make-up day, or a weekday that is not a
    /// listed holiday. A year without data counts Monday to Friday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        if self.workdays.contains(&date) {
            return true;
        }
        if self.rest_days.contains(&date) {
            return false;
        }
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The working days in `from..until`: weekdays counted by arithmetic, corrected by
    /// the holidays and make-up working days in between, so the cost does not grow with
    /// the length of the span.
    fn working_days(&self, from: NaiveDate, until: NaiveDate) -> i64 {
        if until <= from {
            return 0;
        }
        let weekend = |date: &NaiveDate| matches!(date.weekday(), Weekday::Sat | Weekday::Sun);
        let made_up = self
            .workdays
            .range(from..until)
            .filter(|date| weekend(date))
            .count();
        let rested = self
            .rest_days
            .range(from..until)
            .filter(|date| !weekend(date) && !self.workdays.contains(date))
            .count();
        weekdays(from, until) + i64::try_from(made_up).unwrap_or(i64::MAX)
            - i64::try_from(rested).unwrap_or(i64::MAX)
    }

    /// The day after the `n`-th working day from `from` on (`n` ≥ 1); `None` past the
    /// end of the calendar.
    fn after_working_days(&self, from: NaiveDate, n: i64) -> Option<NaiveDate> {
        // `n` working days fit in `2n` days plus a fortnight and every rest day there is.
        let rest_days = i64::try_from(self.rest_days.len()).unwrap_or(i64::MAX);
        let bound = n
            .saturating_mul(2)
            .saturating_add(14)
            .saturating_add(rest_days);
        let last = u64::try_from(bound)
            .ok()
            .and_then(|days| from.checked_add_days(Days::new(days)))
            .unwrap_or(NaiveDate::MAX);
        if self.working_days(from, last) < n {
            return None;
        }
        // The first day `until` with `n` working days in `from..until`.
        let (mut low, mut high) = (from, last);
        while low < high {
            let middle = low + (high - low) / 2;
            if self.working_days(from, middle) >= n {
                high = middle;
            } else {
                low = middle.succ_opt()?;
            }
        }
        Some(low)
    }

    fn instant(&self, date: NaiveDate, time: NaiveTime) -> Timestamp {
        self.utc_offset
            .from_local_datetime(&NaiveDateTime::new(date, time))
            .single()
            .expect("a fixed offset maps every local time to one instant")
            .to_utc()
    }

    /// The office periods of `date` as instants; none on a rest day.
    fn periods_of(&self, date: NaiveDate) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let working = self.is_working_day(date);
        self.office
            .iter()
            .filter(move |_| working)
            .map(move |period| {
                (
                    self.instant(date, period.start),
                    self.instant(date, period.end),
                )
            })
    }

    /// Working time between two instants, in seconds; 0 when `to` is not after `from`. The
    /// whole days in between are counted at once: a span of centuries costs what a span
    /// of days does.
    pub fn working_seconds(&self, from: Timestamp, to: Timestamp) -> i64 {
        if to <= from {
            return 0;
        }
        let within = |date: NaiveDate| -> i64 {
            self.periods_of(date)
                .map(|(start, end)| (end.min(to) - start.max(from)).num_seconds().max(0))
                .sum()
        };
        let first = self.local_date(from);
        let last = self.local_date(to);
        if first == last {
            return within(first);
        }
        let between = first
            .succ_opt()
            .map_or(0, |next| self.working_days(next, last));
        within(first) + between * self.day_seconds + within(last)
    }

    /// The earliest instant at which `seconds` of working time have passed since `from`.
    /// Time outside office hours adds nothing, so a result always lies inside (or at the
    /// end of) an office period, unless `seconds` is 0. Whole working days are skipped at
    /// once; an instant past the end of the calendar is [`end_of_calendar`].
    pub fn add_working_seconds(&self, from: Timestamp, seconds: i64) -> Timestamp {
        if seconds <= 0 {
            return from;
        }
        let mut remaining = seconds;
        let mut date = self.local_date(from);
        loop {
            for (start, end) in self.periods_of(date) {
                let start = start.max(from);
                if end <= start {
                    continue;
                }
                let available = (end - start).num_seconds();
                if available >= remaining {
                    return start + chrono::Duration::seconds(remaining);
                }
                remaining -= available;
            }
            let Some(next) = date.succ_opt() else {
                return end_of_calendar();
            };
            date = next;
            // Every working day short of the one where the time runs out is used whole.
            let whole = (remaining - 1) / self.day_seconds;
            if whole > 0 {
                let Some(after) = self.after_working_days(date, whole) else {
                    return end_of_calendar();
                };
                date = after;
                remaining -= whole * self.day_seconds;
            }
        }
    }

    /// Midnight at the start of local day `date`.
    pub fn start_of(&self, date: NaiveDate) -> Timestamp {
        self.instant(date, NaiveTime::MIN)
    }

    /// Midnight at the start of the local day after `at`'s ([`end_of_calendar`] past the
    /// end of the calendar).
    pub fn start_of_next_day(&self, at: Timestamp) -> Timestamp {
        self.local_date(at)
            .succ_opt()
            .map_or_else(end_of_calendar, |next| {
                self.instant(next, NaiveTime::MIN).min(end_of_calendar())
            })
    }

    /// The close of office on the working day of `at`; when `at` is on a rest day or after
    /// the day's last period, the close of the next working day ([`end_of_calendar`] past
    /// the end of the calendar).
    pub fn close_of_working_day(&self, at: Timestamp) -> Timestamp {
        let mut date = self.local_date(at);
        loop {
            if let Some((_, close)) = self.periods_of(date).last()
                && close > at
            {
                return close;
            }
            let Some(next) = date.succ_opt() else {
                return end_of_calendar();
            };
            date = next;
        }
    }
}

/// The latest instant a calendar answers with: a day before chrono's last, so that its
/// local date exists at any offset. Times past it are far beyond any limit a case has.
pub fn end_of_calendar() -> Timestamp {
    Timestamp::MAX_UTC - chrono::TimeDelta::days(1)
}

/// The weekdays (Monday to Friday) in `from..until`.
fn weekdays(from: NaiveDate, until: NaiveDate) -> i64 {
    let days = (until - from).num_days().max(0);
    let first = i64::from(from.weekday().num_days_from_monday());
    let partial = (0..days % 7)
        .filter(|offset| (first + offset) % 7 < 5)
        .count();
    days / 7 * 5 + i64::try_from(partial).unwrap_or(0)
}

fn holiday_dates(holiday: &Holiday) -> Result<Vec<NaiveDate>, CalendarError> {
    if holiday.to < holiday.from {
        return Err(CalendarError::BackwardsHoliday {
            name: holiday.name.clone(),
            from: holiday.from,
            to: holiday.to,
        });
    }
    Ok(holiday
        .from
        .iter_days()
        .take_while(|date| *date <= holiday.to)
        .collect())
}

/// Checks that periods are non-empty, ordered and disjoint; returns the day's length.
fn check_office_hours(office: &[OfficePeriod]) -> Result<i64, CalendarError> {
    if office.is_empty() {
        return Err(CalendarError::NoOfficeHours);
    }
    let mut previous_end: Option<NaiveTime> = None;
    let mut total = 0;
    for period in office {
        if period.end <= period.start {
            return Err(CalendarError::EmptyPeriod {
                start: period.start,
                end: period.end,
            });
        }
        if previous_end.is_some_and(|end| period.start < end) {
            return Err(CalendarError::Overlap(period.start));
        }
        previous_end = Some(period.end);
        total += (period.end - period.start).num_seconds();
    }
    Ok(total)
}

/// The calendars in force: the national one and regional variants, chosen by the longest
/// region prefix that contains a case's region.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendars {
    national: Arc<WorkingCalendar>,
    /// Most specific region first.
    regional: Vec<(RegionCode, Arc<WorkingCalendar>)>,
    /// The version of the calendar these are (1: the shipped one).
    version: u32,
}

impl Default for Calendars {
    fn default() -> Self {
        Self::new(WorkingCalendar::national())
    }
}

impl Calendars {
    /// Only the given national calendar.
    pub fn new(national: WorkingCalendar) -> Self {
        Self {
            national: Arc::new(national),
            regional: Vec::new(),
            version: 1,
        }
    }

    /// Adds regional calendars. Each region's changes apply on top of the calendar of the
    /// nearest enclosing region already configured (a county inherits its city's changes).
    pub fn with_regions(mut self, regions: &[RegionCalendar]) -> Result<Self, CalendarError> {
        let mut ordered: Vec<&RegionCalendar> = regions.iter().collect();
        ordered.sort_by_key(|changes| changes.region.significant().len());
        for changes in ordered {
            let base = self.for_region(&changes.region);
            let calendar = Arc::new(base.with_changes(changes)?);
            self.regional.push((changes.region.clone(), calendar));
            self.regional
                .sort_by_key(|(region, _)| std::cmp::Reverse(region.significant().len()));
        }
        Ok(self)
    }

    /// These calendars as version `version` of the calendar.
    pub fn with_version(self, version: u32) -> Self {
        Self { version, ..self }
    }

    /// The version of the calendar these are; every alert records the one that timed it.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The national calendar.
    pub fn national(&self) -> &WorkingCalendar {
        &self.national
    }

    /// The calendar for cases of `region`.
    pub fn for_region(&self, region: &RegionCode) -> &WorkingCalendar {
        self.regional
            .iter()
            .find(|(scope, _)| scope.contains(region))
            .map_or(&self.national, |(_, calendar)| calendar)
    }
}

#[cfg(test)]
mod tests;
