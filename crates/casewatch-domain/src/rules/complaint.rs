//! The complaint rules, K1–K2 of DOMAIN.md: an appeal (申述/投诉) not accepted within 5
//! working days (yellow) or not answered within 10 (red), and a poor rating (好差评 4–5)
//! not followed up within 5 working days.
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::{Finding, Judging, days_threshold, working_days, working_since};
use crate::Timestamp;
use crate::case::{Case, Context};
use crate::catalogue::{Level, RuleId};
use crate::clock::{Horizon, Measure};
use crate::event::LimitUnit;

/// Working time a request has waited at `at`, counted from the day after it came: until its
/// answer, or until `at` if none yet.
fn waited(ctx: &Context<'_>, since: Timestamp, answered: Option<Timestamp>, at: Timestamp) -> i64 {
    let until = answered.unwrap_or(at).min(at);
    working_since(ctx, since, LimitUnit::WorkingDays, until)
}

impl Case {
    /// K1: appeals not answered in time (yellow, then red).
    pub(super) fn evaluate_appeals(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let th = &ctx.thresholds;
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
                judging,
                RuleId::K1,
                appeal_no.clone(),
                (waited, th.k1_accept_within_days),
                what,
                horizon,
            );
            let answer_within = i64::from(th.k1_answer_within_days) * ctx.calendar.day_seconds();
            if waited > answer_within {
                let measurement = (
                    working_days(waited, ctx),
                    days_threshold(th.k1_answer_within_days),
                );
                self.escalate(judging, RuleId::K1, &appeal_no, (Level::Red, measurement));
            } else {
                horizon.after(Measure::Working, answer_within - waited);
            }
        }
    }

    /// K2: poor ratings not followed up in time.
    pub(super) fn evaluate_ratings(&mut self, judging: &mut Judging<'_>, horizon: &mut Horizon) {
        let ctx = judging.ctx;
        let at = judging.at;
        let th = &ctx.thresholds;
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
                judging,
                RuleId::K2,
                rating_no,
                (waited, th.k2_follow_up_within_days),
                what,
                horizon,
            );
        }
    }

    /// Raises `rule` about `subject` when it waited (working time) longer than
    /// `within_days`.
    fn raise_unanswered(
        &mut self,
        judging: &mut Judging<'_>,
        rule: RuleId,
        subject: String,
        (waited, within_days): (i64, u32),
        what: String,
        horizon: &mut Horizon,
    ) {
        let ctx = judging.ctx;
        let within = i64::from(within_days) * ctx.calendar.day_seconds();
        if waited > within {
            let finding =
                Finding::new(working_days(waited, ctx), days_threshold(within_days), what);
            self.raise(judging, rule, subject, finding);
        } else {
            horizon.after(Measure::Working, within - waited);
        }
    }
}
