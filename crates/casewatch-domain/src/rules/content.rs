//! The content rules, C1–C5 of DOMAIN.md: required content missing or a promised limit
//! above the legal one (C1), a step reported late or back-dated (C2), a step re-sent with
//! different content (C3), a gap in the step numbers past its grace period (C4), and a
//! record of the case that could not be read (C5, a system fault).
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::{
    Finding, Judging, count, days_threshold, in_unit, seq_quantity, seq_subject, working_days,
    working_since,
};
use crate::Timestamp;
use crate::alert::{Quantity, QuantityUnit};
use crate::case::{Case, Context, Effects};
use crate::catalogue::RuleId;
use crate::clock::{Horizon, Measure, Span};
use crate::event::{CaseEvent, Certificate, CompletionResult, Limit, LimitUnit};

impl Case {
    /// C1: an acceptance without its document number, or without the fee standard when
    /// it says a fee is due; `fee_standard` is (fee required, the standard in fen).
    pub(super) fn check_acceptance_content(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        accept_doc_no: &str,
        (fee_required, fee_standard_fen): (bool, Option<u64>),
    ) {
        let mut missing = Vec::new();
        if accept_doc_no.trim().is_empty() {
            missing.push("accept_doc_no");
        }
        if fee_required && fee_standard_fen.is_none() {
            missing.push("fee_standard_fen");
        }
        if !missing.is_empty() {
            let finding = Finding::new(
                count(missing.len() as i64),
                count(0),
                format!("acceptance without {}", missing.join(", ")),
            )
            .at_step(seq);
            self.raise(judging, RuleId::C1, format!("seq {seq}:content"), finding);
        }
    }

    /// C1: a promised limit above the legal limit (when both count the same way).
    pub(super) fn check_promised_within_legal(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        (promised_limit, legal_limit): (Limit, Limit),
    ) {
        let ctx = judging.ctx;
        let promised = Span::of(promised_limit, ctx.calendar);
        let legal = Span::of(legal_limit, ctx.calendar);
        if promised.measure == legal.measure && promised.seconds > legal.seconds {
            let finding = Finding::new(
                in_unit(promised.seconds, promised_limit.unit(), ctx),
                in_unit(legal.seconds, promised_limit.unit(), ctx),
                "promised limit above the legal limit",
            )
            .at_step(seq);
            self.raise(judging, RuleId::C1, format!("seq {seq}:limit"), finding);
        }
    }

    /// C1: a certificate issued without its name and number.
    pub(super) fn check_certificate(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        result: CompletionResult,
        certificate: Option<&Certificate>,
    ) {
        if result != CompletionResult::IssuedCertificate {
            return;
        }
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
                judging,
                RuleId::C1,
                format!("seq {seq}:certificate"),
                finding,
            );
        }
    }

    /// C2: a step reported more working days after it happened than allowed (late or
    /// back-dated reporting).
    pub(super) fn check_reported_in_time(
        &mut self,
        judging: &mut Judging<'_>,
        event: &CaseEvent,
        recorded_at: Timestamp,
    ) {
        let ctx = judging.ctx;
        let seq = event.seq;
        let within_days = ctx.thresholds.c2_report_within_days;
        let delay = working_since(ctx, event.occurred_at, LimitUnit::WorkingDays, recorded_at);
        if delay > i64::from(within_days) * ctx.calendar.day_seconds() {
            let finding = Finding::new(
                working_days(delay, ctx),
                days_threshold(within_days),
                format!(
                    "`{}` reported {} after it happened",
                    event.step.name(),
                    working_days(delay, ctx)
                ),
            )
            .at_step(seq);
            self.raise(judging, RuleId::C2, seq_subject(seq), finding);
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
            seq_quantity(event.seq),
            seq_quantity(event.seq),
            format!(
                "step {} re-sent as `{}` with content unlike the first version",
                event.seq,
                event.step.name()
            ),
        )
        .at_step(event.seq);
        self.raise(
            &mut Judging { ctx, at, effects },
            RuleId::C3,
            subject,
            finding,
        );
    }

    /// C4: a gap in the step numbers past its grace period. While held steps are being
    /// drained the next one is never missing.
    pub(super) fn evaluate_gap(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let grace_hours = ctx.thresholds.c4_gap_grace_hours;
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
            let open = ctx.calendar.working_seconds(since, at);
            let grace = i64::from(grace_hours) * 3600;
            if open > grace {
                let finding = Finding::new(
                    in_unit(open, LimitUnit::Hours, ctx),
                    Quantity::new(i64::from(grace_hours), QuantityUnit::Hours),
                    format!("step {missing} missing while later steps arrived"),
                )
                .at_step(missing);
                self.raise(judging, RuleId::C4, seq_subject(missing), finding);
            } else {
                horizon.after(Measure::Working, grace - open);
            }
        }
    }

    /// C4: gaps in the step numbers filled; their alerts no longer hold.
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
        self.raise(
            &mut Judging { ctx, at, effects },
            RuleId::C5,
            subject,
            finding,
        );
    }
}
