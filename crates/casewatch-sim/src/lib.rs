//! A seedable simulator of county and department systems: cases across counties,
//! departments and items, with a realistic mix — most on time, a few percent late, some
//! procedure and fee anomalies, appeals, ratings, late and out-of-order reports, conflicting
//! re-sends — and clock ticks. The same seed gives the same stream.
//!
//! It only produces values; sending them (in-process, over gRPC) is the caller's business.

mod case;
mod catalogue;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use casewatch_domain::Timestamp;
use casewatch_domain::calendar::WorkingCalendar;
use casewatch_domain::event::CaseEvent;
use casewatch_domain::ids::CaseNo;
use chrono::Duration;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use catalogue::{COUNTIES, county_name, dept_code};

/// What the simulator produces.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A step as a county system reports it; `recorded_at` is when it reaches Casewatch.
    Step {
        event: Box<CaseEvent>,
        recorded_at: Timestamp,
    },
    /// The passing of time.
    Tick(Timestamp),
}

impl Output {
    /// When the output happens.
    pub fn at(&self) -> Timestamp {
        match self {
            Output::Step { recorded_at, .. } => *recorded_at,
            Output::Tick(at) => *at,
        }
    }
}

/// How much to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub seed: u64,
    /// The first simulated instant (a Monday morning is a good start).
    pub start: Timestamp,
    /// A name for this run (a few ASCII letters and digits), put in every case number
    /// (`330102-20260302-RUN-00001`), so that runs with the same seed and days report new
    /// cases rather than re-send an earlier run's steps; `None`: the numbers say only the
    /// county, the day and the count.
    pub run: Option<String>,
    /// How many simulated working days new cases arrive on.
    pub days: u32,
    /// How many counties report (at most [`COUNTIES`]).
    pub counties: usize,
    /// New cases per county per working day.
    pub cases_per_county_day: u32,
    /// Simulated time between clock ticks.
    pub tick_every: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            start: chrono::DateTime::parse_from_rfc3339("2026-03-02T08:30:00+08:00")
                .expect("a valid start")
                .to_utc(),
            run: None,
            days: 10,
            counties: 3,
            cases_per_county_day: 20,
            tick_every: Duration::hours(1),
        }
    }
}

impl SimConfig {
    /// The same simulation placed so that its `days` working days of new cases end on the
    /// working day of `now` (today when it is one, else the last one before it), each
    /// starting at 08:30: a history that ends now, for a node whose clock says `now`. The
    /// outputs up to `now` are that history, the rest what is still to come.
    pub fn ending_at(self, now: Timestamp) -> Self {
        let calendar = WorkingCalendar::national();
        let mut date = calendar.local_date(now);
        let mut working_days = 0;
        loop {
            if calendar.is_working_day(date) {
                working_days += 1;
                if working_days >= self.days.max(1) {
                    break;
                }
            }
            date = date.pred_opt().expect("a date within the calendar");
        }
        Self {
            start: calendar.start_of(date) + Duration::minutes(8 * 60 + 30),
            ..self
        }
    }
}

/// The simulator: an iterator over steps and ticks in the order Casewatch receives them.
#[derive(Debug)]
pub struct Simulator {
    config: SimConfig,
    rng: ChaCha8Rng,
    calendar: WorkingCalendar,
    /// Pending outputs by time, then by the order they were planned in.
    queue: BinaryHeap<Reverse<(Timestamp, u64, Planned)>>,
    planned: u64,
    next_day: u32,
    day_start: Timestamp,
    next_tick: Timestamp,
    end: Timestamp,
}

/// An output waiting in the queue (ordered by time and plan order only).
#[derive(Debug, Clone, PartialEq)]
struct Planned(Output);

impl Eq for Planned {}

impl PartialOrd for Planned {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Planned {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let calendar = WorkingCalendar::national();
        let mut end = config.start;
        for _ in 0..config.days + 25 {
            end = calendar.add_working_seconds(end, calendar.day_seconds());
        }
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            day_start: config.start,
            next_tick: config.start,
            calendar,
            queue: BinaryHeap::new(),
            planned: 0,
            next_day: 0,
            end,
            config,
        }
    }

    /// The last instant simulated: enough after the last new case for it to finish.
    pub fn end(&self) -> Timestamp {
        self.end
    }

    fn push(&mut self, output: Output) {
        self.planned += 1;
        self.queue
            .push(Reverse((output.at(), self.planned, Planned(output))));
    }

    /// Plans the cases of the next working day.
    fn plan_day(&mut self) {
        let day = self.next_day;
        self.next_day += 1;
        let opening = self.calendar.add_working_seconds(self.day_start, 1);
        let date = self.calendar.local_date(opening);
        for (county, (code, _)) in COUNTIES.iter().enumerate().take(self.config.counties) {
            for number in 0..self.config.cases_per_county_day {
                let offset = self.rng.random_range(0..self.calendar.day_seconds() - 3600);
                let submitted = self.calendar.add_working_seconds(opening, offset);
                let run = self
                    .config
                    .run
                    .as_ref()
                    .map_or(String::new(), |run| format!("{run}-"));
                let case_no = CaseNo::parse(format!(
                    "{code}-{}-{run}{:05}",
                    date.format("%Y%m%d"),
                    number + 1
                ))
                .expect("a short case number, and a run name of valid characters");
                self.plan_case(case_no, county, submitted);
            }
        }
        self.day_start = self
            .calendar
            .add_working_seconds(self.day_start, self.calendar.day_seconds());
        if day + 1 >= self.config.days {
            self.day_start = self.end;
        }
    }
}

impl Iterator for Simulator {
    type Item = Output;

    fn next(&mut self) -> Option<Output> {
        loop {
            // Plan days until the queue's head is earlier than the next day's first case.
            if self.day_start < self.end
                && self
                    .queue
                    .peek()
                    .is_none_or(|Reverse((at, _, _))| *at >= self.day_start)
            {
                self.plan_day();
                continue;
            }
            let head = self.queue.peek().map(|Reverse((at, _, _))| *at);
            if self.next_tick <= self.end && head.is_none_or(|at| self.next_tick <= at) {
                let tick = self.next_tick;
                self.next_tick += self.config.tick_every;
                return Some(Output::Tick(tick));
            }
            return self
                .queue
                .pop()
                .map(|Reverse((_, _, Planned(output)))| output);
        }
    }
}
