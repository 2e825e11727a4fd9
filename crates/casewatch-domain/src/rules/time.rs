//! The time rules, T1–T9 of DOMAIN.md: a case against its promised and legal limits
//! (T1 to run out soon, T2 past the promised limit, T3 past the legal limit), a step over
//! its own limit (T4), an immediate case not completed on its day (T5), special procedures
//! and suspensions past their length (T6), and the procedure rules numbered with them:
//! improper extensions (T7), correction notices (T8) and reasons (T9).
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::{
    Finding, Judging, count, days_threshold, in_unit, quantity_unit, seq_subject, working_days,
    working_since,
};
use crate::Timestamp;
use crate::alert::{Quantity, QuantityUnit};
use crate::case::{Case, CaseStatus, Context, Effects};
use crate::catalogue::RuleId;
use crate::clock::{Horizon, Measure, PauseReason, Span, whole_units};
use crate::event::{CaseEvent, CaseType, Decision, Limit, LimitUnit, ProcedureKind};

/// When an open case was first found past a limit, after an evaluation at `at` that found
/// it `past` or not. An evaluation at an instant before the finding (a tick older than the
/// case's time, visited again after a restart) cannot take it back: the case's state then
/// depends only on the log, not on which ticks a projector happened to visit it at.
fn found_past(found: Option<Timestamp>, past: bool, at: Timestamp) -> Option<Timestamp> {
    match found {
        Some(found) if past || at < found => Some(found),
        _ => past.then_some(at),
    }
}

/// The unit a span's days are counted in: working days or calendar days.
fn day_unit(span: Span) -> LimitUnit {
    match span.measure {
        Measure::Working => LimitUnit::WorkingDays,
        Measure::Calendar => LimitUnit::CalendarDays,
    }
}

impl Case {
    /// T1, T2, T3 and T5: the case against its promised and legal limits.
    pub(super) fn evaluate_limits(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let calendar = ctx.calendar;
        if let (Some(span), Some(limit)) = (self.promised_span(calendar), self.promised_limit) {
            let used = self.used_against(limit.unit(), calendar, at);
            let past = used > span.seconds;
            if self.is_open() {
                self.overdue_promised_at = found_past(self.overdue_promised_at, past, at);
            }
            if past {
                let finding = Finding::new(
                    in_unit(used, limit.unit(), ctx),
                    in_unit(span.seconds, limit.unit(), ctx),
                    "used time beyond the promised limit",
                );
                self.raise(judging, RuleId::T2, String::new(), finding);
            } else {
                horizon.after(span.measure, span.seconds - used);
                if self.status == CaseStatus::Accepted {
                    self.warn_before_promised_limit(judging, span, used, horizon);
                }
            }
        }
        if let (Some(span), Some(limit)) = (self.legal_span(calendar), self.legal_limit) {
            let used = self.used_against(limit.unit(), calendar, at);
            let past = used > span.seconds;
            if self.is_open() {
                self.overdue_legal_at = found_past(self.overdue_legal_at, past, at);
            }
            if past {
                let finding = Finding::new(
                    in_unit(used, limit.unit(), ctx),
                    in_unit(span.seconds, limit.unit(), ctx),
                    "used time beyond the legal limit",
                );
                self.raise(judging, RuleId::T3, String::new(), finding);
            } else {
                horizon.after(span.measure, span.seconds - used);
            }
        }
        self.evaluate_immediate(judging, horizon);
    }

    /// T1: the promised limit about to run out, `used` of `span` being used at `at`.
    fn warn_before_promised_limit(
        &mut self,
        judging: &mut Judging<'_>,
        span: Span,
        used: i64,
        horizon: &mut Horizon,
    ) {
        let ctx = judging.ctx;
        let calendar = ctx.calendar;
        let th = &ctx.thresholds;
        let unit = day_unit(span);
        let limit_days = whole_units(span.seconds, unit, calendar);
        let days_left = if limit_days <= i64::from(th.t1_short_limit_days) {
            th.t1_short_days_left
        } else {
            th.t1_days_left
        };
        let window = Span::of_units(i64::from(days_left), unit, calendar).seconds;
        // A limit no longer than the window would warn from the first minute.
        if span.seconds <= window {
            return;
        }
        // Never negative: a case past its limit is T2's.
        let remaining = span.seconds - used;
        if remaining <= window {
            let finding = Finding::new(
                in_unit(remaining, unit, ctx),
                Quantity::new(i64::from(days_left), quantity_unit(unit)),
                "promised limit about to run out",
            );
            self.raise(judging, RuleId::T1, String::new(), finding);
        } else {
            // It warns once at most `window` remains, not only once less does.
            horizon.after(span.measure, remaining - window - 1);
        }
    }

    /// T4: a review step over its own limit while the case is still in time.
    pub(super) fn check_step_limit(
        &mut self,
        judging: &mut Judging<'_>,
        event: &CaseEvent,
        limit: Limit,
    ) {
        let ctx = judging.ctx;
        let calendar = ctx.calendar;
        let span = Span::of(limit, calendar);
        let since = self.last_handling_at.or(self.accepted_at);
        let in_time = self
            .promised_limit
            .zip(self.promised_span(calendar))
            .is_none_or(|(limit, promised)| {
                self.used_against(limit.unit(), calendar, event.occurred_at) <= promised.seconds
            });
        if let Some(since) = since {
            let start = ctx
                .thresholds
                .day_counting
                .count_from(since, limit.unit(), calendar);
            let took = span.measure.elapsed(calendar, start, event.occurred_at);
            if took > span.seconds && in_time {
                let finding = Finding::new(
                    in_unit(took, limit.unit(), ctx),
                    Quantity::new(i64::from(limit.n()), quantity_unit(limit.unit())),
                    format!("step `{}` over its own limit", event.step.name()),
                )
                .at_step(event.seq);
                self.raise(judging, RuleId::T4, seq_subject(event.seq), finding);
            }
        }
    }

    /// The case ended: warnings about an open case (T1, T4) no longer hold.
    pub(crate) fn resolve_on_end(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        self.resolve(&mut Judging { ctx, at, effects }, &[RuleId::T1, RuleId::T4]);
    }

    /// T5: an immediate case (即办) not completed on its acceptance day. Like every limit
    /// (DOMAIN.md "The clock"), the day ends at the close of office and acting after office
    /// hours adds no time: the case is late once working time passes that close.
    fn evaluate_immediate(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let calendar = ctx.calendar;
        if self.case_type == Some(CaseType::Immediate)
            && let Some(accepted) = self.accepted_at
        {
            let deadline = calendar.close_of_working_day(accepted);
            let over = calendar.working_seconds(deadline, self.ended_at.unwrap_or(at).min(at));
            if over > 0 {
                // How far into later working days it ran, in started days.
                let days = whole_units(over, LimitUnit::WorkingDays, calendar);
                let finding = Finding::new(
                    Quantity::new(days, QuantityUnit::WorkingDays),
                    Quantity::new(0, QuantityUnit::WorkingDays),
                    "immediate case not completed on its acceptance day",
                );
                self.raise(judging, RuleId::T5, String::new(), finding);
            } else if self.ended_at.is_none() {
                horizon.after(Measure::Working, calendar.working_seconds(at, deadline));
            }
        }
    }

    /// T6: a special procedure open past its approved length.
    pub(super) fn evaluate_procedures(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let calendar = ctx.calendar;
        let mut overdue: Vec<(String, i64, Limit)> = Vec::new();
        for procedure in &self.procedures {
            if procedure.kind == ProcedureKind::Extension {
                continue;
            }
            let span = Span::of(procedure.approved, calendar);
            let end = procedure.ended_at.or(self.ended_at).unwrap_or(at).min(at);
            let open = span.measure.elapsed(calendar, procedure.started_at, end);
            if open > span.seconds {
                overdue.push((procedure.proc_no.clone(), open, procedure.approved));
            } else {
                horizon.after(span.measure, span.seconds - open);
            }
        }
        for (proc_no, open, approved) in overdue {
            let finding = Finding::new(
                in_unit(open, approved.unit(), ctx),
                Quantity::new(i64::from(approved.n()), quantity_unit(approved.unit())),
                format!("special procedure `{proc_no}` open past its approved length"),
            );
            self.raise(judging, RuleId::T6, proc_no, finding);
        }
    }

    /// T6 for suspensions (挂起): one still open past its cap (the days requested, or the
    /// legal limit's length) no longer stops the clock, and raises T6 once.
    pub(super) fn evaluate_suspensions(
        &mut self,
        judging: &mut Judging<'_>,
        horizon: &mut Horizon,
    ) {
        let ctx = judging.ctx;
        let at = judging.at;
        let calendar = ctx.calendar;
        let mut overrun = Vec::new();
        let suspensions = self
            .clock
            .pauses
            .iter()
            .filter(|pause| pause.reason == PauseReason::Suspension);
        for (index, pause) in suspensions.enumerate() {
            let Some(cap) = pause.cap else { continue };
            let span = Span::of(cap, calendar);
            let end = pause.until.or(self.ended_at).unwrap_or(at).min(at);
            let open = span.measure.elapsed(calendar, pause.from, end);
            if open > span.seconds {
                overrun.push((index + 1, open, cap));
            } else if pause.until.is_none() {
                horizon.after(span.measure, span.seconds - open);
            }
        }
        for (number, open, cap) in overrun {
            let finding = Finding::new(
                in_unit(open, cap.unit(), ctx),
                Quantity::new(i64::from(cap.n()), quantity_unit(cap.unit())),
                format!("suspension {number} open past its length; the clock runs again"),
            );
            self.raise(judging, RuleId::T6, format!("suspension {number}"), finding);
        }
    }

    /// T6: a special procedure ended without a result.
    pub(super) fn check_procedure_result(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        proc_no: &str,
        result: &str,
    ) {
        if !result.trim().is_empty() {
            return;
        }
        let finding = Finding::new(
            count(0),
            count(1),
            "special procedure ended without a result",
        )
        .at_step(seq);
        self.raise(judging, RuleId::T6, format!("{proc_no}:result"), finding);
    }

    /// T7: an improper extension (延长审批), raised about its procedure number.
    pub(super) fn check_extension(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        proc_no: &str,
        (approver, approved): (&str, Limit),
    ) {
        let ctx = judging.ctx;
        if let Some(finding) = self.improper_extension(ctx, approver, approved) {
            self.raise(
                judging,
                RuleId::T7,
                proc_no.to_owned(),
                finding.at_step(seq),
            );
        }
    }

    /// T7: why an extension (延长审批) of `approved` by `approver` is improper, if it is:
    /// one beyond the extensions allowed (the law allows one), one longer than allowed, or
    /// one without an approver. An improper extension extends nothing.
    pub(crate) fn improper_extension(
        &self,
        ctx: &Context<'_>,
        approver: &str,
        approved: Limit,
    ) -> Option<Finding> {
        let th = &ctx.thresholds;
        let extensions = self.extensions.len() as i64 + 1;
        let longest = th.max_extension_days(self.case_type);
        // An extension in hours is judged in the working days it covers, part days whole.
        let (days, unit) = match approved.unit() {
            LimitUnit::Hours => (
                whole_units(
                    i64::from(approved.n()) * 3600,
                    LimitUnit::WorkingDays,
                    ctx.calendar,
                ),
                LimitUnit::WorkingDays,
            ),
            unit => (i64::from(approved.n()), unit),
        };
        if extensions > i64::from(th.t7_max_extensions) {
            Some(Finding::new(
                count(extensions),
                count(i64::from(th.t7_max_extensions)),
                "more extensions than allowed; it extends nothing",
            ))
        } else if days > i64::from(longest) {
            Some(Finding::new(
                Quantity::new(days, quantity_unit(unit)),
                days_threshold(longest),
                "extension longer than allowed; it extends nothing",
            ))
        } else if approver.trim().is_empty() {
            Some(Finding::new(
                count(0),
                count(1),
                "extension without an approver; it extends nothing",
            ))
        } else {
            None
        }
    }

    /// T8: more correction notices than allowed (they must be given at once, 一次性告知).
    pub(super) fn check_correction_count(&mut self, judging: &mut Judging<'_>, seq: u32) {
        let ctx = judging.ctx;
        let th = &ctx.thresholds;
        let notices = self.correction_notices + 1;
        if notices > th.t8_max_notices {
            let finding = Finding::new(
                count(i64::from(notices)),
                count(i64::from(th.t8_max_notices)),
                "correction notices must be given at once (一次性告知)",
            )
            .at_step(seq);
            self.raise(judging, RuleId::T8, seq_subject(seq), finding);
        }
    }

    /// T8: a correction notice later than allowed after the materials arrived; the case
    /// then counts as accepted on their arrival.
    pub(super) fn check_correction_delay(&mut self, judging: &mut Judging<'_>, event: &CaseEvent) {
        let ctx = judging.ctx;
        let seq = event.seq;
        let calendar = ctx.calendar;
        let within_days = ctx.thresholds.t8_notice_within_days;
        if let Some(arrived) = self.last_material_at {
            let waited = working_since(ctx, arrived, LimitUnit::WorkingDays, event.occurred_at);
            if waited > i64::from(within_days) * calendar.day_seconds() {
                let finding = Finding::new(
                    working_days(waited, ctx),
                    days_threshold(within_days),
                    "correction notice later than allowed after the materials arrived; \
                     the case counts as accepted on arrival",
                )
                .at_step(seq);
                self.raise(judging, RuleId::T8, format!("seq {seq}:late"), finding);
                if self.accepted_at.is_none() {
                    self.deemed_accepted_at = Some(arrived);
                }
            }
        }
    }

    /// T9: a rejection (不予受理) without a reason.
    pub(super) fn check_rejection_reason(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        reason: &str,
    ) {
        if reason.trim().is_empty() {
            let finding =
                Finding::new(count(0), count(1), "rejected without a reason").at_step(seq);
            self.raise(judging, RuleId::T9, seq_subject(seq), finding);
        }
    }

    /// T9: a denial (不予许可) without a reason.
    pub(super) fn check_denial_reason(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        decision: Decision,
        reason: &str,
    ) {
        if decision == Decision::Deny && reason.trim().is_empty() {
            let finding = Finding::new(count(0), count(1), "denied without a reason").at_step(seq);
            self.raise(judging, RuleId::T9, seq_subject(seq), finding);
        }
    }
}
