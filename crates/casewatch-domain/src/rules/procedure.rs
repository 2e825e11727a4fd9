//! The procedure rules, P1–P4 of DOMAIN.md: steps out of order (P1), a required step
//! missing at completion (P2), the same person accepting and deciding (P3, integrity), and
//! activity while suspended or completion while a special procedure is open (P4).
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::{Finding, Judging, count, seq_quantity, seq_subject};
use crate::case::Case;
use crate::catalogue::RuleId;
use crate::clock::PauseReason;
use crate::event::{CaseEvent, CaseType, CompletionResult, ProcedureKind, Step};

impl Case {
    /// P1: a step after the case ended, a decision or completion before acceptance, or a
    /// step dated before the previous one.
    pub(super) fn check_order(&mut self, judging: &mut Judging<'_>, event: &CaseEvent) {
        let seq = event.seq;
        let reason = if self.status.is_ended() && event.step.is_handling() {
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
        if let Some(reason) = reason {
            let finding = Finding::new(seq_quantity(seq), count(0), reason).at_step(seq);
            self.raise(judging, RuleId::P1, seq_subject(seq), finding);
        }
        if let Some(previous) = self.last_step_at
            && event.occurred_at < previous
        {
            let earlier = (previous - event.occurred_at).num_minutes();
            let finding = Finding::new(
                seq_quantity(seq),
                count(0),
                format!(
                    "`{}` dated {earlier} minutes before the previous step",
                    event.step.name()
                ),
            )
            .at_step(seq);
            self.raise(judging, RuleId::P1, format!("seq {seq}:dated"), finding);
        }
    }

    /// P2: a completion that grants (a certificate issued, or completed) without the review
    /// steps the item requires; by default, a promised or joint case without a review.
    pub(super) fn check_required_steps(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
        result: CompletionResult,
    ) {
        let ctx = judging.ctx;
        let granted = matches!(
            result,
            CompletionResult::IssuedCertificate | CompletionResult::Completed
        );
        if !granted {
            return;
        }
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
            self.raise(judging, RuleId::P2, String::new(), finding);
        }
    }

    /// P3: the same person accepted and decided the case where the item requires them to
    /// be separate (by default every case but an immediate one).
    pub(super) fn check_separation(
        &mut self,
        judging: &mut Judging<'_>,
        event: &CaseEvent,
        window_direct_signoff: bool,
    ) {
        let ctx = judging.ctx;
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
            .at_step(event.seq);
            self.raise(judging, RuleId::P3, String::new(), finding);
        }
    }

    /// P4: a handling step while the case is suspended.
    pub(super) fn check_activity_while_suspended(
        &mut self,
        judging: &mut Judging<'_>,
        event: &CaseEvent,
    ) {
        let seq = event.seq;
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
                seq_quantity(seq),
                count(0),
                format!("`{}` while the case is suspended", event.step.name()),
            )
            .at_step(seq);
            self.raise(judging, RuleId::P4, seq_subject(seq), finding);
        }
    }

    /// P4: a completion while a special procedure (other than an extension) is open.
    pub(super) fn check_completion_with_open_procedure(
        &mut self,
        judging: &mut Judging<'_>,
        seq: u32,
    ) {
        let open_procedure = self
            .procedures
            .iter()
            .find(|procedure| {
                procedure.kind != ProcedureKind::Extension && procedure.ended_at.is_none()
            })
            .map(|procedure| procedure.proc_no.clone());
        if let Some(proc_no) = open_procedure {
            let finding = Finding::new(
                seq_quantity(seq),
                count(0),
                format!("completed while special procedure `{proc_no}` is open"),
            )
            .at_step(seq);
            self.raise(judging, RuleId::P4, format!("seq {seq}:procedure"), finding);
        }
    }
}
