//! What a case's changes count in the statistics: the counters of a step, the open-case
//! gauges (light, overdue) and the alerts raised, carded, escalated, revoked and closed.
//!
//! `impl Case` is split: the case's state and queries are in `case/mod.rs`, its fold in
//! `case/fold.rs`, its statistics here, and its rules in `rules/`.

use super::{Case, Context, Effects, Light, Overdue};
use crate::Timestamp;
use crate::alert::{AlertChange, AlertState};
use crate::catalogue::Category;
use crate::stats::{Counters, StatKey};

impl Case {
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
    pub(super) fn update_gauges(
        &mut self,
        ctx: &Context<'_>,
        at: Timestamp,
        effects: &mut Effects,
    ) {
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
                counters.fee_anomalies = i64::from(alert.category == Category::Fee);
            }
            Some((state, level)) => {
                counters.cards_escalated = i64::from(alert.level > level);
                if state != alert.state {
                    match alert.state {
                        AlertState::Revoked if alert.level.is_card() => {
                            let carded = alert.carded_at.unwrap_or(alert.raised_at);
                            let revoked = Counters {
                                cards_revoked: 1,
                                ..Counters::default()
                            };
                            self.count(ctx, carded, &revoked, effects);
                        }
                        AlertState::Closed => counters.alerts_closed = 1,
                        _ => {}
                    }
                }
            }
        }
        self.count(ctx, change.at, &counters, effects);
    }
}
