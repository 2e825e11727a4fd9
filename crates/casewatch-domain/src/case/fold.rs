//! The fold of one case: a reported step, a supervision action, an unreadable record or
//! the passing of time, each applied to the case's state, its alerts and its statistics.
//!
//! `impl Case` is split: the case's state and queries are in `case/mod.rs`, the fold here,
//! its statistics in `case/counting.rs`, and its rules in `rules/`.

use super::{
    AppealClock, Case, CaseStatus, Context, Disposition, Effects, HeldStep, Policy, Procedure,
    RatingClock, StepOutcome,
};
use crate::Timestamp;
use crate::alert::LifecycleError;
use crate::clock::{Horizon, Measure, PauseReason, whole_units};
use crate::event::{CaseEvent, Channel, Limit, ProcedureKind, Step};
use crate::stats::Counters;
use crate::supervision::SupervisionEvent;

impl Case {
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
}
