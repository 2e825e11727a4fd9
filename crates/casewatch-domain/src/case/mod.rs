//! The case state machine: folding steps, supervision actions and the passing of time into
//! one case's state, its alerts and statistics deltas.
//!
//! `impl Case` is split: the case's state and the queries about it are here, its fold in
//! `case/fold.rs`, what it counts in the statistics in `case/counting.rs`, and the alert
//! rules it judges in `rules/`.

mod counting;
mod fold;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::alert::{Alert, AlertChange};
use crate::calendar::{Calendars, WorkingCalendar};
use crate::catalogue::Level;
use crate::clock::{Clock, DayCounting, Measure, Span, whole_units};
use crate::event::{
    CaseEvent, CaseType, Channel, Decision, Limit, LimitUnit, ProcedureKind, RatingLevel,
};
use crate::ids::{AlertId, CaseNo, DeptCode, ItemCode, RegionCode};
use crate::rulebook::{RuleBook, Thresholds};
use crate::stats::{Counters, StatDelta, StatKey};

/// The rules in force: calendars and the rule book.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// The working calendars, per region.
    pub calendars: Calendars,
    /// The thresholds and item profiles the rules judge by.
    pub rules: RuleBook,
}

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseStatus {
    /// Reported but not (yet) accepted.
    Submitted,
    /// Accepted and being handled; the clock runs.
    Accepted,
    /// Completed (办结), whatever its result; the clock stopped.
    Completed,
    /// Not accepted (不予受理); terminal.
    Rejected,
    /// Withdrawn by the applicant (撤回); terminal.
    Withdrawn,
}

impl CaseStatus {
    /// Whether the case has ended (completed, rejected or withdrawn).
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            CaseStatus::Completed | CaseStatus::Rejected | CaseStatus::Withdrawn
        )
    }
}

/// The light of an open case on the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    /// No open alert.
    Green,
    /// An open warning or yellow card.
    Yellow,
    /// An open red card or worse.
    Red,
}

/// Whether an open case is past its limits, as counted in the overdue gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overdue {
    /// Past the promised limit (超承诺时限).
    pub promised: bool,
    /// Past the legal limit (超法定时限).
    pub legal: bool,
}

/// A special procedure (特别程序) of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Procedure {
    /// Its number, which its end names.
    pub proc_no: String,
    /// An extension, or a procedure whose time is not counted (hearing, testing, …).
    pub kind: ProcedureKind,
    /// When it started.
    pub started_at: Timestamp,
    /// The length approved: an extension's addition to the limits, or the cap on a
    /// procedure's pause.
    pub approved: Limit,
    /// When it ended; `None` while it is open.
    pub ended_at: Option<Timestamp>,
    /// Its result (特别程序结果), once ended.
    pub result: Option<String>,
}

/// An appeal (申述) and its complaint clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealClock {
    /// The appeal's number, which its resolution names.
    pub appeal_no: String,
    /// When it was made; the complaint clock (K1) runs from here.
    pub opened_at: Timestamp,
    /// When it was resolved (申述办结); `None` while unanswered.
    pub resolved_at: Option<Timestamp>,
}

/// A rating (好差评) and its follow-up clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingClock {
    /// The rating's number, which its follow-up names.
    pub rating_no: String,
    /// 1 (very satisfied) to 5 (very dissatisfied); 4 and 5 need a follow-up (K2).
    pub level: RatingLevel,
    /// When it was given.
    pub rated_at: Timestamp,
    /// When it was followed up; `None` while not.
    pub followed_up_at: Option<Timestamp>,
}

/// What happened to one reported step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// Folded into the case.
    Applied,
    /// A re-send of a step already known with the same content: ignored.
    Duplicate,
    /// The same `(case_no, seq)` with different content: the first version stands, this one
    /// is kept as evidence and raises C3.
    Conflict,
    /// Ahead of a gap in the step numbers: held until the gap fills.
    Held,
    /// A record of the case that could not be read: quarantined, and kept in the case's
    /// archive so that its hash chain and audit trail show the hole (C5).
    Unreadable,
}

/// The outcome of one step, by its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepOutcome {
    /// The step's number within the case.
    pub seq: u32,
    /// What happened to it.
    pub disposition: Disposition,
}

/// Everything a fold changed: step dispositions, alert changes and statistics deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    /// What happened to each step the fold touched, in order.
    pub steps: Vec<StepOutcome>,
    /// Every alert change, in order.
    pub alerts: Vec<AlertChange>,
    /// Changes to the statistics.
    pub stats: Vec<StatDelta>,
}

impl Effects {
    /// Adds the other effects after these.
    pub fn extend(&mut self, other: Effects) {
        self.steps.extend(other.steps);
        self.alerts.extend(other.alerts);
        for delta in other.stats {
            self.count(delta.key, &delta.counters);
        }
    }

    /// Adds counters under `key`, merging with an earlier delta of the same key.
    fn count(&mut self, key: StatKey, counters: &Counters) {
        match self.stats.iter_mut().find(|delta| delta.key == key) {
            Some(delta) => delta.counters += counters,
            None => self.stats.push(StatDelta {
                key,
                counters: *counters,
            }),
        }
    }
}

/// A step held until the gap before it fills.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldStep {
    /// The step.
    pub event: CaseEvent,
    /// When the log took it.
    pub recorded_at: Timestamp,
    /// Its content fingerprint, to tell a re-send from a conflict while it waits.
    pub fingerprint: u64,
}

/// One case: its state, clock, alerts and the bookkeeping that makes folding idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    /// The case number (办件编号).
    pub case_no: CaseNo,
    /// The item (事项) applied for, as the first step reported it.
    pub item_code: ItemCode,
    /// The region of the office handling it, as the first step reported it.
    pub region_code: RegionCode,
    /// The department handling it, as the first step reported it.
    pub dept_code: DeptCode,
    /// Where the case stands.
    pub status: CaseStatus,
    /// How it is handled (即办, 承诺, …), once accepted.
    pub case_type: Option<CaseType>,
    /// How the application arrived, once submitted.
    pub channel: Option<Channel>,
    /// When it was first submitted (申办).
    pub submitted_at: Option<Timestamp>,
    /// When it was accepted (受理).
    pub accepted_at: Option<Timestamp>,
    /// When it ended: completed, rejected or withdrawn.
    pub ended_at: Option<Timestamp>,
    /// The limit promised at acceptance (承诺时限).
    pub promised_limit: Option<Limit>,
    /// The statutory limit stated at acceptance (法定时限).
    pub legal_limit: Option<Limit>,
    /// How the limits in days count, as the rule book said when the case was accepted.
    #[serde(default)]
    pub day_counting: DayCounting,
    /// Approved extensions (延长审批), each moving both due dates. An improper one (no
    /// approver, one too many, or too long) raises T7 and is not here.
    pub extensions: Vec<Limit>,
    /// Whether the acceptance said a fee is due.
    pub fee_required: Option<bool>,
    /// The sum of the case's fee tickets, in fen, for the completion total (F2).
    pub tickets_total_fen: u64,
    /// The working-time clock: started at acceptance, paused and stopped by steps.
    pub clock: Clock,
    /// The latest step time seen, for "a step dated before the previous one" (P1).
    pub last_step_at: Option<Timestamp>,
    /// When the last handling step happened, for a step's own duration (T4).
    pub last_handling_at: Option<Timestamp>,
    /// When materials last arrived, for the correction notice deadline (T8).
    pub last_material_at: Option<Timestamp>,
    /// When a late correction notice makes the case count as accepted on arrival.
    pub deemed_accepted_at: Option<Timestamp>,
    /// How many correction notices (补正告知) were given, for T8.
    pub correction_notices: u32,
    /// Who accepted the case (the actor's id), for the separation of duties (P3).
    pub accepted_by: Option<String>,
    /// The latest decision (批准/决定).
    pub decision: Option<Decision>,
    /// Review step codes passed, for required steps (P2).
    pub passed_reviews: Vec<String>,
    /// Its special procedures, extensions included, in the order they started.
    pub procedures: Vec<Procedure>,
    /// Its appeals and their complaint clocks (K1).
    pub appeals: Vec<AppealClock>,
    /// Its ratings and their follow-up clocks (K2).
    pub ratings: Vec<RatingClock>,
    /// Every alert raised on it, open or not, in the order raised.
    pub alerts: Vec<Alert>,
    /// The open-case light counted in the statistics, `None` while not open.
    pub counted_light: Option<Light>,
    /// When the open case was first found past its promised limit, and past its legal
    /// limit (kept once it ends, for figures as of an earlier date; cleared if an approved
    /// extension brings it back within the limit).
    #[serde(default)]
    pub overdue_promised_at: Option<Timestamp>,
    /// When the open case was first found past its legal limit, kept as the one above.
    #[serde(default)]
    pub overdue_legal_at: Option<Timestamp>,
    /// The overdue gauges counted in the statistics.
    #[serde(default)]
    pub counted_overdue: Overdue,
    /// When the gauges (light, overdue) were last counted. A later change of a gauge is
    /// counted no earlier (a back-dated step after a tick turned the light must not take
    /// the case off the gauge on a day before the tick put it there), so the gauges never
    /// sum below zero.
    #[serde(default, alias = "light_counted_at")]
    pub gauges_counted_at: Option<Timestamp>,
    /// The contiguous prefix of step numbers applied.
    pub applied_through: u32,
    /// Content fingerprints of the applied steps, by step number.
    pub fingerprints: BTreeMap<u32, u64>,
    /// Steps ahead of a gap.
    pub held: BTreeMap<u32, HeldStep>,
    /// The case's own time: the latest of its steps' and actions' times. Rules about a
    /// step are judged no earlier than this; time never runs back.
    pub evaluated_at: Option<Timestamp>,
}

/// What the rules of one case see: the calendar and thresholds for its region and item.
pub(crate) struct Context<'a> {
    pub(crate) calendar: &'a WorkingCalendar,
    /// The version of the calendars `calendar` is one of.
    pub(crate) calendar_version: u32,
    pub(crate) thresholds: Thresholds,
    pub(crate) rules: &'a RuleBook,
}

impl Case {
    /// A new case, named by the first step reported for it.
    pub fn new(first: &CaseEvent) -> Self {
        Self {
            case_no: first.case_no.clone(),
            item_code: first.item_code.clone(),
            region_code: first.region_code.clone(),
            dept_code: first.dept_code.clone(),
            status: CaseStatus::Submitted,
            case_type: None,
            channel: None,
            submitted_at: None,
            accepted_at: None,
            ended_at: None,
            promised_limit: None,
            legal_limit: None,
            day_counting: DayCounting::default(),
            extensions: Vec::new(),
            fee_required: None,
            tickets_total_fen: 0,
            clock: Clock::default(),
            last_step_at: None,
            last_handling_at: None,
            last_material_at: None,
            deemed_accepted_at: None,
            correction_notices: 0,
            accepted_by: None,
            decision: None,
            passed_reviews: Vec::new(),
            procedures: Vec::new(),
            appeals: Vec::new(),
            ratings: Vec::new(),
            alerts: Vec::new(),
            counted_light: None,
            overdue_promised_at: None,
            overdue_legal_at: None,
            counted_overdue: Overdue::default(),
            gauges_counted_at: None,
            applied_through: 0,
            fingerprints: BTreeMap::new(),
            held: BTreeMap::new(),
            evaluated_at: None,
        }
    }

    pub(crate) fn context<'a>(&self, policy: &'a Policy) -> Context<'a> {
        Context {
            calendar: policy.calendars.for_region(&self.region_code),
            calendar_version: policy.calendars.version(),
            thresholds: policy.rules.thresholds(&self.region_code, &self.item_code),
            rules: &policy.rules,
        }
    }

    /// The light from the open alerts (system alerts light nothing: they are no
    /// department's doing).
    pub fn light(&self) -> Light {
        match self
            .alerts
            .iter()
            .filter(|alert| alert.state.is_open() && !alert.rule().is_system())
            .map(|alert| alert.level)
            .max()
        {
            None => Light::Green,
            Some(Level::Warning | Level::Yellow) => Light::Yellow,
            Some(Level::Red | Level::Serious) => Light::Red,
        }
    }

    /// Whether the passage of time can still change the case: an open clock, a gap in its
    /// steps, an unanswered appeal or rating, or an alert awaiting feedback. Ticks need only
    /// visit such cases.
    pub fn is_time_sensitive(&self) -> bool {
        self.is_open()
            || !self.held.is_empty()
            || self
                .appeals
                .iter()
                .any(|appeal| appeal.resolved_at.is_none())
            || self
                .ratings
                .iter()
                .any(|rating| rating.followed_up_at.is_none())
            || self
                .procedures
                .iter()
                .any(|procedure| procedure.ended_at.is_none())
            || self.alerts.iter().any(|alert| {
                alert.state == crate::alert::AlertState::UnderNotice
                    || (alert.rule() == crate::catalogue::RuleId::K1 && alert.state.is_open())
            })
    }

    /// Whether the case is accepted and not ended.
    pub fn is_open(&self) -> bool {
        self.status == CaseStatus::Accepted
    }

    /// The promised limit with extensions, as time in its measure.
    pub fn promised_span(&self, calendar: &WorkingCalendar) -> Option<Span> {
        self.promised_limit
            .map(|limit| self.extended(limit, calendar))
    }

    /// The legal limit with extensions, as time in its measure.
    pub fn legal_span(&self, calendar: &WorkingCalendar) -> Option<Span> {
        self.legal_limit.map(|limit| self.extended(limit, calendar))
    }

    /// A limit lengthened by every approved extension. An extension in another unit than
    /// the limit counts its `n` in the limit's unit (ten days are ten days).
    fn extended(&self, limit: Limit, calendar: &WorkingCalendar) -> Span {
        let base = Span::of(limit, calendar);
        let extra: i64 = self
            .extensions
            .iter()
            .map(|extension| {
                let span = Span::of(*extension, calendar);
                if span.measure == base.measure {
                    span.seconds
                } else {
                    Span::of_units(i64::from(extension.n()), limit.unit(), calendar).seconds
                }
            })
            .sum();
        Span {
            measure: base.measure,
            seconds: base.seconds + extra,
        }
    }

    /// Where a limit in `unit` starts counting: the acceptance instant, or under the
    /// statute's counting the day after it (for limits in days); `None` before
    /// acceptance.
    fn count_start(&self, unit: LimitUnit, calendar: &WorkingCalendar) -> Option<Timestamp> {
        let started = self.clock.started_at?;
        Some(self.day_counting.count_from(started, unit, calendar))
    }

    /// Time used against a limit in `unit` at `now`, in seconds of its measure, counted
    /// the way the case's limits count; 0 before acceptance.
    pub fn used_against(&self, unit: LimitUnit, calendar: &WorkingCalendar, now: Timestamp) -> i64 {
        self.count_start(unit, calendar).map_or(0, |start| {
            self.clock
                .used_since(start, Measure::of(unit), calendar, now)
        })
    }

    /// Used time against the promised limit at `now`, in seconds of its measure.
    pub fn used_seconds(&self, calendar: &WorkingCalendar, now: Timestamp) -> i64 {
        let unit = self
            .promised_limit
            .map_or(LimitUnit::WorkingDays, |limit| limit.unit());
        self.used_against(unit, calendar, now)
    }

    /// Working days used at `now` from the acceptance instant, rounded up.
    pub fn used_working_days(&self, calendar: &WorkingCalendar, now: Timestamp) -> i64 {
        whole_units(
            self.clock.used(Measure::Working, calendar, now),
            LimitUnit::WorkingDays,
            calendar,
        )
    }

    /// When the promised limit (with extensions) runs out, as far as is known: under the
    /// statute's counting, the close of office on its last working day.
    pub fn promised_due(&self, calendar: &WorkingCalendar) -> Option<Timestamp> {
        self.due(self.promised_limit?, calendar)
    }

    /// When the legal limit (with extensions) runs out, as far as is known.
    pub fn legal_due(&self, calendar: &WorkingCalendar) -> Option<Timestamp> {
        self.due(self.legal_limit?, calendar)
    }

    fn due(&self, limit: Limit, calendar: &WorkingCalendar) -> Option<Timestamp> {
        let span = self.extended(limit, calendar);
        let start = self.count_start(limit.unit(), calendar)?;
        self.clock
            .reaches(start, span.measure, calendar, span.seconds)
    }

    /// The alert with this id, if raised.
    pub fn alert(&self, id: &AlertId) -> Option<&Alert> {
        self.alerts.iter().find(|alert| &alert.id == id)
    }
}
