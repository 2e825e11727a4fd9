//! The alert rules of DOMAIN.md, one file per family of its table: [`time`] (T1–T9),
//! [`procedure`] (P1–P4), [`fee`] (F1–F3), [`content`] (C1–C5), [`complaint`] (K1–K2) and
//! [`supervision`] (A1). This file holds what they share — how a finding raises, escalates
//! or resolves an alert — and the two ways the case asks for them: rules judged on a step
//! as it is applied ([`Case::check_step`]), and rules that fire on the passage of time,
//! evaluated whenever the case's time moves, a step or a tick ([`Case::evaluate_time`]).
//! Both run the rules in a fixed order: an alert's id counts the rule's earlier alerts on
//! the case, so the order is part of what the views hold.
//!
//! `impl Case` is split: the case's state and queries are in `case/mod.rs`, its fold in
//! `case/fold.rs` and `case/counting.rs`, and its rules here and in this folder.

mod complaint;
mod content;
mod fee;
mod procedure;
mod supervision;
mod time;

use crate::Timestamp;
use crate::alert::{Alert, AlertChange, AlertState, Cause, Quantity, QuantityUnit};
use crate::case::{Case, Context, Effects};
use crate::catalogue::{Level, RuleId};
use crate::clock::{Horizon, whole_units};
use crate::event::{CaseEvent, LimitUnit, ProcedureKind, Step};
use crate::ids::AlertId;

/// One evaluation of the rules: what they judge by, the case's time they judge at, and the
/// effects their alerts add to.
pub(crate) struct Judging<'a> {
    ctx: &'a Context<'a>,
    at: Timestamp,
    effects: &'a mut Effects,
}

/// What a rule found: the numbers behind an alert.
pub(crate) struct Finding {
    seq: Option<u32>,
    measured: Quantity,
    threshold: Quantity,
    detail: String,
}

impl Finding {
    fn new(measured: Quantity, threshold: Quantity, detail: impl Into<String>) -> Self {
        Self {
            seq: None,
            measured,
            threshold,
            detail: detail.into(),
        }
    }

    fn at_step(mut self, seq: u32) -> Self {
        self.seq = Some(seq);
        self
    }
}

fn count(value: i64) -> Quantity {
    Quantity::new(value, QuantityUnit::Count)
}

fn fen(value: u64) -> Quantity {
    Quantity::new(i64::try_from(value).unwrap_or(i64::MAX), QuantityUnit::Fen)
}

fn seq_subject(seq: u32) -> String {
    format!("seq {seq}")
}

/// A step number as a measured value.
fn seq_quantity(seq: u32) -> Quantity {
    Quantity::new(i64::from(seq), QuantityUnit::Seq)
}

/// Working days in whole units, rounded up.
fn working_days(seconds: i64, ctx: &Context<'_>) -> Quantity {
    Quantity::new(
        whole_units(seconds, LimitUnit::WorkingDays, ctx.calendar),
        QuantityUnit::WorkingDays,
    )
}

/// Working time from `since` to `until` against a period in `unit` that starts at `since`
/// (a step's limit, the days allowed for a correction notice, an answer or a report), counted
/// the way the rule book counts limits (DOMAIN.md "The clock"): under the statute's counting
/// a period of days starts on the day after `since`, so it ends at the close of office on
/// its last working day; a period in hours starts at `since`.
fn working_since(ctx: &Context<'_>, since: Timestamp, unit: LimitUnit, until: Timestamp) -> i64 {
    let start = ctx
        .thresholds
        .day_counting
        .count_from(since, unit, ctx.calendar);
    ctx.calendar.working_seconds(start, until)
}

fn days_threshold(days: u32) -> Quantity {
    Quantity::new(i64::from(days), QuantityUnit::WorkingDays)
}

/// `seconds` in whole `unit`s, as a quantity in that unit.
fn in_unit(seconds: i64, unit: LimitUnit, ctx: &Context<'_>) -> Quantity {
    Quantity::new(
        whole_units(seconds, unit, ctx.calendar),
        quantity_unit(unit),
    )
}

fn quantity_unit(unit: LimitUnit) -> QuantityUnit {
    match unit {
        LimitUnit::WorkingDays => QuantityUnit::WorkingDays,
        LimitUnit::CalendarDays => QuantityUnit::CalendarDays,
        LimitUnit::Hours => QuantityUnit::Hours,
    }
}

impl Case {
    /// Raises `rule` about `subject` unless the rule is switched off here or already fired
    /// about that subject. Returns whether it raised.
    fn raise(
        &mut self,
        judging: &mut Judging<'_>,
        rule: RuleId,
        subject: String,
        finding: Finding,
    ) -> bool {
        let (ctx, at) = (judging.ctx, judging.at);
        if !ctx.thresholds.enabled(rule)
            || self
                .alerts
                .iter()
                .any(|alert| alert.rule() == rule && alert.subject == subject)
        {
            return false;
        }
        let occurrence = self
            .alerts
            .iter()
            .filter(|alert| alert.rule() == rule)
            .count();
        let alert = Alert {
            id: AlertId {
                case_no: self.case_no.clone(),
                rule,
                occurrence: u32::try_from(occurrence + 1).unwrap_or(u32::MAX),
            },
            category: rule.category(),
            level: rule.level(),
            state: AlertState::Raised,
            region_code: self.region_code.clone(),
            dept_code: self.dept_code.clone(),
            item_code: self.item_code.clone(),
            measured: finding.measured,
            threshold: finding.threshold,
            subject,
            detail: finding.detail,
            seq: finding.seq,
            rules_version: ctx.rules.version,
            calendar_version: ctx.calendar_version,
            raised_at: at,
            updated_at: at,
            notice: None,
            appealed: false,
            carded_at: None,
            actions: Vec::new(),
        };
        self.alerts.push(alert.clone());
        let change = AlertChange {
            alert,
            previous: None,
            cause: Cause::Raised,
            at,
        };
        self.record_change(ctx, change, judging.effects);
        true
    }

    /// Raises the open alerts of `rule` about `subject` to `level`.
    fn escalate(
        &mut self,
        judging: &mut Judging<'_>,
        rule: RuleId,
        subject: &str,
        (level, measurement): (Level, (Quantity, Quantity)),
    ) {
        let at = judging.at;
        let changes: Vec<_> = self
            .alerts
            .iter_mut()
            .filter(|alert| alert.rule() == rule && alert.subject == subject)
            .filter_map(|alert| alert.escalate_to(level, rule, at, Some(measurement)))
            .collect();
        for change in changes {
            self.record_change(judging.ctx, change, judging.effects);
        }
    }

    /// Resolves the open alerts of these rules: their condition cleared.
    fn resolve(&mut self, judging: &mut Judging<'_>, rules: &[RuleId]) {
        let at = judging.at;
        let changes: Vec<_> = self
            .alerts
            .iter_mut()
            .filter(|alert| rules.contains(&alert.rule()))
            .filter_map(|alert| alert.resolve(at))
            .collect();
        for change in changes {
            self.record_change(judging.ctx, change, judging.effects);
        }
    }

    /// Rules judged on a step as it is applied, against the state before it: first those
    /// about any step (C2, P1, P4), then those about its kind.
    pub(crate) fn check_step(
        &mut self,
        ctx: &Context<'_>,
        event: &CaseEvent,
        recorded_at: Timestamp,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let seq = event.seq;
        let judging = &mut Judging { ctx, at, effects };
        self.check_reported_in_time(judging, event, recorded_at);
        self.check_order(judging, event);
        self.check_activity_while_suspended(judging, event);
        match &event.step {
            Step::Accepted {
                legal_limit,
                promised_limit,
                fee_required,
                fee_standard_fen,
                accept_doc_no,
                ..
            } => {
                let fee_standard = (*fee_required, *fee_standard_fen);
                self.check_acceptance_content(judging, seq, accept_doc_no, fee_standard);
                self.check_promised_within_legal(judging, seq, (*promised_limit, *legal_limit));
            }
            Step::Rejected { reason } => {
                self.check_rejection_reason(judging, seq, reason);
            }
            Step::Decided {
                decision,
                reason,
                window_direct_signoff,
            } => {
                self.check_denial_reason(judging, seq, *decision, reason);
                self.check_separation(judging, event, *window_direct_signoff);
            }
            Step::CorrectionRequested { .. } => {
                self.check_correction_count(judging, seq);
                self.check_correction_delay(judging, event);
            }
            Step::Reviewed {
                step_limit: Some(limit),
                ..
            } => self.check_step_limit(judging, event, *limit),
            Step::SpecialProcedureStarted {
                proc_no,
                kind: ProcedureKind::Extension,
                approver,
                approved,
                ..
            } => self.check_extension(judging, seq, proc_no, (approver, *approved)),
            Step::SpecialProcedureEnded {
                proc_no, result, ..
            } => self.check_procedure_result(judging, seq, proc_no, result),
            Step::FeeCharged {
                ticket_no,
                items,
                unified_ticket,
                ..
            } => {
                let total: u64 = items.iter().map(|item| item.amount_fen).sum();
                self.check_fee_on_free_item(judging, seq, ticket_no, total);
                self.check_fee_standards(judging, seq, ticket_no, items);
                self.check_unified_ticket(judging, seq, ticket_no, (*unified_ticket, total));
            }
            // Rules judged at completion; a completion after the end is P1's alone.
            Step::Completed {
                result,
                certificate,
                fee_total_fen,
            } if !self.status.is_ended() => {
                self.check_completion_with_open_procedure(judging, seq);
                self.check_required_steps(judging, seq, *result);
                self.check_certificate(judging, seq, *result, certificate.as_ref());
                self.check_fee_total(judging, seq, *fee_total_fen);
            }
            _ => {}
        }
    }

    /// Rules that fire on the passage of time, evaluated at the case's time `at`; each rule
    /// that could still fire later tells `horizon` how much time it needs.
    pub(crate) fn evaluate_time(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
        let judging = &mut Judging { ctx, at, effects };
        if self.clock.started_at.is_some() {
            self.evaluate_limits(judging, horizon);
        }
        self.evaluate_procedures(judging, horizon);
        self.evaluate_suspensions(judging, horizon);
        self.evaluate_gap(judging, horizon);
        self.evaluate_appeals(judging, horizon);
        self.evaluate_ratings(judging, horizon);
        self.escalate_late_feedback(judging, horizon);
    }
}
