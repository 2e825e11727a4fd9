//! The case state machine: folding steps, supervision actions and the passing of time into
//! one case's state, its alerts and statistics deltas.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::alert::{Alert, AlertChange, LifecycleError};
use crate::calendar::{Calendars, WorkingCalendar};
use crate::catalogue::Level;
use crate::clock::{Clock, DayCounting, Horizon, Measure, PauseReason, Span, whole_units};
use crate::event::{
    CaseEvent, CaseType, Channel, Decision, Limit, LimitUnit, ProcedureKind, RatingLevel, Step,
};
use crate::ids::{AlertId, CaseNo, DeptCode, ItemCode, RegionCode};
use crate::rulebook::{RuleBook, Thresholds};
use crate::stats::{Counters, StatDelta, StatKey};
use crate::supervision::SupervisionEvent;

/// The rules in force: calendars and the rule book.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub calendars: Calendars,
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
    Completed,
    Rejected,
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
    pub proc_no: String,
    pub kind: ProcedureKind,
    pub started_at: Timestamp,
    pub approved: Limit,
    pub ended_at: Option<Timestamp>,
    pub result: Option<String>,
}

/// An appeal (申述) and its complaint clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppealClock {
    pub appeal_no: String,
    pub opened_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

/// A rating (好差评) and its follow-up clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingClock {
    pub rating_no: String,
    pub level: RatingLevel,
    pub rated_at: Timestamp,
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
    pub seq: u32,
    pub disposition: Disposition,
}

/// Everything a fold changed: step dispositions, alert changes and statistics deltas.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effects {
    pub steps: Vec<StepOutcome>,
    pub alerts: Vec<AlertChange>,
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
    pub event: CaseEvent,
    pub recorded_at: Timestamp,
    pub fingerprint: u64,
}

/// One case: its state, clock, alerts and the bookkeeping that makes folding idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Case {
    pub case_no: CaseNo,
    pub item_code: ItemCode,
    pub region_code: RegionCode,
    pub dept_code: DeptCode,
    pub status: CaseStatus,
    pub case_type: Option<CaseType>,
    pub channel: Option<Channel>,
    pub submitted_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub promised_limit: Option<Limit>,
    pub legal_limit: Option<Limit>,
    /// How the limits in days count, as the rule book said when the case was accepted.
    #[serde(default)]
    pub day_counting: DayCounting,
    /// Approved extensions (延长审批), each moving both due dates. An improper one (no
    /// approver, one too many, or too long) raises T7 and is not here.
    pub extensions: Vec<Limit>,
    pub fee_required: Option<bool>,
    pub tickets_total_fen: u64,
    pub clock: Clock,
    /// The latest step time seen, for "a step dated before the previous one" (P1).
    pub last_step_at: Option<Timestamp>,
    /// When the last handling step happened, for a step's own duration (T4).
    pub last_handling_at: Option<Timestamp>,
    /// When materials last arrived, for the correction notice deadline (T8).
    pub last_material_at: Option<Timestamp>,
    /// When a late correction notice makes the case count as accepted on arrival.
    pub deemed_accepted_at: Option<Timestamp>,
    pub correction_notices: u32,
    pub accepted_by: Option<String>,
    pub decision: Option<Decision>,
    /// Review step codes passed, for required steps (P2).
    pub passed_reviews: Vec<String>,
    pub procedures: Vec<Procedure>,
    pub appeals: Vec<AppealClock>,
    pub ratings: Vec<RatingClock>,
    pub alerts: Vec<Alert>,
    /// The open-case light counted in the statistics, `None` while not open.
    pub counted_light: Option<Light>,
    /// When the open case was first found past its promised limit, and past its legal
    /// limit (kept once it ends, for figures as of an earlier date; cleared if an approved
    /// extension brings it back within the limit).
    #[serde(default)]
    pub overdue_promised_at: Option<Timestamp>,
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

    /// Folds one reported step. `recorded_at` is when the log took it. Duplicates and
    /// conflicts leave the case's state as it was.
    pub fn handle_step(
        &mut self,
        event: &CaseEvent,
        recorded_at: Timestamp,
        policy: &Policy,
    ) -> Effects {
        let ctx = self.context(policy);
        let mut effects = Effects::default();
        let fingerprint = event.content_fingerprint();
        let known = self
            .fingerprints
            .get(&event.seq)
            .or_else(|| self.held.get(&event.seq).map(|held| &held.fingerprint))
            .copied();
        match known {
            Some(first) if first == fingerprint => {
                effects.steps.push(StepOutcome {
                    seq: event.seq,
                    disposition: Disposition::Duplicate,
                });
            }
            Some(_) => {
                effects.steps.push(StepOutcome {
                    seq: event.seq,
                    disposition: Disposition::Conflict,
                });
                let at = self.advance_clock_to(recorded_at);
                self.raise_conflict(&ctx, event, at, &mut effects);
            }
            None if event.seq == self.applied_through + 1 => {
                self.apply(&ctx, event, recorded_at, fingerprint, &mut effects);
                while let Some(next) = self.held.remove(&(self.applied_through + 1)) {
                    self.apply(
                        &ctx,
                        &next.event,
                        next.recorded_at,
                        next.fingerprint,
                        &mut effects,
                    );
                }
                let at = self.evaluated_at.unwrap_or(recorded_at);
                self.resolve_filled_gaps(&ctx, at, &mut effects);
            }
            None if event.seq > self.applied_through => {
                self.held.insert(
                    event.seq,
                    HeldStep {
                        event: event.clone(),
                        recorded_at,
                        fingerprint,
                    },
                );
                effects.steps.push(StepOutcome {
                    seq: event.seq,
                    disposition: Disposition::Held,
                });
            }
            None => {
                // Below the applied prefix without a fingerprint cannot happen: the prefix
                // is contiguous and every applied step leaves its fingerprint.
                effects.steps.push(StepOutcome {
                    seq: event.seq,
                    disposition: Disposition::Duplicate,
                });
            }
        }
        let at = self.evaluated_at.unwrap_or(recorded_at);
        self.update_gauges(&ctx, at, &mut effects);
        effects
    }

    /// Lets time pass to `now` (a clock tick): rules that fire on the passage of time are
    /// evaluated. The case's own time stays that of its latest step, so a tick that changes
    /// nothing visible leaves the case exactly as it was: views written at any batch
    /// boundary, and cases reloaded after a restart, hold the same state.
    pub fn advance(&mut self, now: Timestamp, policy: &Policy) -> Effects {
        self.advance_with_horizon(now, policy).0
    }

    /// Lets time pass to `now` like [`advance`](Self::advance), and also returns how long
    /// the case can be left alone: the last instant up to which time alone cannot change
    /// it again, `None` when it never will. Until a step or an action changes the case,
    /// advancing it to any instant up to then has no effects and leaves it as it was, so
    /// ticks up to then need not visit it.
    pub fn advance_with_horizon(
        &mut self,
        now: Timestamp,
        policy: &Policy,
    ) -> (Effects, Option<Timestamp>) {
        let ctx = self.context(policy);
        let mut effects = Effects::default();
        let at = self.evaluated_at.map_or(now, |seen| seen.max(now));
        let mut horizon = Horizon::new(at);
        self.evaluate_time(&ctx, at, &mut effects, &mut horizon);
        self.update_gauges(&ctx, at, &mut effects);
        (effects, horizon.until(ctx.calendar))
    }

    /// Applies a person's action on one of the case's alerts.
    pub fn handle_supervision(
        &mut self,
        event: &SupervisionEvent,
        recorded_at: Timestamp,
        policy: &Policy,
    ) -> Result<Effects, LifecycleError> {
        let ctx = self.context(policy);
        let at = self.advance_clock_to(recorded_at);
        let alert = self
            .alerts
            .iter_mut()
            .find(|alert| alert.id == event.alert_id)
            .ok_or_else(|| LifecycleError::UnknownAlert(event.alert_id.clone()))?;
        if alert.actions.contains(&event.event_id) {
            return Err(LifecycleError::AlreadyApplied(event.event_id.clone()));
        }
        let mut change = alert.act(&event.action, &event.principal, at)?;
        alert.actions.push(event.event_id.clone());
        change.alert.actions.clone_from(&alert.actions);
        let mut effects = Effects::default();
        self.record_change(&ctx, change, &mut effects);
        self.update_gauges(&ctx, at, &mut effects);
        Ok(effects)
    }

    /// A record of this case on the log that could not be read: it raises C5 (once per
    /// distinct record) with `reason`. `now` is the partition's time, as its readable
    /// records and ticks tell it; an unreadable record's own claims are not trusted, and
    /// the case's own time does not move.
    pub fn handle_unreadable(
        &mut self,
        record: &[u8],
        reason: &str,
        now: Timestamp,
        policy: &Policy,
    ) -> Effects {
        let ctx = self.context(policy);
        let at = self.evaluated_at.map_or(now, |seen| seen.max(now));
        let mut effects = Effects::default();
        self.raise_unreadable(&ctx, record, reason, at, &mut effects);
        self.update_gauges(&ctx, at, &mut effects);
        effects
    }

    /// Moves the case's time forward to `to` (never back) and returns the case's now.
    fn advance_clock_to(&mut self, to: Timestamp) -> Timestamp {
        let now = self.evaluated_at.map_or(to, |seen| seen.max(to));
        self.evaluated_at = Some(now);
        now
    }

    /// The alert with this id, if raised.
    pub fn alert(&self, id: &AlertId) -> Option<&Alert> {
        self.alerts.iter().find(|alert| &alert.id == id)
    }

    /// Applies the next step in sequence.
    fn apply(
        &mut self,
        ctx: &Context<'_>,
        event: &CaseEvent,
        recorded_at: Timestamp,
        fingerprint: u64,
        effects: &mut Effects,
    ) {
        self.applied_through = event.seq;
        self.fingerprints.insert(event.seq, fingerprint);
        effects.steps.push(StepOutcome {
            seq: event.seq,
            disposition: Disposition::Applied,
        });
        // Rules about this step are judged at the step's own time (capped by when it was
        // recorded), so a county re-sending a day's steps after an outage gets the same
        // alerts as if they had arrived live.
        let at = self.advance_clock_to(event.occurred_at.min(recorded_at));
        self.check_step(ctx, event, recorded_at, at, effects);
        self.evolve(ctx, event, effects);
        // The horizon is only wanted from ticks.
        self.evaluate_time(ctx, at, effects, &mut Horizon::new(at));
    }

    /// Changes the state for one applied step (DOMAIN.md's catalogue, "clock" column).
    fn evolve(&mut self, ctx: &Context<'_>, event: &CaseEvent, effects: &mut Effects) {
        let at = event.occurred_at;
        let mut counters = Counters::default();
        let ended_before = self.status.is_ended();
        self.last_step_at = Some(self.last_step_at.map_or(at, |last| last.max(at)));
        if event.step.is_handling() {
            self.last_handling_at = Some(at);
        }
        // A handling step after the end is recorded (and P1 flags it) but changes nothing.
        if ended_before && event.step.is_handling() {
            return;
        }
        match &event.step {
            Step::Submitted { channel, .. } => {
                self.submitted_at.get_or_insert(at);
                self.channel.get_or_insert(*channel);
                self.last_material_at = Some(at);
            }
            Step::Accepted {
                case_type,
                legal_limit,
                promised_limit,
                fee_required,
                ..
            } => {
                if self.accepted_at.is_none() {
                    self.accepted_at = Some(at);
                    self.accepted_by = Some(event.actor.id.clone());
                    self.case_type = Some(*case_type);
                    self.legal_limit = Some(*legal_limit);
                    self.promised_limit = Some(*promised_limit);
                    self.day_counting = ctx.thresholds.day_counting;
                    self.fee_required = Some(*fee_required);
                    self.status = CaseStatus::Accepted;
                    self.clock.start(self.deemed_accepted_at.unwrap_or(at));
                    counters.accepted = 1;
                    counters.online_accepted =
                        i64::from(self.channel.is_some_and(Channel::is_online));
                }
            }
            Step::Rejected { .. } => {
                self.end(CaseStatus::Rejected, at);
                counters.rejected = 1;
            }
            Step::Withdrawn { .. } => {
                self.end(CaseStatus::Withdrawn, at);
                counters.withdrawn = 1;
            }
            Step::CorrectionRequested { .. } => {
                self.correction_notices += 1;
                if self.clock.started_at.is_some() {
                    self.clock.pause(PauseReason::Correction, at, None);
                }
            }
            Step::CorrectionReceived { .. } => {
                self.last_material_at = Some(at);
                self.clock.resume(&PauseReason::Correction, at);
            }
            Step::Reviewed {
                step_code, outcome, ..
            } => {
                if *outcome == crate::event::ReviewOutcome::Pass
                    && !self.passed_reviews.contains(step_code)
                {
                    self.passed_reviews.push(step_code.clone());
                }
            }
            Step::Decided {
                decision,
                window_direct_signoff,
                ..
            } => {
                self.decision = Some(*decision);
                counters.decisions = 1;
                counters.direct_decisions = i64::from(*window_direct_signoff);
            }
            Step::SpecialProcedureStarted {
                proc_no,
                kind,
                approved,
                approver,
                ..
            } => {
                if *kind == ProcedureKind::Extension {
                    // Only a proper extension extends (T7 judged the others).
                    if self.improper_extension(ctx, approver, *approved).is_none() {
                        self.extensions.push(*approved);
                    }
                } else if self.clock.started_at.is_some() {
                    self.clock.pause(
                        PauseReason::Procedure {
                            proc_no: proc_no.clone(),
                        },
                        at,
                        Some(*approved),
                    );
                }
                self.procedures.push(Procedure {
                    proc_no: proc_no.clone(),
                    kind: *kind,
                    started_at: at,
                    approved: *approved,
                    ended_at: None,
                    result: None,
                });
            }
            Step::SpecialProcedureEnded {
                proc_no, result, ..
            } => {
                if let Some(procedure) =
                    self.procedures.iter_mut().rev().find(|procedure| {
                        &procedure.proc_no == proc_no && procedure.ended_at.is_none()
                    })
                {
                    procedure.ended_at = Some(at);
                    procedure.result = Some(result.clone());
                }
                self.clock.resume(
                    &PauseReason::Procedure {
                        proc_no: proc_no.clone(),
                    },
                    at,
                );
            }
            Step::Suspended { requested_days, .. } => {
                if !self.clock.is_paused_for(&PauseReason::Suspension) {
                    // Capped at the days asked for, or else at the legal limit's length:
                    // a case left suspended does not stop its clock for ever.
                    let cap = requested_days
                        .and_then(|days| Limit::working_days(days).ok())
                        .or(self.legal_limit);
                    self.clock.pause(PauseReason::Suspension, at, cap);
                }
            }
            Step::Resumed { .. } => {
                self.clock.resume(&PauseReason::Suspension, at);
            }
            Step::FeeCharged { items, .. } => {
                let total: u64 = items.iter().map(|item| item.amount_fen).sum();
                self.tickets_total_fen += total;
                counters.fees_charged_fen = i64::try_from(total).unwrap_or(i64::MAX);
            }
            Step::Completed { .. } => {
                if self.accepted_at.is_some() {
                    counters.completed = 1;
                    let used = self.used_seconds(ctx.calendar, at);
                    let worked = self.clock.used(Measure::Working, ctx.calendar, at);
                    counters.used_working_seconds = worked;
                    counters.used_working_millidays = (worked * 1000
                        + ctx.calendar.day_seconds() / 2)
                        / ctx.calendar.day_seconds();
                    match (self.promised_span(ctx.calendar), self.promised_limit) {
                        (Some(span), Some(_)) if used > span.seconds => {
                            counters.completed_overdue = 1;
                        }
                        (Some(span), Some(limit))
                            if whole_units(used, limit.unit(), ctx.calendar)
                                < whole_units(span.seconds, limit.unit(), ctx.calendar) =>
                        {
                            counters.completed_early = 1;
                        }
                        _ => counters.completed_on_time = 1,
                    }
                }
                self.end(CaseStatus::Completed, at);
            }
            Step::Delivered { .. } => {}
            Step::Queried { .. } => counters.queries = 1,
            Step::Appealed { appeal_no, .. } => {
                self.appeals.push(AppealClock {
                    appeal_no: appeal_no.clone(),
                    opened_at: at,
                    resolved_at: None,
                });
                counters.appeals = 1;
            }
            Step::AppealResolved { appeal_no, .. } => {
                if let Some(appeal) = self
                    .appeals
                    .iter_mut()
                    .find(|appeal| &appeal.appeal_no == appeal_no && appeal.resolved_at.is_none())
                {
                    appeal.resolved_at = Some(at);
                }
            }
            Step::Rated {
                rating_no, level, ..
            } => {
                self.ratings.push(RatingClock {
                    rating_no: rating_no.clone(),
                    level: *level,
                    rated_at: at,
                    followed_up_at: None,
                });
                match level.get() {
                    1 => counters.rating_1 = 1,
                    2 => counters.rating_2 = 1,
                    3 => counters.rating_3 = 1,
                    4 => counters.rating_4 = 1,
                    _ => counters.rating_5 = 1,
                }
            }
            Step::RatingFollowedUp { rating_no, .. } => {
                if let Some(rating) = self.ratings.iter_mut().find(|rating| {
                    &rating.rating_no == rating_no && rating.followed_up_at.is_none()
                }) {
                    rating.followed_up_at = Some(at);
                }
            }
        }
        self.count(ctx, at, &counters, effects);
        if self.status.is_ended() && !ended_before {
            self.resolve_on_end(ctx, at, effects);
        }
    }

    fn end(&mut self, status: CaseStatus, at: Timestamp) {
        self.status = status;
        self.ended_at = Some(at);
        if self.clock.started_at.is_some() {
            self.clock.stop(at);
        }
    }

    /// Adds counters for this case on the local day of `at`.
    pub(crate) fn count(
        &self,
        ctx: &Context<'_>,
        at: Timestamp,
        counters: &Counters,
        effects: &mut Effects,
    ) {
        if counters.is_zero() {
            return;
        }
        let key = StatKey {
            day: ctx.calendar.local_date(at).min(crate::stats::LAST_DAY),
            region_code: self.region_code.clone(),
            dept_code: self.dept_code.clone(),
            item_code: self.item_code.clone(),
        };
        effects.count(key, counters);
    }

    /// Counts the open-case gauges (light, overdue) when they changed.
    fn update_gauges(&mut self, ctx: &Context<'_>, at: Timestamp, effects: &mut Effects) {
        let open = self.is_open();
        let light = open.then(|| self.light());
        let overdue = Overdue {
            promised: open && self.overdue_promised_at.is_some(),
            legal: open && self.overdue_legal_at.is_some(),
        };
        if light == self.counted_light && overdue == self.counted_overdue {
            return;
        }
        let mut counters = Counters::default();
        for (light, change) in [(self.counted_light, -1), (light, 1)] {
            match light {
                Some(Light::Green) => counters.open_green += change,
                Some(Light::Yellow) => counters.open_yellow += change,
                Some(Light::Red) => counters.open_red += change,
                None => {}
            }
        }
        let flag = |now: bool, before: bool| i64::from(now) - i64::from(before);
        counters.open_overdue_promised = flag(overdue.promised, self.counted_overdue.promised);
        counters.open_overdue_legal = flag(overdue.legal, self.counted_overdue.legal);
        self.counted_light = light;
        self.counted_overdue = overdue;
        let at = self.gauges_counted_at.map_or(at, |counted| counted.max(at));
        self.gauges_counted_at = Some(at);
        self.count(ctx, at, &counters, effects);
    }

    /// Records an alert change: the change itself and its statistics. A card counts as
    /// raised when it becomes a card (raised as one, or escalated from a warning), on
    /// that day; a revoke counts against the same day, so valid cards never go below
    /// zero. System alerts (C5) count in no statistics.
    pub(crate) fn record_change(
        &mut self,
        ctx: &Context<'_>,
        mut change: AlertChange,
        effects: &mut Effects,
    ) {
        let became_card = change.alert.level.is_card()
            && change
                .previous
                .is_none_or(|(_, previous)| !previous.is_card());
        if became_card {
            change.alert.carded_at = Some(change.at);
            if let Some(alert) = self
                .alerts
                .iter_mut()
                .find(|alert| alert.id == change.alert.id)
            {
                alert.carded_at = Some(change.at);
            }
        }
        if !change.alert.rule().is_system() {
            self.count_change(ctx, &change, became_card, effects);
        }
        effects.alerts.push(change);
    }

    fn count_change(
        &self,
        ctx: &Context<'_>,
        change: &AlertChange,
        became_card: bool,
        effects: &mut Effects,
    ) {
        let alert = &change.alert;
        let mut counters = Counters {
            cards_raised: i64::from(became_card),
            ..Counters::default()
        };
        match change.previous {
            None => {
                counters.warnings_raised = i64::from(!alert.level.is_card());
                counters.fee_anomalies =
                    i64::from(alert.category == crate::catalogue::Category::Fee);
            }
            Some((state, level)) => {
                counters.cards_escalated = i64::from(alert.level > level);
                if state != alert.state {
                    match alert.state {
                        crate::alert::AlertState::Revoked if alert.level.is_card() => {
                            let carded = alert.carded_at.unwrap_or(alert.raised_at);
                            let revoked = Counters {
                                cards_revoked: 1,
                                ..Counters::default()
                            };
                            self.count(ctx, carded, &revoked, effects);
                        }
                        crate::alert::AlertState::Closed => counters.alerts_closed = 1,
                        _ => {}
                    }
                }
            }
        }
        self.count(ctx, change.at, &counters, effects);
    }
}
