//! A case's clock: used time from acceptance to now (or completion), minus paused time, in
//! working time or calendar time, and the instant a given amount of time will be used.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::calendar::WorkingCalendar;
use crate::event::{Limit, LimitUnit};

const HOUR: i64 = 3600;
const CALENDAR_DAY: i64 = 24 * HOUR;

/// Where a limit's count begins (DOMAIN.md "The clock"); a rule-book setting.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayCounting {
    /// The statute's counting: the day of acceptance is not counted (期间开始之日不计算在内),
    /// so a limit of n working days ends at the close of office on the n-th working day
    /// after it, and a limit of n calendar days at the end of the n-th day after it.
    /// Limits in hours count office hours from the acceptance instant. The rules' other
    /// periods in days (a step's limit, a correction notice, an appeal, a rating's
    /// follow-up, reporting a step) count the same way from the day after they start.
    #[default]
    Statutory,
    /// Every limit and period counts from the instant it starts: n working days are n
    /// day-lengths of office time from it.
    FromAcceptance,
}

impl DayCounting {
    /// The instant from which a limit in `unit` counts, for a clock started at `started`.
    pub fn count_from(
        self,
        started: Timestamp,
        unit: LimitUnit,
        calendar: &WorkingCalendar,
    ) -> Timestamp {
        match (self, unit) {
            (DayCounting::Statutory, LimitUnit::WorkingDays | LimitUnit::CalendarDays) => {
                calendar.start_of_next_day(started)
            }
            (DayCounting::Statutory, LimitUnit::Hours) | (DayCounting::FromAcceptance, _) => {
                started
            }
        }
    }
}

/// How time is counted: office hours of working days, or around the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Measure {
    /// Office hours of working days only (working days, hours).
    Working,
    /// Every second of every day (calendar days).
    Calendar,
}

impl Measure {
    /// The measure a limit in `unit` is counted in.
    pub fn of(unit: LimitUnit) -> Self {
        match unit {
            LimitUnit::WorkingDays | LimitUnit::Hours => Measure::Working,
            LimitUnit::CalendarDays => Measure::Calendar,
        }
    }

    /// Time between two instants in this measure, in seconds.
    pub fn elapsed(self, calendar: &WorkingCalendar, from: Timestamp, to: Timestamp) -> i64 {
        match self {
            Measure::Working => calendar.working_seconds(from, to),
            Measure::Calendar => (to - from).num_seconds().max(0),
        }
    }

    /// The instant `seconds` of this measure after `from`; past the end of the calendar,
    /// [`end_of_calendar`](crate::calendar::end_of_calendar).
    pub fn advance(self, calendar: &WorkingCalendar, from: Timestamp, seconds: i64) -> Timestamp {
        match self {
            Measure::Working => calendar.add_working_seconds(from, seconds),
            Measure::Calendar => chrono::TimeDelta::try_seconds(seconds.max(0))
                .and_then(|span| from.checked_add_signed(span))
                .map_or_else(crate::calendar::end_of_calendar, |at| {
                    at.min(crate::calendar::end_of_calendar())
                }),
        }
    }
}

/// A limit as an amount of time in its measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// How the span's time is counted.
    pub measure: Measure,
    /// Its length in seconds of that measure.
    pub seconds: i64,
}

impl Span {
    /// `limit` on `calendar`: working days are the calendar's day length each.
    pub fn of(limit: Limit, calendar: &WorkingCalendar) -> Self {
        Self::of_units(i64::from(limit.n()), limit.unit(), calendar)
    }

    /// `n` units of `unit` on `calendar`.
    pub fn of_units(n: i64, unit: LimitUnit, calendar: &WorkingCalendar) -> Self {
        Span {
            measure: Measure::of(unit),
            seconds: n * unit_seconds(unit, calendar),
        }
    }
}

/// The length of one unit, in seconds of its measure.
pub fn unit_seconds(unit: LimitUnit, calendar: &WorkingCalendar) -> i64 {
    match unit {
        LimitUnit::WorkingDays => calendar.day_seconds(),
        LimitUnit::Hours => HOUR,
        LimitUnit::CalendarDays => CALENDAR_DAY,
    }
}

/// How long a case can be left alone: gathered while its time rules are evaluated at
/// `from`, each rule that has not fired yet says how much more time, in its measure, must
/// pass before it would. Every measure grows no faster than its own clock (pauses and
/// answers only slow it down), so no rule can fire before the earliest of those instants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Horizon {
    from: Timestamp,
    /// The fewest seconds of each measure any waiting rule still needs.
    working: Option<i64>,
    calendar: Option<i64>,
}

impl Horizon {
    /// Nothing waiting yet, as seen at `from`.
    pub(crate) fn new(from: Timestamp) -> Self {
        Self {
            from,
            working: None,
            calendar: None,
        }
    }

    /// A rule fires once more than `seconds` of `measure` pass after `from`.
    pub(crate) fn after(&mut self, measure: Measure, seconds: i64) {
        // A second less: elapsed times are whole seconds, truncated, so a measure taken
        // from an earlier instant can run a second ahead of one taken from `from`.
        let seconds = (seconds - 1).max(0);
        let least = match measure {
            Measure::Working => &mut self.working,
            Measure::Calendar => &mut self.calendar,
        };
        *least = Some(least.map_or(seconds, |least| least.min(seconds)));
    }

    /// A rule fires once time passes `instant`.
    pub(crate) fn past(&mut self, instant: Timestamp) {
        self.after(Measure::Calendar, (instant - self.from).num_seconds());
    }

    /// The last instant up to which no waiting rule can fire; `None` when none waits.
    pub(crate) fn until(&self, calendar: &WorkingCalendar) -> Option<Timestamp> {
        let working = self
            .working
            .map(|seconds| Measure::Working.advance(calendar, self.from, seconds));
        let around_the_clock = self
            .calendar
            .map(|seconds| Measure::Calendar.advance(calendar, self.from, seconds));
        working.into_iter().chain(around_the_clock).min()
    }
}

/// `seconds` in whole units, rounded up (a started day counts as a day).
pub fn whole_units(seconds: i64, unit: LimitUnit, calendar: &WorkingCalendar) -> i64 {
    let unit = unit_seconds(unit, calendar);
    if seconds <= 0 {
        0
    } else {
        (seconds + unit - 1) / unit
    }
}

/// Why the clock is stopped for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum PauseReason {
    /// 补正: waiting for the applicant's materials.
    Correction,
    /// 挂起.
    Suspension,
    /// A special procedure (hearing, testing, …), capped at its approved length.
    Procedure {
        /// The procedure's number (特别程序编号), which its end names.
        proc_no: String,
    },
}

/// One pause of the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    /// Why the clock stopped; the step that resumes it names the same reason.
    pub reason: PauseReason,
    /// When the pause began.
    pub from: Timestamp,
    /// When the pause ended; `None` while it lasts.
    pub until: Option<Timestamp>,
    /// The approved length: the clock runs again when it is used up, ended or not.
    pub cap: Option<Limit>,
}

/// The clock of one case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    /// When counting began: the acceptance, or the arrival of the materials when a late
    /// correction notice makes the case count as accepted then (T8).
    pub started_at: Option<Timestamp>,
    /// When the case ended (completed, rejected or withdrawn); `None` while it runs.
    pub stopped_at: Option<Timestamp>,
    /// The pauses, in the order they began.
    pub pauses: Vec<Pause>,
}

/// A stretch of paused time; `end: None` lasts until further notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    start: Timestamp,
    end: Option<Timestamp>,
}

impl Clock {
    /// Starts the clock (acceptance).
    pub fn start(&mut self, at: Timestamp) {
        self.started_at = Some(at);
    }

    /// Stops the clock for good (completion or a terminal step); open pauses end there.
    pub fn stop(&mut self, at: Timestamp) {
        self.stopped_at = Some(at);
        for pause in self.pauses.iter_mut().filter(|pause| pause.until.is_none()) {
            pause.until = Some(at.max(pause.from));
        }
    }

    /// Opens a pause.
    pub fn pause(&mut self, reason: PauseReason, at: Timestamp, cap: Option<Limit>) {
        self.pauses.push(Pause {
            reason,
            from: at,
            until: None,
            cap,
        });
    }

    /// Ends the open pause for `reason`; returns whether there was one.
    pub fn resume(&mut self, reason: &PauseReason, at: Timestamp) -> bool {
        match self
            .pauses
            .iter_mut()
            .rev()
            .find(|pause| pause.until.is_none() && &pause.reason == reason)
        {
            Some(pause) => {
                pause.until = Some(at.max(pause.from));
                true
            }
            None => false,
        }
    }

    /// Whether a pause for `reason` is open.
    pub fn is_paused_for(&self, reason: &PauseReason) -> bool {
        self.pauses
            .iter()
            .any(|pause| pause.until.is_none() && &pause.reason == reason)
    }

    /// Whether the clock stands still at `now` because of a pause.
    pub fn is_paused(&self, calendar: &WorkingCalendar, now: Timestamp) -> bool {
        self.intervals(calendar)
            .iter()
            .any(|interval| interval.start <= now && interval.end.is_none_or(|end| now < end))
    }

    /// The end of a pause as far as the clock is concerned: its end, or its cap if sooner.
    fn pause_end(pause: &Pause, calendar: &WorkingCalendar) -> Option<Timestamp> {
        let capped = pause.cap.map(|cap| {
            let span = Span::of(cap, calendar);
            span.measure.advance(calendar, pause.from, span.seconds)
        });
        match (pause.until, capped) {
            (Some(until), Some(cap)) => Some(until.min(cap)),
            (until, cap) => until.or(cap),
        }
    }

    /// The paused stretches, merged and in order.
    fn intervals(&self, calendar: &WorkingCalendar) -> Vec<Interval> {
        let mut intervals: Vec<Interval> = self
            .pauses
            .iter()
            .map(|pause| Interval {
                start: pause.from,
                end: Self::pause_end(pause, calendar),
            })
            .collect();
        intervals.sort_by_key(|interval| interval.start);
        let mut merged: Vec<Interval> = Vec::with_capacity(intervals.len());
        for interval in intervals {
            match merged.last_mut() {
                Some(last) if last.end.is_none_or(|end| interval.start <= end) => {
                    last.end = match (last.end, interval.end) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        _ => None,
                    };
                }
                _ => merged.push(interval),
            }
        }
        merged
    }

    /// Time used at `now`, in seconds of `measure`: from the start to `now` or the stop,
    /// minus paused time. 0 before the clock starts.
    pub fn used(&self, measure: Measure, calendar: &WorkingCalendar, now: Timestamp) -> i64 {
        self.started_at
            .map_or(0, |start| self.used_since(start, measure, calendar, now))
    }

    /// Time used at `now` counting from `from` (a limit's count start, at or after the
    /// clock's start), in seconds of `measure`, minus the paused time after `from`. 0
    /// before the clock starts.
    pub fn used_since(
        &self,
        from: Timestamp,
        measure: Measure,
        calendar: &WorkingCalendar,
        now: Timestamp,
    ) -> i64 {
        let Some(started) = self.started_at else {
            return 0;
        };
        let start = from.max(started);
        let end = self.stopped_at.map_or(now, |stop| stop.min(now));
        if end <= start {
            return 0;
        }
        let paused: i64 = self
            .intervals(calendar)
            .iter()
            .map(|interval| {
                let from = interval.start.max(start);
                let to = interval.end.map_or(end, |until| until.min(end));
                measure.elapsed(calendar, from, to)
            })
            .sum();
        measure.elapsed(calendar, start, end) - paused
    }

    /// The instant at which `seconds` of `measure` are used counting from `from` (as
    /// [`used_since`](Self::used_since)), given what is known at `now`: an open pause
    /// without a cap lasts until further notice, so the instant is unknown (`None`) when
    /// it falls after such a pause starts; it is also `None` when the clock stopped
    /// first, or never started.
    pub fn reaches(
        &self,
        from: Timestamp,
        measure: Measure,
        calendar: &WorkingCalendar,
        seconds: i64,
    ) -> Option<Timestamp> {
        let start = from.max(self.started_at?);
        let mut cursor = start;
        let mut remaining = seconds.max(0);
        let mut found = None;
        for interval in self.intervals(calendar) {
            if interval.start > cursor {
                let running = measure.elapsed(calendar, cursor, interval.start);
                if running >= remaining {
                    found = Some(measure.advance(calendar, cursor, remaining));
                    break;
                }
                remaining -= running;
            }
            match interval.end {
                Some(end) => cursor = cursor.max(end),
                None => return None,
            }
        }
        let at = found.unwrap_or_else(|| measure.advance(calendar, cursor, remaining));
        match self.stopped_at {
            Some(stop) if at > stop => None,
            _ => Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::at;

    const DAY: i64 = 7 * HOUR;

    #[test]
    fn pauses_stop_the_working_clock() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        clock.start(at("2026-03-02T09:00:00+08:00"));
        clock.pause(
            PauseReason::Suspension,
            at("2026-03-03T09:00:00+08:00"),
            None,
        );
        let now = at("2026-03-06T17:30:00+08:00");
        assert_eq!(clock.used(Measure::Working, &calendar, now), DAY);
        assert!(clock.is_paused(&calendar, now));
        assert_eq!(
            clock.reaches(
                at("2026-03-02T09:00:00+08:00"),
                Measure::Working,
                &calendar,
                2 * DAY
            ),
            None
        );
        assert!(clock.resume(&PauseReason::Suspension, at("2026-03-05T09:00:00+08:00")));
        assert_eq!(clock.used(Measure::Working, &calendar, now), 3 * DAY);
        assert_eq!(
            clock.reaches(
                at("2026-03-02T09:00:00+08:00"),
                Measure::Working,
                &calendar,
                2 * DAY
            ),
            Some(at("2026-03-05T17:30:00+08:00"))
        );
    }

    #[test]
    fn a_pause_ends_at_its_resumption_and_only_its_own_reason_resumes_it() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        clock.start(at("2026-03-02T09:00:00+08:00"));
        let procedure = PauseReason::Procedure {
            proc_no: "P1".into(),
        };
        clock.pause(procedure.clone(), at("2026-03-03T09:00:00+08:00"), None);
        assert!(!clock.resume(&PauseReason::Suspension, at("2026-03-03T10:00:00+08:00")));
        assert!(clock.is_paused_for(&procedure));
        assert!(clock.resume(&procedure, at("2026-03-04T09:00:00+08:00")));
        assert!(clock.is_paused(&calendar, at("2026-03-04T08:59:59+08:00")));
        assert!(!clock.is_paused(&calendar, at("2026-03-04T09:00:00+08:00")));
    }

    #[test]
    fn overlapping_pauses_stop_the_clock_once_until_the_later_ends() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        clock.start(at("2026-03-02T09:00:00+08:00"));
        let procedure = PauseReason::Procedure {
            proc_no: "P1".into(),
        };
        clock.pause(
            PauseReason::Suspension,
            at("2026-03-03T09:00:00+08:00"),
            None,
        );
        clock.pause(procedure.clone(), at("2026-03-03T12:00:00+08:00"), None);
        clock.resume(&PauseReason::Suspension, at("2026-03-04T09:00:00+08:00"));
        clock.resume(&procedure, at("2026-03-05T09:00:00+08:00"));
        // Tuesday and Wednesday paused: Monday, Thursday and Friday used.
        let now = at("2026-03-06T17:30:00+08:00");
        assert_eq!(clock.used(Measure::Working, &calendar, now), 3 * DAY);
    }

    #[test]
    fn a_stopped_clock_reaches_what_it_reached_by_its_stop_and_nothing_after() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        let start = at("2026-03-02T09:00:00+08:00");
        clock.start(start);
        clock.stop(at("2026-03-03T17:30:00+08:00"));
        assert_eq!(
            clock.reaches(start, Measure::Working, &calendar, 2 * DAY),
            Some(at("2026-03-03T17:30:00+08:00"))
        );
        assert_eq!(
            clock.reaches(start, Measure::Working, &calendar, DAY),
            Some(at("2026-03-02T17:30:00+08:00"))
        );
        assert_eq!(
            clock.reaches(start, Measure::Working, &calendar, 2 * DAY + 1),
            None
        );
    }

    #[test]
    fn a_procedure_pause_is_capped_at_its_approved_length() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        clock.start(at("2026-03-02T09:00:00+08:00"));
        let approved = Limit::working_days(2).expect("valid");
        clock.pause(
            PauseReason::Procedure {
                proc_no: "P1".into(),
            },
            at("2026-03-03T09:00:00+08:00"),
            Some(approved),
        );
        // Still open on Friday evening: only Tuesday and Wednesday are paused.
        let now = at("2026-03-06T17:30:00+08:00");
        assert_eq!(clock.used(Measure::Working, &calendar, now), 3 * DAY);
        assert!(!clock.is_paused(&calendar, now));
    }

    #[test]
    fn calendar_days_count_around_the_clock() {
        let calendar = WorkingCalendar::national();
        let mut clock = Clock::default();
        clock.start(at("2026-03-06T12:00:00+08:00"));
        let now = at("2026-03-08T12:00:00+08:00");
        assert_eq!(
            clock.used(Measure::Calendar, &calendar, now),
            2 * CALENDAR_DAY
        );
        assert_eq!(clock.used(Measure::Working, &calendar, now), 4 * HOUR);
        clock.stop(at("2026-03-07T12:00:00+08:00"));
        assert_eq!(clock.used(Measure::Calendar, &calendar, now), CALENDAR_DAY);
        assert_eq!(
            clock.reaches(
                at("2026-03-02T09:00:00+08:00"),
                Measure::Calendar,
                &calendar,
                2 * CALENDAR_DAY
            ),
            None
        );
    }

    #[test]
    fn days_are_rounded_up() {
        let calendar = WorkingCalendar::national();
        assert_eq!(whole_units(0, LimitUnit::WorkingDays, &calendar), 0);
        assert_eq!(whole_units(1, LimitUnit::WorkingDays, &calendar), 1);
        assert_eq!(whole_units(DAY, LimitUnit::WorkingDays, &calendar), 1);
        assert_eq!(whole_units(DAY + 1, LimitUnit::WorkingDays, &calendar), 2);
        assert_eq!(whole_units(HOUR + 1, LimitUnit::Hours, &calendar), 2);
    }

    /// A limit extended far enough (thousands of approved extensions of a case counted in
    /// calendar days) runs past the end of the calendar instead of overflowing.
    #[test]
    fn time_past_the_end_of_the_calendar_is_its_end() {
        let calendar = WorkingCalendar::national();
        let from = at("2026-03-02T09:00:00+08:00");
        for measure in [Measure::Calendar, Measure::Working] {
            assert_eq!(
                measure.advance(&calendar, from, i64::MAX),
                crate::calendar::end_of_calendar()
            );
        }
        assert_eq!(
            Measure::Calendar.advance(&calendar, from, 3600),
            at("2026-03-02T10:00:00+08:00")
        );
    }
}
