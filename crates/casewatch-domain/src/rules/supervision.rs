//! The supervision rule, A1 of DOMAIN.md: no feedback (回告) by a notice's (督办) due date
//! raises the alert one level. A yellow card turning red this way is T3's second clause,
//! so it is judged here too.
//!
//! `impl Case` is split: see the top of `rules/mod.rs`.

use super::Judging;
use crate::alert::AlertState;
use crate::case::Case;
use crate::catalogue::{Level, RuleId};
use crate::clock::Horizon;

impl Case {
    /// A1 (and T3 for a yellow card): a notice's feedback due date passed without
    /// feedback, and the alert goes up a level, once per notice.
    pub(super) fn escalate_late_feedback(
        &mut self,
        judging: &mut Judging<'_>,
        horizon: &mut Horizon,
    ) {
        let ctx = judging.ctx;
        let at = judging.at;
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
            self.record_change(ctx, change, judging.effects);
        }
    }
}
