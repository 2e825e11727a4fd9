//! Statistics as additive deltas per day × region × department × item. Deltas commute, so
//! projectors can add them in any order and rebuilds give the same totals.

use std::ops::AddAssign;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::ids::{DeptCode, ItemCode, RegionCode};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// The counters of DOMAIN.md "Statistics". Gauges (open cases by light) are kept
        /// as +1/−1 changes on the day they happen, so a sum up to a day gives the gauge.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(default)]
        pub struct Counters {
            $($(#[$doc])* pub $name: i64,)*
        }

        impl Counters {
            /// The counters' names, in a fixed order (the order of [`Counters::values`]).
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name),)*];

            /// The values, in the order of [`Counters::NAMES`].
            pub fn values(&self) -> Vec<i64> {
                vec![$(self.$name,)*]
            }

            /// Counters from values in the order of [`Counters::NAMES`]; missing values are 0.
            pub fn from_values(values: &[i64]) -> Self {
                let mut values = values.iter().copied();
                Self { $($name: values.next().unwrap_or(0),)* }
            }
        }

        impl AddAssign<&Counters> for Counters {
            fn add_assign(&mut self, other: &Counters) {
                $(self.$name += other.$name;)*
            }
        }
    };
}

counters! {
    /// Cases accepted (受理).
    accepted,
    /// Cases completed (办结), split below by timeliness.
    completed,
    /// Completed in fewer whole units than promised (提前办结).
    completed_early,
    /// Completed within the promised limit, not early.
    completed_on_time,
    /// Completed beyond the promised limit.
    completed_overdue,
    /// Cases not accepted (不予受理).
    rejected,
    /// Cases withdrawn by the applicant (撤回).
    withdrawn,
    /// Working time used by completed cases, from the acceptance instant, in seconds of
    /// office time.
    used_working_seconds,
    /// Open cases by light (changes; a gauge).
    open_green,
    /// Open cases whose worst open alert is a warning or a yellow card (changes; a gauge).
    open_yellow,
    /// Open cases whose worst open alert is a red card or worse (changes; a gauge).
    open_red,
    /// Warnings (预警) raised.
    warnings_raised,
    /// Cards (黄牌 and above) raised: alerts raised as a card, or escalated from a warning
    /// to a card, counted on the day they became one.
    cards_raised,
    /// Cards revoked on appeal or by supervision, counted against the day the card was
    /// raised, so that valid cards (raised − revoked) are never below zero on any day.
    cards_revoked,
    /// Alerts raised a level.
    cards_escalated,
    /// Alerts closed by supervision.
    alerts_closed,
    /// Queries by applicants (查询).
    queries,
    /// Appeals and complaints opened (申述/投诉).
    appeals,
    /// Ratings (好差评) of level 1, very satisfied.
    rating_1,
    /// Ratings of level 2, satisfied.
    rating_2,
    /// Ratings of level 3, neutral.
    rating_3,
    /// Ratings of level 4, dissatisfied.
    rating_4,
    /// Ratings of level 5, very dissatisfied.
    rating_5,
    /// Decisions taken.
    decisions,
    /// Decisions signed off at the window (窗口直接签批).
    direct_decisions,
    /// Accepted cases that were submitted on the web or a mobile app.
    online_accepted,
    /// Fees charged, in fen.
    fees_charged_fen,
    /// Fee alerts raised (F1–F3).
    fee_anomalies,
    /// Open cases past their promised limit (changes; a gauge like the lights).
    open_overdue_promised,
    /// Open cases past their legal limit (changes), a part of `open_overdue_promised`
    /// where the promise is within the law.
    open_overdue_legal,
    /// The same working time as `used_working_seconds` in thousandths of the working days
    /// of each case's own region (whose office hours may differ), for the average.
    used_working_millidays,
}

impl Counters {
    /// Whether every counter is zero (such a delta need not be stored).
    pub fn is_zero(&self) -> bool {
        self.values().iter().all(|value| *value == 0)
    }

    /// Open cases at the end of a period, by light.
    pub fn open_cases(&self) -> i64 {
        self.open_green + self.open_yellow + self.open_red
    }

    /// Valid cards: raised and not revoked.
    pub fn valid_cards(&self) -> i64 {
        self.cards_raised - self.cards_revoked
    }

    /// These flows with the gauges (open cases by light, overdue open cases) of `gauges`:
    /// flows are summed over a period's days, gauges over every day up to its end.
    pub fn with_gauges(mut self, gauges: &Counters) -> Counters {
        self.open_green = gauges.open_green;
        self.open_yellow = gauges.open_yellow;
        self.open_red = gauges.open_red;
        self.open_overdue_promised = gauges.open_overdue_promised;
        self.open_overdue_legal = gauges.open_overdue_legal;
        self
    }

    /// The rates the reports publish.
    pub fn rates(&self) -> Rates {
        Rates {
            on_time: ratio(
                self.completed_early + self.completed_on_time,
                self.completed,
            ),
            alert: ratio(self.valid_cards(), self.accepted),
            window_direct_signoff: ratio(self.direct_decisions, self.decisions),
            online: ratio(self.online_accepted, self.accepted),
            average_working_days: ratio(self.used_working_millidays, self.completed * 1000),
        }
    }
}

/// `part ÷ whole`, `None` when `whole` is not positive.
pub fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Derived rates; `None` where the denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// (early + on time) ÷ completed.
    pub on_time: Option<f64>,
    /// Valid cards (raised − revoked) ÷ accepted.
    pub alert: Option<f64>,
    /// 窗口直接签批率: direct decisions ÷ decisions.
    pub window_direct_signoff: Option<f64>,
    /// 网办率: online ÷ accepted.
    pub online: Option<f64>,
    /// Average working days used by completed cases, each counted in its region's
    /// working days.
    pub average_working_days: Option<f64>,
}

/// The last day statistics count on: days have four-digit years, as reports and the
/// views write them, so a change in the last hours of 9999 UTC, already 10000-01-01 in
/// China, counts on 9999-12-31.
pub const LAST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(day) => day,
    None => panic!("9999-12-31 is a date"),
};

/// Where a delta is counted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StatKey {
    /// The local date the change happened on, at most [`LAST_DAY`].
    pub day: NaiveDate,
    /// The region of the case's office.
    pub region_code: RegionCode,
    /// The case's department.
    pub dept_code: DeptCode,
    /// The case's item (事项).
    pub item_code: ItemCode,
}

/// A change to the counters of one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatDelta {
    /// The day, region, department and item counted.
    pub key: StatKey,
    /// What to add to its counters (negative for a gauge going down).
    pub counters: Counters,
}

/// One department's or county's figures for a period, to rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Standing<K> {
    /// The department or county ranked.
    pub key: K,
    /// The period's flows, with the gauges at its end ([`Counters::with_gauges`]).
    pub counters: Counters,
    /// Cases open at the start of the period (the gauges of the day before it).
    pub open_at_start: i64,
}

/// One row of a ranking (周排名, and the best and worst of the monthly bulletin).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankRow<K> {
    /// The department or county ranked.
    pub key: K,
    /// 1 for the best; equal figures share a rank. Rows that handled nothing come after
    /// every other row, sharing the last rank.
    pub rank: u32,
    /// Cases in hand: open at the start of the period, or accepted during it.
    pub in_hand: i64,
    /// Late cases: completed past the promised limit in the period, or open past it at
    /// the period's end.
    pub late: i64,
    /// Late ÷ in hand.
    pub late_rate: Option<f64>,
    /// (Completed early + on time) ÷ completed, of the cases completed in the period.
    pub on_time_rate: Option<f64>,
    /// Valid cards (raised − revoked) ÷ in hand.
    pub alert_rate: Option<f64>,
    /// Nothing was in hand: the row is ranked last and marked so, never first.
    pub nothing_handled: bool,
    /// The figures the rates came from.
    pub counters: Counters,
}

impl<K> RankRow<K> {
    fn of(standing: Standing<K>) -> Self {
        let counters = standing.counters;
        let in_hand = standing.open_at_start + counters.accepted;
        let late = counters.completed_overdue + counters.open_overdue_promised;
        RankRow {
            key: standing.key,
            rank: 0,
            in_hand,
            late,
            late_rate: ratio(late, in_hand),
            on_time_rate: counters.rates().on_time,
            alert_rate: ratio(counters.valid_cards(), in_hand),
            nothing_handled: in_hand <= 0,
            counters,
        }
    }

    /// What the ranking compares, best first: rows with cases in hand, then fewer late
    /// cases per case in hand, then fewer valid cards per case in hand, then a higher
    /// on-time rate of the completed cases (none completed after any rate).
    fn order(&self) -> (bool, f64, f64, bool, f64) {
        (
            self.nothing_handled,
            self.late_rate.unwrap_or(0.0),
            self.alert_rate.unwrap_or(0.0),
            self.on_time_rate.is_none(),
            -self.on_time_rate.unwrap_or(0.0),
        )
    }
}

/// Ranks departments or counties over a period. The ranking cannot be gamed by taking no
/// cases, nor by leaving late cases open: it compares, in this order,
/// 1. whether anything was in hand (open at the start, or accepted): a row that handled
///    nothing is ranked last and marked, whatever else it shows;
/// 2. the late rate: cases completed past the promised limit plus open cases past it at
///    the period's end, per case in hand (lower first);
/// 3. the alert rate: valid cards (raised − revoked) per case in hand (lower first);
/// 4. the on-time rate of the cases completed in the period (higher first).
///
/// Equal figures share a rank; the key orders rows within a rank.
pub fn rank<K: Ord>(standings: Vec<Standing<K>>) -> Vec<RankRow<K>> {
    let mut rows: Vec<RankRow<K>> = standings.into_iter().map(RankRow::of).collect();
    let compare = |a: &RankRow<K>, b: &RankRow<K>| {
        let (a_empty, a_late, a_alert, a_none, a_on_time) = a.order();
        let (b_empty, b_late, b_alert, b_none, b_on_time) = b.order();
        a_empty
            .cmp(&b_empty)
            .then(a_late.total_cmp(&b_late))
            .then(a_alert.total_cmp(&b_alert))
            .then(a_none.cmp(&b_none))
            .then(a_on_time.total_cmp(&b_on_time))
    };
    rows.sort_by(|a, b| compare(a, b).then_with(|| a.key.cmp(&b.key)));
    let mut rank = 0;
    for index in 0..rows.len() {
        let tied = index > 0 && compare(&rows[index - 1], &rows[index]).is_eq();
        if !tied {
            rank = u32::try_from(index + 1).unwrap_or(u32::MAX);
        }
        rows[index].rank = rank;
    }
    let last = rows.iter().filter(|row| !row.nothing_handled).count();
    for row in rows.iter_mut().filter(|row| row.nothing_handled) {
        row.rank = u32::try_from(last + 1).unwrap_or(u32::MAX);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_and_round_trip_through_values() {
        let mut total = Counters {
            accepted: 2,
            ..Counters::default()
        };
        total += &Counters {
            accepted: 1,
            rating_5: 1,
            ..Counters::default()
        };
        assert_eq!(total.accepted, 3);
        assert_eq!(Counters::from_values(&total.values()), total);
        assert_eq!(Counters::NAMES.len(), total.values().len());
        assert!(Counters::default().is_zero());
    }

    fn standing(
        key: &'static str,
        counters: Counters,
        open_at_start: i64,
    ) -> Standing<&'static str> {
        Standing {
            key,
            counters,
            open_at_start,
        }
    }

    #[test]
    fn ranking_prefers_fewer_late_cases_then_fewer_cards_then_on_time() {
        let counters = |accepted, completed, on_time, overdue, open_overdue, cards| Counters {
            accepted,
            completed,
            completed_on_time: on_time,
            completed_overdue: overdue,
            open_overdue_promised: open_overdue,
            cards_raised: cards,
            ..Counters::default()
        };
        let ranked = rank(vec![
            standing("a", counters(10, 10, 9, 1, 0, 1), 0),
            standing("b", counters(10, 10, 10, 0, 0, 2), 0),
            standing("c", counters(10, 10, 10, 0, 0, 0), 0),
            // Never completes, but leaves a late case open: as late as `a`.
            standing("d", counters(10, 0, 0, 0, 1, 1), 0),
            standing("e", counters(10, 10, 10, 0, 0, 0), 0),
            // Nothing in hand and five cards: last, and marked, never first.
            standing("f", counters(0, 0, 0, 0, 0, 5), 0),
            // Accepted nothing this week but had cases open from before.
            standing("g", counters(0, 2, 2, 0, 0, 0), 4),
        ]);
        let order: Vec<(&str, u32, bool)> = ranked
            .iter()
            .map(|row| (row.key, row.rank, row.nothing_handled))
            .collect();
        assert_eq!(
            order,
            vec![
                ("c", 1, false),
                ("e", 1, false),
                ("g", 1, false),
                ("b", 4, false),
                ("a", 5, false),
                ("d", 6, false),
                ("f", 7, true),
            ]
        );
        let g = &ranked[2];
        assert_eq!((g.in_hand, g.late, g.late_rate), (4, 0, Some(0.0)));
        let d = &ranked[5];
        assert_eq!((d.late, d.late_rate, d.on_time_rate), (1, Some(0.1), None));
        assert_eq!(ranked[6].alert_rate, None);
    }

    #[test]
    fn a_row_that_handled_nothing_is_never_first() {
        let empty = Counters {
            cards_raised: 5,
            ..Counters::default()
        };
        let busy = Counters {
            accepted: 1,
            completed: 1,
            completed_overdue: 1,
            cards_raised: 1,
            ..Counters::default()
        };
        let ranked = rank(vec![standing("empty", empty, 0), standing("busy", busy, 0)]);
        assert_eq!(ranked[0].key, "busy");
        assert_eq!((ranked[1].key, ranked[1].rank), ("empty", 2));
        assert!(ranked[1].nothing_handled);
    }
}
