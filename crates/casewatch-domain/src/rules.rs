//! The alert rules of DOMAIN.md: rules judged on a step as it is applied, and rules that
//! fire on the passage of time, evaluated whenever the case's time moves (a step or a tick).

use crate::Timestamp;
use crate::alert::{Alert, AlertState, Quantity, QuantityUnit};
use crate::case::{Case, CaseStatus, Context, Effects};
use crate::catalogue::{Level, RuleId};
use crate::clock::{Horizon, Measure, PauseReason, Span, whole_units};
use crate::event::{
    CaseEvent, CaseType, CompletionResult, Decision, LimitUnit, ProcedureKind, Step,
};

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

/// Working days in whole units, rounded up.
fn working_days(seconds: i64, ctx: &Context<'_>) -> Quantity {
    Quantity::new(
        whole_units(seconds, LimitUnit::WorkingDays, ctx.calendar),
        QuantityUnit::WorkingDays,
    )
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

/// Working time a request has waited at `at`: until its answer, or until `at` if none yet.
fn waited(ctx: &Context<'_>, since: Timestamp, answered: Option<Timestamp>, at: Timestamp) -> i64 {
    ctx.calendar
        .working_seconds(since, answered.unwrap_or(at).min(at))
}

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
    /// Raises `rule` about `subject` unless the rule is switched off here or already fired
    /// about that subject. Returns whether it raised.
    fn raise(
        &mut self,
        ctx: &Context<'_>,
        rule: RuleId,
        subject: String,
        finding: Finding,
        at: Timestamp,
        effects: &mut Effects,
    ) -> bool {
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
            id: crate::ids::AlertId {
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
            raised_at: at,
            updated_at: at,
            notice: None,
            appealed: false,
            carded_at: None,
            actions: Vec::new(),
        };
        self.alerts.push(alert.clone());
        let change = crate::alert::AlertChange {
            alert,
            previous: None,
            cause: crate::alert::Cause::Raised,
            at,
        };
        self.record_change(ctx, change, effects);
        true
    }

    /// Raises the open alerts of `rule` about `subject` to `level`.
    fn escalate(
        &mut self,
        ctx: &Context<'_>,
        rule: RuleId,
        subject: &str,
        (level, measurement): (Level, (Quantity, Quantity)),
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let changes: Vec<_> = self
            .alerts
            .iter_mut()
            .filter(|alert| alert.rule() == rule && alert.subject == subject)
            .filter_map(|alert| alert.escalate_to(level, rule, at, Some(measurement)))
            .collect();
        for change in changes {
            self.record_change(ctx, change, effects);
        }
    }

    /// Resolves the open alerts of these rules: their condition cleared.
    fn resolve(
        &mut self,
        ctx: &Context<'_>,
        rules: &[RuleId],
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let changes: Vec<_> = self
            .alerts
            .iter_mut()
            .filter(|alert| rules.contains(&alert.rule()))
            .filter_map(|alert| alert.resolve(at))
            .collect();
        for change in changes {
            self.record_change(ctx, change, effects);
        }
    }

    /// C3: the same `(case_no, seq)` re-sent with different content. Each distinct version
    /// raises once.
    pub(crate) fn raise_conflict(
        &mut self,
        ctx: &Context<'_>,
        event: &CaseEvent,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let subject = format!("seq {}:{:016x}", event.seq, event.content_fingerprint());
        let finding = Finding::new(
            Quantity::new(i64::from(event.seq), QuantityUnit::Seq),
            Quantity::new(i64::from(event.seq), QuantityUnit::Seq),
            format!(
                "step {} re-sent as `{}` with content unlike the first version",
                event.seq,
                event.step.name()
            ),
        )
        .at_step(event.seq);
        self.raise(ctx, RuleId::C3, subject, finding, at, effects);
    }

    /// C5: a record of the case could not be read. Each distinct record (by its bytes)
    /// raises once.
    pub(crate) fn raise_unreadable(
        &mut self,
        ctx: &Context<'_>,
        record: &[u8],
        reason: &str,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(record);
        let subject: String = std::iter::once("record ".to_owned())
            .chain(digest[..8].iter().map(|byte| format!("{byte:02x}")))
            .collect();
        let finding = Finding::new(
            count(1),
            count(0),
            format!(
                "a record of this case on the log could not be read; it is quarantined: {reason}"
            ),
        );
        self.raise(ctx, RuleId::C5, subject, finding, at, effects);
    }

    /// Gaps in the step numbers filled: their C4 alerts no longer hold.
    pub(crate) fn resolve_filled_gaps(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let applied_through = self.applied_through;
        let changes: Vec<_> = self
            .alerts
            .iter_mut()
            .filter(|alert| {
                alert.rule() == RuleId::C4 && alert.seq.is_some_and(|seq| seq <= applied_through)
            })
            .filter_map(|alert| alert.resolve(at))
            .collect();
        for change in changes {
            self.record_change(ctx, change, effects);
        }
    }

    /// The case ended: warnings about an open case (T1, T4) no longer hold.
    pub(crate) fn resolve_on_end(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        self.resolve(ctx, &[RuleId::T1, RuleId::T4], at, effects);
    }

    /// Rules judged on a step as it is applied, against the state before it.
    pub(crate) fn check_step(
        &mut self,
        ctx: &Context<'_>,
        event: &CaseEvent,
        recorded_at: Timestamp,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        let seq = event.seq;
        let th = ctx.thresholds.clone();
        let calendar = ctx.calendar;
        let day = calendar.day_seconds();

        // C2: reported late or back-dated.
        let delay = calendar.working_seconds(event.occurred_at, recorded_at);
        if delay > i64::from(th.c2_report_within_days) * day {
            let finding = Finding::new(
                working_days(delay, ctx),
                days_threshold(th.c2_report_within_days),
                format!(
                    "`{}` reported {} after it happened",
                    event.step.name(),
                    working_days(delay, ctx)
                ),
            )
            .at_step(seq);
            self.raise(ctx, RuleId::C2, seq_subject(seq), finding, at, effects);
        }

        // P1: out of order.
        let seq_quantity = Quantity::new(i64::from(seq), QuantityUnit::Seq);
        let p1_reason = if self.status.is_ended() && event.step.is_handling() {
            Some(format!(
                "`{}` after the case was {:?}",
                event.step.name(),
                self.status
            ))
        } else if matches!(event.step, Step::Decided { .. } | Step::Completed { .. })
            && self.accepted_at.is_none()
        {
            Some(format!("`{}` before acceptance", event.step.name()))
        } else {
            None
        };
        if let Some(reason) = p1_reason {
            let finding = Finding::new(seq_quantity, count(0), reason).at_step(seq);
            self.raise(ctx, RuleId::P1, seq_subject(seq), finding, at, effects);
        }
        if let Some(previous) = self.last_step_at
            && event.occurred_at < previous
        {
            let earlier = (previous - event.occurred_at).num_minutes();
            let finding = Finding::new(
                seq_quantity,
                count(0),
                format!(
                    "`{}` dated {earlier} minutes before the previous step",
                    event.step.name()
                ),
            )
            .at_step(seq);
            self.raise(
                ctx,
                RuleId::P1,
                format!("seq {seq}:dated"),
                finding,
                at,
                effects,
            );
        }

        // P4: activity while suspended.
        let activity = matches!(
            event.step,
            Step::Reviewed { .. }
                | Step::Decided { .. }
                | Step::Completed { .. }
                | Step::SpecialProcedureStarted { .. }
                | Step::CorrectionRequested { .. }
        );
        if activity && self.clock.is_paused_for(&PauseReason::Suspension) {
            let finding = Finding::new(
                seq_quantity,
                count(0),
                format!("`{}` while the case is suspended", event.step.name()),
            )
            .at_step(seq);
            self.raise(ctx, RuleId::P4, seq_subject(seq), finding, at, effects);
        }

        match &event.step {
            Step::Accepted {
                legal_limit,
                promised_limit,
                fee_required,
                fee_standard_fen,
                accept_doc_no,
                ..
            } => {
                let mut missing = Vec::new();
                if accept_doc_no.trim().is_empty() {
                    missing.push("accept_doc_no");
                }
                if *fee_required && fee_standard_fen.is_none() {
                    missing.push("fee_standard_fen");
                }
                if !missing.is_empty() {
                    let finding = Finding::new(
                        count(missing.len() as i64),
                        count(0),
                        format!("acceptance without {}", missing.join(", ")),
                    )
                    .at_step(seq);
                    self.raise(
                        ctx,
                        RuleId::C1,
                        format!("seq {seq}:content"),
                        finding,
                        at,
                        effects,
                    );
                }
                let promised = Span::of(*promised_limit, calendar);
                let legal = Span::of(*legal_limit, calendar);
                if promised.measure == legal.measure && promised.seconds > legal.seconds {
                    let finding = Finding::new(
                        in_unit(promised.seconds, promised_limit.unit(), ctx),
                        in_unit(legal.seconds, promised_limit.unit(), ctx),
                        "promised limit above the legal limit",
                    )
                    .at_step(seq);
                    self.raise(
                        ctx,
                        RuleId::C1,
                        format!("seq {seq}:limit"),
                        finding,
                        at,
                        effects,
                    );
                }
            }
            Step::Rejected { reason } if reason.trim().is_empty() => {
                let finding =
                    Finding::new(count(0), count(1), "rejected without a reason").at_step(seq);
                self.raise(ctx, RuleId::T9, seq_subject(seq), finding, at, effects);
            }
            Step::Decided {
                decision,
                reason,
                window_direct_signoff,
            } => {
                if *decision == Decision::Deny && reason.trim().is_empty() {
                    let finding =
                        Finding::new(count(0), count(1), "denied without a reason").at_step(seq);
                    self.raise(ctx, RuleId::T9, seq_subject(seq), finding, at, effects);
                }
                let separation = ctx
                    .rules
                    .item(&self.item_code)
                    .separation_required
                    .unwrap_or(
                        self.case_type
                            .is_some_and(|kind| kind != CaseType::Immediate),
                    );
                // A decision signed off at the window (首席代表) is the practice the
                // separation rule makes room for, never a breach of it.
                if separation
                    && !window_direct_signoff
                    && self.accepted_by.as_deref() == Some(event.actor.id.as_str())
                {
                    let finding = Finding::new(
                        count(1),
                        count(0),
                        format!("`{}` both accepted and decided the case", event.actor.id),
                    )
                    .at_step(seq);
                    self.raise(ctx, RuleId::P3, String::new(), finding, at, effects);
                }
            }
            Step::CorrectionRequested { .. } => {
                let notices = self.correction_notices + 1;
                if notices > th.t8_max_notices {
                    let finding = Finding::new(
                        count(i64::from(notices)),
                        count(i64::from(th.t8_max_notices)),
                        "correction notices must be given at once (一次性告知)",
                    )
                    .at_step(seq);
                    self.raise(ctx, RuleId::T8, seq_subject(seq), finding, at, effects);
                }
                if let Some(arrived) = self.last_material_at {
                    let waited = calendar.working_seconds(arrived, event.occurred_at);
                    if waited > i64::from(th.t8_notice_within_days) * day {
                        let finding = Finding::new(
                            working_days(waited, ctx),
                            days_threshold(th.t8_notice_within_days),
                            "correction notice later than allowed after the materials arrived; \
                             the case counts as accepted on arrival",
                        )
                        .at_step(seq);
                        self.raise(
                            ctx,
                            RuleId::T8,
                            format!("seq {seq}:late"),
                            finding,
                            at,
                            effects,
                        );
                        if self.accepted_at.is_none() {
                            self.deemed_accepted_at = Some(arrived);
                        }
                    }
                }
            }
            Step::Reviewed {
                step_limit: Some(limit),
                ..
            } => {
                let span = Span::of(*limit, calendar);
                let since = self.last_handling_at.or(self.accepted_at);
                let in_time = self
                    .promised_limit
                    .zip(self.promised_span(calendar))
                    .is_none_or(|(limit, promised)| {
                        self.used_against(limit.unit(), calendar, event.occurred_at)
                            <= promised.seconds
                    });
                if let Some(since) = since {
                    let took = span.measure.elapsed(calendar, since, event.occurred_at);
                    if took > span.seconds && in_time {
                        let finding = Finding::new(
                            in_unit(took, limit.unit(), ctx),
                            Quantity::new(i64::from(limit.n()), quantity_unit(limit.unit())),
                            format!("step `{}` over its own limit", event.step.name()),
                        )
                        .at_step(seq);
                        self.raise(ctx, RuleId::T4, seq_subject(seq), finding, at, effects);
                    }
                }
            }
            Step::SpecialProcedureStarted {
                proc_no,
                kind: ProcedureKind::Extension,
                approver,
                approved,
                ..
            } => {
                if let Some(finding) = self.improper_extension(ctx, approver, *approved) {
                    self.raise(
                        ctx,
                        RuleId::T7,
                        proc_no.clone(),
                        finding.at_step(seq),
                        at,
                        effects,
                    );
                }
            }
            Step::SpecialProcedureEnded {
                proc_no, result, ..
            } if result.trim().is_empty() => {
                let finding = Finding::new(
                    count(0),
                    count(1),
                    "special procedure ended without a result",
                )
                .at_step(seq);
                self.raise(
                    ctx,
                    RuleId::T6,
                    format!("{proc_no}:result"),
                    finding,
                    at,
                    effects,
                );
            }
            Step::FeeCharged {
                ticket_no,
                items,
                unified_ticket,
                ..
            } => {
                let profile = ctx.rules.item(&self.item_code);
                let total: u64 = items.iter().map(|item| item.amount_fen).sum();
                let charges_fee = profile.charges_fee.or(self.fee_required);
                if charges_fee == Some(false) && total > 0 {
                    let finding = Finding::new(
                        fen(total),
                        fen(0),
                        "fee charged on an item that charges none",
                    )
                    .at_step(seq);
                    self.raise(ctx, RuleId::F1, ticket_no.clone(), finding, at, effects);
                }
                for item in items {
                    let standard = profile
                        .fee_standards_fen
                        .get(&item.fee_code)
                        .copied()
                        .unwrap_or(item.standard_fen);
                    if item.amount_fen > standard {
                        let finding = Finding::new(
                            fen(item.amount_fen),
                            fen(standard),
                            format!("fee `{}` above its standard", item.fee_code),
                        )
                        .at_step(seq);
                        let subject = format!("{ticket_no}:{}", item.fee_code);
                        self.raise(ctx, RuleId::F2, subject, finding, at, effects);
                    }
                }
                if !unified_ticket {
                    let finding = Finding::new(
                        fen(total),
                        fen(0),
                        "fee collected outside the unified ticket",
                    )
                    .at_step(seq);
                    self.raise(ctx, RuleId::F3, ticket_no.clone(), finding, at, effects);
                }
            }
            Step::Completed {
                result,
                certificate,
                fee_total_fen,
            } => {
                self.check_completion(
                    ctx,
                    seq,
                    *result,
                    certificate.as_ref(),
                    *fee_total_fen,
                    at,
                    effects,
                );
            }
            _ => {}
        }
    }

    /// T7: why an extension (延长审批) of `approved` by `approver` is improper, if it is:
    /// one beyond the extensions allowed (the law allows one), one longer than allowed, or
    /// one without an approver. An improper extension extends nothing.
    pub(crate) fn improper_extension(
        &self,
        ctx: &Context<'_>,
        approver: &str,
        approved: crate::event::Limit,
    ) -> Option<Finding> {
        let th = &ctx.thresholds;
        let extensions = self.extensions.len() as i64 + 1;
        let longest = th.max_extension_days(self.case_type);
        let days = match approved.unit() {
            LimitUnit::Hours => whole_units(
                i64::from(approved.n()) * 3600,
                LimitUnit::WorkingDays,
                ctx.calendar,
            ),
            _ => i64::from(approved.n()),
        };
        if extensions > i64::from(th.t7_max_extensions) {
            Some(Finding::new(
                count(extensions),
                count(i64::from(th.t7_max_extensions)),
                "more extensions than allowed; it extends nothing",
            ))
        } else if days > i64::from(longest) {
            Some(Finding::new(
                Quantity::new(days, quantity_unit(approved.unit())),
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

    /// Rules judged at completion: P2, P4, C1 (certificate) and F2 (totals).
    #[allow(clippy::too_many_arguments)]
    fn check_completion(
        &mut self,
        ctx: &Context<'_>,
        seq: u32,
        result: CompletionResult,
        certificate: Option<&crate::event::Certificate>,
        fee_total_fen: u64,
        at: Timestamp,
        effects: &mut Effects,
    ) {
        if self.status.is_ended() {
            return;
        }
        let open_procedure = self
            .procedures
            .iter()
            .find(|procedure| {
                procedure.kind != ProcedureKind::Extension && procedure.ended_at.is_none()
            })
            .map(|procedure| procedure.proc_no.clone());
        if let Some(proc_no) = open_procedure {
            let finding = Finding::new(
                Quantity::new(i64::from(seq), QuantityUnit::Seq),
                count(0),
                format!("completed while special procedure `{proc_no}` is open"),
            )
            .at_step(seq);
            self.raise(
                ctx,
                RuleId::P4,
                format!("seq {seq}:procedure"),
                finding,
                at,
                effects,
            );
        }

        let granted = matches!(
            result,
            CompletionResult::IssuedCertificate | CompletionResult::Completed
        );
        if granted {
            let profile = ctx.rules.item(&self.item_code);
            let missing: Vec<String> = if profile.required_steps.is_empty() {
                let needs_review = self
                    .case_type
                    .is_some_and(|kind| matches!(kind, CaseType::Promised | CaseType::Joint));
                if needs_review && self.passed_reviews.is_empty() {
                    vec!["review".to_owned()]
                } else {
                    Vec::new()
                }
            } else {
                profile
                    .required_steps
                    .iter()
                    .filter(|code| !self.passed_reviews.contains(code))
                    .cloned()
                    .collect()
            };
            if !missing.is_empty() {
                let finding = Finding::new(
                    count(missing.len() as i64),
                    count(0),
                    format!("completed without required step(s) {}", missing.join(", ")),
                )
                .at_step(seq);
                self.raise(ctx, RuleId::P2, String::new(), finding, at, effects);
            }
        }

        if result == CompletionResult::IssuedCertificate {
            let complete = certificate.is_some_and(|certificate| {
                !certificate.name.trim().is_empty() && !certificate.no.trim().is_empty()
            });
            if !complete {
                let finding = Finding::new(
                    count(1),
                    count(0),
                    "certificate issued without its name and number",
                )
                .at_step(seq);
                self.raise(
                    ctx,
                    RuleId::C1,
                    format!("seq {seq}:certificate"),
                    finding,
                    at,
                    effects,
                );
            }
        }

        if fee_total_fen != self.tickets_total_fen {
            let finding = Finding::new(
                fen(fee_total_fen),
                fen(self.tickets_total_fen),
                "completion fee total differs from the sum of the fee tickets",
            )
            .at_step(seq);
            self.raise(ctx, RuleId::F2, "total".to_owned(), finding, at, effects);
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
        let calendar = ctx.calendar;
        let th = ctx.thresholds.clone();
        let day = calendar.day_seconds();

        if self.clock.started_at.is_some() {
            self.evaluate_limits(ctx, at, effects, horizon);
        }

        // T6: a special procedure open past its approved length.
        let mut overdue: Vec<(String, i64, crate::event::Limit)> = Vec::new();
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
            self.raise(ctx, RuleId::T6, proc_no, finding, at, effects);
        }
        self.evaluate_suspensions(ctx, at, effects, horizon);

        // C4: a gap in the step numbers past its grace period.
        // While held steps are being drained the next one is never missing.
        let missing = self.applied_through + 1;
        // A gap is as old as the first step held behind it.
        let since = self.held.values().map(|held| held.recorded_at).min();
        if let Some(since) = since
            && self
                .held
                .keys()
                .next()
                .is_some_and(|first| *first > missing)
        {
            let open = calendar.working_seconds(since, at);
            let grace = i64::from(th.c4_gap_grace_hours) * 3600;
            if open > grace {
                let finding = Finding::new(
                    in_unit(open, LimitUnit::Hours, ctx),
                    Quantity::new(i64::from(th.c4_gap_grace_hours), QuantityUnit::Hours),
                    format!("step {missing} missing while later steps arrived"),
                )
                .at_step(missing);
                self.raise(ctx, RuleId::C4, seq_subject(missing), finding, at, effects);
            } else {
                horizon.after(Measure::Working, grace - open);
            }
        }

        // K1: appeals not answered in time (yellow, then red).
        let waits: Vec<(String, i64)> = self
            .appeals
            .iter()
            .map(|appeal| {
                let waited = waited(ctx, appeal.opened_at, appeal.resolved_at, at);
                (appeal.appeal_no.clone(), waited)
            })
            .collect();
        for (appeal_no, waited) in waits {
            let what = format!("appeal `{appeal_no}` not answered in time");
            self.raise_unanswered(
                ctx,
                RuleId::K1,
                appeal_no.clone(),
                waited,
                th.k1_accept_within_days,
                what,
                at,
                effects,
                horizon,
            );
            let answer_within = i64::from(th.k1_answer_within_days) * day;
            if waited > answer_within {
                let measurement = (
                    working_days(waited, ctx),
                    days_threshold(th.k1_answer_within_days),
                );
                self.escalate(
                    ctx,
                    RuleId::K1,
                    &appeal_no,
                    (Level::Red, measurement),
                    at,
                    effects,
                );
            } else {
                horizon.after(Measure::Working, answer_within - waited);
            }
        }

        // K2: poor ratings not followed up in time.
        let waits: Vec<(String, i64)> = self
            .ratings
            .iter()
            .filter(|rating| rating.level.get() >= th.k2_min_level)
            .map(|rating| {
                let waited = waited(ctx, rating.rated_at, rating.followed_up_at, at);
                (rating.rating_no.clone(), waited)
            })
            .collect();
        for (rating_no, waited) in waits {
            let what = format!("rating `{rating_no}` not followed up in time");
            self.raise_unanswered(
                ctx,
                RuleId::K2,
                rating_no,
                waited,
                th.k2_follow_up_within_days,
                what,
                at,
                effects,
                horizon,
            );
        }

        self.escalate_late_feedback(ctx, at, effects, horizon);
    }

    /// T6 for suspensions (挂起): one still open past its cap (the days requested, or the
    /// legal limit's length) no longer stops the clock, and raises T6 once.
    fn evaluate_suspensions(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
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
            self.raise(
                ctx,
                RuleId::T6,
                format!("suspension {number}"),
                finding,
                at,
                effects,
            );
        }
    }

    /// Raises `rule` about `subject` when it `waited` (working time) longer than
    /// `within_days`.
    #[allow(clippy::too_many_arguments)]
    fn raise_unanswered(
        &mut self,
        ctx: &Context<'_>,
        rule: RuleId,
        subject: String,
        waited: i64,
        within_days: u32,
        what: String,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
        let within = i64::from(within_days) * ctx.calendar.day_seconds();
        if waited > within {
            let finding =
                Finding::new(working_days(waited, ctx), days_threshold(within_days), what);
            self.raise(ctx, rule, subject, finding, at, effects);
        } else {
            horizon.after(Measure::Working, within - waited);
        }
    }

    /// T1, T2, T3 and T5: the case against its promised and legal limits.
    fn evaluate_limits(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
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
                self.raise(ctx, RuleId::T2, String::new(), finding, at, effects);
            } else {
                horizon.after(span.measure, span.seconds - used);
                if self.status == CaseStatus::Accepted {
                    self.warn_before_promised_limit(ctx, span, used, at, effects, horizon);
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
                self.raise(ctx, RuleId::T3, String::new(), finding, at, effects);
            } else {
                horizon.after(span.measure, span.seconds - used);
            }
        }
        if self.case_type == Some(CaseType::Immediate)
            && let Some(accepted) = self.accepted_at
        {
            let deadline = calendar.close_of_working_day(accepted);
            let late_at = match self.ended_at {
                Some(ended) if ended <= deadline => None,
                Some(ended) => Some(ended),
                None if at > deadline => Some(at),
                None => {
                    horizon.past(deadline);
                    None
                }
            };
            if let Some(late_at) = late_at {
                // How far into later working days it ran; at least the first of them.
                let over = calendar.working_seconds(deadline, late_at);
                let days = whole_units(over, LimitUnit::WorkingDays, calendar).max(1);
                let finding = Finding::new(
                    Quantity::new(days, QuantityUnit::WorkingDays),
                    Quantity::new(0, QuantityUnit::WorkingDays),
                    "immediate case not completed on its acceptance day",
                );
                self.raise(ctx, RuleId::T5, String::new(), finding, at, effects);
            }
        }
    }

    /// T1: the promised limit about to run out, `used` of `span` being used at `at`.
    fn warn_before_promised_limit(
        &mut self,
        ctx: &Context<'_>,
        span: Span,
        used: i64,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
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
        let remaining = span.seconds - used;
        // A limit no longer than the window would warn from the first minute.
        if span.seconds > window && remaining > 0 && remaining <= window {
            let finding = Finding::new(
                in_unit(remaining, unit, ctx),
                Quantity::new(i64::from(days_left), quantity_unit(unit)),
                "promised limit about to run out",
            );
            self.raise(ctx, RuleId::T1, String::new(), finding, at, effects);
        } else if span.seconds > window && remaining > window {
            // It warns once at most `window` remains, not only once less does.
            horizon.after(span.measure, remaining - window - 1);
        }
    }

    /// A notice's feedback due date passed without feedback: the alert goes up a level.
    /// A yellow card turning red is rule T3; any other step up is A1.
    fn escalate_late_feedback(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
        horizon: &mut Horizon,
    ) {
        let mut changes = Vec::new();
        for alert in &mut self.alerts {
            let Some(due) = alert
                .notice
                .as_ref()
                .filter(|notice| {
                    alert.state == AlertState::UnderNotice && !notice.overdue_escalated
                })
                .map(|notice| notice.feedback_due)
            else {
                continue;
            };
            if due >= at {
                horizon.past(due);
                continue;
            }
            let rule = if alert.level == Level::Yellow {
                RuleId::T3
            } else {
                RuleId::A1
            };
            if !ctx.thresholds.enabled(rule) {
                continue;
            }
            // At the top level there is nothing left to raise; the notice stays as it is.
            if let Some(level) = alert.level.raised() {
                if let Some(notice) = alert.notice.as_mut() {
                    notice.overdue_escalated = true;
                }
                changes.extend(alert.escalate_to(level, rule, at, None));
            }
        }
        for change in changes {
            self.record_change(ctx, change, effects);
        }
    }
}
